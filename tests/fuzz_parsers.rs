//! Property-based fuzzing of every parser of untrusted input: recordings (XDF,
//! EDF+, BDF+), the bundle manifest (YAML) and ONNX models (the protobuf decode and
//! the graph checks the optimizer and `inspect` rely on).
//!
//! Each property mutates a valid file made by an independent path (the writers of
//! this crate for XDF and ONNX, a byte-by-byte builder for EDF/BDF, the shipped demo
//! manifest) and requires the parser to return, never to panic, and to allocate no
//! more than the input's real size justifies: a counting global allocator (this test
//! binary only, per thread) records the peak of live bytes and the largest single
//! allocation while the parser runs. `tests/corpus/` holds malformed files that every
//! parser must reject with an error under the same bound; each defect the fuzzing
//! found has its own file there.
//!
//! The case counts are fixed, so a run takes the same bounded time in CI.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};

use neurospeak::onnx::{Activation, DenseLayer, GraphSpec, dense_stack_model};
use neurospeak::recording::xdf::{ChannelFormat, StreamInfo, XdfWriter};
use proptest::prelude::*;

mod common;

use common::edf::{Signal, build};
use protobuf::Message;

struct Measuring;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK_LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK_SINGLE: Cell<usize> = const { Cell::new(0) };
}

