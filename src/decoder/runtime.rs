//! Finding and loading the ONNX Runtime shared library.
//!
//! ONNX Runtime is loaded at run time (the `ort` crate's `load-dynamic` mode), so
//! a build never downloads anything. `scripts/setup.sh` puts the library of the
//! PyPI wheel `onnxruntime==1.31.1` into `.local/onnxruntime/`, and
//! [`locate_onnxruntime`] looks for it there.
//!
//! Loading a shared library runs its code, so the library is looked for only where
//! the user said (`--ort-lib`, `ORT_DYLIB_PATH`) or where the installation put it
//! (next to the executable, or in the project tree the executable belongs to), never
//! under the current directory. Before `ort` sees it, the library is asked for its
//! version, and anything but 1.31.x is refused.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;

/// The environment variable naming the library explicitly (also honoured by `ort`).
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";
/// Where `scripts/setup.sh` installs the library, relative to the project root.
pub const LOCAL_LIBRARY: &str = ".local/onnxruntime/libonnxruntime.so";
/// The ONNX Runtime version the project is tested with.
pub const EXPECTED_VERSION: &str = "1.31.1";
/// The release series accepted at load (`major.minor`): patch releases only fix bugs.
pub const EXPECTED_SERIES: &str = "1.31";

/// What to do when the library cannot be found or loaded.
const FIX: &str = "run scripts/setup.sh (installs onnxruntime==1.31.1 into .local/onnxruntime) or pass --ort-lib PATH / set ORT_DYLIB_PATH";

/// Errors raised while finding or loading ONNX Runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No candidate path held the library.
    #[error("ONNX Runtime library not found: expected libonnxruntime.so, looked in:\n{}\n{FIX}", list(.searched))]
    NotFound {
        /// Every path that was checked, in order.
        searched: Vec<PathBuf>,
    },
    /// The library exists but could not be loaded (wrong architecture, corrupt file, not ONNX Runtime).
    #[error(
        "ONNX Runtime library `{path}` exists but could not be loaded: {reason}; expected onnxruntime {EXPECTED_VERSION} \
         for this platform; {FIX}"
    )]
    LoadFailed {
        /// The library that failed to load.
        path: PathBuf,
        /// The loader's explanation.
        reason: String,
    },
    /// The library is ONNX Runtime, but not the release series this build is tested with.
    #[error(
        "ONNX Runtime library `{path}` is version {found}, but this build needs {EXPECTED_SERIES}.x \
         (tested with {EXPECTED_VERSION}); install onnxruntime=={EXPECTED_VERSION} (scripts/setup.sh puts it \
         into .local/onnxruntime) or pass --ort-lib PATH / set ORT_DYLIB_PATH to a {EXPECTED_SERIES} library"
    )]
    WrongVersion {
        /// The library that was refused.
        path: PathBuf,
        /// The version it reports.
        found: String,
    },
    /// The library loaded but the runtime environment could not be created.
    #[error(
        "ONNX Runtime loaded from `{path}` but its environment could not be created: {reason}; {FIX}"
    )]
    Environment {
        /// The library in use.
        path: PathBuf,
        /// ONNX Runtime's explanation.
        reason: String,
    },
}

