//! Flags of the optimized-graph cache, shared by `replay` and `run`.

use clap::Args;
use std::path::PathBuf;

use crate::decoder::cache::{CACHE_DIR_ENV, default_cache_dir};
use crate::pipeline::Engine;

/// Where ONNX Runtime's optimized decoder graphs are kept between starts.
#[derive(Args, Debug, Clone)]
pub struct CacheArgs {
    /// Directory of the optimized-graph cache (default: $NEUROSPEAK_CACHE_DIR, else
    /// $XDG_CACHE_HOME/neurospeak, else ~/.cache/neurospeak).
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,
    /// Optimize the decoder graph at load and neither read nor write the cache.
    #[arg(long)]
    pub no_cache: bool,
}

impl CacheArgs {
    /// The cache directory to use, or `None` for no cache.
    pub fn dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        let dir = self.cache_dir.clone().or_else(default_cache_dir);
        if dir.is_none() {
            tracing::warn!(
                "no directory for the optimized-graph cache: none of --cache-dir, {CACHE_DIR_ENV}, \
                 XDG_CACHE_HOME or HOME is set; optimizing at load without caching"
            );
        }
        dir
    }
}

/// Prints where the decoder's optimized graph came from, one line on stderr.
pub fn announce(engine: &Engine) {
    eprintln!("{}", engine.graph_cache());
}
