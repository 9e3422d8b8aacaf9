//! What an optimized graph depends on: the model's bytes, the ONNX Runtime that
//! optimized it, the CPU it was optimized for and the optimization level.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::decoder::GraphOptimization;
use crate::decoder::runtime;

/// Bumped when the entry format or the meaning of a key part changes.
pub(super) const SCHEMA: &str = "neurospeak.graph_cache/1";

/// Every part an optimized graph depends on; two loads share a cache entry only
/// when all parts are equal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheKey {
    /// SHA-256 of the original ONNX file, as lowercase hex.
    pub model_sha256: String,
    /// The version the loaded ONNX Runtime library reports.
    pub onnxruntime_version: String,
    /// ONNX Runtime's build-information string (git commit, build type).
    pub onnxruntime_build: String,
    /// The architecture and the CPU features ONNX Runtime's kernels and layout
    /// choices depend on, e.g. `x86_64: avx avx2 fma`.
    pub cpu: String,
    /// The level the graph was optimized at.
    pub optimization: GraphOptimization,
    /// The format of the saved graph (`onnx`).
    pub format: String,
}

impl CacheKey {
    /// The key of `model` (the original ONNX bytes) optimized at `optimization` by the
    /// ONNX Runtime loaded in this process, on this CPU.
    pub fn new(model: &[u8], optimization: GraphOptimization) -> CacheKey {
        CacheKey {
            model_sha256: sha256_hex(model),
            onnxruntime_version: runtime::onnxruntime_version(),
            onnxruntime_build: runtime::onnxruntime_build_info(),
            cpu: cpu_fingerprint(),
            optimization,
            format: "onnx".into(),
        }
    }

    /// The file name of the entry without its extension: the first 12 hex digits of
    /// the model's hash (entries of one model sort together), then 16 of the hash of
    /// every key part.
    pub fn file_stem(&self) -> String {
        let parts = serde_json::to_string(self).expect("a key serializes");
        let all = sha256_hex(format!("{SCHEMA}\n{parts}").as_bytes());
        let model = self.model_sha256.get(..12).unwrap_or(&self.model_sha256);
        format!("{model}-{}", &all[..16])
    }
}

/// SHA-256 as lowercase hex.
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The architecture and the detected CPU features that change what ONNX Runtime's
/// optimizer produces (layout transforms pick block sizes by vector width) or which
/// kernels a saved graph assumes.
pub fn cpu_fingerprint() -> String {
    let features = detected_features();
    if features.is_empty() {
        std::env::consts::ARCH.to_string()
    } else {
        format!("{}: {}", std::env::consts::ARCH, features.join(" "))
    }
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
fn detected_features() -> Vec<&'static str> {
    let mut found = Vec::new();
    macro_rules! check {
        ($($name:tt),*) => {
            $(if std::arch::is_x86_feature_detected!($name) {
                found.push($name);
            })*
        };
    }
    check!(
        "sse4.1",
        "sse4.2",
        "avx",
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512bw",
        "avx512vl",
        "avx512vnni",
        "avx512bf16",
        "avxvnni"
    );
    found
}

#[cfg(target_arch = "aarch64")]
fn detected_features() -> Vec<&'static str> {
    let mut found = Vec::new();
    macro_rules! check {
        ($($name:tt),*) => {
            $(if std::arch::is_aarch64_feature_detected!($name) {
                found.push($name);
            })*
        };
    }
    check!("neon", "fp16", "dotprod", "i8mm", "bf16", "sve", "sve2");
    found
}

#[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
fn detected_features() -> Vec<&'static str> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_part_changes_the_file_name() {
        let base = CacheKey {
            model_sha256: "ab".repeat(32),
            onnxruntime_version: "1.31.1".into(),
            onnxruntime_build: "git-commit-id=6af1a93".into(),
            cpu: "x86_64: avx avx2".into(),
            optimization: GraphOptimization::All,
            format: "onnx".into(),
        };
        let stem = base.file_stem();
        assert!(stem.starts_with("abababababab-"), "{stem}");
        let variants = [
            CacheKey {
                model_sha256: "cd".repeat(32),
                ..base.clone()
            },
            CacheKey {
                onnxruntime_version: "1.31.2".into(),
                ..base.clone()
            },
            CacheKey {
                onnxruntime_build: "git-commit-id=0000000".into(),
                ..base.clone()
            },
            CacheKey {
                cpu: "x86_64: avx avx2 avx512f".into(),
                ..base.clone()
            },
            CacheKey {
                optimization: GraphOptimization::Extended,
                ..base.clone()
            },
        ];
        for v in variants {
            assert_ne!(v.file_stem(), stem, "{v:?}");
        }
        assert_eq!(base.clone().file_stem(), stem);
    }

    #[test]
    fn the_cpu_fingerprint_names_the_architecture() {
        assert!(cpu_fingerprint().starts_with(std::env::consts::ARCH));
    }
}
