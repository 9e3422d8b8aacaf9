//! Fixtures shared by the integration tests: tiny model bundles made by the
//! project's own code, and the ONNX Runtime library when it is installed.

#![allow(dead_code)]

pub mod counting;
pub mod edf;

use neurospeak::bundle::Manifest;
use neurospeak::onnx::{Activation, DenseLayer};
use neurospeak::recording::{Recording, SignalStream};
use neurospeak::train::config::TrainConfig;
use neurospeak::train::corpus::{finish_bundle, manifest_for, write_model};
use std::path::{Path, PathBuf};

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The optimized-graph cache of tests that run `replay` or `run` through the binary
/// (set as `NEUROSPEAK_CACHE_DIR`), under cargo's scratch directory for tests, so that
/// no test writes into the real home directory.
pub fn test_cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("graph-cache")
}

/// Set to `1` (as `.ci/run` does) to make every skip a failure: on a machine
/// that `scripts/setup.sh` prepared, a missing peer is a broken set-up.
pub const REQUIRE_PEERS: &str = "NEUROSPEAK_REQUIRE_PEERS";

/// The shipped machine-scope liblsl configuration every LSL test uses.
pub fn loopback_config() -> PathBuf {
    let p = root().join("configs/lsl_loopback.cfg");
    assert!(p.is_file(), "{} is missing", p.display());
    p
}

/// The binary, run from the project root with the loopback LSL
/// configuration, warnings-only logs and the tests' graph cache.
pub fn live_neurospeak() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_neurospeak"));
    c.env("LSLAPICFG", loopback_config())
        .env("NEUROSPEAK_LOG", "warn")
        .env("NEUROSPEAK_CACHE_DIR", test_cache_dir())
        .current_dir(root());
    c
}

/// A child process killed when dropped.
pub struct Guard(pub std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Says why a test cannot run here. With `NEUROSPEAK_REQUIRE_PEERS=1` the test
/// fails instead, so CI cannot pass on tests that never ran.
pub fn skip(reason: &str) {
    if std::env::var_os(REQUIRE_PEERS).is_some_and(|v| v == "1") {
        panic!("{reason} ({REQUIRE_PEERS}=1 turns this skip into a failure)");
    }
    eprintln!("SKIPPED: {reason}");
}

/// Loads ONNX Runtime, or says why the test is skipped and returns false.
pub fn onnxruntime() -> bool {
    match neurospeak::decoder::init_onnxruntime(None) {
        Ok(_) => true,
        Err(e) => {
            skip(&format!(
                "ONNX Runtime is not installed ({e}); run scripts/setup.sh"
            ));
            false
        }
    }
}

/// Whether flite (the speech synthesizer of the synthetic corpus) runs here;
/// says why the test is skipped when it does not.
pub fn flite() -> bool {
    let ok = std::process::Command::new("flite")
        .arg("--version")
        .output()
        .is_ok();
    if !ok {
        skip("flite is not installed; run scripts/setup.sh");
    }
    ok
}

/// The Python of the project's venv (`.local/venv`, made by scripts/setup.sh),
/// or `None` after saying why the test is skipped.
pub fn venv_python() -> Option<PathBuf> {
    let python = root().join(".local/venv/bin/python");
    if python.exists() {
        Some(python)
    } else {
        skip(&format!(
            "{} not found; run scripts/setup.sh to install the Python peers",
            python.display()
        ));
        None
    }
}

/// A real file of `../shared/data` (`rel` below it), or `None` after saying
/// why the test is skipped.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let path = root().join("../shared/data").join(rel);
    if path.is_file() {
        Some(path)
    } else {
        skip(&format!(
            "{} not found (../shared/data sits beside the project on its machines)",
            path.display()
        ));
        None
    }
}

/// The bundle the model-generic tests run (live sessions, replay, stream):
/// `NEUROSPEAK_TEST_MODEL`, relative to the project root, or `models/demo`.
/// scripts/test.sh runs those tests once more with `models/demo-lowlatency`.
pub fn test_model() -> String {
    std::env::var("NEUROSPEAK_TEST_MODEL").unwrap_or_else(|_| "models/demo".into())
}