/// Formats the searched paths one per line.
fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| format!("  - {}", p.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Finds the ONNX Runtime shared library.
///
/// The order is: the explicit path, the `ORT_DYLIB_PATH` environment variable, then
/// the places an installation puts it ([`installed_candidates`]): the library file
/// next to the executable, `.local/onnxruntime/libonnxruntime.so` in the project
/// tree holding the executable (`ROOT/target/PROFILE/neurospeak`, or `deps/` and
/// `examples/` below it), and the same in the source tree the binary was built from.
/// The current directory and its parents are never searched: a library planted
/// there would run its code in this process. An explicit path or `ORT_DYLIB_PATH`
/// that does not exist is an error rather than silently ignored.
pub fn locate_onnxruntime(explicit: Option<&Path>) -> Result<PathBuf, RuntimeError> {
    if let Some(path) = explicit {
        return existing(path);
    }
    if let Some(env) = std::env::var_os(ORT_DYLIB_ENV).filter(|v| !v.is_empty()) {
        return existing(Path::new(&env));
    }
    let exe = std::env::current_exe().ok();
    let searched = installed_candidates(exe.as_deref());
    match searched.iter().find(|c| c.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(RuntimeError::NotFound { searched }),
    }
}

/// The places an installation puts the library, in search order, for the executable `exe`.
///
/// 1. `DIR/libonnxruntime.so` where `DIR` holds the executable;
/// 2. `ROOT/.local/onnxruntime/libonnxruntime.so` when the executable sits in a cargo
///    target directory `ROOT/target/PROFILE/` (or its `deps/` or `examples/`);
/// 3. `.local/onnxruntime/libonnxruntime.so` in the source tree this binary was built
///    from (`CARGO_MANIFEST_DIR` at build time).
///
/// None of them depends on the current directory.
pub fn installed_candidates(exe: Option<&Path>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut push = |p: PathBuf| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    if let Some(dir) = exe.and_then(Path::parent) {
        push(dir.join(library_file_name()));
        if let Some(root) = cargo_project_root(dir) {
            push(root.join(LOCAL_LIBRARY));
        }
    }
    push(Path::new(env!("CARGO_MANIFEST_DIR")).join(LOCAL_LIBRARY));
    out
}

/// The project root of an executable directory laid out by cargo:
/// `ROOT/target/PROFILE`, `ROOT/target/PROFILE/deps` or `ROOT/target/PROFILE/examples`.
fn cargo_project_root(exe_dir: &Path) -> Option<&Path> {
    let profile = match exe_dir.file_name()?.to_str()? {
        "deps" | "examples" => exe_dir.parent()?,
        _ => exe_dir,
    };
    let target = profile.parent()?;
    (target.file_name()? == "target").then_some(())?;
    target.parent()
}

/// Returns the path if it is a file, or a [`RuntimeError::NotFound`] naming it.
fn existing(path: &Path) -> Result<PathBuf, RuntimeError> {
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(RuntimeError::NotFound {
            searched: vec![path.to_path_buf()],
        })
    }
}

