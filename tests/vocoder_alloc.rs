//! `StreamingVocoder::push_frame` and `MelAnalyzer::push_hop` must not
//! allocate: a counting global allocator checks it. It counts only on the
//! thread that switched counting on, so the test harness cannot interfere.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use neurospeak::mel::{MelAnalyzer, log_mel_spectrogram};
use neurospeak::vocoder::{StreamingVocoder, VocoderConfig};

struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note_allocation() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_allocation();
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Runs `f` with counting on and returns how many allocator calls it made.
fn count_allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

#[test]
fn realtime_calls_do_not_allocate() {
    // Sanity check: the counter sees allocations.
    assert!(count_allocations(|| drop(std::hint::black_box(vec![0u8; 64]))) >= 1);

    let cfg = VocoderConfig::default();
    let audio: Vec<f32> = (0..16_000)
        .map(|i| 0.3 * (i as f32 * 0.05).sin() * (i as f32 * 0.0007).sin())
        .collect();
    let log_mel = log_mel_spectrogram(&audio, &cfg.mel);
    let mut vocoder = StreamingVocoder::new(&cfg).unwrap();
    let mut block = vec![0.0; cfg.mel.hop_length];
    let mut bad = log_mel[..cfg.mel.n_mels].to_vec();
    bad[0] = f32::NAN;
    bad[1] = f32::INFINITY;
    let n = count_allocations(|| {
        for frame in log_mel.chunks_exact(cfg.mel.n_mels) {
            vocoder.push_frame(frame, &mut block);
        }
        vocoder.push_frame(&bad, &mut block);
        vocoder.reset();
        vocoder.push_frame(&log_mel[..cfg.mel.n_mels], &mut block);
    });
    assert_eq!(n, 0, "push_frame/reset allocated {n} times");

    let mut analyzer = MelAnalyzer::new(&cfg.mel);
    let mut frame = vec![0.0; cfg.mel.n_mels];
    let n = count_allocations(|| {
        for hop in audio.chunks_exact(cfg.mel.hop_length) {
            analyzer.push_hop(hop, &mut frame);
        }
    });
    assert_eq!(n, 0, "MelAnalyzer::push_hop allocated {n} times");
}
