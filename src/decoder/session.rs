//! One ONNX Runtime session with reusable input and output tensors.

use std::path::{Path, PathBuf};

use ort::memory::Allocator;
use ort::session::{HasSelectedOutputs, OutputSelector, RunOptions, Session};
use ort::value::{Outlet, Tensor, TensorElementType, ValueType};

use super::cache::{self, GraphCacheStatus};
use super::state::{self, StateSpec, StatefulBound};
use super::{DecoderError, DecoderOptions, GraphOptimization, runtime};

/// Pre-allocated tensors for one batch size.
struct Bound {
    /// The number of frames the tensors hold.
    frames: usize,
    /// The input tensor, overwritten in place before each run.
    input: Tensor<f32>,
    /// Run options carrying the pre-allocated output tensor.
    options: RunOptions<HasSelectedOutputs>,
}

/// A loaded decoder model: one float input `[batch, D]`, one float output `[batch, M]`.
pub struct Decoder {
    session: Session,
    path: PathBuf,
    input_name: String,
    output_name: String,
    input_dim: usize,
    /// The input's dimensions after the batch (`[D]`, or a window's two).
    input_shape: Vec<usize>,
    output_dim: usize,
    /// Whether the model accepts any batch size (a symbolic first dimension).
    dynamic_batch: bool,
    single: Bound,
    batch: Option<Bound>,
    /// The recurrent state's tensors, for a stateful model (then `single` is unused).
    state: Option<StatefulBound>,
    graph_cache: GraphCacheStatus,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("path", &self.path)
            .field("input", &(&self.input_name, self.input_dim))
            .field("output", &(&self.output_name, self.output_dim))
            .field("dynamic_batch", &self.dynamic_batch)
            .finish()
    }
}

impl Decoder {
    /// Loads and checks a decoder model, initialising ONNX Runtime if needed.
    ///
    /// The model must have exactly one float32 input of shape `[batch or 1, D]` and one
    /// float32 output of shape `[batch or 1, M]`; anything else is an error naming the
    /// tensor and its declared shape.
    ///
    /// With [`DecoderOptions::cache_dir`] set (and no `optimized_model_path`), the
    /// optimized graph goes through the [`cache`](super::cache); [`Decoder::graph_cache`]
    /// says whether it was hit.
    pub fn load(model_path: &Path, opts: &DecoderOptions) -> Result<Decoder, DecoderError> {
        Self::load_with_state(model_path, opts, &[])
    }

    /// [`Decoder::load`] for a model carrying recurrent state: besides the frame
    /// input and output, the model has the state inputs and outputs `states`
    /// declares (see [`super::state`]); the decoder feeds them back frame to
    /// frame. With `states` empty this is [`Decoder::load`].
    pub fn load_with_state(
        model_path: &Path,
        opts: &DecoderOptions,
        states: &[StateSpec],
    ) -> Result<Decoder, DecoderError> {
        let env = runtime::environment()?;
        let bytes = std::fs::read(model_path).map_err(|source| crate::onnx::OnnxError::Io {
            action: "read",
            path: model_path.to_path_buf(),
            source,
        })?;
        let ort_format = is_ort_format(&bytes);
        if ort_format {
            if let Some(save) = &opts.optimized_model_path {
                return Err(DecoderError::Session {
                    path: model_path.to_path_buf(),
                    reason: format!(
                        "the model is in ONNX Runtime's ORT format, already optimized, and cannot be saved \
                         again as {}; save the optimized graph from the ONNX model it was made from",
                        save.display()
                    ),
                });
            }
        } else {
            crate::onnx::parse_model(model_path, &bytes)?;
        }

        let build = |source: &Path, bytes: &[u8], level: GraphOptimization, save: Option<&Path>| {
            session(env, source, bytes, opts, level, save)
        };
        let (session, graph_cache) = match &opts.cache_dir {
            _ if ort_format => {
                let session = build(model_path, &bytes, opts.optimization, None)?;
                (session, GraphCacheStatus::OrtFormat)
            }
            Some(dir)
                if opts.optimized_model_path.is_none()
                    && opts.optimization != GraphOptimization::Disable =>
            {
                cache::load_through(dir, model_path, &bytes, opts.optimization, build)?
            }
            _ => {
                let save = opts.optimized_model_path.as_deref();
                let session = build(model_path, &bytes, opts.optimization, save)?;
                (session, GraphCacheStatus::Off)
            }
        };
        let session_err = |reason: String| DecoderError::Session {
            path: model_path.to_path_buf(),
            reason,
        };

        let (input, output, state) = if states.is_empty() {
            let i = single_tensor(model_path, "input", &all(session.inputs()))?;
            let o = single_tensor(model_path, "output", &all(session.outputs()))?;
            (i, o, None)
        } else {
            let b = state::bind(model_path, session.inputs(), session.outputs(), states)?;
            (b.input, b.output, Some(b.tensors))
        };
        let single = bind(&output.name, 1, &input.shape, output.dim)
            .map_err(|e| session_err(e.to_string()))?;
        Ok(Decoder {
            session,
            path: model_path.to_path_buf(),
            input_name: input.name,
            output_name: output.name,
            input_dim: input.dim,
            input_shape: input.shape,
            output_dim: output.dim,
            dynamic_batch: input.dynamic && output.dynamic && state.is_none(),
            single,
            batch: None,
            state,
            graph_cache,
        })
    }

