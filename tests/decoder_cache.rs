//! The optimized-graph cache with the real ONNX Runtime: a first load builds and
//! stores the entry, a second one hits it and decodes the same; any other key part
//! misses; a damaged entry or an unwritable directory never stops a load; and the
//! binary says which happened. Every test has its own cache directory.

mod common;

use neurospeak::decoder::{Decoder, DecoderOptions, GraphCacheStatus, GraphOptimization};
use neurospeak::onnx::load_model;
use neurospeak::recording::{Recording, SignalStream, write_xdf};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tiny bundle in `dir` with `channels` channels at 1024 Hz; returns its model file.
fn model(dir: &Path, channels: usize) -> PathBuf {
    let manifest = common::tiny_bundle(dir, channels, 1024.0);
    dir.join(&manifest.decoder.file)
}

fn cached(dir: &Path) -> DecoderOptions {
    DecoderOptions {
        cache_dir: Some(dir.to_path_buf()),
        ..DecoderOptions::default()
    }
}

/// The decoder's outputs for a fixed set of frames.
fn outputs(decoder: &mut Decoder) -> Vec<f32> {
    let d = decoder.input_dim();
    let mut all = Vec::new();
    let mut out = vec![0.0; decoder.output_dim()];
    for frame in 0..8 {
        let input: Vec<f32> = (0..d)
            .map(|i| (((i * 31 + frame * 17) % 23) as f32 - 11.0) / 4.0)
            .collect();
        decoder.run(&input, &mut out).unwrap();
        all.extend_from_slice(&out);
    }
    all
}

fn assert_close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5,
            "value {i}: cached {x} vs uncached {y}"
        );
    }
}

/// The files in `dir`, sorted by name.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

fn built_path(status: &GraphCacheStatus) -> PathBuf {
    match status {
        GraphCacheStatus::Built {
            path,
            replaced: None,
        } => path.clone(),
        other => panic!("expected a new entry, found {other:?}"),
    }
}

#[test]
fn the_first_load_caches_the_optimized_graph_and_the_second_hits_it() {
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = model(dir.path(), 4);
    let cache = dir.path().join("cache");
    let mut uncached = Decoder::load(&path, &DecoderOptions::default()).unwrap();
    assert_eq!(uncached.graph_cache(), &GraphCacheStatus::Off);
    let expected = outputs(&mut uncached);

    let mut first = Decoder::load(&path, &cached(&cache)).unwrap();
    let entry = built_path(first.graph_cache());
    assert_eq!(entry.parent(), Some(cache.as_path()));
    let stem = entry.file_stem().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        files(&cache),
        [format!("{stem}.json"), format!("{stem}.onnx")],
        "one entry and its sidecar, no temporary files"
    );
    assert_close(&outputs(&mut first), &expected);

    // The sidecar names every key part.
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(entry.with_extension("json")).unwrap()).unwrap();
    let key = &sidecar["key"];
    let sha = neurospeak::bundle::sha256_file(&path).unwrap();
    assert_eq!(key["model_sha256"], sha.as_str());
    assert!(stem.starts_with(&sha[..12]), "{stem}");
    assert_eq!(
        key["onnxruntime_version"],
        neurospeak::decoder::onnxruntime_version().as_str()
    );
    assert!(
        key["onnxruntime_version"]
            .as_str()
            .unwrap()
            .starts_with("1.")
    );
    assert!(key["onnxruntime_build"].as_str().unwrap().contains("git"));
    assert!(
        key["cpu"]
            .as_str()
            .unwrap()
            .starts_with(std::env::consts::ARCH)
    );
    assert_eq!(key["optimization"], "all");
    assert_eq!(
        sidecar["entry_sha256"],
        neurospeak::bundle::sha256_file(&entry).unwrap().as_str()
    );

    // ONNX Runtime's rewrite, not a copy: Gemm + Relu became one fused node.
    let op_types = |p: &Path| -> Vec<String> {
        let m = load_model(p).unwrap();
        m.graph
            .as_ref()
            .unwrap()
            .node
            .iter()
            .map(|n| n.op_type.clone())
            .collect()
    };
    let (original, optimized) = (op_types(&path), op_types(&entry));
    assert!(
        optimized.len() < original.len(),
        "original {original:?}, cached {optimized:?}"
    );

    let mut second = Decoder::load(&path, &cached(&cache)).unwrap();
    assert_eq!(
        second.graph_cache(),
        &GraphCacheStatus::Hit {
            path: entry.clone()
        }
    );
    assert_close(&outputs(&mut second), &expected);
    assert_eq!(files(&cache).len(), 2, "a hit writes nothing");
}