fn note(grow: usize, shrink: usize) {
    // `try_with`: thread-locals may be gone while a thread shuts down.
    let _ = ON.try_with(|on| {
        if !on.get() {
            return;
        }
        let _ = LIVE.try_with(|live| {
            let now = live.get() + grow as i64 - shrink as i64;
            live.set(now);
            let _ = PEAK_LIVE.try_with(|p| p.set(p.get().max(now)));
        });
        let _ = PEAK_SINGLE.try_with(|p| p.set(p.get().max(grow)));
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// bookkeeping only touches this thread's cells.
unsafe impl GlobalAlloc for Measuring {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size(), 0);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size(), 0);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size, layout.size());
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(0, layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Measuring = Measuring;

/// What a parser allocated on this thread while it ran.
#[derive(Debug, Clone, Copy)]
struct Usage {
    /// The most bytes live at once, above what was live when it started.
    peak_live: i64,
    /// The largest single allocation (or reallocation's new size).
    peak_single: usize,
}

/// Runs `f`, measuring this thread's allocations.
fn measure<T>(f: impl FnOnce() -> T) -> (T, Usage) {
    LIVE.with(|c| c.set(0));
    PEAK_LIVE.with(|c| c.set(0));
    PEAK_SINGLE.with(|c| c.set(0));
    ON.with(|c| c.set(true));
    let out = f();
    ON.with(|c| c.set(false));
    let usage = Usage {
        peak_live: PEAK_LIVE.with(Cell::get),
        peak_single: PEAK_SINGLE.with(Cell::get),
    };
    (out, usage)
}

/// Live bytes a parser may hold per input byte: the widest expansion is an XDF int8
/// sample (2 bytes in the file: a timestamp byte and the value) that becomes an f64
/// value, an f64 raw and an f64 mapped timestamp, a clock-segment index and an f32
/// copy, with vectors growing by doubling.
const LIVE_PER_BYTE: i64 = 64;
/// The largest single allocation per input byte (an f64 per int8 value, doubled).
const SINGLE_PER_BYTE: usize = 24;
/// What any parse of a recording or a model may allocate whatever the input
/// (tables, error messages, XML parser state).
const CONSTANT: usize = 256 * 1024;
/// The same for a manifest: validation builds the mel filterbank the manifest
/// declares, bounded by its limits (256 mels × 4097 FFT bins of f32), not by the
/// file's size.
const MANIFEST_CONSTANT: usize = 8 << 20;

/// Fails when `usage` is more than the input's size justifies.
fn check_budget(parser: Parser, len: usize, usage: Usage) -> Result<(), TestCaseError> {
    let what = format!("{parser:?}");
    let constant = match parser {
        Parser::Manifest => MANIFEST_CONSTANT,
        Parser::Recording | Parser::Onnx => CONSTANT,
    };
    let live_limit = LIVE_PER_BYTE * len as i64 + constant as i64;
    let single_limit = SINGLE_PER_BYTE * len + constant;
    if usage.peak_live > live_limit || usage.peak_single > single_limit {
        return Err(TestCaseError::fail(format!(
            "{what}: a {len}-byte input made the parser allocate {} bytes at once (limit {live_limit}) \
             and {} bytes in one allocation (limit {single_limit})",
            usage.peak_live, usage.peak_single
        )));
    }
    Ok(())
}

/// The parsers under test. Each returns the error's message, or `None` when it accepted the input.
#[derive(Clone, Copy, Debug)]
enum Parser {
    Recording,
    Manifest,
    Onnx,
}

impl Parser {
    fn run(self, bytes: &[u8]) -> Option<String> {
        let path = Path::new("fuzz-input");
        match self {
            Parser::Recording => neurospeak::recording::parse(bytes, path)
                .err()
                .map(|e| e.to_string()),
            Parser::Manifest => {
                let text = String::from_utf8_lossy(bytes);
                neurospeak::bundle::parse_manifest(&text, path)
                    .err()
                    .map(|e| e.to_string())
            }
            Parser::Onnx => match neurospeak::onnx::parse_model(path, bytes) {
                Err(e) => Some(e.to_string()),
                Ok(model) => {
                    // What `inspect` and the optimizer read from a decoded model.
                    let _ = neurospeak::onnx::parameter_count(&model);
                    let _ = neurospeak::onnx::metadata(&model);
                    let _ = neurospeak::onnx::graph_inputs(&model);
                    neurospeak::onnx::decoder_io(&model, path)
                        .err()
                        .map(|e| e.to_string())
                }
            },
        }
    }
}

/// What building from a validated manifest may allocate: its limits (4096 channels,
/// 201 context frames, a 65536-point FFT, 512 mels, 16 look-ahead frames) bound it,
/// not the file's size.
const BUILD_LIMIT: i64 = 256 << 20;

/// Builds the front-end and the vocoder a validated manifest describes (what
/// `Engine::build` does besides loading the model): no panic, bounded memory.
fn built_within_limits(m: &neurospeak::bundle::Manifest) {
    let (_, usage) = measure(|| {
        let plan = neurospeak::bundle::front_end_plan(m);
        let _front = neurospeak::features::FeatureExtractor::new(&plan);
        neurospeak::vocoder::StreamingVocoder::new(&neurospeak::bundle::vocoder_config(m))
            .expect("validation accepted the vocoder settings")
    });
    assert!(usage.peak_live < BUILD_LIMIT, "building took {usage:?}");
}

/// Parses `bytes` under the allocation budget; a panic fails the case (proptest
/// reports and shrinks it).
fn parse_within_budget(parser: Parser, bytes: &[u8]) -> Result<Option<String>, TestCaseError> {
    let (outcome, usage) = measure(|| parser.run(bytes));
    check_budget(parser, bytes.len(), usage)?;
    if let (Parser::Manifest, None) = (parser, &outcome) {
        let text = String::from_utf8_lossy(bytes);
        let m = neurospeak::bundle::parse_manifest(&text, Path::new("fuzz-input")).unwrap();
        built_within_limits(&m);
    }
    Ok(outcome)
}

// ---------------------------------------------------------------- seeds

/// An XDF file with every numeric format, a string stream, clock offsets and footers.
fn xdf_seed() -> Vec<u8> {
    let info = |name: &str, ty: &str, channels: usize, format, rate| StreamInfo {
        name: name.into(),
        stream_type: ty.into(),
        source_id: format!("{name}-1"),
        channel_count: channels,
        channel_format: format,
        nominal_srate: rate,
        channel_labels: (0..channels).map(|c| format!("c{c}")).collect(),
    };
    let mut w = XdfWriter::new(Vec::new()).unwrap();
    let eeg = info("amp", "EEG", 3, ChannelFormat::Float32, 100.0);
    let audio = info("mic", "Audio", 1, ChannelFormat::Int16, 800.0);
    let markers = info("events", "Markers", 1, ChannelFormat::String, 0.0);
    let aux = info("aux", "AUX", 2, ChannelFormat::Int8, 10.0);
    w.stream_header(1, &eeg).unwrap();
    w.stream_header(2, &audio).unwrap();
    w.stream_header(3, &markers).unwrap();
    w.stream_header(4, &aux).unwrap();
    let stamps: Vec<f64> = (0..8).map(|i| 5.0 + i as f64 / 100.0).collect();
    let values: Vec<f32> = (0..24).map(|i| (i as f32 * 0.37).sin()).collect();
    w.numeric_samples(1, &eeg, &stamps, &values).unwrap();
    w.clock_offset(1, 5.0, 0.25).unwrap();
    w.numeric_samples(1, &eeg, &stamps, &values).unwrap();
    let audio_stamps: Vec<f64> = (0..16).map(|i| 5.0 + i as f64 / 800.0).collect();
    let audio_values: Vec<f64> = (0..16).map(|i| (i * 1000) as f64 - 8000.0).collect();
    w.numeric_samples(2, &audio, &audio_stamps, &audio_values)
        .unwrap();
    w.string_samples(3, &markers, &[5.01, 5.05], &["go".into(), "stop".into()])
        .unwrap();
    w.numeric_samples(4, &aux, &[5.0, 5.1], &[1.0, -2.0, 3.0, 127.0])
        .unwrap();
    w.clock_offset(1, 6.0, 0.25).unwrap();
    w.stream_footer(1, &stamps).unwrap();
    w.into_inner()
}

/// A 2-record EDF+ (or BDF+) file: two 8-sample signals (the second with an
/// inverted physical range) and an annotation signal.
fn edf_seed(bdf: bool) -> Vec<u8> {
    let size = if bdf { 3 } else { 2 };
    let per_record = |r: i32| -> Vec<u8> {
        (0..8)
            .flat_map(|k| {
                let v = ((k * 977 + r * 31) % 4000 - 2000).to_le_bytes();
                v[..size].to_vec()
            })
            .collect()
    };
    let signal = |label, physical, digital| Signal {
        label,
        physical,
        digital,
        per_record: 8,
        records: (0..2).map(per_record).collect(),
    };
    let annotations = Signal {
        label: if bdf {
            "BDF Annotations"
        } else {
            "EDF Annotations"
        },
        physical: (-1.0, 1.0),
        digital: (-32768, 32767),
        per_record: if bdf { 10 } else { 15 },
        records: (0..2)
            .map(|r| format!("+{}\x14\x14\0+{}.25\x14word\x14\0", r as f64 * 0.5, r).into_bytes())
            .collect(),
    };
    let signals = [
        signal("EEG Fz", (-200.0, 200.0), (-32768, 32767)),
        signal("EEG Cz", (300.0, -300.0), (-2048, 2047)),
        annotations,
    ];
    build(bdf, 0.5, 2, &signals)
}

fn manifest_seed() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo/neurospeak.yaml"))
        .expect("the demo manifest is in the repository")
}

/// A two-layer decoder, 6 → 4 → 3, with metadata.
fn onnx_seed() -> Vec<u8> {
    let layer = |i: usize, o: usize, activation| DenseLayer {
        in_dim: i,
        out_dim: o,
        weight: (0..i * o).map(|k| k as f32 * 0.01 - 0.1).collect(),
        bias: (0..o).map(|k| k as f32 * 0.5).collect(),
        activation,
    };
    let meta = [("trained_on".to_string(), "fuzz".to_string())];
    let model = dense_stack_model(
        &[layer(6, 4, Activation::Relu), layer(4, 3, Activation::None)],
        &GraphSpec {
            input_name: "features",
            output_name: "log_mel",
            producer: "fuzz",
            doc: "seed",
            metadata: &meta,
        },
    );
    model.write_to_bytes().unwrap()
}

// ------------------------------------------------------------ mutations

/// Values that stress length and count fields when written over a file.
const NASTY: &[&[u8]] = &[
    &[0xFF; 8],
    &[0xFF, 0xFF, 0xFF, 0x7F],
    &[0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
    &[0x04, 0xFF, 0xFF, 0xFF, 0xFF],
    &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
    &[0xFF, 0xFF, 0xFF, 0xFF, 0x0F],
    &[0],
    b"-1      ",
    b"NaN     ",
    b"inf     ",
    b"1e308   ",
    b"99999999",
    b"0       ",
    b"1000000000",
    b".nan",
    b"-.inf",
    b"18446744073709551616",
    b"18446744073709551615",
    b"9223372036854775807",
    b"4294967295",
    b"65536",
    b"1e-320",
    b"&a [*a, *a]",
    b"<a><a><a>",
];

#[derive(Clone, Debug)]
enum Mutation {
    /// Flip one bit at a position (taken modulo the length).
    Flip(usize, u8),
    /// Keep only a prefix (length modulo the length + 1).
    Truncate(usize),
    /// Write a stress value over the bytes at a position.
    Overwrite(usize, usize),
    /// Insert a stress value at a position.
    Insert(usize, usize),
    /// Remove up to 16 bytes at a position.
    Remove(usize, usize),
    /// Replace a run of ASCII digits with a stress value (text formats).
    Number(usize, usize),
    /// Replace the value of a `key: number` line with a stress value (YAML).
    Field(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let n = NASTY.len();
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(a, b)| Mutation::Flip(a, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0..n).prop_map(|(a, v)| Mutation::Overwrite(a, v)),
        (any::<usize>(), 0..n).prop_map(|(a, v)| Mutation::Insert(a, v)),
        (any::<usize>(), 1usize..16).prop_map(|(a, l)| Mutation::Remove(a, l)),
        (any::<usize>(), 0..n).prop_map(|(a, v)| Mutation::Number(a, v)),
        (any::<usize>(), 0..n).prop_map(|(a, v)| Mutation::Field(a, v)),
    ]
}

fn apply(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for m in mutations {
        let len = b.len().max(1);
        match *m {
            Mutation::Flip(at, bit) => {
                if !b.is_empty() {
                    b[at % len] ^= 1 << bit;
                }
            }
            Mutation::Truncate(at) => b.truncate(at % (b.len() + 1)),
            Mutation::Overwrite(at, v) => {
                let at = at % len;
                for (k, byte) in NASTY[v].iter().enumerate() {
                    if let Some(slot) = b.get_mut(at + k) {
                        *slot = *byte;
                    }
                }
            }
            Mutation::Insert(at, v) => {
                let at = at % (b.len() + 1);
                b.splice(at..at, NASTY[v].iter().copied());
            }
            Mutation::Remove(at, n) => {
                let at = at % len;
                let end = (at + n).min(b.len());
                if at < end {
                    b.drain(at..end);
                }
            }
            Mutation::Field(k, v) => {
                let fields = scalar_fields(&b);
                if !fields.is_empty() {
                    let (start, end) = fields[k % fields.len()];
                    b.splice(start..end, NASTY[v].iter().copied());
                }
            }
            Mutation::Number(k, v) => {
                let runs: Vec<(usize, usize)> = digit_runs(&b);
                if !runs.is_empty() {
                    let (start, end) = runs[k % runs.len()];
                    b.splice(start..end, NASTY[v].iter().copied());
                }
            }
        }
    }
    b
}

/// The `[start, end)` ranges of the values of `key: value` lines whose value is a
/// number (the scalar settings of a manifest, not its long lists).
fn scalar_fields(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut line_start = 0;
    for line in b.split(|&c| c == b'\n') {
        if let Some(colon) = line.windows(2).position(|w| w == b": ") {
            let value = &line[colon + 2..];
            if !value.is_empty()
                && value
                    .iter()
                    .all(|c| c.is_ascii_digit() || b"-+.e".contains(c))
            {
                out.push((line_start + colon + 2, line_start + line.len()));
            }
        }
        line_start += line.len() + 1;
    }
    out
}

/// The `[start, end)` ranges of the ASCII digit runs of `b`.
fn digit_runs(b: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, c) in b.iter().enumerate() {
        match (c.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, b.len()));
    }
    runs
}

