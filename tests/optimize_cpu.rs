//! The INT8 scheme and the CPU it needs: `optimize` defaults to the portable scheme,
//! records what a machine-specific one requires in the manifest
//! (`optimization.requires_cpu`), and loading refuses a bundle on a CPU without it.

mod common;

use neurospeak::bundle::cpu::{HostCpu, VNNI};
use neurospeak::bundle::manifest::OptimizationSection;
use neurospeak::bundle::{Bundle, BundleError, check_cpu, write_manifest};
use neurospeak::optimize::{
    OPTIMIZED_DIR, OptimizeError, OptimizeOptions, QuantConfig, Scheme, SchemeChoice,
    optimize_bundle, resolve_scheme,
};
use neurospeak::recording::write_xdf;
use std::path::Path;

const CHANNELS: usize = 8;
const RATE: f64 = 1000.0;

/// A tiny float bundle in `dir` and two short recordings in `data`.
fn bundle_and_recordings(dir: &Path, data: &Path) {
    common::tiny_bundle(dir, CHANNELS, RATE);
    for k in 0..2 {
        let path = data.join(format!("rec{k}.xdf"));
        write_xdf(&path, &common::recording(&path, CHANNELS, RATE, 3.0)).unwrap();
    }
}

fn optimize(
    model: &Path,
    data: &Path,
    out: &Path,
    scheme: SchemeChoice,
) -> Result<Bundle, OptimizeError> {
    let opts = OptimizeOptions {
        model_path: model.to_path_buf(),
        data_dir: data.to_path_buf(),
        output_dir: out.to_path_buf(),
        config: QuantConfig {
            scheme,
            // A random decoder and no paired speech: the guard compares INT8 with float
            // outputs, which is not what these tests are about.
            tolerance_r: 0.5,
            timing_runs: 0,
            ..QuantConfig::default()
        },
        to_onnx: false,
        workers: 1,
        command: "test".into(),
        progress: false,
    };
    let report = optimize_bundle(&opts, &mut |_| {})?;
    let bundle = Bundle::load(&out.join(OPTIMIZED_DIR)).expect("the optimized bundle loads here");
    let o = bundle
        .manifest
        .optimization
        .as_ref()
        .expect("optimization is recorded");
    assert_eq!(o.scheme, report.scheme.scheme.name());
    assert_eq!(o.requires_cpu, report.scheme.requires_cpu);
    assert_eq!(report.scheme.portable, o.requires_cpu.is_empty());
    assert_eq!(o.mode, "static");
    Ok(bundle)
}

#[test]
fn the_default_scheme_is_portable_and_a_machine_specific_one_records_its_requirement() {
    assert_eq!(QuantConfig::default().scheme, SchemeChoice::Portable);
    if !common::onnxruntime() {
        return;
    }
    let (model, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    bundle_and_recordings(model.path(), data.path());

    let out = tempfile::tempdir().unwrap();
    let b = optimize(
        model.path(),
        data.path(),
        out.path(),
        SchemeChoice::default(),
    )
    .unwrap();
    let o = b.manifest.optimization.unwrap();
    assert_eq!(o.scheme, "u8s8_reduce_range");
    assert!(o.requires_cpu.is_empty(), "{o:?}");

    // `auto` picks by this CPU; on a VNNI machine that is u8s8, which then requires VNNI.
    let host = HostCpu::this();
    let out = tempfile::tempdir().unwrap();
    let b = optimize(model.path(), data.path(), out.path(), SchemeChoice::Auto).unwrap();
    let o = b.manifest.optimization.unwrap();
    if host.vnni || !host.x86_64 {
        assert_eq!(o.scheme, "u8s8");
        assert_eq!(o.requires_cpu, [VNNI]);
    } else {
        assert_eq!(o.scheme, "u8s8_reduce_range");
        assert!(o.requires_cpu.is_empty());
    }

    // Asked for explicitly, u8s8 requires VNNI; without it here, optimize refuses to check it.
    let out = tempfile::tempdir().unwrap();
    match optimize(model.path(), data.path(), out.path(), SchemeChoice::U8s8) {
        Ok(b) => {
            assert!(host.satisfies(VNNI));
            assert_eq!(b.manifest.optimization.unwrap().requires_cpu, [VNNI]);
        }
        Err(e) => {
            assert!(!host.satisfies(VNNI), "{e}");
            assert!(e.to_string().contains("scheme: portable"), "{e}");
        }
    }
}

#[test]
fn every_scheme_states_what_it_requires() {
    assert_eq!(Scheme::U8S8.requires_cpu(), [VNNI]);
    assert!(Scheme::U8S8ReduceRange.requires_cpu().is_empty());
    assert!(Scheme::U8U8.requires_cpu().is_empty());
    let portable = resolve_scheme(SchemeChoice::Portable);
    assert_eq!(portable.scheme, Scheme::U8S8ReduceRange);
    assert!(portable.portable && portable.requires_cpu.is_empty());
    assert!(portable.reason.contains("portable"), "{}", portable.reason);
}

/// A tiny bundle whose manifest says it needs `requires_cpu`.
fn bundle_requiring(dir: &Path, requires_cpu: &[&str]) -> neurospeak::bundle::Manifest {
    let mut m = common::tiny_bundle(dir, CHANNELS, RATE);
    m.provenance.parent = Some("models/float".into());
    m.optimization = Some(OptimizationSection {
        mode: "static".into(),
        scheme: "u8s8".into(),
        requires_cpu: requires_cpu.iter().map(|s| s.to_string()).collect(),
    });
    write_manifest(dir, &m).unwrap();
    m
}

#[test]
fn a_bundle_requiring_vnni_is_refused_on_a_cpu_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let m = bundle_requiring(dir.path(), &[VNNI]);
    let host = HostCpu::this();
    match Bundle::load(dir.path()) {
        Ok(b) => {
            assert!(host.satisfies(VNNI), "loaded on a CPU without VNNI");
            assert_eq!(b.manifest.optimization, m.optimization);
        }
        Err(e) => {
            assert!(!host.satisfies(VNNI), "{e}");
            assert!(matches!(e, BundleError::CpuRequirement { .. }), "{e}");
        }
    }

    let path = dir.path().join("neurospeak.yaml");
    let no_vnni = HostCpu {
        x86_64: true,
        vnni: false,
    };
    let err = check_cpu(&m, &path, &no_vnni).expect_err("x86-64 without VNNI is refused");
    let text = err.to_string();
    for part in [
        "vnni (AVX512-VNNI or AVX-VNNI on x86-64)",
        "scheme u8s8",
        "saturate",
        "scheme: portable",
        "models/float",
    ] {
        assert!(text.contains(part), "{part} missing from: {text}");
    }
    for ok in [
        HostCpu {
            x86_64: true,
            vnni: true,
        },
        HostCpu {
            x86_64: false,
            vnni: false,
        },
    ] {
        check_cpu(&m, &path, &ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
    }
    let portable = bundle_requiring(dir.path(), &[]);
    check_cpu(&portable, &path, &no_vnni).expect("a portable bundle loads anywhere");
}

#[test]
fn an_unknown_cpu_requirement_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    bundle_requiring(dir.path(), &["avx10_2"]);
    let err = Bundle::load(dir.path()).expect_err("an unknown feature cannot be checked");
    let text = err.to_string();
    assert!(
        matches!(
            err,
            BundleError::Field {
                field: "optimization.requires_cpu",
                ..
            }
        ),
        "{text}"
    );
    assert!(text.contains("avx10_2") && text.contains("vnni"), "{text}");
}
