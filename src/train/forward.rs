//! Plain-Rust forward pass and output rescaling for dense stacks.

use crate::onnx::{Activation, DenseLayer};

/// Runs the dense stack on `n` row-major input frames and returns `n * out_dim` outputs.
///
/// This is a straightforward reference implementation used to cross-check ONNX Runtime
/// and to score models during training; it is not tuned for speed.
///
/// # Panics
///
/// Panics if `layers` is empty or `inputs.len()` is not `n * layers[0].in_dim`.
pub fn predict_dense(layers: &[DenseLayer], inputs: &[f32], n: usize) -> Vec<f32> {
    assert!(!layers.is_empty(), "predict_dense needs at least one layer");
    assert_eq!(
        inputs.len(),
        n * layers[0].in_dim,
        "predict_dense: expected n * in_dim = {} * {} inputs",
        n,
        layers[0].in_dim
    );
    let mut current = inputs.to_vec();
    for layer in layers {
        let mut next = vec![0f32; n * layer.out_dim];
        for (x, y) in current
            .chunks_exact(layer.in_dim)
            .zip(next.chunks_exact_mut(layer.out_dim))
        {
            y.copy_from_slice(&layer.bias);
            for (xi, w_row) in x.iter().zip(layer.weight.chunks_exact(layer.out_dim)) {
                for (yo, w) in y.iter_mut().zip(w_row) {
                    *yo += xi * w;
                }
            }
            for v in y.iter_mut() {
                *v = layer.activation.apply(*v);
            }
        }
        current = next;
    }
    current
}

/// Returns the mean squared error between two equally long buffers (0 for empty ones).
pub fn mse(prediction: &[f32], target: &[f32]) -> f64 {
    assert_eq!(
        prediction.len(),
        target.len(),
        "mse: buffers differ in length"
    );
    if prediction.is_empty() {
        return 0.0;
    }
    let sum: f64 = prediction
        .iter()
        .zip(target)
        .map(|(p, t)| {
            let d = (*p - *t) as f64;
            d * d
        })
        .sum();
    sum / prediction.len() as f64
}

/// Rescales an affine output layer so that a model trained on z-scored targets
/// outputs raw values: `y = (x·W + b) * std + mean`.
///
/// # Panics
///
/// Panics if the layer has an activation (the rescaling would not commute with it) or if
/// `mean`/`std` do not have `out_dim` values.
pub fn fold_output_affine(layer: &mut DenseLayer, mean: &[f32], std: &[f32]) {
    assert_eq!(
        layer.activation,
        Activation::None,
        "fold_output_affine needs an affine output layer (Activation::None)"
    );
    assert_eq!(
        mean.len(),
        layer.out_dim,
        "fold_output_affine: mean must have out_dim values"
    );
    assert_eq!(
        std.len(),
        layer.out_dim,
        "fold_output_affine: std must have out_dim values"
    );
    for row in layer.weight.chunks_exact_mut(layer.out_dim) {
        for (w, s) in row.iter_mut().zip(std) {
            *w *= s;
        }
    }
    for ((b, m), s) in layer.bias.iter_mut().zip(mean).zip(std) {
        *b = *b * s + m;
    }
}
