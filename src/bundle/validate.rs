//! Checks a parsed manifest field by field before anything is built from it.

use super::error::BundleError;
use super::manifest::{FORMAT_VERSION, Manifest};
use std::path::Path;

struct Checker<'a> {
    path: &'a Path,
}

impl Checker<'_> {
    fn check(
        &self,
        ok: bool,
        field: &'static str,
        expected: impl Into<String>,
        found: impl std::fmt::Display,
        fix: impl Into<String>,
    ) -> Result<(), BundleError> {
        if ok {
            return Ok(());
        }
        Err(BundleError::Field {
            path: self.path.to_path_buf(),
            field,
            expected: expected.into(),
            found: found.to_string(),
            fix: fix.into(),
        })
    }
}

/// The largest vocoder FFT a manifest may ask for (0.5 s at 16 kHz; the shipped
/// setting is 640). Validation builds the mel filterbank, n_mels × (n_fft / 2 + 1).
const MAX_FFT: usize = 8_192;
/// The most hops the stacked context may span (20 s at the usual 10 ms hop); the
/// front-end keeps that many frames of history.
const MAX_CONTEXT_SPAN: usize = 2_000;
/// The most mel bands a manifest may ask for.
const MAX_MELS: usize = 256;
/// The most values one recurrent state may hold (a 4096-unit layer of 16 rows).
const MAX_STATE_VALUES: usize = 65_536;
/// The longest raw window (samples) a `raw_window` front-end may pass.
const MAX_RAW_WINDOW: usize = 8192;

