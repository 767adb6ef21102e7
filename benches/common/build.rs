//! Building the crmdav release binary from inside a benchmark.

use std::path::Path;
use std::process::Command;

/// `cargo build --release --bin crmdav` in `repo`.
///
/// `cargo bench` runs a bench with the package's CARGO_MANIFEST_DIR, CARGO_PKG_*, … set. ring's
/// build script reruns when CARGO_MANIFEST_DIR changes, so passing them on would make this build
/// and a plain `cargo build --release` rebuild each other's TLS stack and crmdav (3+ minutes
/// each time) forever: they are removed.
pub fn build_release_crmdav(repo: &Path) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--bin", "crmdav"])
        .current_dir(repo);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("CARGO_PKG_")
            || matches!(
                k.as_ref(),
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "OUT_DIR"
            )
        {
            cmd.env_remove(k.as_ref());
        }
    }
    let st = cmd.status().map_err(|e| format!("cargo build: {e}"))?;
    if !st.success() {
        return Err("cargo build --release --bin crmdav failed".into());
    }
    Ok(())
}
