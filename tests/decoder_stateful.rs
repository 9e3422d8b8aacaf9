//! Stateful decoders written by an independent producer (the `onnx` Python package,
//! `tests/peers/recurrent_models.py`): a GRU, an LSTM and a causal 1-D convolution at
//! opsets 13 and 17, run frame by frame with their state fed back, against Python
//! onnxruntime's outputs of the same frames; state resets; declarations that do not fit
//! the model; and a stateful bundle through the engine.
//!
//! These tests need ONNX Runtime and `onnx` + `onnxruntime` in `.local/venv`; without
//! them they print a skip message (a failure with NEUROSPEAK_REQUIRE_PEERS=1).

mod common;

use common::read_f32;

use std::path::Path;
use std::process::Command;

use neurospeak::bundle::Bundle;
use neurospeak::bundle::manifest::StateSection;
use neurospeak::decoder::{Decoder, DecoderError, DecoderOptions, StateSpec};
use neurospeak::pipeline::engine::Engine;
use neurospeak::train::corpus::finish_bundle;

/// One model the peer wrote, its inputs and onnxruntime's outputs.
struct Peer {
    path: std::path::PathBuf,
    d: usize,
    m: usize,
    x: Vec<f32>,
    y: Vec<f32>,
    state: Vec<StateSpec>,
}

/// Runs the peer into `dir` (with `dims` = (D, M) if given) and returns its models by name.
fn peers(dir: &Path, dims: Option<(usize, usize)>) -> Option<Vec<(String, Peer)>> {
    if !common::onnxruntime() {
        return None;
    }
    let python = common::venv_python()?;
    let mut cmd = Command::new(&python);
    cmd.arg(common::root().join("tests/peers/recurrent_models.py"))
        .arg(dir);
    if let Some((d, m)) = dims {
        cmd.arg(d.to_string()).arg(m.to_string());
    }
    let out = cmd.output().expect("run the onnx peer");
    assert!(
        out.status.success(),
        "the onnx peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the peer prints JSON");
    let mut models = Vec::new();
    for (name, meta) in json.as_object().expect("an object") {
        let n = |k: &str| meta[k].as_u64().expect("a number") as usize;
        let state = meta["state"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|s| StateSpec {
                input: s["input"].as_str().unwrap().into(),
                output: s["output"].as_str().unwrap().into(),
                shape: s["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as usize)
                    .collect(),
                initial: 0.0,
            })
            .collect();
        let peer = Peer {
            path: dir.join(format!("{name}.onnx")),
            d: n("d"),
            m: n("m"),
            x: read_f32(&dir.join(format!("{name}.x.f32"))),
            y: read_f32(&dir.join(format!("{name}.y.f32"))),
            state,
        };
        assert_eq!(peer.x.len(), n("frames") * peer.d);
        assert_eq!(peer.y.len(), n("frames") * peer.m);
        models.push((name.clone(), peer));
    }
    assert_eq!(models.len(), 6, "GRU, LSTM and conv at two opsets");
    Some(models)
}

/// Largest absolute difference between `a` and `b`.
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Runs `frames` frames of `p` through `dec` and returns the outputs.
fn run(dec: &mut Decoder, p: &Peer, frames: usize) -> Vec<f32> {
    let mut y = vec![0.0; frames * p.m];
    for (x, out) in p.x.chunks_exact(p.d).zip(y.chunks_exact_mut(p.m)) {
        dec.run(x, out).unwrap();
    }
    y
}

/// Float32 recurrences in two builds of the same library: equal to rounding.
const TOLERANCE: f32 = 1e-4;

#[test]
fn recurrent_models_match_onnxruntime_frame_by_frame() {
    let dir = tempfile::tempdir().unwrap();
    let Some(models) = peers(dir.path(), None) else {
        return;
    };
    for (name, p) in &models {
        let mut dec =
            Decoder::load_with_state(&p.path, &DecoderOptions::default(), &p.state).unwrap();
        assert!(dec.is_stateful());
        assert_eq!((dec.input_dim(), dec.output_dim()), (p.d, p.m), "{name}");
        let frames = p.x.len() / p.d;
        let y = run(&mut dec, p, frames);
        let diff = max_diff(&y, &p.y);
        assert!(
            diff < TOLERANCE,
            "{name}: max |Δ| {diff} against onnxruntime"
        );
        // The state matters: the last frame alone, from a fresh state, differs.
        dec.reset_state();
        let mut alone = vec![0.0; p.m];
        dec.run(&p.x[(frames - 1) * p.d..], &mut alone).unwrap();
        let last = &p.y[(frames - 1) * p.m..];
        assert!(
            max_diff(&alone, last) > 100.0 * TOLERANCE,
            "{name}: the output does not depend on the state"
        );
    }
}

#[test]
fn reset_starts_over_and_detached_runs_leave_the_state_alone() {
    let dir = tempfile::tempdir().unwrap();
    let Some(models) = peers(dir.path(), None) else {
        return;
    };
    for (name, p) in &models {
        let mut dec =
            Decoder::load_with_state(&p.path, &DecoderOptions::default(), &p.state).unwrap();
        run(&mut dec, p, 50);
        dec.reset_state();
        // Throw-away runs between the frames (as the engine's prewarm does).
        let zeros = vec![0.0; p.d];
        let mut scratch = vec![0.0; p.m];
        let mut y = vec![0.0; 40 * p.m];
        for (x, out) in p.x.chunks_exact(p.d).zip(y.chunks_exact_mut(p.m)) {
            dec.run_detached(&zeros, &mut scratch).unwrap();
            dec.run(x, out).unwrap();
        }
        let diff = max_diff(&y, &p.y[..40 * p.m]);
        assert!(diff < TOLERANCE, "{name}: after a reset, max |Δ| {diff}");
        // A batch runs frame by frame, in order, through the state.
        dec.reset_state();
        let mut batch = vec![0.0; 40 * p.m];
        dec.run_batch(&p.x[..40 * p.d], 40, &mut batch).unwrap();
        let diff = max_diff(&batch, &p.y[..40 * p.m]);
        assert!(diff < TOLERANCE, "{name}: a batch, max |Δ| {diff}");
    }
}

#[test]
fn a_declaration_that_does_not_fit_names_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let Some(models) = peers(dir.path(), None) else {
        return;
    };
    let (_, p) = models.iter().find(|(n, _)| n == "lstm17").unwrap();
    let load = |state: &[StateSpec]| {
        Decoder::load_with_state(&p.path, &DecoderOptions::default(), state).unwrap_err()
    };
    // Wrong name.
    let mut wrong = p.state.clone();
    wrong[1].input = "cell_in".into();
    let e = load(&wrong);
    let msg = e.to_string();
    assert!(matches!(e, DecoderError::State { .. }), "{msg}");
    assert!(msg.contains("cell_in") && msg.contains("`c_in`"), "{msg}");
    // Wrong shape.
    let mut wrong = p.state.clone();
    wrong[0].shape = vec![1, 16];
    let msg = load(&wrong).to_string();
    assert!(
        msg.contains("[1, 16]") && msg.contains("[1, 1, 16]"),
        "{msg}"
    );
    // A state left undeclared leaves two frame inputs.
    let msg = load(&p.state[..1]).to_string();
    assert!(msg.contains("c_in") && msg.contains("inputs"), "{msg}");
    // Loading it as stateless says how many inputs it found.
    let msg = Decoder::load(&p.path, &DecoderOptions::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("3 inputs"), "{msg}");
}