/// Validates every field and the relations between them.
pub fn validate(m: &Manifest, path: &Path) -> Result<(), BundleError> {
    let c = Checker { path };
    c.check(
        m.format_version == FORMAT_VERSION,
        "format_version",
        format!("{FORMAT_VERSION}"),
        m.format_version,
        "this build reads manifest format 1; re-create the bundle with this version of neurospeak",
    )?;

    let inp = &m.input;
    c.check(
        (1..=4096).contains(&inp.channels),
        "input.channels",
        "1 to 4096 channels",
        inp.channels,
        "set it to the channel count of the recordings the model was trained on",
    )?;
    c.check(
        inp.channel_names.is_empty() || inp.channel_names.len() == inp.channels,
        "input.channel_names",
        format!("none or exactly {} names", inp.channels),
        format!("{} names", inp.channel_names.len()),
        "list one name per channel, or remove the field",
    )?;
    let rate = inp.sample_rate_hz;
    c.check(
        rate.is_finite() && rate > 0.0 && rate <= 100_000.0,
        "input.sample_rate_hz",
        "a rate above 0 and at most 100000 Hz",
        rate,
        "set the amplifier's sample rate",
    )?;

    let f = &m.features;
    c.check(
        f.kind == "high_gamma_log_power" || f.kind == super::RAW_WINDOW,
        "features.kind",
        "high_gamma_log_power or raw_window",
        &f.kind,
        "this build implements the high-gamma log-power front-end and the raw-window passthrough",
    )?;
    let raw = f.kind == super::RAW_WINDOW;
    c.check(
        ["common_average", "none", "bipolar"].contains(&f.reference.as_str()),
        "features.reference",
        "common_average, none or bipolar",
        &f.reference,
        "pick one of the three",
    )?;
    let bipolar = f.reference == "bipolar";
    c.check(
        bipolar != f.bipolar_pairs.is_empty(),
        "features.bipolar_pairs",
        if bipolar {
            "one or more pairs for reference: bipolar"
        } else {
            "no pairs unless reference is bipolar"
        },
        format!("{} pairs", f.bipolar_pairs.len()),
        "list the derivations as [first, second] channel indices with reference: bipolar",
    )?;
    for (i, [a, b]) in f.bipolar_pairs.iter().enumerate() {
        c.check(
            *a < inp.channels && *b < inp.channels && a != b,
            "features.bipolar_pairs",
            format!(
                "two different 0-based channel indices below {}",
                inp.channels
            ),
            format!("pair {i}: [{a}, {b}]"),
            "index the input's channels from 0",
        )?;
    }
    c.check(
        f.bipolar_pairs.len() <= 4 * inp.channels.max(1),
        "features.bipolar_pairs",
        format!("at most {} pairs", 4 * inp.channels.max(1)),
        f.bipolar_pairs.len(),
        "list each derivation once",
    )?;
    if let Some(line) = f.line_frequency_hz {
        c.check(
            line.is_finite() && line > 0.0 && line < rate / 2.0,
            "features.line_frequency_hz",
            format!(
                "a frequency between 0 and {} Hz (50 or 60 in practice)",
                rate / 2.0
            ),
            line,
            "set the mains frequency of the lab, or remove the field for no notch",
        )?;
    }
    c.check(
        f.notch_harmonics <= 16,
        "features.notch_harmonics",
        "0 to 16 harmonics",
        f.notch_harmonics,
        "3 covers the line frequency's strong harmonics",
    )?;
    let [low, high] = f.band_hz;
    c.check(
        low > 0.0 && low < high && high < rate / 2.0,
        "features.band_hz",
        format!(
            "[low, high] with 0 < low < high < {} Hz (half the sample rate)",
            rate / 2.0
        ),
        format!("[{low}, {high}]"),
        "use a band such as [70, 170] for high gamma",
    )?;
    c.check(
        f.extra_bands_hz.len() <= 8,
        "features.extra_bands_hz",
        "at most 8 more bands",
        f.extra_bands_hz.len(),
        "keep the bands the model was trained on",
    )?;
    for (i, [lo, hi]) in f.extra_bands_hz.iter().enumerate() {
        c.check(
            *lo > 0.0 && lo < hi && *hi < rate / 2.0,
            "features.extra_bands_hz",
            format!(
                "[low, high] with 0 < low < high < {} Hz (half the sample rate)",
                rate / 2.0
            ),
            format!("band {i}: [{lo}, {hi}]"),
            "use bands such as [1, 8] beside high gamma",
        )?;
    }
    // What the front-end makes of these settings, by the plan's own rules.
    let plan = super::front_end_plan(m);
    let per_frame = plan.frame_features();
    let window_samples = plan.window_samples();
    if raw {
        let c0 = &f.context;
        c.check(
            c0.past_frames == 0
                && c0.future_frames == 0
                && c0.stride == 1
                && f.extra_bands_hz.is_empty(),
            "features.context",
            "no context (past 0, future 0, stride 1) and no extra bands for raw_window",
            format!(
                "past {}, future {}, stride {}, {} extra bands",
                c0.past_frames,
                c0.future_frames,
                c0.stride,
                f.extra_bands_hz.len()
            ),
            "a raw window is its own context: set its length with window_ms",
        )?;
        c.check(
            window_samples <= MAX_RAW_WINDOW,
            "features.window_ms",
            format!("a raw window of at most {MAX_RAW_WINDOW} samples"),
            format!("{} ms ({window_samples} samples)", f.window_ms),
            "shorten the window",
        )?;
    }
    c.check(
        (2..=8).contains(&f.filter_order) && f.filter_order.is_multiple_of(2),
        "features.filter_order",
        "an even order from 2 to 8",
        f.filter_order,
        "4 is the usual choice",
    )?;
    let hop_samples = f.hop_ms * rate / 1000.0;
    c.check(
        f.hop_ms.is_finite() && hop_samples >= 1.0,
        "features.hop_ms",
        "a hop of at least one sample",
        f.hop_ms,
        "10 ms is the field's standard frame hop",
    )?;
    c.check(
        f.window_ms.is_finite() && f.window_ms >= f.hop_ms && f.window_ms <= 1000.0,
        "features.window_ms",
        format!("a window from the hop ({} ms) to 1000 ms", f.hop_ms),
        f.window_ms,
        "50 ms is usual",
    )?;
    c.check(
        f.context.stride >= 1
            && f.context
                .past_frames
                .checked_add(f.context.future_frames)
                .is_some_and(|n| {
                    n <= 200 && n.saturating_mul(f.context.stride) <= MAX_CONTEXT_SPAN
                }),
        "features.context",
        format!(
            "stride ≥ 1, at most 200 context frames, spanning at most {MAX_CONTEXT_SPAN} hops \
             ((past + future) × stride)"
        ),
        format!(
            "stride {}, {} past, {} future",
            f.context.stride, f.context.past_frames, f.context.future_frames
        ),
        "reduce the context",
    )?;
    let stats_ok = f.normalization.mean.len() == per_frame
        && f.normalization.std.len() == per_frame
        && f.normalization.mean.iter().all(|v| v.is_finite())
        && f.normalization
            .std
            .iter()
            .all(|v| v.is_finite() && *v > 0.0);
    c.check(
        stats_ok,
        "features.normalization",
        format!(
            "{per_frame} finite means and {per_frame} positive standard deviations (one per \
             channel{} and band)",
            if bipolar { " pair" } else { "" }
        ),
        format!(
            "{} means and {} standard deviations",
            f.normalization.mean.len(),
            f.normalization.std.len()
        ),
        "re-run `neurospeak train`, which computes them from the training data",
    )?;

    let d = &m.decoder;
    let stacked = plan.stacked_frames();
    c.check(
        d.input_dim == per_frame * stacked,
        "decoder.input_dim",
        format!(
            "{} (values per frame {per_frame} × stacked frames {stacked})",
            per_frame * stacked
        ),
        d.input_dim,
        "the decoder input must match the front-end's output: fix the context or the model",
    )?;
    c.check(
        d.output_kind == "log_mel",
        "decoder.output_kind",
        "log_mel",
        &d.output_kind,
        "this build vocodes log-mel frames only",
    )?;
    c.check(
        d.output_dim == m.vocoder.n_mels,
        "decoder.output_dim",
        format!("vocoder.n_mels = {}", m.vocoder.n_mels),
        d.output_dim,
        "the decoder must output one value per mel bin",
    )?;
    c.check(
        d.output_range[0].is_finite() && d.output_range[0] < d.output_range[1],
        "decoder.output_range",
        "[min, max] with min < max",
        format!("{:?}", d.output_range),
        "use the range of the training targets",
    )?;
    c.check(
        d.stateful != d.state.is_empty(),
        "decoder.stateful",
        if d.state.is_empty() {
            "false (no `state` is declared)"
        } else {
            "true (a `state` is declared)"
        },
        d.stateful,
        "declare the recurrent state as decoder.state pairs, and set stateful to match",
    )?;
    for (i, st) in d.state.iter().enumerate() {
        c.check(
            !st.input.is_empty() && !st.output.is_empty() && st.input != st.output,
            "decoder.state",
            "distinct input and output names",
            format!("pair {i}: input `{}`, output `{}`", st.input, st.output),
            "name the ONNX input that receives the state and the output that gives it",
        )?;
        c.check(
            st.input != d.input_name && st.output != d.output_name,
            "decoder.state",
            format!(
                "names other than the frame's `{}` and `{}`",
                d.input_name, d.output_name
            ),
            format!("pair {i}: input `{}`, output `{}`", st.input, st.output),
            "the frame tensors carry features and mel frames, not state",
        )?;
        let elems = st.shape.iter().try_fold(1usize, |a, &x| a.checked_mul(x));
        c.check(
            !st.shape.is_empty()
                && st.shape.iter().all(|&x| x > 0)
                && elems.is_some_and(|n| n <= MAX_STATE_VALUES),
            "decoder.state",
            format!("a shape of positive sizes with at most {MAX_STATE_VALUES} values"),
            format!("pair {i}: {:?}", st.shape),
            "give the state's shape with batch 1, as the model was exported",
        )?;
        c.check(
            st.initial.is_finite(),
            "decoder.state",
            "a finite initial value",
            format!("pair {i}: {}", st.initial),
            "recurrent states usually start at 0",
        )?;
        let repeated = d.state[..i]
            .iter()
            .any(|o| o.input == st.input || o.output == st.output);
        c.check(
            !repeated,
            "decoder.state",
            "each state tensor declared once",
            format!("pair {i}: input `{}`, output `{}`", st.input, st.output),
            "remove the repeated pair",
        )?;
    }
    if let Some(gap) = d.state_reset_gap_ms {
        c.check(
            gap.is_finite() && gap >= 0.0,
            "decoder.state_reset_gap_ms",
            "a finite number of milliseconds, 0 or more",
            gap,
            "leave it out to reset the state after any lost frame",
        )?;
    }

    let v = &m.vocoder;
    c.check(
        v.kind == "rtisi_la",
        "vocoder.kind",
        "rtisi_la",
        &v.kind,
        "this build implements the RTISI-LA streaming vocoder",
    )?;
    let expected_hop = (v.sample_rate_hz as f64 * f.hop_ms / 1000.0).round();
    c.check(
        v.hop_length as f64 == expected_hop,
        "vocoder.hop_length",
        format!(
            "{expected_hop} samples, the feature hop of {} ms at {} Hz",
            f.hop_ms, v.sample_rate_hz
        ),
        v.hop_length,
        "audio frames and EEG frames must advance together",
    )?;
    c.check(
        (8_000..=192_000).contains(&v.sample_rate_hz),
        "vocoder.sample_rate_hz",
        "8000 to 192000 Hz",
        v.sample_rate_hz,
        "16000 Hz is the shipped setting",
    )?;
    c.check(
        (1..=MAX_MELS).contains(&v.n_mels),
        "vocoder.n_mels",
        format!("1 to {MAX_MELS} mel bands"),
        v.n_mels,
        "40 is the shipped setting",
    )?;
    c.check(
        v.win_length >= v.hop_length && v.n_fft >= v.win_length && v.n_fft <= MAX_FFT,
        "vocoder.win_length",
        format!("hop_length ≤ win_length ≤ n_fft ≤ {MAX_FFT}"),
        format!(
            "hop {} win {} n_fft {}",
            v.hop_length, v.win_length, v.n_fft
        ),
        "640 / 640 / 160 at 16 kHz is the shipped setting",
    )?;
    c.check(
        v.f_min_hz >= 0.0 && v.f_min_hz < v.f_max_hz && v.f_max_hz <= v.sample_rate_hz as f32 / 2.0,
        "vocoder.f_max_hz",
        "0 ≤ f_min_hz < f_max_hz ≤ half the sample rate",
        format!("{} to {}", v.f_min_hz, v.f_max_hz),
        "fix the mel band",
    )?;
    c.check(
        v.lookahead_frames <= 16 && (1..=32).contains(&v.iterations),
        "vocoder.lookahead_frames",
        "at most 16 look-ahead frames and 1 to 32 iterations",
        format!("{} frames, {} iterations", v.lookahead_frames, v.iterations),
        "3 frames and 2 iterations are the shipped setting",
    )?;
    c.check(
        v.log_floor.is_finite() && v.log_floor > 0.0,
        "vocoder.log_floor",
        "a positive floor",
        v.log_floor,
        "1e-6 is usual",
    )?;
    if let Err(e) = super::vocoder_config(m).validate() {
        c.check(
            false,
            "vocoder",
            "settings the streaming vocoder accepts",
            e,
            "see models/demo/neurospeak.yaml for a working vocoder section",
        )?;
    }
    if let Some(o) = &m.optimization {
        c.check(
            ["static", "dynamic"].contains(&o.mode.as_str()),
            "optimization.mode",
            "static or dynamic",
            &o.mode,
            "re-run `neurospeak optimize`, which writes this section",
        )?;
        c.check(
            ["u8s8", "u8s8_reduce_range", "u8u8"].contains(&o.scheme.as_str()),
            "optimization.scheme",
            "u8s8, u8s8_reduce_range or u8u8",
            &o.scheme,
            "re-run `neurospeak optimize`, which writes this section",
        )?;
        if let Some(unknown) = o
            .requires_cpu
            .iter()
            .find(|f| !super::cpu::KNOWN_FEATURES.contains(&f.as_str()))
        {
            c.check(
                false,
                "optimization.requires_cpu",
                format!(
                    "CPU features this build can check ({})",
                    super::cpu::KNOWN_FEATURES.join(", ")
                ),
                unknown,
                "the bundle was written by another version of neurospeak: load it with that version, \
                 or re-run `neurospeak optimize` with this one",
            )?;
        }
    }
    c.check(
        m.provenance.sha256.len() == 64,
        "provenance.sha256",
        "64 hex digits",
        &m.provenance.sha256,
        "re-run the command that made the bundle",
    )?;
    Ok(())
}
