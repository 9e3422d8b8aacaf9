//! The engine: features → decoder → vocoder for one stream, driven one
//! sample at a time. Replay and live sessions both run this, so they cannot
//! differ. Everything is allocated and warmed up in [`Engine::build`]; after
//! that [`Engine::push_sample`] allocates nothing, locks nothing and logs
//! nothing.

use super::latency::{FixedDelays, StageHistograms, record};
use crate::bundle::Bundle;
use crate::decoder::{Decoder, DecoderError, DecoderOptions, GraphCacheStatus};
use crate::features::FeatureExtractor;
use crate::report::StateReport;
use crate::vocoder::{StreamingVocoder, VocoderError};
use std::time::Instant;

/// Monotonic stamps of one frame through the stages.
#[derive(Clone, Copy, Debug)]
pub struct Stamps {
    /// When the newest EEG sample this frame needs was taken from the source.
    pub arrival: Instant,
    pub features: Instant,
    pub decoder: Instant,
    pub vocoder: Instant,
}

/// What one completed frame produced; borrowed from the engine's buffers.
pub struct FrameOut<'a> {
    /// Frame index from the start of the stream (the centre frame).
    pub seq: u64,
    pub log_mel: &'a [f32],
    /// One hop of audio at the vocoder's rate.
    pub audio: &'a [f32],
    pub stamps: Stamps,
}

/// Errors while building or running the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Decoder(#[from] DecoderError),
    #[error(transparent)]
    Vocoder(#[from] VocoderError),
    #[error(
        "{model}: the decoder takes {found_in} inputs and gives {found_out} outputs, but the \
         manifest says {want_in} and {want_out}; the manifest does not describe this ONNX file: \
         re-create the bundle"
    )]
    Shape {
        model: String,
        want_in: usize,
        want_out: usize,
        found_in: usize,
        found_out: usize,
    },
    #[error(
        "{model}: the decoder's input is [1, {found}], but the manifest's \
         `decoder.input_layout: {layout}` makes [1, {want}]; set input_layout and the context \
         to what the model takes"
    )]
    Layout {
        model: String,
        layout: &'static str,
        want: String,
        found: String,
    },
}

/// Frames run through the decoder and vocoder during warm-up.
const WARMUP_FRAMES: usize = 50;

/// Features, decoder and vocoder with their buffers and histograms.
pub struct Engine {
    front: FeatureExtractor,
    decoder: Decoder,
    vocoder: StreamingVocoder,
    log_mel: Vec<f32>,
    audio: Vec<f32>,
    /// A frame of zeros: the input of warm-up runs.
    zeros: Vec<f32>,
    range: [f32; 2],
    delay_frames: u64,
    frames: u64,
    latency: StageHistograms,
    fixed: FixedDelays,
    /// A stateful decoder's state and its resets (`None`: stateless).
    state: Option<StateReport>,
    /// Missing input samples beyond which a gap resets the state.
    reset_gap_samples: u64,
}

