//! The live path end to end through the binary: `stream-file` → `run` over
//! loopback LSL, a pylsl outlet → `run`, and faults (outlet killed and
//! restarted, SIGTERM). Every child process runs with `LSLAPICFG` set to the
//! shipped loopback-only configuration and `--lsl-local` (DESIGN.md section
//! 3), uses a stream name unique to this process and test, and is killed
//! when the test ends, whatever happens.

#![cfg(feature = "lsl")]

mod common;

/// The live tests run one at a time: each starts an outlet and a session
/// process, and on two shared cores parallel sessions starve each other.
static SERIAL: Mutex<()> = Mutex::new(());

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

fn loopback_config() -> PathBuf {
    let p = common::root().join("configs/lsl_loopback.cfg");
    assert!(p.is_file(), "{} is missing", p.display());
    p
}

/// The binary, with the loopback configuration in its environment.
fn neurospeak() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_neurospeak"));
    c.env("LSLAPICFG", loopback_config())
        .env("NEUROSPEAK_LOG", "warn")
        .env("NEUROSPEAK_CACHE_DIR", common::test_cache_dir())
        .current_dir(common::root());
    c
}

/// A child process killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn unique(name: &str) -> String {
    format!("nstest-{}-{name}", std::process::id())
}

/// The short synthetic recording (seed 7, index 50, 2 utterances, about 8 s)
/// and the demo model's replay of it, made once per test binary.
fn fixture() -> Option<&'static (PathBuf, Vec<i16>)> {
    static FIXTURE: OnceLock<Option<(PathBuf, Vec<i16>)>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            if !common::onnxruntime() {
                return None;
            }
            let dir = std::env::temp_dir().join(format!("nstest-live-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let ok = neurospeak()
                .args(["synth", "--seed", "7", "--recordings", "1"])
                .args(["--first-index", "50", "--utterances", "2", "--out"])
                .arg(&dir)
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success();
            assert!(ok, "synth failed");
            let rec = dir.join("rec_050.xdf");
            let wav = dir.join("replay.wav");
            let ok = neurospeak()
                .args(["replay", "--model", "models/demo", "--input"])
                .arg(&rec)
                .arg("--out")
                .arg(&wav)
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success();
            assert!(ok, "replay failed");
            Some((rec, read_wav(&wav)))
        })
        .as_ref()
}

fn read_wav(path: &Path) -> Vec<i16> {
    let mut r = hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("{} is not a valid WAV file: {e}", path.display()));
    assert_eq!(r.spec().sample_rate, 16_000);
    r.samples::<i16>().map(Result::unwrap).collect()
}

fn read_report(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no report at {}: {e}", path.display()));
    serde_json::from_str(&text).expect("the report is valid JSON")
}

