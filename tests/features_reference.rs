//! The streaming front-end against an independent reference: the same chain
//! (non-finite repair, common average or bipolar reference, line notches,
//! Butterworth band-passes, windowed log power, z-score, context stack) written with numpy
//! and scipy's `bilinear`, `butter` and `sosfilt` in `tests/peers/frontend_reference.py`.

mod common;

use neurospeak::features::{FeatureExtractor, FrontEndPlan, NOTCH_Q};
use std::process::Command;

fn plan(rate: f64, line: Option<f64>, future_frames: usize) -> FrontEndPlan {
    FrontEndPlan {
        channels: 3,
        sample_rate: rate,
        common_average_reference: true,
        line_frequency: line,
        notch_harmonics: 3,
        band: (70.0, 170.0),
        filter_order: 4,
        window_s: 0.05,
        hop_s: 0.01,
        past_frames: 3,
        future_frames,
        stride: 2,
        mean: vec![-3.0, -2.5, -2.0],
        std: vec![2.0, 1.0, 0.5],
        layout: Default::default(),
        bipolar: vec![],
        extra_bands: vec![],
        raw_window: false,
    }
}

/// Pink-ish noise, line noise at 60 Hz and a high-gamma burst on channel 1,
/// with a few non-finite values.
fn signal(samples: usize, rate: f64) -> Vec<f32> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut brown = [0.0f32; 3];
    let mut x = Vec::with_capacity(samples * 3);
    for n in 0..samples {
        let t = n as f64 / rate;
        for (c, b) in brown.iter_mut().enumerate() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let white = (s % 20_000) as f32 / 10_000.0 - 1.0;
            *b = 0.97 * *b + white;
            let line = 2.0 * (2.0 * std::f64::consts::PI * 60.0 * t + c as f64).sin();
            let burst = if c == 1 && (0.8..1.6).contains(&t) {
                3.0 * (2.0 * std::f64::consts::PI * 110.0 * t).sin()
            } else {
                0.0
            };
            x.push(*b + white + (line + burst) as f32);
        }
    }
    x[3 * 500 + 2] = f32::NAN;
    x[3 * 1700] = f32::INFINITY;
    x
}

fn plan_json(p: &FrontEndPlan) -> serde_json::Value {
    serde_json::json!({
        "channels": p.channels,
        "sample_rate": p.sample_rate,
        "common_average_reference": p.common_average_reference,
        "line_frequency": p.line_frequency,
        "notch_harmonics": p.notch_harmonics,
        "notch_q": NOTCH_Q,
        "band": [p.band.0, p.band.1],
        "filter_order": p.filter_order,
        "window_s": p.window_s,
        "hop_s": p.hop_s,
        "past_frames": p.past_frames,
        "future_frames": p.future_frames,
        "stride": p.stride,
        "mean": p.mean,
        "std": p.std,
        "bipolar": p.bipolar.iter().map(|&(a, b)| [a, b]).collect::<Vec<_>>(),
        "extra_bands": p.extra_bands.iter().map(|&(lo, hi)| [lo, hi]).collect::<Vec<_>>(),
        "raw_window": p.raw_window,
    })
}

fn reference(python: &std::path::Path, p: &FrontEndPlan, x: &[f32]) -> Vec<f32> {
    let dir = tempfile::tempdir().unwrap();
    let plan_path = dir.path().join("plan.json");
    std::fs::write(&plan_path, plan_json(p).to_string()).unwrap();
    let input = dir.path().join("x.f32");
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&input, bytes).unwrap();
    let output = dir.path().join("y.f32");
    let run = Command::new(python)
        .arg(common::root().join("tests/peers/frontend_reference.py"))
        .args([&plan_path, &input, &output])
        .output()
        .expect("run the Python front-end reference");
    assert!(
        run.status.success(),
        "frontend_reference.py failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    std::fs::read(&output)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn assert_matches_reference(p: &FrontEndPlan, samples: usize) {
    let Some(python) = common::venv_python() else {
        return;
    };
    let x = signal(samples, p.sample_rate);
    let ours = FeatureExtractor::run_batch(p, &x);
    let theirs = reference(&python, p, &x);
    assert_eq!(
        ours.len(),
        theirs.len(),
        "feature vectors: ours {} values, scipy's {}",
        ours.len(),
        theirs.len()
    );
    assert!(!ours.is_empty());
    let worst = ours
        .iter()
        .zip(&theirs)
        .enumerate()
        .map(|(i, (a, b))| (i, (a - b).abs()))
        .fold((0, 0.0f32), |w, d| if d.1 > w.1 { d } else { w });
    assert!(
        worst.1 < 2e-3,
        "value {} differs by {}: ours {}, scipy's {}",
        worst.0,
        worst.1,
        ours[worst.0],
        theirs[worst.0]
    );
    // The burst is there: channel 1's centre-frame feature rises by more than
    // ln(4) / std during it, so the comparison is not between two silences.
    let dim = p.feature_dim();
    let centre = p.future_frames * p.frame_features();
    let at = |frame: usize| ours[frame * dim + centre + 1];
    assert!(
        at(120) - at(40) > 4f32.ln() / p.std[1],
        "{} {}",
        at(120),
        at(40)
    );
}

