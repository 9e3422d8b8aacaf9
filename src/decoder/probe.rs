//! A session that returns every float output of a model, for calibration.
//!
//! [`Probe`] runs a model that has one float input `[batch, D]` and any number of
//! float outputs, and hands back each output by name. The quantizer uses it on a
//! copy of a decoder in which intermediate tensors were made graph outputs, to
//! measure their ranges. It is not meant for the real-time path: every call
//! allocates.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::Tensor;

use super::{DecoderError, runtime};

/// One ONNX Runtime session returning all of its float outputs.
pub struct Probe {
    session: Session,
    path: PathBuf,
    input_name: String,
    input_dim: usize,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("path", &self.path)
            .field("input", &(&self.input_name, self.input_dim))
            .finish()
    }
}

impl Probe {
    /// Creates a session from model bytes with graph optimisation disabled, so that every
    /// intermediate tensor keeps its meaning, and one intra-op thread.
    ///
    /// `label` names the model in errors. `input_dim` is the number of features per frame
    /// of the model's single input.
    pub fn from_bytes(label: &Path, bytes: &[u8], input_dim: usize) -> Result<Probe, DecoderError> {
        let env = runtime::environment()?;
        let session_err = |e: ort::Error| DecoderError::Session {
            path: label.to_path_buf(),
            reason: e.to_string(),
        };
        let session = Session::builder(env)
            .map_err(session_err)?
            .with_optimization_level(ort::session::builder::GraphOptimizationLevel::Disable)
            .map_err(|e| session_err(e.into()))?
            .with_intra_threads(1)
            .map_err(|e| session_err(e.into()))?
            .with_inter_threads(1)
            .map_err(|e| session_err(e.into()))?
            .commit_from_memory(bytes)
            .map_err(session_err)?;
        let inputs = session.inputs();
        let [input] = inputs else {
            return Err(DecoderError::Arity {
                path: label.to_path_buf(),
                role: "input",
                count: inputs.len(),
                names: inputs
                    .iter()
                    .map(|o| o.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let input_name = input.name().to_string();
        Ok(Probe {
            session,
            path: label.to_path_buf(),
            input_name,
            input_dim,
        })
    }

    /// Runs `n` frames (`inputs` holds `n * D` values) and returns every float output
    /// as its name and its values, in the model's output order.
    ///
    /// Outputs that are not float32 are skipped.
    pub fn run(
        &mut self,
        inputs: &[f32],
        n: usize,
    ) -> Result<Vec<(String, Vec<f32>)>, DecoderError> {
        if inputs.len() != n * self.input_dim {
            return Err(DecoderError::BufferSize {
                what: "input",
                name: self.input_name.clone(),
                expected: n * self.input_dim,
                found: inputs.len(),
                per_frame: self.input_dim,
            });
        }
        let run_err = |e: ort::Error| DecoderError::Run {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let tensor = Tensor::from_array(([n, self.input_dim], inputs.to_vec())).map_err(run_err)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(run_err)?;
        let mut result = Vec::with_capacity(outputs.len());
        for (name, value) in outputs.iter() {
            if let Ok((shape, data)) = value.try_extract_tensor::<f32>() {
                let values = if shape.num_elements() == 0 {
                    Vec::new()
                } else {
                    data.to_vec()
                };
                result.push((name.to_string(), values));
            }
        }
        Ok(result)
    }
}
