//! Building the crmdav binary the benchmarks start, from inside a benchmark: the optimised
//! `dist` profile (Cargo.toml: release + thin LTO), the build the image ships.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The cargo profile of the server under test.
pub const PROFILE: &str = "dist";

/// Where [`build_release_crmdav`] puts the binary: `<target>/dist/crmdav`, found from the bench
/// binary itself (`<target>/release/deps/<bench>`), or `CRMDAV_BIN`.
pub fn crmdav_bin() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("CRMDAV_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let target = exe
        .parent()
        .and_then(|p| p.parent())
        .and_then(|p| p.parent())
        .ok_or("cannot locate the target directory")?;
    Ok(target.join(PROFILE).join("crmdav"))
}

/// `cargo build --profile dist --bin crmdav` in `repo`.
///
/// `cargo bench` runs a bench with the package's CARGO_MANIFEST_DIR, CARGO_PKG_*, … set. ring's
/// build script reruns when CARGO_MANIFEST_DIR changes, so passing them on would make this build
/// and a plain `cargo build --profile dist` rebuild each other's TLS stack and crmdav (3+ minutes
/// each time) forever: they are removed.
pub fn build_release_crmdav(repo: &Path) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--profile", PROFILE, "--bin", "crmdav"])
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
        return Err(format!(
            "cargo build --profile {PROFILE} --bin crmdav failed"
        ));
    }
    Ok(())
}
