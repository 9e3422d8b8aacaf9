//! One cache entry on disk: `STEM.onnx` (the optimized graph) and `STEM.json` (the
//! sidecar: the key parts, the entry's own hash and size, where it came from).
//!
//! Writers put both files under unique temporary names in the cache directory and
//! rename them into place, the sidecar first: a reader sees a complete entry, or
//! none, or (only after a crash or a concurrent rewrite) an entry its sidecar does
//! not vouch for, which it treats as unusable.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::key::{CacheKey, SCHEMA, sha256_hex};

/// The sidecar written next to every entry.
#[derive(Debug, Serialize, Deserialize)]
struct Sidecar {
    schema: String,
    key: CacheKey,
    /// SHA-256 of the entry file, checked before every use.
    entry_sha256: String,
    entry_bytes: u64,
    /// The model file the entry was optimized from (informational).
    source_model: String,
    /// When the entry was written, in seconds since the Unix epoch.
    created_unix_s: u64,
}

/// The two files of one key in one cache directory.
pub(super) struct Slot {
    dir: PathBuf,
    stem: String,
    pub(super) entry: PathBuf,
    sidecar: PathBuf,
}

impl Slot {
    pub(super) fn new(dir: &Path, key: &CacheKey) -> Slot {
        let stem = key.file_stem();
        Slot {
            dir: dir.to_path_buf(),
            entry: dir.join(format!("{stem}.onnx")),
            sidecar: dir.join(format!("{stem}.json")),
            stem,
        }
    }

    /// Reads the entry and checks it against its sidecar. `Ok(None)`: nothing is
    /// cached for this key. `Err(reason)`: something is there but cannot be trusted.
    pub(super) fn read(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, String> {
        let bytes = match std::fs::read(&self.entry) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("it cannot be read: {e}")),
        };
        let text = std::fs::read_to_string(&self.sidecar)
            .map_err(|e| format!("its sidecar {} cannot be read: {e}", self.sidecar.display()))?;
        let sidecar: Sidecar = serde_json::from_str(&text).map_err(|e| {
            format!(
                "its sidecar {} is not a {SCHEMA} sidecar: {e}",
                self.sidecar.display()
            )
        })?;
        if sidecar.schema != SCHEMA || sidecar.key != *key {
            return Err(format!(
                "its sidecar {} describes another key",
                self.sidecar.display()
            ));
        }
        let found = sha256_hex(&bytes);
        if found != sidecar.entry_sha256 {
            return Err(format!(
                "its SHA-256 is {found} ({} bytes) but the sidecar recorded {} ({} bytes)",
                bytes.len(),
                sidecar.entry_sha256,
                sidecar.entry_bytes
            ));
        }
        Ok(Some(bytes))
    }

    /// A fresh path in the cache directory for a file being written; the name is
    /// unique to this process and call, and hidden from a plain `ls`.
    pub(super) fn temp_path(&self, extension: &str) -> PathBuf {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        self.dir.join(format!(
            ".{}.{}-{n}-{nanos}.partial.{extension}",
            self.stem,
            std::process::id()
        ))
    }

    /// Moves the graph ONNX Runtime saved at `written` into place, with its sidecar.
    pub(super) fn commit(
        &self,
        written: &Path,
        key: &CacheKey,
        source: &Path,
    ) -> std::io::Result<()> {
        let bytes = std::fs::read(written)?;
        crate::onnx::parse_model(written, &bytes).map_err(std::io::Error::other)?;
        let sidecar = Sidecar {
            schema: SCHEMA.into(),
            key: key.clone(),
            entry_sha256: sha256_hex(&bytes),
            entry_bytes: bytes.len() as u64,
            source_model: std::path::absolute(source)
                .unwrap_or_else(|_| source.to_path_buf())
                .display()
                .to_string(),
            created_unix_s: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        let text = serde_json::to_string_pretty(&sidecar).map_err(std::io::Error::other)?;
        let tmp = self.temp_path("json");
        let result = std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &self.sidecar))
            .and_then(|()| std::fs::rename(written, &self.entry));
        if result.is_err() {
            remove_quietly(&tmp);
        }
        result
    }

    /// Deletes both files; what cannot be deleted is reported and left.
    pub(super) fn remove(&self) {
        for path in [&self.entry, &self.sidecar] {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(
                    path = %path.display(),
                    "cannot delete an unusable graph-cache file: {e}; delete it by hand"
                ),
            }
        }
    }
}

/// Deletes a temporary file if it exists.
pub(super) fn remove_quietly(path: &Path) {
    let _ = std::fs::remove_file(path);
}