/// The platform's file name for the library (`libonnxruntime.so` on Linux).
fn library_file_name() -> String {
    format!(
        "{}onnxruntime{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// The loaded library and the process-wide ONNX Runtime environment.
struct Runtime {
    path: PathBuf,
    /// The version the library reports (`OrtGetApiBase()->GetVersionString()`).
    version: String,
    environment: Environment,
    /// The handle opened for the version check, kept so the checked image stays loaded.
    _library: libloading::Library,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Loads ONNX Runtime once per process and returns the library path in use.
///
/// Later calls return the path chosen by the first successful call, whatever they
/// pass. The library is asked for its version before `ort` initialises it: anything
/// but [`EXPECTED_SERIES`] gives [`RuntimeError::WrongVersion`], a file that does not
/// load or is not ONNX Runtime [`RuntimeError::LoadFailed`].
pub fn init_onnxruntime(explicit: Option<&Path>) -> Result<PathBuf, RuntimeError> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt.path.clone());
    }
    let _guard = INIT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt.path.clone());
    }
    let path = locate_onnxruntime(explicit)?;
    let path = path.canonicalize().unwrap_or(path);
    let (library, version) = checked_library(&path)?;
    let builder = ort::init_from(&path).map_err(|e| RuntimeError::LoadFailed {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let environment = builder
        .with_name("neurospeak")
        .with_telemetry(false)
        .build()
        .map_err(|e| RuntimeError::Environment {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    tracing::info!(path = %path.display(), %version, "loaded ONNX Runtime");
    let rt = RUNTIME.get_or_init(|| Runtime {
        path,
        version,
        environment,
        _library: library,
    });
    Ok(rt.path.clone())
}

/// Returns the process-wide environment, initialising ONNX Runtime with the default search if needed.
pub(crate) fn environment() -> Result<&'static Environment, RuntimeError> {
    init_onnxruntime(None)?;
    Ok(&RUNTIME.get().expect("initialised above").environment)
}

/// Returns the version of the loaded ONNX Runtime (for example `"1.31.1"`), or
/// `"not loaded"` before [`init_onnxruntime`] succeeded.
///
/// The version is the one the library itself reports through
/// `OrtGetApiBase()->GetVersionString()`, asked before `ort` initialises it.
pub fn onnxruntime_version() -> String {
    match RUNTIME.get() {
        None => "not loaded".into(),
        Some(rt) => rt.version.clone(),
    }
}

/// Returns ONNX Runtime's build-information string (git commit, build type), or
/// `"not loaded"` before [`init_onnxruntime`] succeeded.
pub fn onnxruntime_build_info() -> String {
    match RUNTIME.get() {
        None => "not loaded".into(),
        Some(_) => ort::info().trim().to_string(),
    }
}

/// Whether a version string belongs to [`EXPECTED_SERIES`] (`1.31`, `1.31.0`, `1.31.1`, ...).
pub fn version_supported(version: &str) -> bool {
    let mut parts = version.trim().split('.');
    let series: Vec<&str> = EXPECTED_SERIES.split('.').collect();
    series.iter().all(|want| parts.next() == Some(want))
        && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Opens the library at `path`, asks it for its version and for the C API `ort` uses,
/// and refuses anything but [`EXPECTED_SERIES`].
fn checked_library(path: &Path) -> Result<(libloading::Library, String), RuntimeError> {
    type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
    let failed = |reason: String| RuntimeError::LoadFailed {
        path: path.to_path_buf(),
        reason,
    };
    // SAFETY: opening a shared library runs its initialisers; `path` is one the user
    // named or the installation's own (see `locate_onnxruntime`), never one found by
    // walking the current directory.
    let library = unsafe { libloading::Library::new(path) }.map_err(|e| failed(e.to_string()))?;
    // SAFETY: `OrtGetApiBase` is declared by ONNX Runtime's C API as taking no
    // arguments and returning a pointer to a static `OrtApiBase` (checked for null).
    // `GetVersionString` returns a static NUL-terminated string, copied at once;
    // `GetApi` returns a pointer to a static table or null. The handle outlives the calls.
    let version = unsafe {
        let get_api_base = library.get::<GetApiBase>(b"OrtGetApiBase").map_err(|_| {
            failed("it does not export `OrtGetApiBase`, so it is not ONNX Runtime".into())
        })?;
        let base = get_api_base();
        if base.is_null() {
            return Err(failed("`OrtGetApiBase()` returned null".into()));
        }
        let text = ((*base).GetVersionString)();
        if text.is_null() {
            return Err(failed("`GetVersionString()` returned null".into()));
        }
        let version = std::ffi::CStr::from_ptr(text)
            .to_string_lossy()
            .trim()
            .to_string();
        if !version_supported(&version) {
            return Err(RuntimeError::WrongVersion {
                path: path.to_path_buf(),
                found: version,
            });
        }
        if ((*base).GetApi)(ort::sys::ORT_API_VERSION).is_null() {
            return Err(failed(format!(
                "it reports version {version} but does not provide C API version {}",
                ort::sys::ORT_API_VERSION
            )));
        }
        version
    };
    Ok((library, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_tested_series_is_supported() {
        for ok in ["1.31", "1.31.0", "1.31.1", " 1.31.12 "] {
            assert!(version_supported(ok), "{ok}");
        }
        for bad in [
            "1.30.0", "1.32.0", "1.3.1", "2.31.0", "1.310.0", "1.31.x", "", "1.31.",
        ] {
            assert!(!version_supported(bad), "{bad}");
        }
    }

    #[test]
    fn installed_candidates_ignore_the_current_directory() {
        let exe = Path::new("/opt/ns/target/release/deps/neurospeak-0123");
        let found = installed_candidates(Some(exe));
        assert_eq!(
            found[0],
            Path::new("/opt/ns/target/release/deps").join(library_file_name())
        );
        assert_eq!(found[1], Path::new("/opt/ns").join(LOCAL_LIBRARY));
        assert_eq!(
            found.last().unwrap(),
            &Path::new(env!("CARGO_MANIFEST_DIR")).join(LOCAL_LIBRARY)
        );
        let cwd = std::env::current_dir().unwrap();
        for dir in cwd.ancestors() {
            let planted = dir.join(LOCAL_LIBRARY);
            if planted != Path::new(env!("CARGO_MANIFEST_DIR")).join(LOCAL_LIBRARY) {
                assert!(!found.contains(&planted), "{}", planted.display());
            }
        }
        let plain = installed_candidates(Some(Path::new("/usr/local/bin/neurospeak")));
        assert_eq!(plain.len(), 2, "{plain:?}");
    }
}
