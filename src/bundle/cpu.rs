//! CPU features a bundle's decoder may require (`optimization.requires_cpu`), and the
//! check of this machine against them when a bundle loads.
//!
//! An INT8 decoder with full-range signed 8-bit weights (scheme `u8s8`) is exact only where
//! ONNX Runtime's u8 x s8 kernel accumulates in 32 bits: on x86-64 that is the VNNI
//! instruction `vpdpbusd` (AVX512-VNNI or AVX-VNNI). Without VNNI, the AVX2 kernel
//! (`vpmaddubsw`) adds pairs of products in 16 bits and saturates, so the decoder's
//! outputs can differ from the ones `optimize` checked. Other architectures' integer
//! dot-product kernels do not saturate.

/// On x86-64, AVX512-VNNI or AVX-VNNI; nothing elsewhere.
pub const VNNI: &str = "vnni";

/// Every feature name this build can check.
pub const KNOWN_FEATURES: [&str; 1] = [VNNI];

/// Whether this CPU has VNNI dot-product instructions (AVX512-VNNI or AVX-VNNI).
pub fn cpu_has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512vnni")
            || std::arch::is_x86_feature_detected!("avxvnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// What a machine offers, as far as bundle requirements go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostCpu {
    /// Whether the machine is x86-64 (the only architecture where `vnni` matters).
    pub x86_64: bool,
    /// Whether it has AVX512-VNNI or AVX-VNNI.
    pub vnni: bool,
}

impl HostCpu {
    /// This machine.
    pub fn this() -> HostCpu {
        HostCpu {
            x86_64: cfg!(target_arch = "x86_64"),
            vnni: cpu_has_vnni(),
        }
    }

    /// Whether the machine satisfies `feature` (one of [`KNOWN_FEATURES`]).
    pub fn satisfies(&self, feature: &str) -> bool {
        match feature {
            VNNI => !self.x86_64 || self.vnni,
            _ => false,
        }
    }
}

/// The features in `required` this machine does not satisfy, in order.
pub fn unmet<'a>(required: &'a [String], host: &HostCpu) -> Vec<&'a str> {
    required
        .iter()
        .map(String::as_str)
        .filter(|f| !host.satisfies(f))
        .collect()
}
