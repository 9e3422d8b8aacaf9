//! Small helpers on ONNX protobuf messages used by the quantizer.

use onnx_protobuf::{
    AttributeProto, NodeProto, TensorProto, TypeProto, ValueInfoProto,
    attribute_proto::AttributeType, tensor_proto::DataType, type_proto,
};
use protobuf::Enum;

/// Reads a float32 initializer's values (raw little-endian data or `float_data`).
pub fn float_values(t: &TensorProto) -> Option<Vec<f32>> {
    if t.data_type != DataType::FLOAT.value() {
        return None;
    }
    if !t.raw_data.is_empty() {
        if !t.raw_data.len().is_multiple_of(4) {
            return None;
        }
        return Some(
            t.raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        );
    }
    Some(t.float_data.clone())
}

/// The dimensions of an initializer as unsigned sizes.
pub fn dims(t: &TensorProto) -> Vec<usize> {
    t.dims.iter().map(|&d| d.max(0) as usize).collect()
}

/// Builds a float32 initializer.
pub fn float_tensor(name: &str, dims: &[usize], values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::FLOAT.value(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// Builds an 8-bit initializer, signed (`INT8`) or unsigned (`UINT8`); `values` holds the
/// bit patterns.
pub fn byte_tensor(name: &str, dims: &[usize], values: &[u8], signed: bool) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: if signed {
            DataType::INT8.value()
        } else {
            DataType::UINT8.value()
        },
        raw_data: values.to_vec(),
        ..Default::default()
    }
}

/// Builds an int32 initializer.
pub fn int32_tensor(name: &str, dims: &[usize], values: &[i32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::INT32.value(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// Builds a node of the default domain.
pub fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// Builds an integer attribute.
pub fn int_attr(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: AttributeType::INT.into(),
        i: value,
        ..Default::default()
    }
}

/// Returns an integer attribute of a node, if set.
pub fn get_int(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// Returns a float attribute of a node, if set.
pub fn get_float(node: &NodeProto, name: &str) -> Option<f32> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.f)
}

/// Describes a float32 tensor of unknown shape (used for calibration outputs).
pub fn float_output(name: &str) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        type_: protobuf::MessageField::some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::FLOAT.value(),
                ..Default::default()
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}