/// What the tests need to know of [`test_model`]'s bundle.
#[derive(Clone, Copy, Debug)]
pub struct TestModel {
    /// Audio samples per decoded frame (the vocoder's hop).
    pub hop: u64,
    /// EEG samples per frame (the front-end's hop at the EEG rate).
    pub eeg_per_frame: f64,
    /// The vocoder's look-ahead and overlap-add delay, in milliseconds.
    pub vocoder_ms: f64,
    /// The power window's centre to its last sample, in milliseconds.
    pub window_centre_ms: f64,
}

/// [`TestModel`] of [`test_model`], from its manifest.
pub fn test_model_facts() -> TestModel {
    let dir = root().join(test_model());
    let path = dir.join("neurospeak.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let m = neurospeak::bundle::parse_manifest(&text, &path).expect("the manifest parses");
    let v = &m.vocoder;
    let rate = m.input.sample_rate_hz;
    let window = (m.features.window_ms * rate / 1000.0).round();
    TestModel {
        hop: v.hop_length as u64,
        eeg_per_frame: m.features.hop_ms * rate / 1000.0,
        vocoder_ms: (v.lookahead_frames + v.win_length / v.hop_length - 1) as f64
            * v.hop_length as f64
            * 1000.0
            / f64::from(v.sample_rate_hz),
        window_centre_ms: (window - 1.0) / 2.0 / rate * 1000.0,
    }
}

/// The project's shipped training configuration.
pub fn train_config() -> TrainConfig {
    TrainConfig::load(&root().join("configs/model.yaml")).expect("configs/model.yaml loads")
}

/// Writes a bundle with a random two-layer decoder for `channels` channels at
/// `rate` Hz into `dir`, and returns its manifest.
pub fn tiny_bundle(dir: &Path, channels: usize, rate: f64) -> Manifest {
    let mut cfg = train_config();
    cfg.features.past_frames = 2;
    let mel = neurospeak::synth::mel_config();
    let names: Vec<String> = (0..channels).map(|c| format!("ch{c}")).collect();
    let mut manifest = manifest_for(&cfg, &names, rate, &mel);
    manifest.name = "tiny".into();
    manifest.decoder.output_range = [mel.log_floor.ln(), 2.0];
    let dims = [manifest.decoder.input_dim, 16, manifest.decoder.output_dim];
    let mut seed = 12345u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 0.2
    };
    let layers: Vec<DenseLayer> = dims
        .windows(2)
        .enumerate()
        .map(|(i, d)| DenseLayer {
            in_dim: d[0],
            out_dim: d[1],
            weight: (0..d[0] * d[1]).map(|_| next()).collect(),
            bias: (0..d[1]).map(|_| next() - 6.0 * (i as f32)).collect(),
            activation: if i == 0 {
                Activation::Relu
            } else {
                Activation::None
            },
        })
        .collect();
    write_model(dir, &manifest, &layers, &[]).expect("model written");
    let model_path = dir.join(&manifest.decoder.file);
    finish_bundle(dir, &mut manifest, &model_path).expect("bundle written");
    manifest
}

/// An in-memory recording of `seconds` of a deterministic pattern on
/// `channels` channels at `rate` Hz, with no paired speech.
pub fn recording(path: &Path, channels: usize, rate: f64, seconds: f64) -> Recording {
    let n = (rate * seconds) as usize;
    Recording {
        path: path.to_path_buf(),
        eeg: SignalStream {
            name: "test".into(),
            stream_type: "EEG".into(),
            source_id: "test".into(),
            channel_labels: (0..channels).map(|c| format!("ch{c}")).collect(),
            sample_rate: rate,
            samples: (0..n * channels)
                .map(|i| ((i * 7919) % 101) as f32 - 50.0)
                .collect(),
            timestamps: (0..n).map(|i| i as f64 / rate).collect(),
            channel_count: channels,
        },
        audio: None,
        markers: vec![],
        empty_streams: vec![],
        clock_resets: 0,
    }
}

/// A file of little-endian float32 values (what the Python peers write).
pub fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
