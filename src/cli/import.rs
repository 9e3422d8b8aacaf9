//! `neurospeak import`: wrap an exported ONNX decoder into a model bundle.

use clap::Args;
use std::path::{Path, PathBuf};

use crate::decoder::init_onnxruntime;
use crate::features::InputLayout;
use crate::import::{Declared, ImportConfig, ImportOptions, import};

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The exported decoder (PyTorch, tf2onnx, the `onnx` package...).
    #[arg(long, value_name = "FILE")]
    pub onnx: PathBuf,
    /// The front-end and vocoder the model was trained with: a `features` and
    /// a `vocoder` section (configs/import.yaml; a training config works too).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Recordings of the participant (XDF, EDF+, BDF+): the per-channel
    /// normalization is measured on all of them, the check run uses the first.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Where to write the bundle.
    #[arg(long, value_name = "DIR")]
    pub output_dir: PathBuf,
    /// The bundle's name (default: the output directory's name).
    #[arg(long)]
    pub name: Option<String>,
    /// The frame input, if its shape does not single it out.
    #[arg(long, value_name = "NAME")]
    pub input: Option<String>,
    /// The frame output, if its shape does not single it out.
    #[arg(long, value_name = "NAME")]
    pub output: Option<String>,
    /// The frame input's layout, if its shape does not tell: flat ([1, C x T],
    /// newest first), time_major ([1, T, C]) or channel_major ([1, C, T]),
    /// oldest first.
    #[arg(long, value_name = "LAYOUT", value_parser = parse_layout)]
    pub input_layout: Option<InputLayout>,
    /// A recurrent state pair the shapes and names do not decide (repeatable).
    #[arg(long = "state", value_name = "INPUT=OUTPUT")]
    pub state: Vec<String>,
    /// A live-stream gap longer than this resets the state (default: one hop).
    #[arg(long, value_name = "MS")]
    pub state_reset_gap_ms: Option<f64>,
}

pub fn run(a: ImportArgs, ort_lib: Option<&Path>) -> anyhow::Result<()> {
    let mut state = Vec::with_capacity(a.state.len());
    for pair in &a.state {
        let Some((i, o)) = pair
            .split_once('=')
            .filter(|(i, o)| !i.is_empty() && !o.is_empty())
        else {
            anyhow::bail!(
                "--state {pair}: expected INPUT=OUTPUT (the state input's name, `=`, the \
                 output that gives its next value), for example --state h_in=h_out"
            );
        };
        state.push((i.to_string(), o.to_string()));
    }
    let mut command = format!(
        "neurospeak import --onnx {} --config {} --data-dir {} --output-dir {}",
        a.onnx.display(),
        a.config.display(),
        a.data_dir.display(),
        a.output_dir.display()
    );
    for (flag, v) in [
        ("--name", &a.name),
        ("--input", &a.input),
        ("--output", &a.output),
    ] {
        if let Some(v) = v {
            command.push_str(&format!(" {flag} {v}"));
        }
    }
    for s in &a.state {
        command.push_str(&format!(" --state {s}"));
    }
    if let Some(l) = a.input_layout {
        command.push_str(&format!(" --input-layout {}", l.name()));
    }
    if let Some(g) = a.state_reset_gap_ms {
        command.push_str(&format!(" --state-reset-gap-ms {g}"));
    }
    let opts = ImportOptions {
        onnx: a.onnx,
        config: ImportConfig::load(&a.config)?,
        data_dir: a.data_dir,
        output_dir: a.output_dir,
        name: a.name,
        declared: Declared {
            input: a.input,
            output: a.output,
            state,
            layout: a.input_layout,
        },
        state_reset_gap_ms: a.state_reset_gap_ms,
        command,
    };
    init_onnxruntime(ort_lib)?;
    let s = import(&opts, &mut |line| eprintln!("import: {line}"))?;
    let check = match (s.check_pearson_r, s.check_mcd_db) {
        (Some(r), Some(mcd)) => format!(", Pearson r {r:.3}, MCD {mcd:.2} dB against its speech"),
        _ => " (no paired speech to compare with)".into(),
    };
    println!(
        "wrote {} ({} parameters, {} -> {}, {} state pair(s)); check run: {} frames of {}{check}",
        opts.output_dir.display(),
        s.parameters,
        s.input_dim,
        s.output_dim,
        s.signature.state.len(),
        s.check_frames,
        s.check_recording.display(),
    );
    if !s.range_from_speech {
        println!(
            "output_range: from the decoder's own outputs (no recording has paired speech); \
             edit decoder.output_range in the manifest if the model's range is known"
        );
    }
    Ok(())
}

fn parse_layout(s: &str) -> Result<InputLayout, String> {
    [
        InputLayout::Flat,
        InputLayout::TimeMajor,
        InputLayout::ChannelMajor,
    ]
    .into_iter()
    .find(|l| l.name() == s)
    .ok_or_else(|| format!("expected flat, time_major or channel_major, found {s:?}"))
}