    /// Where the optimized graph came from (always [`GraphCacheStatus::Off`] without a cache).
    pub fn graph_cache(&self) -> &GraphCacheStatus {
        &self.graph_cache
    }

    /// Returns the number of features per input frame (`D`).
    pub fn input_dim(&self) -> usize {
        self.input_dim
    }

    /// The input's dimensions after the batch: `[D]` for a flat frame, or a
    /// sequence window's two (`[T, C]` or `[C, T]`).
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Returns the number of values per output frame (`M`).
    pub fn output_dim(&self) -> usize {
        self.output_dim
    }

    /// Returns the name of the model's input tensor.
    pub fn input_name(&self) -> &str {
        &self.input_name
    }

    /// Returns the name of the model's output tensor.
    pub fn output_name(&self) -> &str {
        &self.output_name
    }

    /// Returns the model file this decoder was loaded from.
    pub fn model_path(&self) -> &Path {
        &self.path
    }

    /// Decodes one frame: `input` has `D` values, `output` receives `M` values.
    ///
    /// The input and output tensors were allocated at load time and are reused, so this
    /// makes no heap allocation on the Rust side (ONNX Runtime's own arena may still
    /// allocate internally).
    ///
    /// A stateful decoder feeds its state outputs back as the next frame's inputs.
    pub fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), DecoderError> {
        self.check_buffers(input, output, 1)?;
        if let Some(s) = self.state.as_mut() {
            return s.execute(&mut self.session, &self.path, input, output, true);
        }
        execute(
            &mut self.session,
            &mut self.single,
            &self.path,
            input,
            output,
        )
    }

    /// [`Decoder::run`] without touching the recurrent state: a throw-away run
    /// (for keeping the weights in the caches) that changes no later output.
    /// The same as `run` for a stateless decoder.
    pub fn run_detached(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), DecoderError> {
        self.check_buffers(input, output, 1)?;
        match self.state.as_mut() {
            Some(s) => s.execute(&mut self.session, &self.path, input, output, false),
            None => self.run(input, output),
        }
    }

    /// Whether the model carries recurrent state between frames.
    pub fn is_stateful(&self) -> bool {
        self.state.is_some()
    }

    /// Puts the recurrent state back to its initial value (nothing to do for a
    /// stateless decoder). Allocates nothing.
    pub fn reset_state(&mut self) {
        if let Some(s) = self.state.as_mut() {
            s.reset();
        }
    }

    /// Decodes `n` frames at once: `inputs` has `n * D` values, `outputs` receives `n * M`.
    ///
    /// Tensors for the last batch size are kept and reused; a new `n` re-allocates them.
    /// A model with a fixed batch of 1 is run frame by frame, and so is a
    /// stateful one (each frame's state is the one before's), in order.
    pub fn run_batch(
        &mut self,
        inputs: &[f32],
        n: usize,
        outputs: &mut [f32],
    ) -> Result<(), DecoderError> {
        self.check_buffers(inputs, outputs, n)?;
        if n == 0 {
            return Ok(());
        }
        if self.state.is_some() {
            let (d, m) = (self.input_dim, self.output_dim);
            for (x, y) in inputs.chunks_exact(d).zip(outputs.chunks_exact_mut(m)) {
                self.run(x, y)?;
            }
            return Ok(());
        }
        if n == 1 || !self.dynamic_batch {
            for (x, y) in inputs
                .chunks_exact(self.input_dim)
                .zip(outputs.chunks_exact_mut(self.output_dim))
            {
                execute(&mut self.session, &mut self.single, &self.path, x, y)?;
            }
            return Ok(());
        }
        if self.batch.as_ref().is_none_or(|b| b.frames != n) {
            let bound =
                bind(&self.output_name, n, &self.input_shape, self.output_dim).map_err(|e| {
                    DecoderError::Run {
                        path: self.path.clone(),
                        reason: e.to_string(),
                    }
                })?;
            self.batch = Some(bound);
        }
        let bound = self.batch.as_mut().expect("set above");
        execute(&mut self.session, bound, &self.path, inputs, outputs)
    }

    /// Checks both buffer lengths against `frames` frames.
    fn check_buffers(
        &self,
        input: &[f32],
        output: &[f32],
        frames: usize,
    ) -> Result<(), DecoderError> {
        if input.len() != frames * self.input_dim {
            return Err(DecoderError::BufferSize {
                what: "input",
                name: self.input_name.clone(),
                expected: frames * self.input_dim,
                found: input.len(),
                per_frame: self.input_dim,
            });
        }
        if output.len() != frames * self.output_dim {
            return Err(DecoderError::BufferSize {
                what: "output",
                name: self.output_name.clone(),
                expected: frames * self.output_dim,
                found: output.len(),
                per_frame: self.output_dim,
            });
        }
        Ok(())
    }
}

