//! Which liblsl configuration file a process uses, chosen before liblsl is
//! first called.
//!
//! liblsl reads the file named by `LSLAPICFG` once, at its first use, and
//! silently falls back to its default `site` scope (UDP broadcast and
//! multicast beyond this host) when that file does not exist. So the file is
//! checked here, and its `ResolveScope` read, before the variable is set.
//! This module does not name liblsl: it only prepares the environment.

use std::path::{Path, PathBuf};

/// The environment variable liblsl reads its configuration file from.
pub const LSLAPICFG: &str = "LSLAPICFG";
/// The loopback-only configuration shipped with the project, relative to the
/// project root.
pub const LOOPBACK_CONFIG: &str = "configs/lsl_loopback.cfg";

/// Errors while choosing the liblsl configuration.
#[derive(Debug, thiserror::Error)]
pub enum LslConfigError {
    /// The named configuration file does not exist.
    #[error(
        "LSL configuration file {path} does not exist (named by {origin}); liblsl would silently fall \
         back to its site-wide scope and broadcast beyond this host; pass an existing file, or \
         --lsl-local for the shipped loopback-only {LOOPBACK_CONFIG}"
    )]
    Missing {
        /// The file that was named.
        path: PathBuf,
        /// Who named it: a flag or the environment.
        origin: &'static str,
    },
    /// The file exists but cannot be read.
    #[error("cannot read the LSL configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `--lsl-local` was given but the shipped file was not found.
    #[error(
        "--lsl-local: the shipped loopback configuration {LOOPBACK_CONFIG} was not found; looked in:\n{}\n\
         run from the project directory, or pass --lsl-config FILE",
        .searched.iter().map(|p| format!("  - {}", p.display())).collect::<Vec<_>>().join("\n")
    )]
    LocalNotFound {
        /// Every path that was checked.
        searched: Vec<PathBuf>,
    },
    /// `--lsl-local` found a file that would let liblsl leave this machine.
    #[error(
        "--lsl-local: {path} is not a machine-scope configuration: {problem}; --lsl-local needs \
         ResolveScope = machine and only loopback addresses (127.0.0.1, ::1, localhost), as the \
         shipped {LOOPBACK_CONFIG} has; restore that file, or pass your own with --lsl-config FILE"
    )]
    NotLocal {
        /// The file that was found.
        path: PathBuf,
        /// What in it is not local.
        problem: String,
    },
    /// The environment can only be changed while no other thread exists.
    #[error(
        "the LSL configuration ({LSLAPICFG}) can only be set while the process has a single thread, \
         but {found}; choose it first thing in the program, or set {LSLAPICFG} in the environment \
         before starting it"
    )]
    NotSingleThreaded {
        /// What was found instead of one thread.
        found: String,
    },
}

/// The configuration a process runs LSL with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectiveConfig {
    /// The file liblsl reads, or `None` for liblsl's built-in defaults.
    pub file: Option<PathBuf>,
    /// The `ResolveScope` the file sets (liblsl's default is `site`).
    pub resolve_scope: String,
}

impl EffectiveConfig {
    /// True when stream discovery stays on this machine.
    pub fn is_machine_scope(&self) -> bool {
        self.resolve_scope == "machine"
    }
}

/// Reads `ResolveScope` from the `[multicast]` section of a liblsl
/// configuration text; `site` (liblsl's default) when it is not set.
pub fn parse_resolve_scope(text: &str) -> String {
    let mut section = String::new();
    for line in text.lines() {
        let line = line.split(';').next().unwrap_or("").trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_ascii_lowercase();
        } else if let Some((key, value)) = line.split_once('=')
            && section == "multicast"
            && key.trim().eq_ignore_ascii_case("ResolveScope")
        {
            return value.trim().to_ascii_lowercase();
        }
    }
    "site".to_string()
}

/// The configuration keys that name addresses liblsl sends to, listens on
/// or connects to.
const ADDRESS_KEYS: [&str; 8] = [
    "MachineAddresses",
    "LinkAddresses",
    "SiteAddresses",
    "OrganizationAddresses",
    "GlobalAddresses",
    "AddressesOverride",
    "ListenAddress",
    "KnownPeers",
];

fn is_loopback(address: &str) -> bool {
    let a = address.trim().trim_matches(['[', ']']);
    a.eq_ignore_ascii_case("localhost")
        || a.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why a configuration text would let liblsl reach beyond this machine:
/// a `ResolveScope` other than `machine`, or an address (in any section)
/// that is not loopback; `None` when it keeps to the machine.
pub fn non_local(text: &str) -> Option<String> {
    let scope = parse_resolve_scope(text);
    if scope != "machine" {
        return Some(format!("ResolveScope is {scope:?}"));
    }
    for line in text.lines() {
        let line = line.split(';').next().unwrap_or("").trim();
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if !ADDRESS_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            continue;
        }
        let list = value.trim().trim_start_matches('{').trim_end_matches('}');
        for address in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            if !is_loopback(address) {
                return Some(format!(
                    "{key} names {address}, which is not a loopback address"
                ));
            }
        }
    }
    None
}

/// Looks for the shipped loopback configuration under the current directory
/// and its parents, then under the executable's parents.
pub fn find_local_config() -> Result<PathBuf, LslConfigError> {
    let mut searched = Vec::new();
    let mut roots = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    for root in roots {
        let candidate = root.join(LOOPBACK_CONFIG);
        if candidate.is_file() {
            return Ok(candidate);
        }
        searched.push(candidate);
    }
    Err(LslConfigError::LocalNotFound { searched })
}

