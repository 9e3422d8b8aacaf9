//! Recurrent state a decoder carries from frame to frame.
//!
//! A stateful model (a GRU, an LSTM, a causal convolution keeping its last
//! input frames) has, besides the frame input and output, pairs of state
//! tensors: the state before the frame is an input (`h_in`), the state after
//! it an output (`h_out`) of the same shape. The decoder owns the state: every
//! [`Decoder::run`](super::Decoder::run) feeds the last output back as the
//! next input. The tensors are allocated at load; a frame copies the new
//! state through a scratch buffer made at load too, so running allocates
//! nothing. [`StatefulBound::reset`] puts every state back to its initial
//! value (the caller decides when: a gap in the stream, a reconnect, a new
//! recording).

use std::path::Path;

use ort::memory::Allocator;
use ort::session::{HasSelectedOutputs, OutputSelector, RunOptions, Session, SessionInputValue};
use ort::value::{Outlet, Tensor, TensorElementType, ValueType};

use super::DecoderError;

/// The most inputs (frame plus state) a stateful decoder may have.
pub const MAX_INPUTS: usize = 16;

/// One recurrent state the model carries: its input and output names, its
/// shape and the value it starts from.
#[derive(Clone, Debug, PartialEq)]
pub struct StateSpec {
    /// The model input receiving the state before a frame.
    pub input: String,
    /// The model output giving the state after it.
    pub output: String,
    /// The state's shape (batch 1), the same for input and output.
    pub shape: Vec<usize>,
    /// Every element's value at the start and after a reset.
    pub initial: f32,
}

impl StateSpec {
    /// Number of values in the state.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the state holds no values (never, for a valid declaration).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A state pair as bound to the session.
struct Pair {
    /// Index of the state input among all inputs.
    input: usize,
    output: String,
    initial: f32,
    /// Where the new state waits while the outputs still borrow the inputs.
    scratch: Vec<f32>,
}

/// The pre-allocated tensors of a stateful decoder (batch 1 only: the state
/// makes frames depend on the ones before).
pub struct StatefulBound {
    /// Every model input, in the session's order (the frame and the states).
    inputs: Vec<Tensor<f32>>,
    /// Which of `inputs` is the frame.
    frame: usize,
    /// The frame output's name.
    output: String,
    pairs: Vec<Pair>,
    options: RunOptions<HasSelectedOutputs>,
}

/// What [`bind`] found: the bound tensors and the frame tensors' names and sizes.
pub struct Bound {
    pub tensors: StatefulBound,
    pub(super) input: super::session::FrameTensor,
    pub(super) output: super::session::FrameTensor,
}

/// Matches `specs` to the model's inputs and outputs, checks their shapes,
/// and allocates every tensor at its initial value. The one input and the one
/// output left over are the frame's, each `[1 or batch, N]`.
pub fn bind(
    path: &Path,
    inputs: &[Outlet],
    outputs: &[Outlet],
    specs: &[StateSpec],
) -> Result<Bound, DecoderError> {
    let err =
        |name: &str, expected: String, found: String, hint: &'static str| DecoderError::State {
            path: path.to_path_buf(),
            name: name.to_string(),
            expected,
            found,
            hint,
        };
    if inputs.len() > MAX_INPUTS {
        return Err(err(
            inputs[MAX_INPUTS].name(),
            format!("at most {MAX_INPUTS} inputs"),
            format!("{} inputs", inputs.len()),
            "merge state tensors into fewer, larger ones when exporting",
        ));
    }
    for spec in specs {
        for (role, name, outlets) in [
            ("input", &spec.input, inputs),
            ("output", &spec.output, outputs),
        ] {
            let Some(outlet) = outlets.iter().find(|o| o.name() == name) else {
                return Err(err(
                    name,
                    format!("a model {role} named `{name}`"),
                    format!("{role}s {}", names(outlets)),
                    "name the state tensors as the model does (inspect it with `neurospeak inspect`)",
                ));
            };
            check_shape(outlet, &spec.shape).map_err(|found| {
                err(
                    name,
                    format!("a float32 tensor of shape {:?}", spec.shape),
                    found,
                    "declare the state with the shape the model was exported with (batch 1)",
                )
            })?;
        }
    }
    let is_state_in = |o: &Outlet| specs.iter().any(|s| s.input == o.name());
    let is_state_out = |o: &Outlet| specs.iter().any(|s| s.output == o.name());
    let frame_in: Vec<&Outlet> = inputs.iter().filter(|o| !is_state_in(o)).collect();
    let frame_out: Vec<&Outlet> = outputs.iter().filter(|o| !is_state_out(o)).collect();
    let input = super::session::single_tensor(path, "input", &frame_in)?;
    let output = super::session::single_tensor(path, "output", &frame_out)?;
    let frame_shape: Vec<usize> = std::iter::once(1)
        .chain(input.shape.iter().copied())
        .collect();