impl Engine {
    /// Loads the decoder, builds the front-end and vocoder, and warms them up.
    pub fn build(bundle: &Bundle, options: &DecoderOptions) -> Result<Engine, EngineError> {
        let plan = bundle.front_end_plan();
        let specs = bundle.state_specs();
        let decoder = Decoder::load_with_state(&bundle.model_path, options, &specs)?;
        let m = &bundle.manifest;
        let state = (!specs.is_empty()).then(|| StateReport {
            pairs: specs.len(),
            values: specs.iter().map(|s| s.len()).sum(),
            ..StateReport::default()
        });
        let gap_ms = m.decoder.state_reset_gap_ms.unwrap_or(m.features.hop_ms);
        let reset_gap_samples = (gap_ms / 1000.0 * m.input.sample_rate_hz).floor() as u64;
        if decoder.input_dim() != m.decoder.input_dim
            || decoder.output_dim() != m.decoder.output_dim
        {
            return Err(EngineError::Shape {
                model: bundle.model_path.display().to_string(),
                want_in: m.decoder.input_dim,
                want_out: m.decoder.output_dim,
                found_in: decoder.input_dim(),
                found_out: decoder.output_dim(),
            });
        }
        let want = m
            .decoder
            .input_layout
            .shape(plan.frame_features(), plan.stacked_frames());
        if decoder.input_shape() != want.as_slice() {
            let dims = |d: &[usize]| {
                d.iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(EngineError::Layout {
                model: bundle.model_path.display().to_string(),
                layout: m.decoder.input_layout.name(),
                want: dims(&want),
                found: dims(decoder.input_shape()),
            });
        }
        let vocoder = StreamingVocoder::new(&bundle.vocoder_config())?;
        let hop = m.vocoder.hop_length;
        let fixed = FixedDelays {
            window_centre_s: plan.window_centre_s(),
            filters_s: plan.filter_delay_s(),
            future_context_s: plan.future_context_s(),
            vocoder_s: vocoder.algorithmic_latency_s(),
        };
        let mut engine = Engine {
            front: FeatureExtractor::new(&plan),
            decoder,
            vocoder,
            log_mel: vec![0.0; m.decoder.output_dim],
            audio: vec![0.0; hop],
            zeros: vec![0.0; m.decoder.input_dim],
            range: m.decoder.output_range,
            delay_frames: (plan.future_frames * plan.stride) as u64,
            frames: 0,
            latency: StageHistograms::default(),
            fixed,
            state,
            reset_gap_samples,
        };
        engine.warm_up()?;
        Ok(engine)
    }

    fn warm_up(&mut self) -> Result<(), EngineError> {
        for _ in 0..WARMUP_FRAMES {
            self.prewarm()?;
            self.vocoder.push_frame(&self.log_mel, &mut self.audio);
        }
        self.vocoder.reset();
        Ok(())
    }

    /// Runs the decoder once on a frame of zeros and throws the result away,
    /// so its weights are in the CPU caches when the next real frame comes.
    /// Between frames a live session sleeps for most of the hop, long enough
    /// for other work to evict weights of several megabytes; the next frame
    /// then waits on main memory. The run leaves a stateful decoder's state
    /// as it was ([`Decoder::run_detached`]), so it changes no output; it
    /// overwrites the last frame's log-mel, which the next frame replaces
    /// anyway. Allocates nothing.
    pub fn prewarm(&mut self) -> Result<(), DecoderError> {
        self.decoder.run_detached(&self.zeros, &mut self.log_mel)
    }

    /// Tells the engine that the stream broke before the next sample:
    /// `missing` samples were lost, or it `reconnected`. A stateful
    /// decoder's state is reset (and counted) when the break is longer than
    /// the manifest's `state_reset_gap_ms`, or on any reconnect; the
    /// front-end goes on (its filters settle within a window). Allocates
    /// nothing.
    pub fn discontinuity(&mut self, missing: u64, reconnected: bool) {
        let Some(s) = self.state.as_mut() else {
            return;
        };
        if reconnected {
            s.resets_reconnect += 1;
        } else if missing > self.reset_gap_samples {
            s.resets_gap += 1;
        } else {
            return;
        }
        self.decoder.reset_state();
    }

    /// A stateful decoder's state and its resets so far (`None`: stateless).
    pub fn state_report(&self) -> Option<StateReport> {
        self.state
    }

    /// Feeds one multichannel sample that was taken from the source at
    /// `arrival`. Returns the frame's log-mel and audio when the sample
    /// completes a frame.
    pub fn push_sample(
        &mut self,
        sample: &[f32],
        arrival: Instant,
    ) -> Result<Option<FrameOut<'_>>, DecoderError> {
        let Some(features) = self.front.push_sample(sample) else {
            return Ok(None);
        };
        let t_features = Instant::now();
        self.decoder.run(features, &mut self.log_mel)?;
        let [lo, hi] = self.range;
        for v in &mut self.log_mel {
            *v = if v.is_finite() { v.clamp(lo, hi) } else { lo };
        }
        let t_decoder = Instant::now();
        self.vocoder.push_frame(&self.log_mel, &mut self.audio);
        let t_vocoder = Instant::now();
        let l = &mut self.latency;
        record(&mut l.features, t_features - arrival);
        record(&mut l.decoder, t_decoder - t_features);
        record(&mut l.vocoder, t_vocoder - t_decoder);
        record(&mut l.compute, t_vocoder - arrival);
        let seq = self.frames;
        self.frames += 1;
        Ok(Some(FrameOut {
            seq,
            log_mel: &self.log_mel,
            audio: &self.audio,
            stamps: Stamps {
                arrival,
                features: t_features,
                decoder: t_decoder,
                vocoder: t_vocoder,
            },
        }))
    }

    /// Starts a new stream (the next recording, or after a reconnect): the
    /// front-end, vocoder and a stateful decoder's state forget the old
    /// signal (a state reset, counted); the histograms keep
    /// accumulating. Allocates the front-end anew, so call it between
    /// streams, never inside one.
    pub fn restart(&mut self) {
        let plan = self.front.plan().clone();
        self.front = FeatureExtractor::new(&plan);
        self.vocoder.reset();
        self.frames = 0;
        if let Some(s) = self.state.as_mut() {
            s.resets_restart += 1;
            self.decoder.reset_state();
        }
    }

    /// Frames produced so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Frames of future context the front-end waits for before a frame comes out.
    pub fn delay_frames(&self) -> u64 {
        self.delay_frames
    }

    /// Non-finite input samples replaced so far.
    pub fn nonfinite_samples(&self) -> u64 {
        self.front.nonfinite_samples()
    }

    /// The latency histograms, for the caller to add sink-side figures.
    pub fn latency_mut(&mut self) -> &mut StageHistograms {
        &mut self.latency
    }

    /// The latency histograms.
    pub fn latency(&self) -> &StageHistograms {
        &self.latency
    }

    /// The fixed delays of the front-end (window centre, filters, future
    /// context) and the vocoder (look-ahead and overlap).
    pub fn fixed_delays(&self) -> &FixedDelays {
        &self.fixed
    }

    /// All the fixed delays, in seconds.
    pub fn algorithmic_latency_s(&self) -> f64 {
        self.fixed.total_s()
    }

    /// Where the decoder's optimized graph came from (the graph cache).
    pub fn graph_cache(&self) -> &GraphCacheStatus {
        self.decoder.graph_cache()
    }

    /// Samples by which the vocoder's output lags the audio it reconstructs.
    pub fn vocoder_latency_samples(&self) -> usize {
        self.vocoder.latency_samples()
    }
}