#[test]
fn another_model_or_another_level_misses() {
    if !common::onnxruntime() {
        return;
    }
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (four, five) = (model(a.path(), 4), model(b.path(), 5));
    let cache = a.path().join("cache");
    let first = built_path(Decoder::load(&four, &cached(&cache)).unwrap().graph_cache());
    let other_model = built_path(Decoder::load(&five, &cached(&cache)).unwrap().graph_cache());
    let extended = DecoderOptions {
        optimization: GraphOptimization::Extended,
        ..cached(&cache)
    };
    let other_level = built_path(Decoder::load(&four, &extended).unwrap().graph_cache());
    assert_ne!(first, other_model);
    assert_ne!(first, other_level);
    assert_eq!(files(&cache).len(), 6, "three entries, three sidecars");
    // Each is then hit by its own key.
    let hit = Decoder::load(&five, &cached(&cache)).unwrap();
    assert_eq!(
        hit.graph_cache(),
        &GraphCacheStatus::Hit { path: other_model }
    );
}

#[test]
fn a_damaged_entry_is_rebuilt_and_the_load_succeeds() {
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = model(dir.path(), 4);
    let expected = outputs(&mut Decoder::load(&path, &DecoderOptions::default()).unwrap());
    let cache = dir.path().join("cache");
    let entry = built_path(Decoder::load(&path, &cached(&cache)).unwrap().graph_cache());
    let sidecar = entry.with_extension("json");
    let good = std::fs::read(&entry).unwrap();

    type Damage = fn(&Path, &Path, &[u8]);
    let damages: [(&str, Damage); 4] = [
        ("truncated", |entry, _, good| {
            std::fs::write(entry, &good[..good.len() / 2]).unwrap()
        }),
        ("one byte changed", |entry, _, good| {
            let mut bad = good.to_vec();
            let mid = bad.len() / 2;
            bad[mid] ^= 0x55;
            std::fs::write(entry, bad).unwrap()
        }),
        ("sidecar not JSON", |_, sidecar, _| {
            std::fs::write(sidecar, "not json").unwrap()
        }),
        ("sidecar missing", |_, sidecar, _| {
            std::fs::remove_file(sidecar).unwrap()
        }),
    ];
    for (what, damage) in damages {
        damage(&entry, &sidecar, &good);
        let mut decoder = Decoder::load(&path, &cached(&cache))
            .unwrap_or_else(|e| panic!("{what}: the load failed: {e}"));
        match decoder.graph_cache() {
            GraphCacheStatus::Built {
                path,
                replaced: Some(reason),
            } => {
                assert_eq!(path, &entry, "{what}");
                assert!(!reason.is_empty(), "{what}");
            }
            other => panic!("{what}: expected a rebuilt entry, found {other:?}"),
        }
        assert_close(&outputs(&mut decoder), &expected);
        // Rewritten: the next load hits it.
        let again = Decoder::load(&path, &cached(&cache)).unwrap();
        assert_eq!(
            again.graph_cache(),
            &GraphCacheStatus::Hit {
                path: entry.clone()
            },
            "{what}"
        );
        assert_eq!(files(&cache).len(), 2, "{what}: no temporary files left");
    }
}

#[test]
fn concurrent_first_loads_leave_one_complete_entry() {
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = model(dir.path(), 4);
    let cache = dir.path().join("cache");
    let statuses: Vec<GraphCacheStatus> = std::thread::scope(|s| {
        let loads: Vec<_> = (0..4)
            .map(|_| s.spawn(|| Decoder::load(&path, &cached(&cache)).unwrap()))
            .collect();
        loads
            .into_iter()
            .map(|h| h.join().unwrap().graph_cache().clone())
            .collect()
    });
    for status in &statuses {
        assert!(
            matches!(
                status,
                GraphCacheStatus::Built { replaced: None, .. } | GraphCacheStatus::Hit { .. }
            ),
            "{status:?}"
        );
    }
    assert_eq!(
        files(&cache).len(),
        2,
        "one entry, one sidecar, no temporary files"
    );
    let next = Decoder::load(&path, &cached(&cache)).unwrap();
    assert!(
        matches!(next.graph_cache(), GraphCacheStatus::Hit { .. }),
        "{:?}",
        next.graph_cache()
    );
}

#[test]
fn an_unwritable_cache_directory_is_reported_and_the_load_succeeds() {
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = model(dir.path(), 4);
    // A directory below a regular file cannot be created, even by root.
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "").unwrap();
    let cache = blocker.join("cache");
    let mut decoder = Decoder::load(&path, &cached(&cache)).unwrap();
    match decoder.graph_cache() {
        GraphCacheStatus::Unavailable { dir, reason } => {
            assert_eq!(dir, &cache);
            assert!(reason.contains("cannot create"), "{reason}");
        }
        other => panic!("expected an unavailable cache, found {other:?}"),
    }
    let expected = outputs(&mut Decoder::load(&path, &DecoderOptions::default()).unwrap());
    assert_close(&outputs(&mut decoder), &expected);
}

