//! `neurospeak optimize`: quantize a model bundle to INT8 and check it on held-out data.

use clap::Args;
use std::path::{Path, PathBuf};

use crate::decoder::init_onnxruntime;
use crate::optimize::{OPTIMIZED_DIR, OptimizeOptions, QuantConfig, REPORT_FILE, optimize_bundle};

#[derive(Args, Debug)]
pub struct OptimizeArgs {
    /// The model bundle to optimize (a directory with model.onnx and neurospeak.yaml).
    #[arg(long)]
    pub model_path: PathBuf,
    /// Recordings for calibration; the last `held_out_recordings` (by name) check accuracy.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Where optimized_model/ and optimize_report.json are written.
    #[arg(long)]
    pub output_dir: PathBuf,
    /// Quantization configuration (defaults apply when absent).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Also save ONNX Runtime's optimised graph (Extended level) as optimized_model/model.ort-extended.onnx and, in ORT format, the bundle optimized_model/ort/ (model.ort), which replay, run and benchmark load.
    #[arg(long)]
    pub to_onnx: bool,
    /// Spread feature extraction, calibration and evaluation over worker threads.
    #[arg(long)]
    pub parallel: bool,
    /// Worker threads with --parallel (default: the number of cores).
    #[arg(long, requires = "parallel")]
    pub num_workers: Option<usize>,
}

pub fn run(a: OptimizeArgs, ort_lib: Option<&Path>) -> anyhow::Result<()> {
    init_onnxruntime(ort_lib)?;
    let config = match &a.config {
        Some(p) => QuantConfig::load(p)?,
        None => QuantConfig::default(),
    };
    let workers = if a.parallel {
        a.num_workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    } else {
        1
    };
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let opts = OptimizeOptions {
        model_path: a.model_path,
        data_dir: a.data_dir,
        output_dir: a.output_dir.clone(),
        config,
        to_onnx: a.to_onnx,
        workers,
        command,
        progress: true,
    };
    let report = optimize_bundle(&opts, &mut |line| eprintln!("optimize: {line}"))?;
    let acc = &report.accuracy;
    println!(
        "wrote {} and {}",
        a.output_dir.join(OPTIMIZED_DIR).display(),
        a.output_dir.join(REPORT_FILE).display()
    );
    println!(
        "size {} -> {} bytes ({:.1} %), scheme {} ({})",
        report.size.fp32_bytes,
        report.size.int8_bytes,
        100.0 * report.size.ratio,
        report.scheme.scheme.name(),
        if report.scheme.portable {
            "portable: runs as checked on any CPU".to_string()
        } else {
            format!(
                "requires CPU feature {}; the bundle does not load without it",
                report.scheme.requires_cpu.join(", ")
            )
        }
    );
    if let Some(c) = &report.quantization.opset_conversion {
        println!("{c}");
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
    if let Some(t) = &report.timing {
        println!(
            "decoder time per frame (median of {} single-frame runs): fp32 {:.4} ms, int8 {:.4} ms ({:.1} % less)",
            t.runs, t.fp32_ms_per_frame_median, t.int8_ms_per_frame_median, t.reduction_percent
        );
    }
    match (acc.fp32_pearson_r, acc.int8_pearson_r) {
        (Some(f), Some(q)) => println!(
            "held-out Pearson r vs truth: fp32 {f:.4}, int8 {q:.4} (drop {:.4}); outputs vs fp32 r {:.4}, max abs error {:.3}",
            f - q,
            acc.output_pearson_r,
            acc.max_abs_error
        ),
        _ => println!(
            "held-out outputs vs fp32: Pearson r {:.4}, max abs error {:.3} (no paired speech)",
            acc.output_pearson_r, acc.max_abs_error
        ),
    }
    if let (Some(f), Some(q), Some(b)) = (
        &acc.fp32_vs_truth,
        &acc.int8_vs_truth,
        &acc.loudness_baseline,
    ) {
        println!(
            "held-out vs truth, fp32 / int8 / loudness-only baseline: Pearson r {:.4} / {:.4} / {:.4}, \
             spectral-shape r {:.4} / {:.4} / {:.4}, MCD c1-13 on speech {:.2} / {:.2} / {:.2} dB",
            f.pearson_r,
            q.pearson_r,
            b.pearson_r,
            f.spectral_shape_r,
            q.spectral_shape_r,
            b.spectral_shape_r,
            f.mcd_db.speech_frames.c1_13,
            q.mcd_db.speech_frames.c1_13,
            b.mcd_db.speech_frames.c1_13
        );
    }
    Ok(())
}
