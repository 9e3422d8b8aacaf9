//! Errors raised while loading or running a decoder.

use std::path::PathBuf;

use super::RuntimeError;
use crate::onnx::OnnxError;

/// Everything that can go wrong when loading or running a [`Decoder`](super::Decoder).
#[derive(Debug, thiserror::Error)]
pub enum DecoderError {
    /// ONNX Runtime itself could not be found or loaded.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The model file could not be read or is not a valid ONNX model.
    #[error(transparent)]
    Model(#[from] OnnxError),
    /// ONNX Runtime rejected the model.
    #[error(
        "ONNX Runtime could not create a session for `{path}`: {reason}; check that the model uses opset <= 21 and standard operators"
    )]
    Session {
        /// The model file.
        path: PathBuf,
        /// ONNX Runtime's explanation.
        reason: String,
    },
    /// The model has the wrong number of inputs or outputs.
    #[error(
        "model `{path}` has {count} {role}s ({names}): expected exactly one float {role} of shape [batch, features]; \
         export a decoder with a single {role}"
    )]
    Arity {
        /// The model file.
        path: PathBuf,
        /// "input" or "output".
        role: &'static str,
        /// How many there are.
        count: usize,
        /// Their names, comma-separated.
        names: String,
    },
    /// The single input or output has the wrong type or shape.
    #[error(
        "model `{path}` {role} `{name}` is {found}: expected a float32 tensor of shape [batch or 1, N] with fixed N \
         (an input may also be a window [1, T, C] or [1, C, T]); re-export the decoder with such a {role}"
    )]
    Signature {
        /// The model file.
        path: PathBuf,
        /// "input" or "output".
        role: &'static str,
        /// The tensor's name.
        name: String,
        /// What the model declares.
        found: String,
    },
    /// A declared recurrent state does not match the model.
    #[error("model `{path}` state `{name}`: expected {expected}, found {found}; {hint}")]
    State {
        /// The model file.
        path: PathBuf,
        /// The state tensor's name.
        name: String,
        /// What the declaration (the manifest) asks for.
        expected: String,
        /// What the model has.
        found: String,
        /// What to do.
        hint: &'static str,
    },
    /// A buffer passed to `run` or `run_batch` has the wrong length.
    #[error(
        "{what} buffer for `{name}` has {found} values: expected {expected}; size it as frames x {per_frame}"
    )]
    BufferSize {
        /// "input" or "output".
        what: &'static str,
        /// The model tensor it feeds or receives.
        name: String,
        /// The expected number of values.
        expected: usize,
        /// The number of values given.
        found: usize,
        /// Values per frame.
        per_frame: usize,
    },
    /// ONNX Runtime failed while running the model.
    #[error("ONNX Runtime failed to run `{path}`: {reason}")]
    Run {
        /// The model file.
        path: PathBuf,
        /// ONNX Runtime's explanation.
        reason: String,
    },
}