#[test]
fn a_stateful_bundle_decodes_in_the_engine_and_counts_its_resets() {
    let dir = tempfile::tempdir().unwrap();
    let bundle_dir = dir.path().join("bundle");
    std::fs::create_dir_all(&bundle_dir).unwrap();
    let mut manifest = common::tiny_bundle(&bundle_dir, 4, 512.0);
    let (d, m) = (manifest.decoder.input_dim, manifest.decoder.output_dim);
    let Some(models) = peers(&dir.path().join("peer"), Some((d, m))) else {
        return;
    };
    let (_, p) = models.iter().find(|(n, _)| n == "gru17").unwrap();
    let model_path = bundle_dir.join(&manifest.decoder.file);
    std::fs::copy(&p.path, &model_path).unwrap();
    let dec = &mut manifest.decoder;
    dec.input_name = "x".into();
    dec.output_name = "y".into();
    dec.stateful = true;
    dec.state = p
        .state
        .iter()
        .map(|s| StateSection {
            input: s.input.clone(),
            output: s.output.clone(),
            shape: s.shape.clone(),
            initial: 0.0,
        })
        .collect();
    dec.state_reset_gap_ms = Some(50.0);
    finish_bundle(&bundle_dir, &mut manifest, &model_path).unwrap();
    let bundle = Bundle::load(&bundle_dir).unwrap();

    let rec = common::recording(Path::new("rec.xdf"), 4, 512.0, 2.0);
    let decode = |engine: &mut Engine| {
        let mut frames: Vec<Vec<f32>> = Vec::new();
        let now = std::time::Instant::now();
        for s in rec.eeg.samples.chunks_exact(4) {
            if let Some(f) = engine.push_sample(s, now).unwrap() {
                frames.push(f.log_mel.to_vec());
            }
        }
        frames
    };
    let mut engine = Engine::build(&bundle, &DecoderOptions::default()).unwrap();
    let state = engine
        .state_report()
        .expect("a stateful engine reports its state");
    assert_eq!((state.pairs, state.values), (1, 16));
    let first = decode(&mut engine);
    assert!(first.len() > 50, "{} frames", first.len());
    // A restart resets the state: the same stream decodes to the same frames.
    engine.restart();
    let again = decode(&mut engine);
    assert_eq!(first, again);
    // Short gaps keep the state; a long one or a reconnect resets it.
    engine.discontinuity(10, false);
    engine.discontinuity(100, false);
    engine.discontinuity(0, true);
    let state = engine.state_report().unwrap();
    assert_eq!(
        (
            state.resets_restart,
            state.resets_gap,
            state.resets_reconnect
        ),
        (1, 1, 1)
    );
}

#[test]
fn a_manifest_must_declare_the_state_it_claims() {
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = common::tiny_bundle(dir.path(), 4, 512.0);
    manifest.decoder.stateful = true;
    let model_path = dir.path().join(&manifest.decoder.file);
    finish_bundle(dir.path(), &mut manifest, &model_path).unwrap();
    let msg = Bundle::load(dir.path()).unwrap_err().to_string();
    assert!(
        msg.contains("decoder.stateful") && msg.contains("no `state`"),
        "{msg}"
    );

    manifest.decoder.state = vec![StateSection {
        input: "h".into(),
        output: "h".into(),
        shape: vec![1, 8],
        initial: 0.0,
    }];
    finish_bundle(dir.path(), &mut manifest, &model_path).unwrap();
    let msg = Bundle::load(dir.path()).unwrap_err().to_string();
    assert!(
        msg.contains("decoder.state") && msg.contains("distinct"),
        "{msg}"
    );
}