/// Creates a session from `bytes` (read from `source`) at `level`, saving ONNX Runtime's
/// optimized graph to `save` if given (a `.ort` path in ONNX Runtime's flatbuffer format).
fn session(
    env: &ort::environment::Environment,
    source: &Path,
    bytes: &[u8],
    opts: &DecoderOptions,
    level: GraphOptimization,
    save: Option<&Path>,
) -> Result<Session, DecoderError> {
    fn session_err<E: std::fmt::Display>(source: &Path) -> impl Fn(E) -> DecoderError + '_ {
        move |e| DecoderError::Session {
            path: source.to_path_buf(),
            reason: e.to_string(),
        }
    }
    let mut builder = Session::builder(env)
        .map_err(session_err(source))?
        .with_optimization_level(level.level())
        .map_err(session_err(source))?
        .with_intra_threads(opts.intra_threads.max(1))
        .map_err(session_err(source))?
        .with_inter_threads(1)
        .map_err(session_err(source))?
        .with_intra_op_spinning(opts.spin)
        .map_err(session_err(source))?;
    if is_ort_format(bytes) {
        // Said explicitly: ONNX Runtime would otherwise guess the format from the bytes.
        builder = builder
            .with_config_entry("session.load_model_format", "ORT")
            .map_err(session_err(source))?;
    }
    if let Some(out) = save {
        if out.extension().is_some_and(|e| e == "ort") {
            // A `.ort` path asks for ONNX Runtime's flatbuffer format
            // (for minimal mobile and edge builds) instead of ONNX.
            builder = builder
                .with_config_entry("session.save_model_format", "ORT")
                .map_err(session_err(source))?;
        }
        builder = builder
            .with_optimized_model_path(out)
            .map_err(session_err(source))?;
    }
    builder
        .commit_from_memory(bytes)
        .map_err(session_err(source))
}

/// Whether `bytes` hold a model in ONNX Runtime's ORT (flatbuffer) format: its file
/// identifier `ORTM` at bytes 4..8, after the flatbuffer's root offset. (An ONNX file
/// would look like this only if its producer name began with `ORTM` right after a
/// one-byte `ir_version`.)
pub fn is_ort_format(bytes: &[u8]) -> bool {
    bytes.get(4..8) == Some(b"ORTM".as_slice())
}

