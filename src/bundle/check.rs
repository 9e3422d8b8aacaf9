//! Checking a bundle's ONNX file against its manifest without running it: the same
//! checks `replay` makes before the first frame (the hash at load, then the graph's
//! input and output against `decoder.input_dim` / `decoder.output_dim`).

use super::{Bundle, BundleError};
use crate::onnx::{DecoderIo, graph_inputs, load_model, parameter_count};

/// What the ONNX file of a bundle declares, after it matched the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelCheck {
    /// The graph's input and output.
    pub io: DecoderIo,
    /// Scalars stored in the graph's initializers.
    pub parameters: usize,
    /// The default-domain opset the graph imports, if it declares one.
    pub opset: Option<i64>,
}

impl Bundle {
    /// Decodes the ONNX file and checks its graph against the manifest.
    ///
    /// A file that does not decode (truncated, not ONNX), a graph without exactly one
    /// float `[batch, D]` input (or window, as `decoder.input_layout` says) and one
    /// `[batch, M]` output besides the declared state, or dimensions other than the
    /// manifest's give an error naming what was found. The hash was already checked
    /// by [`Bundle::load`].
    pub fn check_model(&self) -> Result<ModelCheck, BundleError> {
        let model = load_model(&self.model_path)?;
        let d = &self.manifest.decoder;
        let state: Vec<&str> = d
            .state
            .iter()
            .flat_map(|s| [s.input.as_str(), s.output.as_str()])
            .collect();
        let io = crate::onnx::decoder_io_besides(&model, &self.model_path, &state)?;
        let plan = self.front_end_plan();
        let channels = plan.frame_features();
        let frames = plan.stacked_frames();
        let expected = d.input_layout.shape(channels, frames);
        // A rank the layout does not make, or the right size in the wrong
        // shape; other sizes are the dimension mismatch below.
        if io.input_shape.len() != expected.len()
            || (io.input_dim == d.input_dim && io.input_shape != expected)
        {
            let described = graph_inputs(&model)
                .iter()
                .find(|t| t.name == io.input_name)
                .map(|t| t.describe())
                .unwrap_or_default();
            let dims: Vec<String> = expected.iter().map(|n| n.to_string()).collect();
            return Err(BundleError::InputShape {
                path: self.model_path.clone(),
                found: format!("`{}` is {described}", io.input_name),
                layout: d.input_layout.name(),
                expected: format!(
                    "[1, {}] ({channels} values per frame, {frames} stacked frames)",
                    dims.join(", ")
                ),
            });
        }
        if io.input_dim != d.input_dim || io.output_dim != d.output_dim {
            return Err(BundleError::ModelShape {
                path: self.model_path.clone(),
                want_in: d.input_dim,
                want_out: d.output_dim,
                found_in: io.input_dim,
                found_out: io.output_dim,
            });
        }
        let opset = model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version);
        Ok(ModelCheck {
            io,
            parameters: parameter_count(&model),
            opset,
        })
    }
}
