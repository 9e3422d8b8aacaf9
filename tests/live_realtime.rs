//! `run`'s real-time request (locked memory, SCHED_FIFO for the hot threads)
//! through the binary, over loopback LSL (`LSLAPICFG` set to the shipped
//! loopback configuration and `--lsl-local`, DESIGN.md section 3): whatever
//! the OS grants or refuses is in the report, and the session runs either
//! way. The refusal is the kernel's own: the session's process is started
//! with its locked-memory and real-time-priority limits at 0 and, when this
//! test runs as root, without CAP_SYS_NICE and CAP_IPC_LOCK.

#![cfg(all(feature = "lsl", target_os = "linux"))]

mod common;

use common::{Guard, live_neurospeak as neurospeak};
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

/// One session at a time: on two shared cores parallel sessions starve each other.
static SERIAL: Mutex<()> = Mutex::new(());

const CHANNELS: usize = 8;
const RATE: f64 = 1000.0;
const HOT: [&str; 3] = ["ns-worker", "ns-lsl-reader", "ns-null-sink"];

/// A tiny bundle and a 10-second recording for it, served in a loop as the
/// LSL stream `name`.
fn serve(dir: &Path, name: &str) -> (PathBuf, Guard) {
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    common::tiny_bundle(&model, CHANNELS, RATE);
    let rec = dir.join("rec.xdf");
    neurospeak::recording::write_xdf(&rec, &common::recording(&rec, CHANNELS, RATE, 10.0)).unwrap();
    let server = neurospeak()
        .arg("stream-file")
        .arg(&rec)
        .args(["--name", name, "--loop", "--lsl-local"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("stream-file starts");
    (model, Guard(server))
}

/// A 3-second session on the null sink; its output and report.
fn session(
    mut command: Command,
    model: &Path,
    name: &str,
    report: &Path,
    extra: &[&str],
) -> (Output, Value) {
    let out = command
        .arg("run")
        .args(extra)
        .arg("--model")
        .arg(model)
        .args(["--stream", name, "--audio", "null", "--duration", "3"])
        .args(["--status-every", "0", "--lsl-local", "--report"])
        .arg(report)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run failed: {stderr}");
    let text = std::fs::read_to_string(report).expect("a report");
    (
        out,
        serde_json::from_str(&text).expect("the report is JSON"),
    )
}

/// The report's requests, by what they were for, after checking the session
/// decoded frames and asked for memory and every hot thread.
fn requests(r: &Value) -> Vec<(String, &Value)> {
    assert!(r["frames"].as_u64().unwrap() > 0, "no frame decoded: {r}");
    let list = r["realtime_request"].as_array().expect("requests reported");
    let what: Vec<String> = list
        .iter()
        .map(|g| g["what"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(what, ["memory", HOT[0], HOT[1], HOT[2]], "{r}");
    what.into_iter().zip(list).collect()
}

#[test]
fn the_realtime_request_is_reported_granted_or_refused_and_the_session_runs() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = format!("nstest-{}-realtime", std::process::id());
    let (model, _server) = serve(dir.path(), &name);
    let (out, r) = session(neurospeak(), &model, &name, &dir.path().join("r.json"), &[]);
    for (what, g) in requests(&r) {
        let asked = g["asked"].as_str().unwrap();
        let granted = g["granted"].as_str().unwrap();
        match g["refused"].as_str() {
            // Granted: what was asked is what the process has.
            None if what == "memory" => assert_eq!(granted, "MCL_CURRENT | MCL_FUTURE", "{g}"),
            None => assert_eq!(granted, asked, "{g}"),
            Some(why) => assert!(!why.is_empty(), "a refusal without a reason: {g}"),
        }
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("realtime   memory "), "{stdout}");

    // Opted out: nothing asked, nothing reported.
    let off = dir.path().join("off.json");
    let (out, r) = session(neurospeak(), &model, &name, &off, &["--no-realtime"]);
    assert!(r["frames"].as_u64().unwrap() > 0, "{r}");
    assert!(r["realtime_request"].is_null(), "{r}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("realtime   off (--no-realtime)"),
        "{stdout}"
    );
}

#[test]
fn a_refused_request_is_reported_with_the_errno_and_the_session_runs() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = format!("nstest-{}-refused", std::process::id());
    let (model, _server) = serve(dir.path(), &name);
    let mut refused = neurospeak();
    // SAFETY: only async-signal-safe system calls between fork and exec.
    unsafe {
        refused.pre_exec(|| {
            let zero = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            for limit in [libc::RLIMIT_MEMLOCK, libc::RLIMIT_RTPRIO] {
                if libc::setrlimit(limit, &zero) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // As root, the capabilities that bypass those limits leave the
            // bounding set, so the program exec'd does not get them; for
            // anyone else this fails and the limits alone refuse.
            const CAP_IPC_LOCK: libc::c_ulong = 14;
            const CAP_SYS_NICE: libc::c_ulong = 23;
            for cap in [CAP_IPC_LOCK, CAP_SYS_NICE] {
                libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
            }
            Ok(())
        });
    }
    let (out, r) = session(refused, &model, &name, &dir.path().join("r.json"), &[]);
    for (what, g) in requests(&r) {
        let why = g["refused"]
            .as_str()
            .unwrap_or_else(|| panic!("granted: {g}"));
        assert!(why.contains("EPERM: Operation not permitted"), "{g}");
        let expect = if what == "memory" {
            "none"
        } else {
            "SCHED_OTHER"
        };
        assert_eq!(g["granted"], expect, "{g}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("real time not (fully) granted"),
        "no warning at start: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(asked SCHED_FIFO 30; EPERM"), "{stdout}");
}
