//! Building a feed-forward stack of dense layers as an ONNX graph.

use onnx_protobuf::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto::AttributeType,
    tensor_proto::DataType, tensor_shape_proto::Dimension, tensor_shape_proto::dimension,
    type_proto,
};
use protobuf::Enum;

use super::{IR_VERSION, OPSET_VERSION, OnnxError};

/// The name of the symbolic batch dimension on the graph input and output.
pub const BATCH_DIM: &str = "batch";

/// The non-linearity applied after a dense layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// No activation: the layer is affine.
    None,
    /// The rectified linear unit `max(x, 0)`.
    Relu,
    /// The hyperbolic tangent.
    Tanh,
}

impl Activation {
    /// Applies the activation to one value.
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::None => x,
            Activation::Relu => x.max(0.0),
            Activation::Tanh => x.tanh(),
        }
    }

    /// Returns the ONNX operator implementing the activation, if any.
    fn op_type(self) -> Option<&'static str> {
        match self {
            Activation::None => None,
            Activation::Relu => Some("Relu"),
            Activation::Tanh => Some("Tanh"),
        }
    }
}

/// One fully connected layer `y = act(x·W + b)`.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseLayer {
    /// The number of input features.
    pub in_dim: usize,
    /// The number of output features.
    pub out_dim: usize,
    /// The weights, row-major `[in_dim][out_dim]`, so that `y = x·W + b`.
    pub weight: Vec<f32>,
    /// The bias, one value per output feature.
    pub bias: Vec<f32>,
    /// The non-linearity applied after the affine map.
    pub activation: Activation,
}

impl DenseLayer {
    /// Checks that the buffers match the declared dimensions.
    pub fn validate(&self, index: usize) -> Result<(), OnnxError> {
        if self.in_dim == 0 || self.out_dim == 0 {
            return Err(OnnxError::LayerShape {
                index,
                expected: "non-zero in_dim and out_dim".into(),
                found: format!("in_dim {} and out_dim {}", self.in_dim, self.out_dim),
            });
        }
        if self.weight.len() != self.in_dim * self.out_dim {
            return Err(OnnxError::LayerShape {
                index,
                expected: format!(
                    "{} weights ({} x {})",
                    self.in_dim * self.out_dim,
                    self.in_dim,
                    self.out_dim
                ),
                found: format!("{} weights", self.weight.len()),
            });
        }
        if self.bias.len() != self.out_dim {
            return Err(OnnxError::LayerShape {
                index,
                expected: format!("{} biases", self.out_dim),
                found: format!("{} biases", self.bias.len()),
            });
        }
        Ok(())
    }

    /// Returns the number of trainable parameters (weights and biases).
    pub fn parameter_count(&self) -> usize {
        self.weight.len() + self.bias.len()
    }
}

/// Names and annotations for a generated graph.
#[derive(Clone, Copy, Debug)]
pub struct GraphSpec<'a> {
    /// The name of the graph input, of shape `[batch, in_dim]`.
    pub input_name: &'a str,
    /// The name of the graph output, of shape `[batch, out_dim]`.
    pub output_name: &'a str,
    /// The producer name stamped on the model (for example `"neurospeak"`).
    pub producer: &'a str,
    /// A free-text description stored as the model's doc string.
    pub doc: &'a str,
    /// Key/value pairs stored as the model's metadata properties.
    pub metadata: &'a [(String, String)],
}

/// Builds an ONNX model computing the dense stack, one `Gemm` (plus activation) per layer.
///
/// The input is `[batch, in_dim]` with the symbolic dimension `"batch"`; the output is
/// `[batch, out_dim]`. Weights are initializers named `layer{i}.weight` and
/// `layer{i}.bias`, and every intermediate value has its shape recorded in
/// `value_info`. The model uses opset 17 and IR version 8.
///
/// # Panics
///
/// Panics if the layers are empty or inconsistent; use [`try_dense_stack_model`] to get an error instead.
pub fn dense_stack_model(layers: &[DenseLayer], spec: &GraphSpec) -> ModelProto {
    match try_dense_stack_model(layers, spec) {
        Ok(model) => model,
        Err(e) => panic!("dense_stack_model: {e}"),
    }
}

