//! Finding and loading the ONNX Runtime shared library.
//!
//! ONNX Runtime is loaded at run time (the `ort` crate's `load-dynamic` mode), so
//! a build never downloads anything. `scripts/setup.sh` puts the library of the
//! PyPI wheel `onnxruntime==1.31.1` into `.local/onnxruntime/`, and
//! [`locate_onnxruntime`] looks for it there.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;

/// The environment variable naming the library explicitly (also honoured by `ort`).
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";
/// Where `scripts/setup.sh` installs the library, relative to the project root.
pub const LOCAL_LIBRARY: &str = ".local/onnxruntime/libonnxruntime.so";
/// The ONNX Runtime version the project is tested with.
pub const EXPECTED_VERSION: &str = "1.31.1";

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
    /// The library exists but could not be loaded (wrong version, wrong architecture, corrupt file).
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
/// The order is: the explicit path, the `ORT_DYLIB_PATH` environment variable,
/// `.local/onnxruntime/libonnxruntime.so` under the current directory and each of
/// its ancestors, the same under the executable's ancestors (so that
/// `target/release/neurospeak` finds the project root), and finally the library
/// file next to the executable. An explicit path or `ORT_DYLIB_PATH` that does not
/// exist is an error rather than silently ignored.
pub fn locate_onnxruntime(explicit: Option<&Path>) -> Result<PathBuf, RuntimeError> {
    if let Some(path) = explicit {
        return existing(path);
    }
    if let Some(env) = std::env::var_os(ORT_DYLIB_ENV).filter(|v| !v.is_empty()) {
        return existing(Path::new(&env));
    }
    let mut searched = Vec::new();
    let cwd = std::env::current_dir().ok();
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf));
    for root in [&cwd, &exe_dir].into_iter().flatten() {
        for dir in root.ancestors() {
            let candidate = dir.join(LOCAL_LIBRARY);
            if candidate.is_file() {
                return Ok(candidate);
            }
            if !searched.contains(&candidate) {
                searched.push(candidate);
            }
        }
    }
    if let Some(dir) = &exe_dir {
        let candidate = dir.join(library_file_name());
        if candidate.is_file() {
            return Ok(candidate);
        }
        searched.push(candidate);
    }
    Err(RuntimeError::NotFound { searched })
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
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Loads ONNX Runtime once per process and returns the library path in use.
///
/// Later calls return the path chosen by the first successful call, whatever they
/// pass. A library that exists but does not load (wrong version or corrupt) gives
/// [`RuntimeError::LoadFailed`].
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
    let version = reported_version(&path).unwrap_or_else(|| version_from_path(&path));
    tracing::info!(path = %path.display(), %version, "loaded ONNX Runtime");
    let rt = RUNTIME.get_or_init(|| Runtime {
        path,
        version,
        environment,
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
/// `OrtGetApiBase()->GetVersionString()`; `ort` calls that while loading but does not
/// expose it, so it is asked again after loading. Only if that fails is it read from
/// the library's file name.
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

/// Asks the library at `path`, already loaded by `ort`, for its version string.
fn reported_version(path: &Path) -> Option<String> {
    type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
    // SAFETY: `path` is the ONNX Runtime library `ort::init_from` has just loaded, so
    // opening it again only takes another reference to the same, initialised image.
    // `OrtGetApiBase` takes no arguments and returns a pointer to a static struct
    // (checked for null); `GetVersionString` returns a static NUL-terminated string,
    // copied before the handle is dropped (`ort` keeps its own handle open).
    unsafe {
        let lib = libloading::Library::new(path).ok()?;
        let get_api_base = lib.get::<GetApiBase>(b"OrtGetApiBase").ok()?;
        let base = get_api_base();
        if base.is_null() {
            return None;
        }
        let version = ((*base).GetVersionString)();
        if version.is_null() {
            return None;
        }
        let text = std::ffi::CStr::from_ptr(version).to_str().ok()?.trim();
        (!text.is_empty()).then(|| text.to_string())
    }
}

/// Extracts the version from a library file name such as `libonnxruntime.so.1.31.1`
/// or `libonnxruntime.1.31.1.dylib`, falling back to the build-information string.
fn version_from_path(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let digits: Vec<&str> = name
        .split('.')
        .skip_while(|part| part.parse::<u32>().is_err())
        .take_while(|part| part.parse::<u32>().is_ok())
        .collect();
    if digits.len() >= 2 {
        digits.join(".")
    } else {
        format!("unknown ({})", ort::info().trim())
    }
}