fn stream_file(rec: &Path, name: &str, extra: &[&str]) -> Guard {
    Guard(
        neurospeak()
            .arg("stream-file")
            .arg(rec)
            .args(["--name", name, "--lsl-local"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("stream-file starts"),
    )
}

fn run_args(name: &str, dir: &Path) -> Vec<String> {
    let s = |p: PathBuf| p.display().to_string();
    vec![
        "run".into(),
        "--model".into(),
        "models/demo".into(),
        "--stream".into(),
        name.into(),
        "--audio".into(),
        "null".into(),
        "--wav".into(),
        s(dir.join("live.wav")),
        "--report".into(),
        s(dir.join("report.json")),
        "--buffer-ms".into(),
        "60".into(),
        "--status-every".into(),
        "1".into(),
        "--lsl-local".into(),
    ]
}

/// The offset (in samples, a whole number of hops) at which `live` best
/// matches `reference`, and the largest difference there after the first
/// second.
fn best_offset(reference: &[i16], live: &[i16]) -> (usize, i32) {
    let skip = 16_000;
    let mut best = (0, i32::MAX);
    for offset in (0..=32_000).step_by(160) {
        let n = live.len().min(reference.len().saturating_sub(offset));
        if n <= skip {
            break;
        }
        let worst = (skip..n)
            .map(|i| (live[i] as i32 - reference[i + offset] as i32).abs())
            .max()
            .unwrap_or(i32::MAX);
        if worst < best.1 {
            best = (offset, worst);
        }
    }
    best
}

#[test]
fn stream_file_to_run_matches_replay_with_no_gaps_or_underruns() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((rec, reference)) = fixture() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = unique("e2e");
    let _server = stream_file(rec, &name, &["--wait-for-consumer"]);
    let out = neurospeak()
        .args(run_args(&name, dir.path()))
        .args(["--duration", "6"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run failed: {stderr}");
    assert!(stderr.contains("frames"), "no status line: {stderr}");
    // The decoder was loaded (from the graph cache the fixture's replay filled)
    // and warmed up before the stream started: its line comes first.
    let loaded = stderr.find("decoder: optimized graph loaded from cache");
    let first_status = stderr.find("| frames ");
    assert!(
        loaded.is_some() && loaded < first_status,
        "no graph-cache line before the first status line: {stderr}"
    );
    let live = read_wav(&dir.path().join("live.wav"));
    assert!(
        live.len() > 3 * 16_000,
        "only {} samples decoded",
        live.len()
    );
    let (offset, worst) = best_offset(reference, &live);
    // The same samples through the same engine: equal up to 16-bit rounding.
    assert!(
        worst <= 2,
        "live audio differs from replay by up to {worst} (best offset {offset} samples)"
    );
    let r = read_report(&dir.path().join("report.json"));
    assert_eq!(r["schema"], "neurospeak.report/1");
    assert_eq!(r["command"], "run");
    assert_eq!(r["model"]["graph_cache"]["status"], "hit", "{r}");
    let f = &r["faults"];
    assert_eq!(f["gaps"], 0, "{f}");
    assert_eq!(f["underruns"], 0, "{f}");
    assert_eq!(f["dropped_frames"], 0, "{f}");
    assert_eq!(f["reconnects"], 0, "{f}");
    let lat = &r["latency_ms"];
    for k in [
        "compute",
        "end_to_end",
        "transport",
        "features",
        "decoder",
        "vocoder",
    ] {
        assert!(lat[k]["count"].as_u64().unwrap_or(0) > 100, "{k}: {lat}");
    }
    assert!(lat["algorithmic"].as_f64().unwrap() > 0.0);
}

#[test]
fn run_survives_the_outlet_dying_and_returning_and_finishes_files_on_sigterm() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((rec, _)) = fixture() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = unique("fault");
    let server = stream_file(rec, &name, &["--loop"]);
    let mut run = Guard(
        neurospeak()
            .args(run_args(&name, dir.path()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_secs(4));
    drop(server); // killed: the stream disappears without goodbye
    std::thread::sleep(Duration::from_secs(2));
    let _server = stream_file(rec, &name, &["--loop"]);
    std::thread::sleep(Duration::from_secs(4));
    let pid = run.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = run.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "run did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(run.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "run failed after SIGTERM: {stderr}");
    assert!(
        stderr.contains("STREAM LOST"),
        "the outage was not reported: {stderr}"
    );
    let r = read_report(&dir.path().join("report.json"));
    let f = &r["faults"];
    assert!(f["reconnects"].as_u64().unwrap() >= 1, "{f}");
    let live = read_wav(&dir.path().join("live.wav"));
    // Decoded before the outage and after the return (about 2 + 4 s of
    // stream once the model has loaded).
    let seconds = live.len() as f64 / 16_000.0;
    assert!(seconds > 3.0, "only {seconds:.1} s decoded: {f} {stderr}");
    assert_eq!(r["frames"].as_u64().unwrap() * 160, live.len() as u64);
}

#[test]
fn a_pylsl_outlet_feeds_run() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let python = common::root().join(".local/venv/bin/python");
    let has_pylsl = Command::new(&python)
        .args(["-c", "import pylsl, numpy"])
        .env("LSLAPICFG", loopback_config())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_pylsl {
        eprintln!("SKIPPED: pylsl is not installed in .local/venv; run scripts/setup.sh");
        return;
    }
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = unique("pylsl");
    let script = r#"
import sys, time, numpy as np, pylsl
name = sys.argv[1]
info = pylsl.StreamInfo(name, "EEG", 64, 1024, "float32", "nstest-" + name)
outlet = pylsl.StreamOutlet(info)
rng = np.random.default_rng(7)
start = pylsl.local_clock(); sent = 0
while sent < 1024 * 20:
    due = int((pylsl.local_clock() - start) * 1024) + 1
    if due > sent:
        chunk = rng.standard_normal((due - sent, 64)).astype(np.float32) * 10
        for i, row in enumerate(chunk):
            outlet.push_sample(row, start + (sent + i) / 1024, sent + i + 1 == due)
        sent = due
    time.sleep(0.01)
"#;
    let _outlet = Guard(
        Command::new(&python)
            .args(["-c", script, &name])
            .env("LSLAPICFG", loopback_config())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = neurospeak()
        .args(run_args(&name, dir.path()))
        .args(["--duration", "4"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run failed: {stderr}");
    let r = read_report(&dir.path().join("report.json"));
    assert!(r["frames"].as_u64().unwrap() > 200, "{r}");
    assert_eq!(r["faults"]["gaps"], 0, "{r}");
    assert!(r["latency_ms"]["transport"]["count"].as_u64().unwrap() > 0);
}

#[test]
fn run_names_the_visible_streams_when_none_matches() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = neurospeak()
        .args(run_args(&unique("absent"), dir.path()))
        .args(["--resolve-timeout", "0.5", "--duration", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("visible streams"), "{stderr}");
    assert!(stderr.contains("stream-file"), "{stderr}");
}

#[test]
fn run_refuses_a_stream_that_does_not_fit_the_model_naming_both() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ok = neurospeak()
        .args([
            "synth",
            "--seed",
            "3",
            "--recordings",
            "1",
            "--utterances",
            "1",
        ])
        .args(["--channels", "8", "--out"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "synth failed");
    let name = unique("mismatch");
    let _server = stream_file(&dir.path().join("rec_000.xdf"), &name, &["--loop"]);
    let out = neurospeak()
        .args(run_args(&name, dir.path()))
        .args(["--duration", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("expects 64 channels") && stderr.contains("has 8 channels"),
        "{stderr}"
    );
}
