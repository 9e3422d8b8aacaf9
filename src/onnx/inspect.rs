//! Read-only queries on a model.

use std::path::Path;

use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::tensor_shape_proto::dimension;
use onnx_protobuf::{ModelProto, ValueInfoProto, type_proto};
use protobuf::Enum;

use super::OnnxError;

/// Returns the number of scalar parameters stored in the graph's initializers
/// (saturating: a file may declare dimensions whose product does not fit).
pub fn parameter_count(model: &ModelProto) -> usize {
    model
        .graph
        .as_ref()
        .map(|g| {
            g.initializer
                .iter()
                .map(|t| {
                    t.dims
                        .iter()
                        .map(|&d| usize::try_from(d.max(0)).unwrap_or(usize::MAX))
                        .fold(1usize, usize::saturating_mul)
                })
                .fold(0usize, usize::saturating_add)
        })
        .unwrap_or(0)
}

/// Returns the model's metadata properties as key/value pairs, in file order.
pub fn metadata(model: &ModelProto) -> Vec<(String, String)> {
    model
        .metadata_props
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect()
}

/// One dimension of a declared tensor shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size (negative sizes are kept as declared, and refused by the checks).
    Fixed(i64),
    /// A named, symbolic size such as `batch`.
    Symbolic(String),
    /// A dimension without a value.
    Unknown,
}

/// The declared type and shape of a graph input or output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSignature {
    /// The tensor's name.
    pub name: String,
    /// The element type (`onnx.TensorProto.DataType`), `None` when not a tensor.
    pub elem_type: Option<i32>,
    /// The dimensions, `None` when the shape is not declared.
    pub dims: Option<Vec<Dim>>,
}

impl TensorSignature {
    fn from_value_info(v: &ValueInfoProto) -> Self {
        let tensor = match v.type_.as_ref().and_then(|t| t.value.as_ref()) {
            Some(type_proto::Value::TensorType(t)) => Some(t),
            _ => None,
        };
        let dims = tensor.and_then(|t| t.shape.as_ref()).map(|s| {
            s.dim
                .iter()
                .map(|d| match &d.value {
                    Some(dimension::Value::DimValue(v)) => Dim::Fixed(*v),
                    Some(dimension::Value::DimParam(p)) if !p.is_empty() => {
                        Dim::Symbolic(p.clone())
                    }
                    _ => Dim::Unknown,
                })
                .collect()
        });
        TensorSignature {
            name: v.name.clone(),
            elem_type: tensor.map(|t| t.elem_type),
            dims,
        }
    }

    /// A description such as `a float32 tensor of shape [batch, 704]`.
    pub fn describe(&self) -> String {
        let Some(elem) = self.elem_type else {
            return "not a tensor".into();
        };
        let ty = DataType::from_i32(elem)
            .map(|t| match t {
                DataType::FLOAT => "float32".to_string(),
                DataType::DOUBLE => "float64".to_string(),
                other => format!("{other:?}").to_lowercase(),
            })
            .unwrap_or_else(|| format!("element type {elem}"));
        match &self.dims {
            None => format!("a {ty} tensor without a declared shape"),
            Some(dims) => {
                let shown: Vec<String> = dims
                    .iter()
                    .map(|d| match d {
                        Dim::Fixed(v) => v.to_string(),
                        Dim::Symbolic(s) => s.clone(),
                        Dim::Unknown => "?".into(),
                    })
                    .collect();
                format!("a {ty} tensor of shape [{}]", shown.join(", "))
            }
        }
    }
}

/// The graph inputs that are not initializers, in file order.
pub fn graph_inputs(model: &ModelProto) -> Vec<TensorSignature> {
    let Some(g) = model.graph.as_ref() else {
        return Vec::new();
    };
    let initializers: std::collections::HashSet<&str> =
        g.initializer.iter().map(|t| t.name.as_str()).collect();
    g.input
        .iter()
        .filter(|i| !initializers.contains(i.name.as_str()))
        .map(TensorSignature::from_value_info)
        .collect()
}

/// The graph outputs, in file order.
pub fn graph_outputs(model: &ModelProto) -> Vec<TensorSignature> {
    model
        .graph
        .as_ref()
        .map(|g| {
            g.output
                .iter()
                .map(TensorSignature::from_value_info)
                .collect()
        })
        .unwrap_or_default()
}

/// The input and output of a decoder model, as declared in its graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecoderIo {
    /// The input tensor's name.
    pub input_name: String,
    /// Features per input frame (`D` of `[batch, D]`, or `A x B` of a window
    /// `[batch, A, B]`).
    pub input_dim: usize,
    /// The input's dimensions after the batch (`[D]` or `[A, B]`).
    pub input_shape: Vec<usize>,
    /// The output tensor's name.
    pub output_name: String,
    /// Values per output frame (`M` of `[batch, M]`).
    pub output_dim: usize,
    /// Whether both first dimensions are symbolic (any batch size).
    pub dynamic_batch: bool,
}

/// Checks the graph declares what a decoder needs, the same contract the runtime's
/// session enforces: exactly one float32 input and one float32 output, each of shape
/// `[batch or 1, N]` with a fixed `N > 0`.
pub fn decoder_io(model: &ModelProto, path: &Path) -> Result<DecoderIo, OnnxError> {
    decoder_io_besides(model, path, &[])
}

/// [`decoder_io`] of a stateful decoder: the tensors named in `state` (its
/// state inputs and outputs) are left aside; the input may be a window
/// `[batch or 1, A, B]`.
pub fn decoder_io_besides(
    model: &ModelProto,
    path: &Path,
    state: &[&str],
) -> Result<DecoderIo, OnnxError> {
    let keep = |list: Vec<TensorSignature>| -> Vec<TensorSignature> {
        list.into_iter()
            .filter(|t| !state.contains(&t.name.as_str()))
            .collect()
    };
    let (input_name, input_shape, in_dynamic) = single(path, "input", &keep(graph_inputs(model)))?;
    let (output_name, output_shape, out_dynamic) =
        single(path, "output", &keep(graph_outputs(model)))?;
    Ok(DecoderIo {
        input_name,
        input_dim: input_shape.iter().product(),
        input_shape,
        output_name,
        output_dim: output_shape.iter().product(),
        dynamic_batch: in_dynamic && out_dynamic,
    })
}

fn single(
    path: &Path,
    role: &'static str,
    tensors: &[TensorSignature],
) -> Result<(String, Vec<usize>, bool), OnnxError> {
    let [t] = tensors else {
        return Err(OnnxError::Arity {
            path: path.to_path_buf(),
            role,
            count: tensors.len(),
            names: tensors
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let refuse = || OnnxError::Signature {
        path: path.to_path_buf(),
        role,
        name: t.name.clone(),
        found: t.describe(),
    };
    if t.elem_type != Some(DataType::FLOAT.value()) {
        return Err(refuse());
    }
    let dims = t.dims.as_deref().unwrap_or_default();
    let rank_ok = dims.len() == 2 || (role == "input" && dims.len() == 3);
    if !rank_ok {
        return Err(refuse());
    }
    let dynamic = match &dims[0] {
        Dim::Fixed(1) => false,
        Dim::Symbolic(_) | Dim::Unknown => true,
        Dim::Fixed(_) => return Err(refuse()),
    };
    let mut shape = Vec::with_capacity(dims.len() - 1);
    for d in &dims[1..] {
        match d {
            Dim::Fixed(n) if *n > 0 => shape.push(usize::try_from(*n).map_err(|_| refuse())?),
            _ => return Err(refuse()),
        }
    }
    Ok((t.name.clone(), shape, dynamic))
}
