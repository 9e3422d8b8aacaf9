//! `neurospeak inspect`: what a model bundle or a recording holds.

use clap::Args;
use std::path::PathBuf;

use crate::bundle::Bundle;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A model bundle directory or a recording file.
    pub path: PathBuf,
}

pub fn run(a: InspectArgs) -> anyhow::Result<()> {
    if a.path.is_dir() {
        // The same checks `replay` makes before decoding: the hash (at load), then the
        // graph's input and output against the manifest.
        let b = Bundle::load(&a.path)?;
        let mut head = [0u8; 8];
        let ort_format = std::fs::File::open(&b.model_path)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
            .is_ok()
            && crate::decoder::is_ort_format(&head);
        if ort_format {
            // An ORT-format (flatbuffer) model is not ONNX protobuf: only ONNX
            // Runtime reads its graph, when `replay` or `run` loads it.
            let m = &b.manifest;
            println!("bundle     {} ({})", m.name, b.dir.display());
            println!(
                "decoder    {} ({} bytes, ORT format): [batch, {}] → [batch, {}] {} per the manifest",
                m.decoder.file,
                b.model_bytes,
                m.decoder.input_dim,
                m.decoder.output_dim,
                m.decoder.output_kind
            );
            println!("sha256     {} (matches the file)", m.provenance.sha256);
            println!(
                "check      hash only: ONNX Runtime checks an ORT-format graph when it loads it \
                 (`replay` does)"
            );
            return Ok(());
        }
        let check = b.check_model()?;
        let m = &b.manifest;
        let plan = b.front_end_plan();
        println!("bundle     {} ({})", m.name, b.dir.display());
        println!(
            "input      {} channels at {} Hz",
            m.input.channels, m.input.sample_rate_hz
        );
        println!(
            "features   {} {}–{} Hz, {} ms windows every {} ms, {} past / {} future frames (stride {}), {}",
            m.features.kind,
            m.features.band_hz[0],
            m.features.band_hz[1],
            m.features.window_ms,
            m.features.hop_ms,
            m.features.context.past_frames,
            m.features.context.future_frames,
            m.features.context.stride,
            m.features.reference
        );
        let io = &check.io;
        let batch = if io.dynamic_batch { "batch" } else { "1" };
        println!(
            "decoder    {} ({} bytes, {} parameters{}): {} [{batch}, {}] → {} [{batch}, {}] {}",
            m.decoder.file,
            b.model_bytes,
            check.parameters,
            check
                .opset
                .map(|v| format!(", opset {v}"))
                .unwrap_or_default(),
            io.input_name,
            io.input_shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            io.output_name,
            io.output_dim,
            m.decoder.output_kind
        );
        if !m.decoder.input_layout.is_flat() {
            println!(
                "input      a window of {} frames, {} (oldest first)",
                plan.stacked_frames(),
                m.decoder.input_layout.name()
            );
        }
        for st in &m.decoder.state {
            println!(
                "state      {} → {} {:?}, initial {} (reset after a gap over {} ms)",
                st.output,
                st.input,
                st.shape,
                st.initial,
                m.decoder.state_reset_gap_ms.unwrap_or(m.features.hop_ms)
            );
        }
        println!(
            "vocoder    {} at {} Hz, {} mels, look-ahead {} frames",
            m.vocoder.kind, m.vocoder.sample_rate_hz, m.vocoder.n_mels, m.vocoder.lookahead_frames
        );
        let (window, filters, future) = (
            plan.window_centre_s() * 1000.0,
            plan.filter_delay_s() * 1000.0,
            plan.future_context_s() * 1000.0,
        );
        println!(
            "front-end delay {:.2} ms (window centre {window:.2} + filters {filters:.2} + future context {future:.2})",
            window + filters + future
        );
        println!("trained on {}", m.provenance.trained_on);
        for (k, v) in &m.provenance.metrics {
            println!("  {k} = {v:.4}");
        }
        println!("sha256     {} (matches the file)", m.provenance.sha256);
        println!(
            "check      ok: the ONNX file decodes and its graph matches the manifest's decoder \
             section (not run; `replay` runs it)"
        );
    } else {
        let rec = crate::recording::load(&a.path)?;
        let e = &rec.eeg;
        println!("recording  {}", a.path.display());
        println!(
            "eeg        {:?} ({}) {} channels at {} Hz, {} samples, {:.2} s",
            e.name,
            e.stream_type,
            e.channel_count,
            e.sample_rate,
            e.len(),
            e.duration_s()
        );
        match &rec.audio {
            Some(au) => println!(
                "audio      {} Hz, {:.2} s",
                au.sample_rate,
                au.samples.len() as f64 / au.sample_rate as f64
            ),
            None => println!("audio      none"),
        }
        println!("markers    {}", rec.markers.len());
        if !rec.empty_streams.is_empty() {
            println!("empty streams: {}", rec.empty_streams.join(", "));
        }
        if rec.clock_resets > 0 {
            println!("clock resets: {}", rec.clock_resets);
        }
    }
    Ok(())
}
