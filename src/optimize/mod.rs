//! `neurospeak optimize`: INT8 quantization of a decoder bundle.
//!
//! The flow is: load the bundle and its ONNX decoder, push the recordings of the data
//! directory through the bundle's own front-end, find activation ranges by running the
//! float model on the calibration recordings ([`calibrate`]), rewrite the graph in QDQ
//! form or with dynamic integer MatMuls ([`quantize`]), check the result on the held-out
//! recordings against the float model and the paired speech ([`evaluate`]), time both
//! side by side, and only when the accuracy holds move the new bundle into place with a
//! report ([`report`]).

pub mod calibrate;
mod config;
mod error;
pub mod evaluate;
mod graph;
pub mod opset;
pub mod quantize;
pub mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use onnx_protobuf::ModelProto;
use serde::Serialize;

pub use config::{CalibrationMethod, QuantConfig, QuantMode, SchemeChoice};
pub use error::OptimizeError;
pub use quantize::{NodeDecision, QuantPlan, QuantSummary};

use crate::bundle::manifest::OptimizationSection;
use crate::bundle::{Bundle, sha256_file, write_manifest};
use crate::decoder::{Decoder, DecoderOptions, GraphOptimization};
use crate::onnx::{load_model, save_model};
use crate::report::ModelReport;
use report::{DataReport, OPTIMIZE_SCHEMA, OptimizeReport, SchemeReport, SizeReport};

/// The integer types used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Scheme {
    /// Unsigned 8-bit activations, signed 8-bit weights.
    #[serde(rename = "u8s8")]
    U8S8,
    /// U8S8 with weights in \[-63, 63\] (7 bits).
    #[serde(rename = "u8s8_reduce_range")]
    U8S8ReduceRange,
    /// Unsigned 8-bit activations and weights.
    #[serde(rename = "u8u8")]
    U8U8,
}

pub use crate::bundle::cpu::cpu_has_vnni;

impl Scheme {
    /// The scheme's name in the configuration, the report and the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::U8S8 => "u8s8",
            Scheme::U8S8ReduceRange => "u8s8_reduce_range",
            Scheme::U8U8 => "u8u8",
        }
    }

    /// The CPU features a decoder in this scheme needs to compute what was checked on
    /// any machine: full-range signed weights saturate the x86 kernel without VNNI.
    pub fn requires_cpu(self) -> Vec<String> {
        match self {
            Scheme::U8S8 => vec![crate::bundle::cpu::VNNI.to_string()],
            Scheme::U8S8ReduceRange | Scheme::U8U8 => Vec::new(),
        }
    }
}

/// Resolves the configured scheme for this CPU and says why.
pub fn resolve_scheme(choice: SchemeChoice) -> SchemeReport {
    let vnni = cpu_has_vnni();
    let set = "set in the configuration".to_string();
    let (scheme, reason) = match choice {
        SchemeChoice::Portable => (
            Scheme::U8S8ReduceRange,
            "portable (the default): weights use 7 bits, so no CPU's u8 x s8 kernel can saturate \
             (the AVX2 vpmaddubsw adds pairs of products in 16 bits); the bundle runs as checked anywhere"
                .to_string(),
        ),
        SchemeChoice::U8s8 => (Scheme::U8S8, set),
        SchemeChoice::U8s8ReduceRange => (Scheme::U8S8ReduceRange, set),
        SchemeChoice::U8u8 => (Scheme::U8U8, set),
        SchemeChoice::Auto if vnni => (
            Scheme::U8S8,
            "auto (machine-specific): the CPU has VNNI (vpdpbusd accumulates u8 x s8 products in 32 bits), \
             so full 8-bit signed weights cannot saturate here; the bundle requires VNNI on x86-64"
                .to_string(),
        ),
        SchemeChoice::Auto if cfg!(target_arch = "x86_64") => (
            Scheme::U8S8ReduceRange,
            "auto (machine-specific): the CPU has no VNNI; the AVX2 u8 x s8 kernel (vpmaddubsw) adds pairs \
             of products in 16 bits and can saturate with full-range weights, so weights use 7 bits"
                .to_string(),
        ),
        SchemeChoice::Auto => (
            Scheme::U8S8,
            "auto (machine-specific): not an x86 CPU; the ARM integer dot-product kernels do not saturate, \
             but x86-64 CPUs without VNNI would, so the bundle requires VNNI on x86-64"
                .to_string(),
        ),
    };
    let requires_cpu = scheme.requires_cpu();
    SchemeReport {
        scheme,
        reason,
        cpu_vnni: vnni,
        portable: requires_cpu.is_empty(),
        requires_cpu,
    }
}

