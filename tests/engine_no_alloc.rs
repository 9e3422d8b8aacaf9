//! After `Engine::build`, pushing samples through features → decoder →
//! vocoder makes no heap allocation on the pushing thread. A counting global
//! allocator (this test binary only) counts every Rust allocation made by the
//! test thread; ONNX Runtime's own C++ arena does not go through it. The
//! same holds for the whole replay loop (the source side included).

mod common;

use neurospeak::bundle::Bundle;
use neurospeak::decoder::DecoderOptions;
use neurospeak::pipeline::{Engine, ReplayOptions, replay};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: thread-locals may be gone while a thread shuts down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn push_sample_allocates_nothing_after_build() {
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    common::tiny_bundle(dir.path(), 8, 1024.0);
    let bundle = Bundle::load(dir.path()).unwrap();
    let mut engine = Engine::build(&bundle, &DecoderOptions::default()).unwrap();
    let samples: Vec<f32> = (0..8 * 2048)
        .map(|i| ((i * 31) % 17) as f32 - 8.0)
        .collect();
    let mut frames = 0u64;
    let mut audio_energy = 0.0f64;

    COUNTING.with(|c| c.set(true));
    for s in samples.chunks_exact(8) {
        if let Some(f) = engine.push_sample(s, Instant::now()).unwrap() {
            frames += 1;
            audio_energy += f.audio.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
        }
    }
    COUNTING.with(|c| c.set(false));

    assert_eq!(frames, 200);
    assert!(audio_energy > 0.0, "the engine produced only silence");
    assert_eq!(
        ALLOCATIONS.with(Cell::get),
        0,
        "allocations in the hot loop"
    );
}

#[test]
fn replay_allocates_nothing_between_its_first_and_last_progress_report() {
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    common::tiny_bundle(dir.path(), 8, 1024.0);
    let bundle = Bundle::load(dir.path()).unwrap();
    let rec = common::recording(&dir.path().join("r.xdf"), 8, 1024.0, 6.0);
    // Progress comes once per second of signal from inside the replay loop:
    // counting starts at the first report, and each report notes the total.
    let mut reports = 0u32;
    let mut in_loop = 0usize;
    let outcome = replay(&bundle, &rec, &ReplayOptions::default(), &mut |_fraction| {
        reports += 1;
        if reports == 1 {
            COUNTING.with(|c| c.set(true));
        } else {
            in_loop = ALLOCATIONS.with(Cell::get);
        }
    })
    .unwrap();
    COUNTING.with(|c| c.set(false));

    assert!(reports >= 5, "only {reports} progress reports");
    assert!(outcome.report.frames >= 500, "{}", outcome.report.frames);
    assert_eq!(in_loop, 0, "allocations in the replay loop");
}
