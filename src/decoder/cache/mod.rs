//! The optimized-graph cache: ONNX Runtime's graph optimization (constant folding,
//! operator fusion, layout changes) runs once per model, ONNX Runtime build and CPU;
//! later starts load the saved result and skip it.
//!
//! An entry is ONNX Runtime's optimized graph saved as ONNX, keyed by [`CacheKey`].
//! Saved at level `All` it may hold layout transforms and fused kernels for this CPU
//! only (ONNX Runtime's documentation: an offline-optimized model must run with the
//! same options on compatible hardware), which is why the key holds the CPU features.
//! A hit is loaded with optimization disabled, as that documentation prescribes.
//!
//! The cache never stops a session: an unusable entry is reported, deleted and
//! rebuilt from the original model; a directory that cannot be written is reported
//! and the model is optimized at load as without a cache.

mod key;
mod store;

use std::path::{Path, PathBuf};

pub use key::{CacheKey, cpu_fingerprint};
use store::{Slot, remove_quietly};

use super::{DecoderError, GraphOptimization};

/// The environment variable naming the cache directory.
pub const CACHE_DIR_ENV: &str = "NEUROSPEAK_CACHE_DIR";

/// The default cache directory: `$NEUROSPEAK_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/neurospeak` (when absolute, as the XDG specification requires),
/// else `$HOME/.cache/neurospeak`; `None` when none of them is set.
pub fn default_cache_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var(CACHE_DIR_ENV)
        .or_else(|| {
            var("XDG_CACHE_HOME")
                .filter(|p| p.is_absolute())
                .map(|p| p.join("neurospeak"))
        })
        .or_else(|| var("HOME").map(|h| h.join(".cache").join("neurospeak")))
}

/// Where a decoder's optimized graph came from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum GraphCacheStatus {
    /// No cache was asked for: ONNX Runtime optimized the graph at load.
    Off,
    /// The optimized graph was loaded from the cache.
    Hit {
        /// The entry.
        path: PathBuf,
    },
    /// ONNX Runtime optimized the original model and the result was cached.
    Built {
        /// The new entry.
        path: PathBuf,
        /// Why an existing entry was not used, if there was one.
        #[serde(skip_serializing_if = "Option::is_none")]
        replaced: Option<String>,
    },
    /// The model is in ONNX Runtime's ORT format, optimized when it was written; the cache
    /// holds ONNX graphs only and is not used.
    OrtFormat,
    /// The cache could not be used; ONNX Runtime optimized the graph at load.
    Unavailable {
        /// The cache directory.
        dir: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl std::fmt::Display for GraphCacheStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GraphCacheStatus::Off => {
                write!(f, "decoder: graph cache off; graph optimized at load")
            }
            GraphCacheStatus::Hit { path } => write!(
                f,
                "decoder: optimized graph loaded from cache {}",
                path.display()
            ),
            GraphCacheStatus::Built {
                path,
                replaced: None,
            } => write!(
                f,
                "decoder: optimized graph built and cached at {}",
                path.display()
            ),
            GraphCacheStatus::Built {
                path,
                replaced: Some(why),
            } => write!(
                f,
                "decoder: optimized graph rebuilt and cached at {} (the cached one was unusable: {why})",
                path.display()
            ),
            GraphCacheStatus::OrtFormat => write!(
                f,
                "decoder: ORT-format model, optimized when it was written; no graph cache"
            ),
            GraphCacheStatus::Unavailable { dir, reason } => write!(
                f,
                "decoder: graph cache {} unavailable ({reason}); graph optimized at load, nothing cached",
                dir.display()
            ),
        }
    }
}

/// Builds a session (`T`) from `model` through the cache in `dir`.
///
/// `build(source, bytes, level, save_to)` creates the session from `bytes` (read
/// from `source`) at `level`, saving ONNX Runtime's optimized graph to `save_to` if
/// given. Errors of the original model are returned; errors of the cache are not.
pub(crate) fn load_through<T>(
    dir: &Path,
    model_path: &Path,
    model: &[u8],
    level: GraphOptimization,
    mut build: impl FnMut(&Path, &[u8], GraphOptimization, Option<&Path>) -> Result<T, DecoderError>,
) -> Result<(T, GraphCacheStatus), DecoderError> {
    let key = CacheKey::new(model, level);
    let slot = Slot::new(dir, &key);
    let replaced = match slot.read(&key) {
        Ok(None) => None,
        Ok(Some(entry)) => match build(&slot.entry, &entry, GraphOptimization::Disable, None) {
            Ok(session) => {
                tracing::info!(path = %slot.entry.display(), "optimized graph loaded from cache");
                let path = slot.entry.clone();
                return Ok((session, GraphCacheStatus::Hit { path }));
            }
            Err(e) => Some(format!("ONNX Runtime rejected it: {e}")),
        },
        Err(reason) => Some(reason),
    };
    if let Some(reason) = &replaced {
        tracing::warn!(
            path = %slot.entry.display(),
            "cached optimized graph is unusable: {reason}; deleting it and optimizing the original model again"
        );
        slot.remove();
    }
    let unavailable = |reason: String| {
        tracing::warn!(
            dir = %dir.display(),
            "graph cache unavailable: {reason}; optimizing at load without caching (pass --cache-dir with a writable directory, or --no-cache)"
        );
        GraphCacheStatus::Unavailable {
            dir: dir.to_path_buf(),
            reason,
        }
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        let status = unavailable(format!("cannot create the directory: {e}"));
        return Ok((build(model_path, model, level, None)?, status));
    }
    let written = slot.temp_path("onnx");
    if let Err(e) = std::fs::File::create(&written) {
        let status = unavailable(format!("cannot write in the directory: {e}"));
        return Ok((build(model_path, model, level, None)?, status));
    }
    let session = match build(model_path, model, level, Some(&written)) {
        Ok(session) => session,
        Err(e) => {
            // Saving may be what failed (a full disk); the original model decides.
            remove_quietly(&written);
            let session = build(model_path, model, level, None)?;
            let status = unavailable(format!("ONNX Runtime could not save the graph: {e}"));
            return Ok((session, status));
        }
    };
    match slot.commit(&written, &key, model_path) {
        Ok(()) => {
            tracing::info!(path = %slot.entry.display(), "optimized graph built and cached");
            let path = slot.entry.clone();
            Ok((session, GraphCacheStatus::Built { path, replaced }))
        }
        Err(e) => {
            remove_quietly(&written);
            let status = unavailable(format!("cannot store the optimized graph: {e}"));
            Ok((session, status))
        }
    }
}
