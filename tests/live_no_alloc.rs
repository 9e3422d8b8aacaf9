//! After a live session has started, its hot threads — the LSL reader, the
//! decoding worker and the clock-paced sink — make no heap allocation. The
//! session runs in this process on the demo model, fed over loopback LSL by
//! a `stream-file` child; a counting global allocator (this test binary
//! only) counts Rust allocations per kernel thread while armed, and the
//! threads are told apart by the names the session gives them. ONNX
//! Runtime's and liblsl's own C++ allocators do not go through it.
//!
//! A plain program (`harness = false`): it sets `LSLAPICFG` while it is the
//! process's only thread, before liblsl starts.

mod common;

use neurospeak::bundle::Bundle;
use neurospeak::live::lsl_config;
use neurospeak::live::session::{AudioChoice, SessionOptions, run};
use neurospeak::live::source::StreamQuery;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SLOTS: usize = 512;
static ARMED: AtomicBool = AtomicBool::new(false);
static TIDS: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];
static COUNTS: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
/// Allocations from threads that found no free slot.
static UNPLACED: AtomicU64 = AtomicU64::new(0);

/// Counts one allocation against the calling thread: an open-addressed table
/// of kernel thread ids, so counting itself never allocates.
fn count() {
    if !ARMED.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    let mut i = tid as usize % SLOTS;
    for _ in 0..SLOTS {
        match TIDS[i].compare_exchange(0, tid, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                COUNTS[i].fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(t) if t == tid => {
                COUNTS[i].fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(_) => i = (i + 1) % SLOTS,
        }
    }
    UNPLACED.fetch_add(1, Ordering::Relaxed);
}

fn allocations_of(tid: i32) -> u64 {
    (0..SLOTS)
        .find(|&i| TIDS[i].load(Ordering::Acquire) == tid)
        .map_or(0, |i| COUNTS[i].load(Ordering::Relaxed))
}

struct PerThread;

unsafe impl GlobalAlloc for PerThread {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: PerThread = PerThread;

/// This process's threads by name (`/proc/self/task/*/comm`).
fn threads() -> BTreeMap<String, Vec<i32>> {
    let mut by_name: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for e in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(tid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(name) = std::fs::read_to_string(e.path().join("comm")) {
            by_name
                .entry(name.trim().to_string())
                .or_default()
                .push(tid);
        }
    }
    by_name
}

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const HOT: [&str; 3] = ["ns-lsl-reader", "ns-worker", "ns-null-sink"];

fn main() {
    the_reader_worker_and_sink_allocate_nothing_after_start();
    println!("live_no_alloc: ok");
}

fn the_reader_worker_and_sink_allocate_nothing_after_start() {
    let root = common::root();
    lsl_config::install(Some(&root.join("configs/lsl_loopback.cfg")), false)
        .expect("the shipped loopback configuration");
    if !common::onnxruntime() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let name = format!("nstest-{}-noalloc", std::process::id());
    let bin = env!("CARGO_BIN_EXE_neurospeak");
    let ok = Command::new(bin)
        .args(["synth", "--seed", "7", "--recordings", "1"])
        .args(["--first-index", "51", "--utterances", "1", "--out"])
        .arg(tmp.path())
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "synth failed");
    let _server = Guard(
        Command::new(bin)
            .arg("stream-file")
            .arg(tmp.path().join("rec_051.xdf"))
            .args(["--name", &name, "--loop", "--lsl-local"])
            .current_dir(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let bundle = Bundle::load(&root.join(common::test_model())).unwrap();
    let options = SessionOptions {
        query: StreamQuery::Name(name.clone()),
        resolve_timeout: Duration::from_secs(10),
        audio: AudioChoice::Null,
        wav: Some(tmp.path().join("live.wav")),
        status_every: None,
        // Locked memory and SCHED_FIFO (when granted) change nothing here.
        realtime: true,
        ..SessionOptions::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let session = {
        let stop = stop.clone();
        std::thread::spawn(move || run(&bundle, &options, stop))
    };

    // Started: every hot thread exists and decoded audio reaches the WAV
    // (threads wait at the start barrier until the reader has connected,
    // which can take a second). Then a second of steady state.
    // The WAV is written as `live.wav.partial` until the session ends.
    let wav = tmp.path().join("live.wav.partial");
    let started = || {
        HOT.iter().all(|n| threads().contains_key(*n))
            && std::fs::metadata(&wav).is_ok_and(|m| m.len() > 44 + 16_000)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !started() {
        assert!(
            !session.is_finished(),
            "the session ended before it started"
        );
        assert!(
            Instant::now() < deadline,
            "the session never started decoding"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    ARMED.store(true, Ordering::SeqCst);
    // Past the reader's 5 s clock-offset refresh.
    std::thread::sleep(Duration::from_secs(5));
    // Read while armed: this thread's allocations show the counter counts.
    let names = threads();
    ARMED.store(false, Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    let outcome = session.join().unwrap().expect("the session ran");

    let r = &outcome.report;
    // The stream flowed the whole time: frames all along, nothing lost.
    assert!(r.frames > 400, "{} frames", r.frames);
    assert_eq!(r.faults.reconnects, 0, "{:?}", r.faults);
    assert_eq!(r.faults.gaps, 0, "{:?}", r.faults);
    assert_eq!(UNPLACED.load(Ordering::Relaxed), 0);
    // SAFETY: gettid has no preconditions.
    let me = unsafe { libc::gettid() };
    assert!(
        allocations_of(me) > 0,
        "the counter missed this thread's allocations"
    );
    for n in HOT {
        let tids = names.get(n).unwrap_or_else(|| panic!("no thread {n}"));
        for &tid in tids {
            assert_eq!(allocations_of(tid), 0, "{n} allocated after start");
        }
    }
}
