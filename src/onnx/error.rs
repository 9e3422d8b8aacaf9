//! Errors raised while writing, reading or validating ONNX models.

use std::path::PathBuf;

/// Everything that can go wrong when reading, writing or building an ONNX model.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The file could not be read or written at all.
    #[error(
        "could not {action} ONNX model `{path}`: {source}; check that the path exists and is accessible"
    )]
    Io {
        /// What was being attempted ("read", "write", "rename").
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not an ONNX protobuf model.
    #[error(
        "`{path}` is not an ONNX model: expected a protobuf-encoded onnx.ModelProto, found {found}; \
         point to the `.onnx` file exported by `neurospeak train` (or by torch.onnx / tf2onnx)"
    )]
    NotOnnx {
        /// The file involved.
        path: PathBuf,
        /// A short description of what the file looks like instead.
        found: String,
    },
    /// The file starts like an ONNX model but cannot be decoded, usually because it was truncated.
    #[error(
        "`{path}` looks like an ONNX model but could not be decoded ({reason}); \
         the file is probably truncated or corrupt ({size} bytes): export or copy it again"
    )]
    Corrupt {
        /// The file involved.
        path: PathBuf,
        /// The decoder's description of the problem.
        reason: String,
        /// The size of the file in bytes.
        size: usize,
    },
    /// The model decodes but its graph has no nodes.
    #[error(
        "ONNX model `{path}` has an empty graph: expected at least one node computing the output, found none; \
         re-export the model"
    )]
    EmptyGraph {
        /// The file involved.
        path: PathBuf,
    },
    /// The graph declares no input or no output.
    #[error(
        "ONNX model `{path}` declares no graph {what}: expected at least one, found none \
         (initializers do not count); re-export the model with a named {what}"
    )]
    MissingInputOutput {
        /// The file involved.
        path: PathBuf,
        /// "input" or "output".
        what: &'static str,
    },
    /// An initializer's dimensions disagree with the data it stores.
    #[error(
        "ONNX model `{path}`: initializer `{name}` is inconsistent: {detail}; the file is corrupt \
         or was written by a non-conforming tool: re-export the model"
    )]
    Initializer {
        /// The file involved.
        path: PathBuf,
        /// The initializer's name.
        name: String,
        /// What disagrees.
        detail: String,
    },
    /// The graph has the wrong number of inputs or outputs for a decoder.
    #[error(
        "model `{path}` has {count} graph {role}s ({names}): expected exactly one float {role} of shape \
         [batch, features] (initializers do not count); export a decoder with a single {role}"
    )]
    Arity {
        /// The file involved.
        path: PathBuf,
        /// "input" or "output".
        role: &'static str,
        /// How many there are.
        count: usize,
        /// Their names, comma-separated.
        names: String,
    },
    /// The decoder's single input or output has the wrong type or shape.
    #[error(
        "model `{path}` {role} `{name}` is {found}: expected a float32 tensor of shape [batch or 1, N] \
         with fixed N (an input may also be a window [batch or 1, T, C] or [batch or 1, C, T]); \
         re-export the decoder with such a {role}"
    )]
    Signature {
        /// The file involved.
        path: PathBuf,
        /// "input" or "output".
        role: &'static str,
        /// The tensor's name.
        name: String,
        /// What the graph declares.
        found: String,
    },
    /// The model could not be serialised.
    #[error(
        "could not serialise the ONNX model: {reason}; this is a bug in the graph writer, please report it"
    )]
    Encode {
        /// The encoder's description of the problem.
        reason: String,
    },
    /// A dense layer's buffers do not match its declared dimensions.
    #[error(
        "dense layer {index} is inconsistent: expected {expected}, found {found}; \
         build layers with weight len in_dim*out_dim and bias len out_dim, each layer's in_dim equal to the previous out_dim"
    )]
    LayerShape {
        /// The position of the layer in the stack.
        index: usize,
        /// What the layer should have.
        expected: String,
        /// What it had.
        found: String,
    },
}
