//! Flags shared by every command that touches LSL.

use clap::Args;
use std::path::PathBuf;

use crate::live::lsl_config::{self, EffectiveConfig};

/// Which liblsl configuration to use.
#[derive(Args, Debug, Clone)]
pub struct LslArgs {
    /// liblsl configuration file (sets LSLAPICFG after checking the file exists).
    #[arg(long, value_name = "FILE", conflicts_with = "lsl_local")]
    pub lsl_config: Option<PathBuf>,
    /// Keep LSL on this machine: use the shipped configs/lsl_loopback.cfg
    /// (machine scope, 127.0.0.1 only).
    #[arg(long)]
    pub lsl_local: bool,
}

impl LslArgs {
    /// Installs the configuration; must run before liblsl is first used.
    pub fn install(&self) -> anyhow::Result<EffectiveConfig> {
        let c = lsl_config::install(self.lsl_config.as_deref(), self.lsl_local)?;
        tracing::info!(
            "LSL configuration: {} (ResolveScope = {})",
            c.file
                .as_ref()
                .map_or("liblsl defaults".to_string(), |p| p.display().to_string()),
            c.resolve_scope
        );
        Ok(c)
    }
}

/// Registers Ctrl-C and SIGTERM to set the returned flag.
pub fn stop_on_signals() -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    Ok(stop)
}
