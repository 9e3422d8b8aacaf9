//! A session that returns every float output of a model, for calibration.
//!
//! [`Probe`] runs a model that has one float input `[batch, D]` (or a window
//! `[batch, A, B]`) and any number of float outputs, and hands back each
//! output by name. The quantizer uses it on a copy of a decoder in which
//! intermediate tensors were made graph outputs, to measure their ranges. It is not meant for the real-time path: every call
//! allocates.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::Tensor;

use super::{DecoderError, StateSpec, runtime};

/// One ONNX Runtime session returning all of its float outputs.
pub struct Probe {
    session: Session,
    path: PathBuf,
    input_name: String,
    input_dim: usize,
    /// The input's dimensions after the batch (`[D]`, or a window's two).
    input_shape: Vec<usize>,
    /// Whether the model's batch dimension is fixed at 1.
    batch_one: bool,
    /// Each recurrent state and its current value (empty: stateless).
    state: Vec<(StateSpec, Vec<f32>)>,
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
        Self::from_bytes_with_state(label, bytes, input_dim, &[])
    }

    /// [`Probe::from_bytes`] for a model carrying recurrent state: besides the frame
    /// input it has the state inputs `state` declares, which the probe feeds back from
    /// their outputs frame by frame, from their initial values.
    pub fn from_bytes_with_state(
        label: &Path,
        bytes: &[u8],
        input_dim: usize,
        state: &[StateSpec],
    ) -> Result<Probe, DecoderError> {
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
        let frame: Vec<_> = inputs
            .iter()
            .filter(|i| !state.iter().any(|s| s.input == i.name()))
            .collect();
        let [input] = frame.as_slice() else {
            return Err(DecoderError::Arity {
                path: label.to_path_buf(),
                role: "input",
                count: frame.len(),
                names: frame
                    .iter()
                    .map(|o| o.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let input_name = input.name().to_string();
        // A model whose batch is fixed at 1 runs frame by frame.
        let batch_one = matches!(
            input.dtype(),
            ort::value::ValueType::Tensor { shape, .. } if shape.first() == Some(&1)
        );
        // A window input `[batch, A, B]` is fed in its own shape.
        let input_shape = match input.dtype() {
            ort::value::ValueType::Tensor { shape, .. }
                if shape.len() == 3
                    && shape[1] > 0
                    && shape[2] > 0
                    && (shape[1] * shape[2]) as usize == input_dim =>
            {
                vec![shape[1] as usize, shape[2] as usize]
            }
            _ => vec![input_dim],
        };
        Ok(Probe {
            session,
            path: label.to_path_buf(),
            input_name,
            input_dim,
            input_shape,
            batch_one,
            state: state
                .iter()
                .map(|s| (s.clone(), vec![s.initial; s.len()]))
                .collect(),
        })
    }

    /// Puts every state back to its initial value.
    pub fn reset_state(&mut self) {
        for (spec, values) in &mut self.state {
            values.fill(spec.initial);
        }
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
        if !self.state.is_empty() || self.batch_one {
            return self.run_frames(inputs, n);
        }
        let shape: Vec<usize> = std::iter::once(n)
            .chain(self.input_shape.iter().copied())
            .collect();
        let tensor = Tensor::from_array((shape, inputs.to_vec())).map_err(run_err)?;
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

    /// [`Probe::run`] frame by frame in order (a model with a fixed batch of 1,
    /// or a stateful one, its state fed back). Besides the outputs, each state
    /// input's values are returned under its name (the ranges of tensors that
    /// read it).
    fn run_frames(
        &mut self,
        inputs: &[f32],
        n: usize,
    ) -> Result<Vec<(String, Vec<f32>)>, DecoderError> {
        let run_err = |e: ort::Error| DecoderError::Run {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let mut result: Vec<(String, Vec<f32>)> = Vec::new();
        fn append(result: &mut Vec<(String, Vec<f32>)>, name: &str, values: &[f32]) {
            match result.iter_mut().find(|(k, _)| k == name) {
                Some((_, v)) => v.extend_from_slice(values),
                None => result.push((name.to_string(), values.to_vec())),
            }
        }
        for x in inputs.chunks_exact(self.input_dim).take(n) {
            let mut feed: Vec<(String, Tensor<f32>)> = Vec::with_capacity(1 + self.state.len());
            feed.push((
                self.input_name.clone(),
                Tensor::from_array((
                    std::iter::once(1)
                        .chain(self.input_shape.iter().copied())
                        .collect::<Vec<usize>>(),
                    x.to_vec(),
                ))
                .map_err(run_err)?,
            ));
            for (spec, values) in &self.state {
                append(&mut result, &spec.input, values);
                feed.push((
                    spec.input.clone(),
                    Tensor::from_array((spec.shape.clone(), values.clone())).map_err(run_err)?,
                ));
            }
            let outputs = self.session.run(feed).map_err(run_err)?;
            for (name, value) in outputs.iter() {
                if let Ok((_, data)) = value.try_extract_tensor::<f32>() {
                    append(&mut result, name, data);
                    if let Some((_, v)) = self.state.iter_mut().find(|(s, _)| s.output == name) {
                        v.copy_from_slice(data);
                    }
                }
            }
        }
        Ok(result)
    }
}