/// Builds the same model as [`dense_stack_model`] but reports inconsistent layers as an error.
pub fn try_dense_stack_model(
    layers: &[DenseLayer],
    spec: &GraphSpec,
) -> Result<ModelProto, OnnxError> {
    if layers.is_empty() {
        return Err(OnnxError::LayerShape {
            index: 0,
            expected: "at least one layer".into(),
            found: "an empty layer list".into(),
        });
    }
    for (i, layer) in layers.iter().enumerate() {
        layer.validate(i)?;
        if i > 0 && layers[i - 1].out_dim != layer.in_dim {
            return Err(OnnxError::LayerShape {
                index: i,
                expected: format!(
                    "in_dim {} (the previous layer's out_dim)",
                    layers[i - 1].out_dim
                ),
                found: format!("in_dim {}", layer.in_dim),
            });
        }
    }

    let mut graph = GraphProto {
        name: "dense_stack".into(),
        doc_string: spec.doc.into(),
        ..Default::default()
    };
    let last = layers.len() - 1;
    let mut current = spec.input_name.to_string();
    for (i, layer) in layers.iter().enumerate() {
        let weight_name = format!("layer{i}.weight");
        let bias_name = format!("layer{i}.bias");
        graph.initializer.push(float_tensor(
            &weight_name,
            &[layer.in_dim, layer.out_dim],
            &layer.weight,
        ));
        graph
            .initializer
            .push(float_tensor(&bias_name, &[layer.out_dim], &layer.bias));

        let act = layer.activation.op_type();
        let linear_name = if i == last && act.is_none() {
            spec.output_name.to_string()
        } else {
            format!("layer{i}.linear")
        };
        graph.node.push(NodeProto {
            name: format!("layer{i}.gemm"),
            op_type: "Gemm".into(),
            input: vec![current.clone(), weight_name, bias_name],
            output: vec![linear_name.clone()],
            attribute: vec![float_attr("alpha", 1.0), float_attr("beta", 1.0)],
            ..Default::default()
        });
        if linear_name != spec.output_name {
            graph
                .value_info
                .push(float_value_info(&linear_name, layer.out_dim));
        }
        current = linear_name;

        if let Some(op) = act {
            let out_name = if i == last {
                spec.output_name.to_string()
            } else {
                format!("layer{i}.{}", op.to_ascii_lowercase())
            };
            graph.node.push(NodeProto {
                name: format!("layer{i}.{}", op.to_ascii_lowercase()),
                op_type: op.into(),
                input: vec![current],
                output: vec![out_name.clone()],
                ..Default::default()
            });
            if out_name != spec.output_name {
                graph
                    .value_info
                    .push(float_value_info(&out_name, layer.out_dim));
            }
            current = out_name;
        }
    }
    graph
        .input
        .push(float_value_info(spec.input_name, layers[0].in_dim));
    graph
        .output
        .push(float_value_info(spec.output_name, layers[last].out_dim));

    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET_VERSION,
            ..Default::default()
        }],
        producer_name: spec.producer.into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: spec.doc.into(),
        graph: protobuf::MessageField::some(graph),
        metadata_props: spec
            .metadata
            .iter()
            .map(|(k, v)| StringStringEntryProto {
                key: k.clone(),
                value: v.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    })
}

/// Builds a float32 initializer with little-endian raw data.
fn float_tensor(name: &str, dims: &[usize], values: &[f32]) -> TensorProto {
    let mut raw = Vec::with_capacity(values.len() * 4);
    for v in values {
        raw.extend_from_slice(&v.to_le_bytes());
    }
    TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::FLOAT.value(),
        raw_data: raw,
        ..Default::default()
    }
}

/// Builds a float attribute.
fn float_attr(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: AttributeType::FLOAT.into(),
        f: value,
        ..Default::default()
    }
}

/// Describes a float32 tensor of shape `[batch, features]`.
fn float_value_info(name: &str, features: usize) -> ValueInfoProto {
    let dims = vec![
        Dimension {
            value: Some(dimension::Value::DimParam(BATCH_DIM.into())),
            ..Default::default()
        },
        Dimension {
            value: Some(dimension::Value::DimValue(features as i64)),
            ..Default::default()
        },
    ];
    let tensor = type_proto::Tensor {
        elem_type: DataType::FLOAT.value(),
        shape: protobuf::MessageField::some(TensorShapeProto {
            dim: dims,
            ..Default::default()
        }),
        ..Default::default()
    };
    ValueInfoProto {
        name: name.into(),
        type_: protobuf::MessageField::some(TypeProto {
            value: Some(type_proto::Value::TensorType(tensor)),
            ..Default::default()
        }),
        ..Default::default()
    }
}