/// Copies `input` into the bound tensor, runs the session and copies the result out.
fn execute(
    session: &mut Session,
    bound: &mut Bound,
    path: &Path,
    input: &[f32],
    output: &mut [f32],
) -> Result<(), DecoderError> {
    let run_err = |e: ort::Error| DecoderError::Run {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    bound.input.extract_tensor_mut().1.copy_from_slice(input);
    let outputs = session
        .run_with_options(ort::inputs![&bound.input], &bound.options)
        .map_err(run_err)?;
    let (_, data) = outputs[0].try_extract_tensor::<f32>().map_err(run_err)?;
    output.copy_from_slice(data);
    Ok(())
}

/// Allocates the input tensor and the pre-allocated output for `frames` frames.
fn bind(
    output_name: &str,
    frames: usize,
    input_shape: &[usize],
    output_dim: usize,
) -> ort::Result<Bound> {
    let allocator = Allocator::default();
    let shape: Vec<usize> = std::iter::once(frames)
        .chain(input_shape.iter().copied())
        .collect();
    let input = Tensor::<f32>::new(&allocator, shape)?;
    let output = Tensor::<f32>::new(&allocator, [frames, output_dim])?;
    let options =
        RunOptions::new()?.with_outputs(OutputSelector::default().preallocate(output_name, output));
    Ok(Bound {
        frames,
        input,
        options,
    })
}

/// The outlets as references, for [`single_tensor`].
fn all(outlets: &[Outlet]) -> Vec<&Outlet> {
    outlets.iter().collect()
}

/// The frame input or output of a decoder, as its model declares it.
pub(super) struct FrameTensor {
    pub name: String,
    /// Values per frame (the product of `shape`).
    pub dim: usize,
    /// Whether the batch dimension is symbolic.
    pub dynamic: bool,
    /// The dimensions after the batch: `[N]`, or `[T, C]` / `[C, T]` for a
    /// sequence window input.
    pub shape: Vec<usize>,
}

/// Checks that there is exactly one float32 tensor `[batch or 1, N]` (an
/// input may also be a window `[batch or 1, A, B]`) and returns it.
pub(super) fn single_tensor(
    path: &Path,
    role: &'static str,
    outlets: &[&Outlet],
) -> Result<FrameTensor, DecoderError> {
    let [outlet] = outlets else {
        return Err(DecoderError::Arity {
            path: path.to_path_buf(),
            role,
            count: outlets.len(),
            names: outlets
                .iter()
                .map(|o| o.name())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let signature = |found: String| DecoderError::Signature {
        path: path.to_path_buf(),
        role,
        name: outlet.name().to_string(),
        found,
    };
    let ValueType::Tensor {
        ty,
        shape,
        dimension_symbols,
    } = outlet.dtype()
    else {
        return Err(signature(format!("a {}", outlet.dtype())));
    };
    let dims: Vec<String> = shape
        .iter()
        .zip(dimension_symbols.iter())
        .map(|(&d, s)| match (d, s.is_empty()) {
            (d, _) if d >= 0 => d.to_string(),
            (_, false) => s.clone(),
            (_, true) => "?".into(),
        })
        .collect();
    let described = format!(
        "a {ty} tensor of shape [{}] (rank {})",
        dims.join(", "),
        shape.len()
    );
    let rank_ok = shape.len() == 2 || (role == "input" && shape.len() == 3);
    if *ty != TensorElementType::Float32 || !rank_ok {
        return Err(signature(described));
    }
    let batch = shape[0];
    if !(batch == 1 || batch < 0) || shape[1..].iter().any(|&d| d <= 0) {
        return Err(signature(described));
    }
    let tail: Vec<usize> = shape[1..].iter().map(|&d| d as usize).collect();
    Ok(FrameTensor {
        name: outlet.name().to_string(),
        dim: tail.iter().product(),
        dynamic: batch < 0,
        shape: tail,
    })
}