// ----------------------------------------------------------- properties

/// The cases are drawn from a fixed seed, so CI runs the same cases in the same time;
/// `FUZZ_SEED=N` explores others (`FUZZ_SEED=random` a new draw each run).
fn seed() -> proptest::test_runner::RngSeed {
    use proptest::test_runner::RngSeed;
    match std::env::var("FUZZ_SEED").ok().as_deref() {
        Some("random") => RngSeed::Random,
        Some(n) => RngSeed::Fixed(n.parse().expect("FUZZ_SEED is a number or `random`")),
        None => RngSeed::Fixed(0x6e65_7572_6f73_7065),
    }
}

#[test]
fn the_seeds_parse() {
    // The properties mutate valid files: check they are valid to begin with.
    assert_eq!(Parser::Recording.run(&xdf_seed()), None);
    assert_eq!(Parser::Recording.run(&edf_seed(false)), None);
    assert_eq!(Parser::Recording.run(&edf_seed(true)), None);
    assert_eq!(Parser::Manifest.run(&manifest_seed()), None);
    assert_eq!(Parser::Onnx.run(&onnx_seed()), None);
    // And the budget is not vacuous: the allocator sees this thread's allocations.
    let (_, usage) = measure(|| std::hint::black_box(vec![0u8; 4096]));
    assert!(
        usage.peak_single >= 4096 && usage.peak_live >= 4096,
        "{usage:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10000, failure_persistence: None, rng_seed: seed(), ..ProptestConfig::default() })]

    #[test]
    fn mutated_xdf_never_panics_or_over_allocates(m in proptest::collection::vec(mutation(), 1..6)) {
        parse_within_budget(Parser::Recording, &apply(&xdf_seed(), &m))?;
    }

    #[test]
    fn mutated_edf_and_bdf_never_panic_or_over_allocate(
        bdf in any::<bool>(),
        m in proptest::collection::vec(mutation(), 1..6),
    ) {
        parse_within_budget(Parser::Recording, &apply(&edf_seed(bdf), &m))?;
    }

    #[test]
    fn mutated_onnx_never_panics_or_over_allocates(m in proptest::collection::vec(mutation(), 1..6)) {
        parse_within_budget(Parser::Onnx, &apply(&onnx_seed(), &m))?;
    }

    #[test]
    fn arbitrary_bytes_never_panic_any_parser(
        head in prop_oneof![Just(b"XDF:".to_vec()), Just(b"0       ".to_vec()),
                            Just(b"\xFFBIOSEMI".to_vec()), Just(vec![0x08u8]), Just(Vec::new())],
        tail in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let bytes = [head, tail].concat();
        for parser in [Parser::Recording, Parser::Manifest, Parser::Onnx] {
            parse_within_budget(parser, &bytes)?;
        }
    }
}

proptest! {
    // The YAML parser and serde are slower per case in a debug build.
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, rng_seed: seed(), ..ProptestConfig::default() })]

    #[test]
    fn mutated_manifests_never_panic_or_over_allocate(m in proptest::collection::vec(mutation(), 1..4)) {
        parse_within_budget(Parser::Manifest, &apply(&manifest_seed(), &m))?;
    }
}

// --------------------------------------------------------------- corpus

/// The files of `tests/corpus/KIND/`, sorted.
fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no files", dir.display());
    files
}

/// Every file of the corpus is rejected with an error, within the budget.
fn corpus_is_rejected(kind: &str, parser: Parser) {
    let mut failures = Vec::new();
    for path in corpus(kind) {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match parse_within_budget(parser, &bytes) {
            Err(e) => failures.push(format!("{name}: {e}")),
            Ok(None) => failures.push(format!("{name}: accepted")),
            Ok(Some(message)) => eprintln!("{kind}/{name}: {message}"),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_xdf_corpus_is_rejected() {
    corpus_is_rejected("xdf", Parser::Recording);
}

#[test]
fn the_edf_corpus_is_rejected() {
    corpus_is_rejected("edf", Parser::Recording);
}

#[test]
fn the_manifest_corpus_is_rejected() {
    corpus_is_rejected("manifest", Parser::Manifest);
}

#[test]
fn the_onnx_corpus_is_rejected() {
    corpus_is_rejected("onnx", Parser::Onnx);
}