#[test]
fn front_end_matches_scipy_at_1024_hz_with_60_hz_notches() {
    assert_matches_reference(&plan(1024.0, Some(60.0), 0), 2500);
}

#[test]
fn front_end_matches_scipy_with_future_context_and_no_notches() {
    assert_matches_reference(&plan(1000.0, None, 1), 2500);
}

/// Bipolar derivations (channel 1 is in both, with its burst) and a second,
/// low band: the frame holds both pairs' high-gamma log power, then their
/// low-band power.
#[test]
fn front_end_matches_scipy_with_bipolar_pairs_and_two_bands() {
    let p = FrontEndPlan {
        bipolar: vec![(0, 1), (2, 1)],
        extra_bands: vec![(4.0, 30.0)],
        mean: vec![-3.0, -2.5, 0.5, 1.0],
        std: vec![2.0, 1.0, 1.5, 0.5],
        ..plan(1024.0, Some(50.0), 0)
    };
    assert_eq!(p.frame_features(), 4);
    assert_matches_reference(&p, 2500);
}

/// The raw-window passthrough: the referenced samples of the last 20 ms,
/// z-scored, every hop (no filters), against numpy; the burst is in it too.
#[test]
fn raw_window_passthrough_matches_numpy() {
    let p = FrontEndPlan {
        raw_window: true,
        window_s: 0.02,
        past_frames: 0,
        stride: 1,
        ..plan(1024.0, Some(60.0), 0)
    };
    assert_eq!((p.stacked_frames(), p.frame_features()), (20, 3));
    assert_eq!(p.filter_delay_s(), 0.0);
    let Some(python) = common::venv_python() else {
        return;
    };
    let x = signal(2500, p.sample_rate);
    let ours = FeatureExtractor::run_batch(&p, &x);
    let theirs = reference(&python, &p, &x);
    assert_eq!(ours.len(), theirs.len());
    assert_eq!(ours.len(), (2500 * 100 / 1024) * 20 * 3);
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "raw windows differ from numpy's by {worst}");
    // Not a comparison of zeros: the windows hold the signal's swings.
    let mean = ours.iter().sum::<f32>() / ours.len() as f32;
    let var = ours.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / ours.len() as f32;
    assert!(var > 0.25, "variance {var}");
}

#[test]
fn front_end_matches_scipy_at_2048_hz_with_50_hz_notches() {
    assert_matches_reference(&plan(2048.0, Some(50.0), 0), 5000);
}

/// The filters' delay that the sensor-to-sound budget reports, against the
/// same measure on scipy's design of the chain.
#[test]
fn filter_delay_matches_scipy() {
    let Some(python) = common::venv_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for p in [
        plan(1024.0, Some(50.0), 0),
        plan(1024.0, Some(60.0), 0),
        plan(1000.0, None, 0),
        plan(2048.0, Some(50.0), 0),
    ] {
        let path = dir.path().join("plan.json");
        std::fs::write(&path, plan_json(&p).to_string()).unwrap();
        let run = Command::new(&python)
            .arg(common::root().join("tests/peers/frontend_reference.py"))
            .arg("--filter-delay")
            .arg(&path)
            .output()
            .expect("run the Python front-end reference");
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let theirs: f64 = String::from_utf8_lossy(&run.stdout).trim().parse().unwrap();
        let ours = p.filter_delay_s();
        assert!(
            (ours - theirs).abs() < 1e-6,
            "{:?} Hz line, {} Hz: ours {ours} s, scipy's {theirs} s",
            p.line_frequency,
            p.sample_rate
        );
        // The band-pass alone delays 70-170 Hz power by about 6.7 ms; notches
        // inside the band add to it.
        assert!((0.005..0.02).contains(&ours), "{ours} s");
    }
}
