//! Writing and reading ONNX graphs.
//!
//! This is the only module (together with the later graph optimizer) that knows
//! about the ONNX protobuf messages. The rest of the crate describes a decoder
//! as a stack of [`DenseLayer`]s and calls [`dense_stack_model`] to turn it into
//! a [`ModelProto`], [`save_model`] to write it atomically, and [`load_model`]
//! to read one back with errors that say what went wrong.

mod dense;
mod error;
mod inspect;
mod io;
mod wire;

pub use dense::{
    Activation, BATCH_DIM, DenseLayer, GraphSpec, dense_stack_model, try_dense_stack_model,
};
pub use error::OnnxError;
pub use inspect::{
    DecoderIo, Dim, TensorSignature, decoder_io, decoder_io_besides, graph_inputs, graph_outputs,
    metadata, parameter_count,
};
pub use io::{load_model, parse_model, save_model};
pub use onnx_protobuf::ModelProto;

/// The ONNX opset version the writer targets.
pub const OPSET_VERSION: i64 = 17;
/// The ONNX IR version the writer stamps on models (IR 8 goes with opset 17).
pub const IR_VERSION: i64 = 8;