#[test]
fn without_a_cache_directory_nothing_is_written() {
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = model(dir.path(), 4);
    let before = files(dir.path());
    let decoder = Decoder::load(&path, &DecoderOptions::default()).unwrap();
    assert_eq!(decoder.graph_cache(), &GraphCacheStatus::Off);
    assert_eq!(files(dir.path()), before);
}

/// The binary, in the project root, with every cache location pointed into `home`
/// (so that nothing reaches the real home directory).
fn neurospeak(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_neurospeak"));
    c.current_dir(common::root())
        .env("HOME", home)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("NEUROSPEAK_CACHE_DIR")
        .env("NEUROSPEAK_LOG", "warn");
    c
}

/// A tiny bundle and a 1-second recording that fits it, in `dir`.
fn bundle_and_recording(dir: &Path) -> (PathBuf, PathBuf) {
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    common::tiny_bundle(&bundle, 4, 1024.0);
    let (channels, rate, n) = (4, 1024.0, 1024);
    let rec = Recording {
        path: dir.join("rec.xdf"),
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
    };
    write_xdf(&rec.path, &rec).unwrap();
    (bundle, rec.path)
}

/// Runs `replay` with `extra` flags; returns stderr and the report.
fn replay(
    cmd: &mut Command,
    bundle: &Path,
    rec: &Path,
    extra: &[&str],
) -> (String, serde_json::Value) {
    let report = tempfile::NamedTempFile::new().unwrap();
    let out = cmd
        .arg("replay")
        .arg("--model")
        .arg(bundle)
        .arg("--input")
        .arg(rec)
        .arg("--report")
        .arg(report.path())
        .args(extra)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    let r = serde_json::from_slice(&std::fs::read(report.path()).unwrap()).unwrap();
    (err, r)
}

#[test]
fn replay_with_a_cache_dir_builds_then_hits() {
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (bundle, rec) = bundle_and_recording(dir.path());
    let cache = dir.path().join("cache");
    let cache_arg = cache.to_str().unwrap();
    let (err, r) = replay(
        &mut neurospeak(dir.path()),
        &bundle,
        &rec,
        &["--cache-dir", cache_arg],
    );
    assert!(
        err.contains("decoder: optimized graph built and cached at"),
        "{err}"
    );
    let gc = &r["model"]["graph_cache"];
    assert_eq!(gc["status"], "built", "{r}");
    let entry = gc["path"].as_str().unwrap().to_string();
    assert!(Path::new(&entry).starts_with(&cache), "{entry}");

    let (err, r) = replay(
        &mut neurospeak(dir.path()),
        &bundle,
        &rec,
        &["--cache-dir", cache_arg],
    );
    assert!(
        err.contains(&format!(
            "decoder: optimized graph loaded from cache {entry}"
        )),
        "{err}"
    );
    assert_eq!(r["model"]["graph_cache"]["status"], "hit", "{r}");
    assert_eq!(r["model"]["graph_cache"]["path"], entry.as_str());
    assert!(
        !dir.path().join(".cache/neurospeak").exists(),
        "the default directory was used despite --cache-dir"
    );
}

#[test]
fn replay_finds_the_default_cache_directory_and_no_cache_writes_nothing() {
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (bundle, rec) = bundle_and_recording(dir.path());
    let home = dir.path().join("home");
    let (env_dir, xdg) = (dir.path().join("env-cache"), dir.path().join("xdg"));

    // --no-cache: nothing anywhere, and the line says so.
    let mut cmd = neurospeak(&home);
    cmd.env("NEUROSPEAK_CACHE_DIR", &env_dir);
    let (err, r) = replay(&mut cmd, &bundle, &rec, &["--no-cache"]);
    assert!(err.contains("decoder: graph cache off"), "{err}");
    assert_eq!(r["model"]["graph_cache"]["status"], "off");
    // (ONNX Runtime itself may create HOME/.cache/Microsoft/DeveloperTools.)
    assert!(
        !env_dir.exists() && !home.join(".cache/neurospeak").exists(),
        "--no-cache wrote a cache"
    );

    // NEUROSPEAK_CACHE_DIR, then XDG_CACHE_HOME/neurospeak, then HOME/.cache/neurospeak.
    let mut cmd = neurospeak(&home);
    cmd.env("NEUROSPEAK_CACHE_DIR", &env_dir)
        .env("XDG_CACHE_HOME", &xdg);
    replay(&mut cmd, &bundle, &rec, &[]);
    assert_eq!(files(&env_dir).len(), 2);
    let mut cmd = neurospeak(&home);
    cmd.env("XDG_CACHE_HOME", &xdg);
    replay(&mut cmd, &bundle, &rec, &[]);
    assert_eq!(files(&xdg.join("neurospeak")).len(), 2);
    replay(&mut neurospeak(&home), &bundle, &rec, &[]);
    assert_eq!(files(&home.join(".cache/neurospeak")).len(), 2);
}