/// Quantizes a model given calibration inputs (`frames` frames of `input_dim` values).
///
/// This is the whole graph side of `optimize`, usable on any decoder with one float input
/// `[batch, D]`: static mode calibrates on `calibration` with `workers` sessions, dynamic
/// mode ignores it. `progress` receives the number of calibration frames done.
#[allow(clippy::too_many_arguments)]
pub fn quantize_model(
    model: &ModelProto,
    label: &Path,
    input_dim: usize,
    cfg: &QuantConfig,
    scheme: Scheme,
    calibration: &[f32],
    frames: usize,
    workers: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<(ModelProto, QuantSummary), OptimizeError> {
    let data = Calibration {
        inputs: calibration,
        frames,
        workers,
        state: &[],
    };
    quantize_model_with_state(model, label, input_dim, cfg, scheme, &data, progress)
}

/// Calibration data for [`quantize_model_with_state`].
pub struct Calibration<'a> {
    /// `frames` frames of the decoder's input, in order.
    pub inputs: &'a [f32],
    pub frames: usize,
    /// Worker sessions (a stateful model uses one).
    pub workers: usize,
    /// The recurrent state the float model feeds back while it is calibrated
    /// (empty: stateless). Recurrent operators (GRU, LSTM) stay float; the
    /// MatMul, Gemm and Conv around them are quantized.
    pub state: &'a [crate::decoder::StateSpec],
}

