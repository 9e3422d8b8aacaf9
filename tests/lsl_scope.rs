//! The loopback rule (DESIGN.md section 3): with `--lsl-local`, this process
//! runs liblsl with the shipped configuration, and that configuration keeps
//! discovery on this machine. A plain program (`harness = false`), so it
//! changes the environment while it is the process's only thread, before
//! liblsl is first used; while another thread runs, the variable is not set.

use neurospeak::live::lsl_config::{self, LOOPBACK_CONFIG, LSLAPICFG, LslConfigError};
use std::path::PathBuf;

fn main() {
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
    // With another thread alive (one that could read the environment), the
    // variable is no longer changed.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn(move || rx.recv());
    let e = lsl_config::install(Some(&expected), false).unwrap_err();
    assert!(
        matches!(e, LslConfigError::NotSingleThreaded { .. }),
        "set while another thread runs: {e}"
    );
    assert!(e.to_string().contains("it has 2"), "{e}");
    drop(tx);
    let _ = other.join();
    assert_eq!(
        std::env::var_os(LSLAPICFG).map(PathBuf::from),
        Some(expected)
    );
    println!("lsl_scope: ok");
}
