//! Which ONNX Runtime library the binary loads: never one planted under the current
//! directory, and never one of another release series. The stand-in libraries are
//! compiled from `tests/fixtures/fake_onnxruntime.c` by the system C compiler.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Compiles the stand-in library reporting `version` into `dir/libonnxruntime.so`.
fn fake_library(dir: &Path, version: &str) -> Option<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let out = dir.join("libonnxruntime.so");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake_onnxruntime.c");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&out)
        .arg(format!("-DFAKE_VERSION=\"{version}\""))
        .arg(&source)
        .status();
    match status {
        Ok(s) if s.success() => Some(out),
        other => {
            common::skip(&format!(
                "cannot compile the stand-in library with `cc` ({other:?})"
            ));
            None
        }
    }
}

/// Runs `neurospeak replay` (which loads ONNX Runtime before anything else) in `cwd`.
fn replay(cwd: &Path, ort_lib: Option<&Path>, marker: &Path) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_neurospeak"));
    c.current_dir(cwd)
        .env_remove("ORT_DYLIB_PATH")
        .env("FAKE_ORT_MARKER", marker)
        .env("NEUROSPEAK_CACHE_DIR", cwd.join("cache"));
    if let Some(lib) = ort_lib {
        c.arg("--ort-lib").arg(lib);
    }
    c.args([
        "replay",
        "--model",
        "no-such-bundle",
        "--input",
        "no-such.xdf",
    ]);
    c.output().expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_library_planted_in_a_parent_of_the_current_directory_is_not_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    // Reports the expected version, so only where it was found can keep it out.
    let Some(planted) = fake_library(&tmp.path().join(".local/onnxruntime"), "1.31.1") else {
        return;
    };
    let cwd = tmp.path().join("a/b");
    std::fs::create_dir_all(&cwd).unwrap();
    let marker = tmp.path().join("planted-was-loaded");

    let out = replay(&cwd, None, &marker);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        !marker.exists(),
        "the library planted at {} was loaded from a parent of the current directory:\n{err}",
        planted.display()
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains(&planted.display().to_string()), "{err}");

    // Control: named explicitly, the same library is loaded (its marker appears) and
    // refused with a clear error, so the marker does show a load when there is one.
    let out = replay(&cwd, Some(&planted), &marker);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(marker.exists(), "the stand-in library did not run: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("does not provide C API version"), "{err}");
}

#[test]
fn a_library_of_another_release_is_refused_naming_both_versions() {
    let tmp = tempfile::tempdir().unwrap();
    for version in ["1.30.0", "1.99.0", "1.0.0"] {
        let Some(lib) = fake_library(&tmp.path().join(version), version) else {
            return;
        };
        let marker = tmp.path().join(format!("{version}.loaded"));
        let out = replay(tmp.path(), Some(&lib), &marker);
        let err = stderr(&out);
        assert!(!out.status.success(), "{version}: {err}");
        assert!(!err.contains("panicked"), "{version}: {err}");
        assert!(
            err.contains(&format!(
                "is version {version}, but this build needs 1.31.x"
            )),
            "{version}: {err}"
        );
        assert!(err.contains("onnxruntime==1.31.1"), "{version}: {err}");
        assert!(err.contains("--ort-lib"), "{version}: {err}");
    }
}

#[test]
fn a_library_named_by_ort_dylib_path_is_used_and_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(lib) = fake_library(&tmp.path().join("lib"), "1.32.0") else {
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_neurospeak"))
        .current_dir(tmp.path())
        .env("ORT_DYLIB_PATH", &lib)
        .env("NEUROSPEAK_CACHE_DIR", tmp.path().join("cache"))
        .args(["replay", "--model", "x", "--input", "y.xdf"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("is version 1.32.0"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