/// [`quantize_model`] of a decoder that may carry recurrent state.
pub fn quantize_model_with_state(
    model: &ModelProto,
    label: &Path,
    input_dim: usize,
    cfg: &QuantConfig,
    scheme: Scheme,
    data: &Calibration,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<(ModelProto, QuantSummary), OptimizeError> {
    let (calibration, frames, workers) = (data.inputs, data.frames, data.workers);
    let (upgraded, conversion) = opset::upgrade(model)?;
    let model = &upgraded;
    let mut plan = quantize::plan(model, cfg);
    plan.summary.opset_conversion = conversion;
    match cfg.mode {
        QuantMode::Dynamic => quantize::quantize_dynamic(model, &plan, scheme, cfg.per_channel),
        QuantMode::Static => {
            let run = calibrate::CalibrationRun {
                model,
                label,
                input_dim,
                method: cfg.method,
                percentile: cfg.percentile,
                workers,
                state: data.state,
            };
            let ranges =
                calibrate::collect_ranges(&run, &plan.activations, calibration, frames, progress)?;
            quantize::quantize_static(model, &plan, &ranges, scheme, cfg.per_channel)
        }
    }
}

/// What `neurospeak optimize` was asked to do.
#[derive(Clone, Debug)]
pub struct OptimizeOptions {
    /// The input bundle directory.
    pub model_path: PathBuf,
    /// The directory of recordings (calibration, and the last ones held out).
    pub data_dir: PathBuf,
    /// Where `optimized_model/` and `optimize_report.json` go.
    pub output_dir: PathBuf,
    /// The quantization settings.
    pub config: QuantConfig,
    /// Also save ONNX Runtime's optimised graph (Extended level).
    pub to_onnx: bool,
    /// Threads for feature extraction, calibration and evaluation.
    pub workers: usize,
    /// The command line, for the report and the manifest.
    pub command: String,
    /// Whether to draw a progress bar on stderr.
    pub progress: bool,
}

/// The directory name of the optimized bundle inside the output directory.
pub const OPTIMIZED_DIR: &str = "optimized_model";
/// The report's file name inside the output directory.
pub const REPORT_FILE: &str = "optimize_report.json";
/// The file name of ONNX Runtime's optimised graph inside the bundle.
pub const ORT_EXTENDED_FILE: &str = "model.ort-extended.onnx";
/// The same optimised graph in ONNX Runtime's own (flatbuffer) format.
pub const ORT_FORMAT_FILE: &str = "model.ort";
/// The bundle inside the optimized one whose decoder is [`ORT_FORMAT_FILE`].
pub const ORT_FORMAT_DIR: &str = "ort";

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> OptimizeError {
    let path = path.to_path_buf();
    move |source| OptimizeError::Io {
        action,
        path,
        source,
    }
}

/// Runs the whole optimisation and writes the bundle and the report.
///
/// On an accuracy drop beyond `tolerance_r` the report is written with `status: failed`,
/// no `optimized_model/` is created, and [`OptimizeError::AccuracyDrop`] is returned.
pub fn optimize_bundle(
    opts: &OptimizeOptions,
    log: &mut dyn FnMut(&str),
) -> Result<OptimizeReport, OptimizeError> {
    let cfg = &opts.config;
    cfg.validate().map_err(|message| OptimizeError::Config {
        path: PathBuf::from("(options)"),
        message,
    })?;
    let bundle = Bundle::load(&opts.model_path)?;
    refuse_ort_format(&bundle)?;
    let model = load_model(&bundle.model_path)?;
    let state = bundle.state_specs();
    let float_decoder =
        Decoder::load_with_state(&bundle.model_path, &DecoderOptions::default(), &state)?;
    let (input_dim, output_dim) = (float_decoder.input_dim(), float_decoder.output_dim());
    drop(float_decoder);
    if input_dim != bundle.manifest.decoder.input_dim {
        return Err(OptimizeError::Data {
            reason: format!(
                "{}: the ONNX input has {input_dim} features but the manifest says decoder.input_dim = {}; \
                 fix the manifest or re-export the model",
                bundle.model_path.display(),
                bundle.manifest.decoder.input_dim
            ),
        });
    }

    let files = crate::train::corpus::list_recordings(&opts.data_dir)
        .map_err(|reason| OptimizeError::Data { reason })?;
    let held = cfg.held_out_recordings;
    if files.len() < held + 1 {
        return Err(OptimizeError::Data {
            reason: format!(
                "{}: {} recordings found, but optimize needs at least {} ({held} held out for the accuracy \
                 check plus at least one for calibration); add recordings or lower held_out_recordings",
                opts.data_dir.display(),
                files.len(),
                held + 1
            ),
        });
    }
    let (cal_files, held_files) = files.split_at(files.len() - held);
    let workers = opts.workers.max(1);
    log(&format!(
        "features: {} calibration and {} held-out recordings through the bundle's front-end",
        cal_files.len(),
        held_files.len()
    ));
    let cal_set = evaluate::bundle_frames(&bundle, cal_files, workers)?;
    // A recurrent state follows the frames in order: calibrate on the first
    // ones rather than on frames taken across the set.
    let (cal_inputs, cal_frames) = if state.is_empty() {
        evaluate::subsample(&cal_set, input_dim, cfg.calibration_frames)
    } else {
        evaluate::prefix(&cal_set, input_dim, cfg.calibration_frames)
    };
    drop(cal_set);
    let held_set = evaluate::bundle_frames(&bundle, held_files, workers)?;
    if cal_frames == 0 || held_set.frames == 0 {
        return Err(OptimizeError::Data {
            reason: format!(
                "{}: the recordings gave no complete feature frames; they are shorter than the feature window",
                opts.data_dir.display()
            ),
        });
    }

    let scheme = resolve_scheme(cfg.scheme);
    let host = crate::bundle::cpu::HostCpu::this();
    let unmet = crate::bundle::cpu::unmet(&scheme.requires_cpu, &host);
    if !unmet.is_empty() {
        return Err(OptimizeError::Config {
            path: PathBuf::from("(options)"),
            message: format!(
                "scheme {} requires the CPU feature(s) {} (VNNI: AVX512-VNNI or AVX-VNNI), which this machine \
                 lacks, so its accuracy cannot be checked here; use `scheme: portable` (the default)",
                scheme.scheme.name(),
                unmet.join(", ")
            ),
        });
    }
    log(&format!(
        "quantizing ({:?}, {:?}, {:?}): {}",
        cfg.mode, cfg.method, scheme.scheme, scheme.reason
    ));
    let bar = progress_bar(opts.progress && cfg.mode == QuantMode::Static, cal_frames);
    let (qmodel, summary) = quantize_model_with_state(
        &model,
        &bundle.model_path,
        input_dim,
        cfg,
        scheme.scheme,
        &Calibration {
            inputs: &cal_inputs,
            frames: cal_frames,
            workers,
            state: &state,
        },
        &|done| {
            if let Some(b) = &bar {
                b.set_position(done as u64);
            }
        },
    )?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }

    // Write the candidate bundle into a temporary directory.
    std::fs::create_dir_all(&opts.output_dir)
        .map_err(io_err("create the output directory", &opts.output_dir))?;
    let final_dir = opts.output_dir.join(OPTIMIZED_DIR);
    let tmp = opts
        .output_dir
        .join(format!(".{OPTIMIZED_DIR}.partial-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io_err("remove", &tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io_err("create", &tmp))?;
    let result = write_and_check(
        opts,
        &bundle,
        &qmodel,
        &summary,
        &scheme,
        &tmp,
        &final_dir,
        &cal_inputs,
        cal_frames,
        &held_set,
        held_files,
        cal_files,
        output_dim,
        log,
    );
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let report_path = opts.output_dir.join(REPORT_FILE);
    crate::report::write_json(&report_path, &report).map_err(io_err("write", &report_path))?;
    if report.status != "ok" {
        let _ = std::fs::remove_dir_all(&tmp);
        let a = &report.accuracy;
        let (metric, fp32, int8) = match (a.fp32_pearson_r, a.int8_pearson_r) {
            (Some(f), Some(q)) => ("decoded-versus-truth Pearson r".to_string(), f, q),
            _ => (
                "output Pearson r against the float model".to_string(),
                1.0,
                a.output_pearson_r,
            ),
        };
        return Err(OptimizeError::AccuracyDrop {
            metric,
            fp32,
            int8,
            drop: fp32 - int8,
            tolerance: cfg.tolerance_r,
        });
    }
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(io_err("replace", &final_dir))?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(io_err("move into place", &final_dir))?;
    Ok(report)
}

/// A progress bar for `total` calibration frames, or none.
fn progress_bar(show: bool, total: usize) -> Option<indicatif::ProgressBar> {
    show.then(|| {
        let b = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "calibrating {bar:40} {pos}/{len} frames ({elapsed}, {eta} left)",
        ) {
            b.set_style(style);
        }
        b
    })
}

/// Writes the candidate bundle into `tmp`, evaluates and times it, and builds the report.
#[allow(clippy::too_many_arguments)]
fn write_and_check(
    opts: &OptimizeOptions,
    bundle: &Bundle,
    qmodel: &ModelProto,
    summary: &QuantSummary,
    scheme: &SchemeReport,
    tmp: &Path,
    final_dir: &Path,
    cal_inputs: &[f32],
    cal_frames: usize,
    held: &evaluate::FrameSet,
    held_files: &[PathBuf],
    cal_files: &[PathBuf],
    output_dim: usize,
    log: &mut dyn FnMut(&str),
) -> Result<OptimizeReport, OptimizeError> {
    let cfg = &opts.config;
    let qpath = tmp.join("model.onnx");
    save_model(qmodel, &qpath)?;
    let mut manifest = bundle.manifest.clone();
    manifest.decoder.file = "model.onnx".into();
    manifest.name = format!("{}-int8", bundle.manifest.name);
    manifest.provenance.parent = Some(opts.model_path.display().to_string());
    manifest.provenance.command = opts.command.clone();
    manifest.provenance.sha256 = sha256_file(&qpath).map_err(io_err("hash", &qpath))?;
    manifest.optimization = Some(OptimizationSection {
        mode: match cfg.mode {
            QuantMode::Static => "static",
            QuantMode::Dynamic => "dynamic",
        }
        .into(),
        scheme: scheme.scheme.name().into(),
        requires_cpu: scheme.requires_cpu.clone(),
    });
    let state = bundle.state_specs();
    // Load once in ONNX Runtime (checks that it accepts the rewrite) and, if asked,
    // save its Extended-level graph.
    let ort_extended = if opts.to_onnx {
        let path = tmp.join(ORT_EXTENDED_FILE);
        Decoder::load_with_state(
            &qpath,
            &DecoderOptions {
                optimization: GraphOptimization::Extended,
                optimized_model_path: Some(path),
                ..Default::default()
            },
            &state,
        )?;
        let ort_dir = tmp.join(ORT_FORMAT_DIR);
        std::fs::create_dir_all(&ort_dir).map_err(io_err("create", &ort_dir))?;
        Decoder::load_with_state(
            &qpath,
            &DecoderOptions {
                optimization: GraphOptimization::Extended,
                optimized_model_path: Some(ort_dir.join(ORT_FORMAT_FILE)),
                ..Default::default()
            },
            &state,
        )?;
        Some(final_dir.join(ORT_EXTENDED_FILE).display().to_string())
    } else {
        Decoder::load_with_state(&qpath, &DecoderOptions::default(), &state)?;
        None
    };

    log(&format!("evaluating on {} held-out frames", held.frames));
    let dim = bundle.manifest.decoder.input_dim;
    let workers = opts.workers.max(1);
    let fp32_out = evaluate::decode_parallel(&bundle.model_path, &state, held, dim, workers)?;
    let int8_out = evaluate::decode_parallel(&qpath, &state, held, dim, workers)?;
    let log_mel = bundle.manifest.decoder.output_kind == "log_mel";
    let accuracy = evaluate::compare(
        &fp32_out,
        &int8_out,
        held.truth.as_ref(),
        output_dim,
        Some(bundle.manifest.decoder.output_range),
        log_mel,
    );
    let passed = match accuracy.delta_pearson_r {
        Some(d) => d <= cfg.tolerance_r,
        None => 1.0 - accuracy.output_pearson_r <= cfg.tolerance_r,
    };
    for (k, v) in [
        ("int8_heldout_pearson_r", accuracy.int8_pearson_r),
        ("fp32_heldout_pearson_r", accuracy.fp32_pearson_r),
        ("int8_heldout_mcd_db", accuracy.int8_mcd_db),
        (
            "int8_output_pearson_r_vs_fp32",
            Some(accuracy.output_pearson_r),
        ),
    ] {
        if let Some(v) = v {
            manifest.provenance.metrics.insert(k.to_string(), v);
        }
    }
    write_manifest(tmp, &manifest).map_err(io_err("write the manifest in", tmp))?;
    Bundle::load(tmp)?;
    if opts.to_onnx {
        write_ort_bundle(&manifest, &tmp.join(ORT_FORMAT_DIR), final_dir)?;
    }

    let timing = if passed && cfg.timing_runs > 0 {
        log(&format!(
            "timing {} single-frame runs of each model, alternating",
            cfg.timing_runs
        ));
        let (inputs, frames) = if held.frames > 0 {
            (&held.inputs[..], held.frames)
        } else {
            (cal_inputs, cal_frames)
        };
        Some(evaluate::time_side_by_side(
            &bundle.model_path,
            &qpath,
            &state,
            inputs,
            frames,
            cfg.timing_runs,
        )?)
    } else {
        None
    };
    let fp32_bytes = bundle.model_bytes;
    let int8_bytes = std::fs::metadata(&qpath)
        .map_err(io_err("stat", &qpath))?
        .len();
    let names =
        |fs: &[PathBuf]| -> Vec<String> { fs.iter().map(|p| p.display().to_string()).collect() };
    let stays_float = stays_float_statement(summary, cfg.mode);
    let warnings = quantization_warnings(summary);
    for w in &warnings {
        log(&format!("warning: {w}"));
    }
    let status = if passed { "ok" } else { "failed" };
    Ok(OptimizeReport {
        schema: OPTIMIZE_SCHEMA,
        command: opts.command.clone(),
        status: status.into(),
        message: (!passed).then(|| {
            format!(
                "accuracy drop beyond tolerance_r = {}; nothing was written as optimized",
                cfg.tolerance_r
            )
        }),
        input_model: ModelReport {
            name: bundle.manifest.name.clone(),
            path: bundle.dir.display().to_string(),
            sha256: bundle.sha256().to_string(),
            graph_cache: None,
            state: None,
        },
        output_model: passed.then(|| ModelReport {
            name: manifest.name.clone(),
            path: final_dir.display().to_string(),
            sha256: manifest.provenance.sha256.clone(),
            graph_cache: None,
            state: None,
        }),
        mode: cfg.mode,
        method: cfg.method,
        per_channel: cfg.per_channel,
        scheme: scheme.clone(),
        size: SizeReport {
            fp32_bytes,
            int8_bytes,
            ratio: int8_bytes as f64 / fp32_bytes.max(1) as f64,
        },
        timing,
        accuracy,
        tolerance_r: cfg.tolerance_r,
        quantization: summary.clone(),
        stays_float,
        data: DataReport {
            calibration_recordings: names(cal_files),
            calibration_frames: cal_frames,
            held_out_recordings: names(held_files),
            held_out_frames: held.frames,
            workers,
        },
        ort_extended_model: ort_extended,
        ort_format: if opts.to_onnx {
            format!(
                "{}: a bundle whose decoder is {ORT_FORMAT_FILE}, ONNX Runtime's flatbuffer format at the \
                 Extended level; replay, run and benchmark load it, and so do minimal ONNX Runtime builds",
                final_dir.join(ORT_FORMAT_DIR).display()
            )
        } else {
            "not written: pass --to-onnx".into()
        },
        warnings,
    })
}

/// What the reader of the report must be warned about.
pub fn quantization_warnings(summary: &QuantSummary) -> Vec<String> {
    let mut w = Vec::new();
    if summary.clamped_bias_values > 0 {
        let nodes: Vec<&str> = summary
            .quantized
            .iter()
            .filter(|d| d.detail.contains("clamped"))
            .map(|d| d.name.as_str())
            .collect();
        w.push(format!(
            "{} int32 bias values lay beyond the int32 range (bias / (input scale x weight scale)) and were \
             clamped, so those outputs are off by the excess (nodes: {}); exclude those nodes \
             (exclude_nodes) or use `mode: dynamic`, which keeps biases in float",
            summary.clamped_bias_values,
            nodes.join(", ")
        ));
    }
    w
}

/// Refuses a bundle whose decoder is in ORT format: it holds ONNX Runtime's already
/// optimized graph, which cannot be read as ONNX or quantized again.
fn refuse_ort_format(bundle: &Bundle) -> Result<(), OptimizeError> {
    let mut head = [0u8; 8];
    let read = std::fs::File::open(&bundle.model_path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(io_err("read", &bundle.model_path))?;
    if !crate::decoder::is_ort_format(&head[..read]) {
        return Ok(());
    }
    Err(OptimizeError::Data {
        reason: format!(
            "{}: the decoder is in ONNX Runtime's ORT format, an already optimized graph that cannot be \
             quantized; optimize the ONNX bundle it was made from{}",
            bundle.model_path.display(),
            bundle
                .manifest
                .provenance
                .parent
                .as_ref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default()
        ),
    })
}

/// Writes the manifest of the ORT-format bundle in `dir` (its `model.ort` is already
/// there) and checks that the bundle loads and its decoder runs in ONNX Runtime.
fn write_ort_bundle(
    onnx_manifest: &crate::bundle::Manifest,
    dir: &Path,
    final_dir: &Path,
) -> Result<(), OptimizeError> {
    let model = dir.join(ORT_FORMAT_FILE);
    let mut m = onnx_manifest.clone();
    m.decoder.file = ORT_FORMAT_FILE.into();
    m.name = format!("{}-ort", onnx_manifest.name);
    m.provenance.parent = Some(final_dir.display().to_string());
    m.provenance.sha256 = sha256_file(&model).map_err(io_err("hash", &model))?;
    write_manifest(dir, &m).map_err(io_err("write the manifest in", dir))?;
    let b = Bundle::load(dir)?;
    Decoder::load(&b.model_path, &DecoderOptions::default())?;
    Ok(())
}

/// Says in one sentence what runs in float after quantization.
pub fn stays_float_statement(summary: &QuantSummary, mode: QuantMode) -> String {
    let mut by_op: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &summary.left_float {
        *by_op.entry(d.op_type.as_str()).or_default() += 1;
    }
    let left: Vec<String> = by_op.iter().map(|(k, v)| format!("{k} x{v}")).collect();
    let pass: Vec<String> = summary
        .pass_through
        .iter()
        .map(|(k, v)| format!("{k} x{v}"))
        .collect();
    let mode_note = match mode {
        QuantMode::Static => "",
        QuantMode::Dynamic => {
            " Dynamic mode quantizes only MatMul and Gemm weights; their activations are quantized \
             per call and everything else (Conv, recurrent layers such as GRU, which ONNX Runtime \
             cannot quantize) stays float."
        }
    };
    format!(
        "Left in float: {}. Float pass-through operators: {}.{mode_note}",
        if left.is_empty() {
            "nothing".into()
        } else {
            left.join(", ")
        },
        if pass.is_empty() {
            "none".into()
        } else {
            pass.join(", ")
        },
    )
}
