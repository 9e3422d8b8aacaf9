//! `neurospeak train`: fit a decoder on paired recordings and write a bundle.

use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};

use crate::bundle::Bundle;
use crate::decoder::{Decoder, DecoderOptions, init_onnxruntime};
use crate::train::config::TrainConfig;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Directory of paired recordings (from `neurospeak synth` or your own).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Training configuration.
    #[arg(long, default_value = "configs/model.yaml")]
    pub config: PathBuf,
    /// Where to write the model bundle.
    #[arg(long)]
    pub output_dir: PathBuf,
}

pub fn run(a: TrainArgs, ort_lib: Option<&Path>) -> anyhow::Result<()> {
    let cfg = TrainConfig::load(&a.config).map_err(anyhow::Error::msg)?;
    let command = format!(
        "neurospeak train --data-dir {} --config {} --output-dir {}",
        a.data_dir.display(),
        a.config.display(),
        a.output_dir.display()
    );
    let summary = crate::train::corpus::train_bundle(
        &a.data_dir,
        &cfg,
        &a.output_dir,
        &command,
        &mut |line| eprintln!("train: {line}"),
    )
    .map_err(anyhow::Error::msg)?;
    // Check the written bundle loads and ONNX Runtime agrees with training.
    init_onnxruntime(ort_lib)?;
    let bundle = Bundle::load(&a.output_dir).context("the bundle just written does not load")?;
    let decoder = Decoder::load(&bundle.model_path, &DecoderOptions::default())?;
    println!(
        "wrote {} ({} parameters, {} → {}): held-out Pearson r {:.3} (ridge baseline {:.3}), MCD {:.2} dB (ridge {:.2} dB)",
        a.output_dir.display(),
        summary.parameters,
        decoder.input_dim(),
        decoder.output_dim(),
        summary.decoder_pearson_r,
        summary.ridge_pearson_r,
        summary.decoder_mcd_db,
        summary.ridge_mcd_db
    );
    Ok(())
}
