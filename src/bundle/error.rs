//! Errors from loading a model bundle. Every message names the file or the
//! manifest field, what was expected, what was found and what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(
        "{dir}: not a model bundle: expected a directory holding {manifest} and an ONNX file, \
         found {found}; pass the directory that `neurospeak train` or `neurospeak optimize` wrote \
         (for example models/demo)"
    )]
    NotABundle {
        dir: PathBuf,
        manifest: &'static str,
        found: String,
    },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: the manifest is not valid: {message}; fix the YAML (see models/demo/neurospeak.yaml for a complete example)"
    )]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: field `{field}`: expected {expected}, found {found}; {fix}")]
    Field {
        path: PathBuf,
        field: &'static str,
        expected: String,
        found: String,
        fix: String,
    },
    #[error(
        "{path}: the decoder file does not exist; the manifest's `decoder.file` names it \
         relative to the bundle directory: copy the ONNX file there or correct the field"
    )]
    MissingModel { path: PathBuf },
    #[error(
        "{path}: the ONNX file changed since the manifest was written: `provenance.sha256` is {expected}, \
         the file hashes to {found}; restore the original file, or re-run the command that made \
         the bundle so the manifest describes the model it ships"
    )]
    HashMismatch {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error(
        "{path}: this bundle's INT8 decoder (scheme {scheme}) requires the CPU feature(s) {missing} \
         (`optimization.requires_cpu`), which this machine lacks: its integer kernel could saturate and \
         decode other values than the ones `neurospeak optimize` checked. Run it on a CPU with them, or \
         re-run `neurospeak optimize` on the float parent bundle{parent} with the default `scheme: portable`"
    )]
    CpuRequirement {
        path: PathBuf,
        scheme: String,
        missing: String,
        parent: String,
    },
    #[error(transparent)]
    Model(#[from] crate::onnx::OnnxError),
    #[error(
        "{path}: the decoder takes {found_in} inputs and gives {found_out} outputs, but the manifest \
         says {want_in} (`decoder.input_dim`) and {want_out} (`decoder.output_dim`); the manifest does \
         not describe this ONNX file: re-create the bundle"
    )]
    ModelShape {
        path: PathBuf,
        want_in: usize,
        want_out: usize,
        found_in: usize,
        found_out: usize,
    },
    #[error(
        "{path}: input {found}, but the manifest's `decoder.input_layout: {layout}` makes \
         {expected}; set input_layout and the context to what the model takes"
    )]
    InputShape {
        path: PathBuf,
        /// The input's name and shape.
        found: String,
        layout: &'static str,
        /// The shape and what it is made of.
        expected: String,
    },
}