    let alloc_err = |e: ort::Error| DecoderError::Session {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let allocator = Allocator::default();
    let mut tensors = Vec::with_capacity(inputs.len());
    let mut frame = 0;
    let mut pairs = Vec::with_capacity(specs.len());
    for (i, outlet) in inputs.iter().enumerate() {
        match specs.iter().find(|s| s.input == outlet.name()) {
            Some(spec) => {
                tensors
                    .push(Tensor::<f32>::new(&allocator, spec.shape.clone()).map_err(alloc_err)?);
                pairs.push(Pair {
                    input: i,
                    output: spec.output.clone(),
                    initial: spec.initial,
                    scratch: vec![spec.initial; spec.len()],
                });
            }
            None => {
                frame = i;
                tensors
                    .push(Tensor::<f32>::new(&allocator, frame_shape.clone()).map_err(alloc_err)?);
            }
        }
    }
    let mut selector = OutputSelector::default().preallocate(
        output.name.clone(),
        Tensor::<f32>::new(&allocator, [1, output.dim]).map_err(alloc_err)?,
    );
    for spec in specs {
        selector = selector.preallocate(
            spec.output.clone(),
            Tensor::<f32>::new(&allocator, spec.shape.clone()).map_err(alloc_err)?,
        );
    }
    let options = RunOptions::new().map_err(alloc_err)?.with_outputs(selector);
    let mut bound = StatefulBound {
        inputs: tensors,
        frame,
        output: output.name.clone(),
        pairs,
        options,
    };
    bound.reset();
    Ok(Bound {
        tensors: bound,
        input,
        output,
    })
}

impl StatefulBound {
    /// Puts every state back to its initial value.
    pub fn reset(&mut self) {
        for p in &self.pairs {
            self.inputs[p.input].extract_tensor_mut().1.fill(p.initial);
        }
    }

    /// Runs one frame; with `feed_back`, the state outputs become the next
    /// frame's state inputs (without, the state is left as it was: a
    /// throw-away run that only warms the caches).
    pub fn execute(
        &mut self,
        session: &mut Session,
        path: &Path,
        input: &[f32],
        output: &mut [f32],
        feed_back: bool,
    ) -> Result<(), DecoderError> {
        let run_err = |e: ort::Error| DecoderError::Run {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let Self {
            inputs,
            frame,
            output: output_name,
            pairs,
            options,
        } = self;
        inputs[*frame].extract_tensor_mut().1.copy_from_slice(input);
        {
            let n = inputs.len();
            let values: [SessionInputValue<'_>; MAX_INPUTS] =
                std::array::from_fn(|i| SessionInputValue::from(&inputs[i.min(n - 1)]));
            let outputs = session
                .run_with_options(&values[..n], options)
                .map_err(run_err)?;
            let (_, data) = outputs[output_name.as_str()]
                .try_extract_tensor::<f32>()
                .map_err(run_err)?;
            output.copy_from_slice(data);
            if feed_back {
                for p in pairs.iter_mut() {
                    let (_, data) = outputs[p.output.as_str()]
                        .try_extract_tensor::<f32>()
                        .map_err(run_err)?;
                    p.scratch.copy_from_slice(data);
                }
            }
        }
        if feed_back {
            for p in pairs.iter() {
                inputs[p.input]
                    .extract_tensor_mut()
                    .1
                    .copy_from_slice(&p.scratch);
            }
        }
        Ok(())
    }

    /// Number of state pairs.
    pub fn pairs(&self) -> usize {
        self.pairs.len()
    }
}

/// The outlets' names, comma-separated (for errors).
fn names(outlets: &[Outlet]) -> String {
    outlets
        .iter()
        .map(|o| format!("`{}`", o.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks that `outlet` is a float32 tensor of `shape`; a symbolic dimension
/// takes the declared size. Returns what it is otherwise.
fn check_shape(outlet: &Outlet, shape: &[usize]) -> Result<(), String> {
    let ValueType::Tensor {
        ty, shape: dims, ..
    } = outlet.dtype()
    else {
        return Err(format!("a {}", outlet.dtype()));
    };
    let fits = *ty == TensorElementType::Float32
        && dims.len() == shape.len()
        && dims
            .iter()
            .zip(shape)
            .all(|(&d, &s)| d < 0 || d as usize == s);
    if fits && !shape.is_empty() && shape.iter().all(|&s| s > 0) {
        Ok(())
    } else {
        let dims: Vec<String> = dims
            .iter()
            .map(|&d| if d < 0 { "?".into() } else { d.to_string() })
            .collect();
        Err(format!("a {ty} tensor of shape [{}]", dims.join(", ")))
    }
}