/// Reads the effective configuration of a file.
pub fn describe(path: &Path, origin: &'static str) -> Result<EffectiveConfig, LslConfigError> {
    if !path.is_file() {
        return Err(LslConfigError::Missing {
            path: path.to_path_buf(),
            origin,
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| LslConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(EffectiveConfig {
        file: Some(path.to_path_buf()),
        resolve_scope: parse_resolve_scope(&text),
    })
}

/// The configuration liblsl will use in this process, as the environment
/// stands: the file `LSLAPICFG` names (which must exist), or the defaults.
pub fn effective() -> Result<EffectiveConfig, LslConfigError> {
    match std::env::var_os(LSLAPICFG) {
        Some(p) if !p.is_empty() => describe(Path::new(&p), "the LSLAPICFG environment variable"),
        _ => Ok(EffectiveConfig {
            file: None,
            resolve_scope: "site".to_string(),
        }),
    }
}

/// The number of threads of this process, from `/proc/self/task`; `None`
/// where that cannot be read.
fn thread_count() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/task").ok()?.count())
}

/// Chooses the configuration from the command line (`--lsl-config FILE`,
/// `--lsl-local`) and sets `LSLAPICFG` accordingly; without either it checks
/// that an inherited `LSLAPICFG` names an existing file. `--lsl-local`
/// refuses a file that is not machine scope ([`non_local`]).
///
/// Setting the variable is sound only while no other thread can read or
/// write the environment, so this checks that the calling thread is the
/// process's only one (`/proc/self/task`) and refuses otherwise, or where
/// that cannot be checked: call it first thing in `main`, before liblsl or
/// anything else starts a thread. Without a flag nothing is set and any
/// thread may call it.
pub fn install(file: Option<&Path>, local: bool) -> Result<EffectiveConfig, LslConfigError> {
    let chosen = match (file, local) {
        (Some(f), _) => Some((f.to_path_buf(), "--lsl-config")),
        (None, true) => Some((find_local_config()?, "--lsl-local")),
        (None, false) => None,
    };
    let Some((path, origin)) = chosen else {
        return effective();
    };
    let path = std::path::absolute(&path).unwrap_or(path);
    let config = describe(&path, origin)?;
    if file.is_none() {
        let text = std::fs::read_to_string(&path).map_err(|source| LslConfigError::Read {
            path: path.clone(),
            source,
        })?;
        if let Some(problem) = non_local(&text) {
            return Err(LslConfigError::NotLocal { path, problem });
        }
    }
    match thread_count() {
        Some(1) => {}
        Some(n) => {
            return Err(LslConfigError::NotSingleThreaded {
                found: format!("it has {n}"),
            });
        }
        None => {
            return Err(LslConfigError::NotSingleThreaded {
                found: "its threads cannot be counted here (no /proc/self/task)".to_string(),
            });
        }
    }
    // SAFETY: this thread is the process's only one (checked just above),
    // and it starts none before the call returns, so nothing reads or writes
    // the environment concurrently.
    unsafe { std::env::set_var(LSLAPICFG, &path) };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_is_machine_scope() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let c = describe(&root.join(LOOPBACK_CONFIG), "test").unwrap();
        assert!(c.is_machine_scope(), "{c:?}");
    }

    #[test]
    fn scope_defaults_to_site_and_reads_only_the_multicast_section() {
        assert_eq!(parse_resolve_scope(""), "site");
        assert_eq!(
            parse_resolve_scope("[lab]\nResolveScope = machine\n"),
            "site"
        );
        assert_eq!(
            parse_resolve_scope("[multicast]\n ResolveScope = Link ; comment\n"),
            "link"
        );
    }

    #[test]
    fn only_machine_scope_with_loopback_addresses_is_local() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let shipped = std::fs::read_to_string(root.join(LOOPBACK_CONFIG)).unwrap();
        assert_eq!(non_local(&shipped), None);
        assert_eq!(
            non_local(
                "[multicast]\nResolveScope = machine\nMachineAddresses = {127.0.0.1, ::1}\n[lab]\nKnownPeers = {localhost}\n"
            ),
            None
        );
        let site = non_local("[ports]\nIPv6 = disable\n").unwrap();
        assert!(site.contains("\"site\""), "{site}");
        let peer = non_local(
            "[multicast]\nResolveScope = machine\n[lab]\nKnownPeers = {127.0.0.1, 10.0.0.7}\n",
        )
        .unwrap();
        assert!(peer.contains("KnownPeers names 10.0.0.7"), "{peer}");
        let group = non_local(
            "[multicast]\nResolveScope = machine\nAddressesOverride = {239.255.172.215}\n",
        )
        .unwrap();
        assert!(group.contains("239.255.172.215"), "{group}");
    }

    #[test]
    fn setting_the_variable_is_refused_while_other_threads_run() {
        // The test harness runs this test on a thread of its own.
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let before = std::env::var_os(LSLAPICFG);
        let e = install(Some(&root.join(LOOPBACK_CONFIG)), false).unwrap_err();
        assert!(matches!(e, LslConfigError::NotSingleThreaded { .. }), "{e}");
        assert!(e.to_string().contains("single thread"), "{e}");
        assert_eq!(std::env::var_os(LSLAPICFG), before);
    }

    #[test]
    fn a_missing_file_is_an_error_not_a_silent_fallback() {
        let e = describe(Path::new("/nonexistent/lsl.cfg"), "--lsl-config").unwrap_err();
        assert!(e.to_string().contains("--lsl-local"), "{e}");
    }
}
