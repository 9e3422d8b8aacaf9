//! Every malformed model bundle gets its own clear error naming the problem.

mod common;

use neurospeak::bundle::{Bundle, BundleError, MANIFEST_FILE};
use neurospeak::decoder::DecoderOptions;
use neurospeak::pipeline::{Engine, EngineError};
use std::path::Path;

fn edit_manifest(dir: &Path, from: &str, to: &str) {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "manifest lacks {from:?}:\n{text}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn a_valid_bundle_loads() {
    let dir = tempfile::tempdir().unwrap();
    common::tiny_bundle(dir.path(), 4, 1024.0);
    let b = Bundle::load(dir.path()).unwrap();
    assert_eq!(b.manifest.input.channels, 4);
    assert_eq!(b.front_end_plan().feature_dim(), 12);
    assert!(b.model_bytes > 0);
}

#[test]
fn a_directory_without_manifest_is_not_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let err = Bundle::load(dir.path()).unwrap_err();
    assert!(matches!(err, BundleError::NotABundle { .. }), "{err}");
    assert!(err.to_string().contains("neurospeak.yaml"), "{err}");
    let err = Bundle::load(&dir.path().join("nope")).unwrap_err();
    assert!(err.to_string().contains("nothing at that path"), "{err}");
}

#[test]
fn a_field_out_of_range_is_named_with_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    common::tiny_bundle(dir.path(), 4, 1024.0);
    edit_manifest(dir.path(), "- 170.0", "- 700.0");
    let err = Bundle::load(dir.path()).unwrap_err();
    match &err {
        BundleError::Field { field, .. } => assert_eq!(*field, "features.band_hz"),
        other => panic!("expected a field error, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("[70, 700]") && msg.contains("high gamma"),
        "{msg}"
    );
}

#[test]
fn a_missing_field_is_a_syntax_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let m = common::tiny_bundle(dir.path(), 4, 1024.0);
    edit_manifest(
        dir.path(),
        &format!("  output_dim: {}\n", m.decoder.output_dim),
        "",
    );
    let err = Bundle::load(dir.path()).unwrap_err();
    assert!(matches!(err, BundleError::Syntax { .. }), "{err}");
    assert!(err.to_string().contains("output_dim"), "{err}");
}

#[test]
fn an_unknown_field_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    common::tiny_bundle(dir.path(), 4, 1024.0);
    edit_manifest(
        dir.path(),
        "stateful: false",
        "stateful: false\n  speed: fast",
    );
    let err = Bundle::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("speed"), "{err}");
}

#[test]
fn inconsistent_dimensions_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    common::tiny_bundle(dir.path(), 4, 1024.0);
    edit_manifest(dir.path(), "past_frames: 2", "past_frames: 3");
    let err = Bundle::load(dir.path()).unwrap_err();
    match err {
        BundleError::Field { field, .. } => assert_eq!(field, "decoder.input_dim"),
        other => panic!("expected decoder.input_dim, got {other}"),
    }
}

#[test]
fn a_missing_onnx_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    common::tiny_bundle(dir.path(), 4, 1024.0);
    std::fs::remove_file(dir.path().join("model.onnx")).unwrap();
    let err = Bundle::load(dir.path()).unwrap_err();
    assert!(matches!(err, BundleError::MissingModel { .. }), "{err}");
}

#[test]
fn a_changed_onnx_file_fails_the_hash_check() {
    let dir = tempfile::tempdir().unwrap();
    common::tiny_bundle(dir.path(), 4, 1024.0);
    std::fs::write(dir.path().join("model.onnx"), b"not a model at all").unwrap();
    let err = Bundle::load(dir.path()).unwrap_err();
    assert!(matches!(err, BundleError::HashMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("restore the original file"),
        "{err}"
    );
}

#[test]
fn a_corrupt_onnx_file_with_a_matching_hash_fails_at_load_not_at_run() {
    if !common::onnxruntime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut m = common::tiny_bundle(dir.path(), 4, 1024.0);
    let model = dir.path().join("model.onnx");
    std::fs::write(&model, b"\x08\x07garbage that is not protobuf").unwrap();
    neurospeak::train::corpus::finish_bundle(dir.path(), &mut m, &model).unwrap();
    let bundle = Bundle::load(dir.path()).unwrap();
    let err = match Engine::build(&bundle, &DecoderOptions::default()) {
        Err(e) => e,
        Ok(_) => panic!("a corrupt model built an engine"),
    };
    assert!(matches!(err, EngineError::Decoder(_)), "{err}");
    assert!(err.to_string().contains("model.onnx"), "{err}");
}

#[test]
fn bipolar_pairs_and_extra_bands_are_checked_against_the_channels_and_the_rate() {
    let dir = tempfile::tempdir().unwrap();
    common::tiny_bundle(dir.path(), 4, 1024.0);
    let field = |err: BundleError| match err {
        BundleError::Field { field, .. } => field.to_string(),
        other => panic!("expected a field error, got {other}"),
    };
    let path = dir.path().join(MANIFEST_FILE);
    let original = std::fs::read_to_string(&path).unwrap();
    let with = |from: &str, to: &str| {
        std::fs::write(&path, &original).unwrap();
        edit_manifest(dir.path(), from, to);
        Bundle::load(dir.path()).unwrap_err()
    };
    // Bipolar without pairs, pairs without bipolar, a pair beyond the channels.
    let e = with("reference: common_average", "reference: bipolar");
    assert_eq!(field(e), "features.bipolar_pairs");
    let e = with(
        "reference: common_average",
        "reference: common_average\n  bipolar_pairs: [[0, 1]]",
    );
    assert_eq!(field(e), "features.bipolar_pairs");
    let e = with(
        "reference: common_average",
        "reference: bipolar\n  bipolar_pairs: [[0, 4]]",
    );
    let msg = e.to_string();
    assert!(
        msg.contains("pair 0: [0, 4]") && msg.contains("below 4"),
        "{msg}"
    );
    // Two pairs make 2 values per frame: the 4 channels' statistics no longer fit.
    let e = with(
        "reference: common_average",
        "reference: bipolar\n  bipolar_pairs: [[0, 1], [2, 3]]",
    );
    let msg = e.to_string();
    assert!(
        msg.contains("features.normalization") && msg.contains("2 finite means"),
        "{msg}"
    );
    // A second band beyond Nyquist.
    let e = with("band_hz:", "extra_bands_hz: [[4.0, 600.0]]\n  band_hz:");
    let msg = e.to_string();
    assert!(
        msg.contains("band 0: [4, 600]") && msg.contains("512 Hz"),
        "{msg}"
    );
}

#[test]
fn a_raw_window_with_context_is_refused_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    // The tiny bundle stacks 2 past frames: a raw window has no context.
    common::tiny_bundle(dir.path(), 4, 1024.0);
    edit_manifest(dir.path(), "kind: high_gamma_log_power", "kind: raw_window");
    let err = Bundle::load(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("features.context") && msg.contains("set its length with window_ms"),
        "{msg}"
    );
    edit_manifest(dir.path(), "kind: raw_window", "kind: wavelets");
    let msg = Bundle::load(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("high_gamma_log_power or raw_window"), "{msg}");
}
