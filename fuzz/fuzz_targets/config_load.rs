//! Configuration loading: a server file and one tenant file (the input's two halves, split at
//! the first 0xFF byte) written to a scratch folder and loaded with the connector and mapping
//! checks `crmdav serve` runs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

/// A scratch folder per fuzzing process (`tenants/` inside it), in memory where the system
/// has `/dev/shm`: a disk write per run would make this target a hundred times slower.
fn scratch() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let d = base.join(format!("crmdav-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(d.join("tenants")).expect("scratch folder");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let (server, tenant) = match data.iter().position(|b| *b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let dir = scratch();
    let server_path = dir.join("crmdav.toml");
    std::fs::write(&server_path, server).expect("write server file");
    std::fs::write(dir.join("tenants/t.toml"), tenant).expect("write tenant file");
    let _ = crmdav::crm::definitions::load_config(&server_path);
});
