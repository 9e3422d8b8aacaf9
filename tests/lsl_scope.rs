//! The loopback rule (DESIGN.md section 3): with `--lsl-local`, this process
//! runs liblsl with the shipped configuration, and that configuration keeps
//! discovery on this machine. The only test in this binary, so it changes the
//! environment before any other thread can read it, and before liblsl is
//! first used.

#![cfg(feature = "lsl")]

use neurospeak::live::lsl_config::{self, LOOPBACK_CONFIG, LSLAPICFG};
use std::path::PathBuf;

#[test]
fn lsl_local_sets_an_existing_machine_scope_config_before_liblsl_starts() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    std::env::set_current_dir(&root).unwrap();
    let installed = lsl_config::install(None, true).expect("the shipped config is found");
    let expected = std::path::absolute(root.join(LOOPBACK_CONFIG)).unwrap();
    assert_eq!(installed.file.as_deref(), Some(expected.as_path()));
    assert!(installed.is_machine_scope(), "{installed:?}");
    // What liblsl will read: the variable names that very file, it exists,
    // and its ResolveScope is machine.
    assert_eq!(
        std::env::var_os(LSLAPICFG).map(PathBuf::from),
        Some(expected.clone())
    );
    let effective = lsl_config::effective().unwrap();
    assert!(effective.is_machine_scope(), "{effective:?}");
    let text = std::fs::read_to_string(&expected).unwrap();
    for line in [
        "IPv6 = disable",
        "ResolveScope = machine",
        "MachineAddresses = {127.0.0.1}",
        "KnownPeers = {127.0.0.1}",
    ] {
        assert!(text.contains(line), "{LOOPBACK_CONFIG} lacks {line:?}");
    }
    // Now liblsl starts, with that configuration: a short resolve stays on
    // this machine and must not fail.
    assert!(lsl::library_version() > 0, "liblsl reports no version");
    lsl::resolve_streams(0.2).expect("liblsl resolves with the loopback configuration");
    // A missing file is refused rather than silently replaced by site scope.
    let e = lsl_config::install(Some(&root.join("configs/no-such.cfg")), false).unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert_eq!(
        std::env::var_os(LSLAPICFG).map(PathBuf::from),
        Some(expected)
    );
}
