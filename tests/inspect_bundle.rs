//! `neurospeak inspect` on a bundle checks what it prints, as `replay` does before
//! decoding: the hash, then the ONNX graph's input and output against the manifest.

mod common;

use neurospeak::bundle::{MANIFEST_FILE, sha256_file};
use std::path::Path;
use std::process::{Command, Output};

fn inspect(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neurospeak"))
        .arg("inspect")
        .arg(dir)
        .output()
        .expect("the binary runs")
}

/// Replaces the bundle's model file and records the new file's hash in the manifest,
/// so only a check of the model itself can find what is wrong.
fn replace_model(dir: &Path, bytes: &[u8]) {
    let model = dir.join("model.onnx");
    let old = sha256_file(&model).unwrap();
    std::fs::write(&model, bytes).unwrap();
    let new = sha256_file(&model).unwrap();
    let manifest = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains(&old), "the manifest records {old}");
    std::fs::write(&manifest, text.replace(&old, &new)).unwrap();
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_valid_bundle_is_checked_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    common::tiny_bundle(dir.path(), 4, 1024.0);
    let out = inspect(dir.path());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    // 4 channels x (1 + 2 past frames) = 12 features in; 40 mels out.
    assert!(
        stdout.contains("[batch, 12] → log_mel [batch, 40]"),
        "{stdout}"
    );
    assert!(stdout.contains("check      ok"), "{stdout}");
    // 12 x 16 + 16 + 16 x 40 + 40 parameters, counted in the file.
    assert!(stdout.contains("888 parameters"), "{stdout}");
}

#[test]
fn a_truncated_model_with_a_matching_hash_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    common::tiny_bundle(dir.path(), 4, 1024.0);
    let bytes = std::fs::read(dir.path().join("model.onnx")).unwrap();
    replace_model(dir.path(), &bytes[..bytes.len() / 2]);
    let out = inspect(dir.path());
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "inspect accepted a truncated model:\n{stdout}"
    );
    assert!(stderr.contains("could not be decoded"), "{stderr}");
    assert!(stderr.contains("truncated or corrupt"), "{stderr}");
    assert!(!stdout.contains("check      ok"), "{stdout}");
}

#[test]
fn a_model_of_another_shape_is_refused_naming_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    common::tiny_bundle(dir.path(), 4, 1024.0);
    // 8 channels: 24 features in.
    common::tiny_bundle(other.path(), 8, 1024.0);
    let bytes = std::fs::read(other.path().join("model.onnx")).unwrap();
    replace_model(dir.path(), &bytes);
    let out = inspect(dir.path());
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "inspect accepted a wrong-shaped model:\n{stdout}"
    );
    assert!(
        stderr.contains("takes 24 inputs and gives 40 outputs")
            && stderr.contains("says 12 (`decoder.input_dim`) and 40"),
        "{stderr}"
    );
}

#[test]
fn a_model_that_is_not_a_decoder_is_refused_naming_its_signature() {
    let dir = tempfile::tempdir().unwrap();
    common::tiny_bundle(dir.path(), 4, 1024.0);
    // The same graph with its input declared as rank 3.
    let mut model = neurospeak::onnx::load_model(&dir.path().join("model.onnx")).unwrap();
    let graph = model.graph.as_mut().unwrap();
    let input = graph
        .input
        .iter_mut()
        .find(|i| i.name == "features")
        .unwrap();
    let tensor = match input.type_.as_mut().unwrap().value.as_mut().unwrap() {
        onnx_protobuf::type_proto::Value::TensorType(t) => t,
        _ => panic!("the input is a tensor"),
    };
    let extra = tensor.shape.as_ref().unwrap().dim[1].clone();
    tensor.shape.as_mut().unwrap().dim.push(extra);
    let tmp = dir.path().join("rank3.onnx");
    neurospeak::onnx::save_model(&model, &tmp).unwrap();
    let bytes = std::fs::read(&tmp).unwrap();
    replace_model(dir.path(), &bytes);
    let out = inspect(dir.path());
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("input `features` is a float32 tensor of shape [batch, 12, 12]"),
        "{stderr}"
    );
}
