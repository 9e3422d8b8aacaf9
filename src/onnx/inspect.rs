//! Read-only queries on a model.

use onnx_protobuf::ModelProto;

/// Returns the number of scalar parameters stored in the graph's initializers.
pub fn parameter_count(model: &ModelProto) -> usize {
    model
        .graph
        .as_ref()
        .map(|g| {
            g.initializer
                .iter()
                .map(|t| t.dims.iter().map(|&d| d.max(0) as usize).product::<usize>())
                .sum()
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
