//! The demo server: one real `crmdav` per test process (started on first use, shared by all
//! its tests), with a fresh SQLite state, the demo tenant (`demo`/`demo`, seeded) and a second
//! tenant `acme` (user `alice`) for isolation tests.

use super::gateway::{free_port, hash_password, repo, Gateway, StateDir};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub const DEMO_USER: &str = "demo";
pub const DEMO_PASS: &str = "demo";
pub const ALICE_PASS: &str = "alice-Secret-42";

pub const MEETINGS: &str = "/dav/calendars/demo/meetings/";
pub const TASKS: &str = "/dav/calendars/demo/tasks/";
pub const CONTACTS: &str = "/dav/addressbooks/demo/contacts/";
pub const CAL_HOME: &str = "/dav/calendars/demo/";
pub const CARD_HOME: &str = "/dav/addressbooks/demo/";
pub const PRINCIPAL: &str = "/dav/principals/demo/";

/// The demo server of this test process.
pub struct Server {
    pub base: String,
    pub dir: PathBuf,
    pub limits: Limits,
    /// Never dropped: the launcher's exit hook ends the process.
    _gateway: Gateway,
}

/// Limits as configured in deploy/demo/crmdav.toml (read from the file, not assumed).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_resource_bytes: usize,
    pub xml_max_depth: usize,
}

/// The server of this test process (started on first use).
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(start)
}

fn start() -> Server {
    let dir = StateDir::for_process("itest");
    let limits = write_config(&dir);
    let gateway = Gateway::new(&dir, free_port()).start();
    Server {
        base: gateway.base.clone(),
        dir,
        limits,
        _gateway: gateway,
    }
}

fn read_limits(cfg: &str) -> Limits {
    let v: toml::Table = cfg.parse().expect("demo config parses");
    let l = v["limits"].as_table().expect("[limits]");
    let g = |k: &str| l[k].as_integer().unwrap_or_else(|| panic!("limits.{k}")) as usize;
    Limits {
        max_body_bytes: g("max_body_bytes"),
        max_resource_bytes: g("max_resource_bytes"),
        xml_max_depth: g("xml_max_depth"),
    }
}

/// deploy/demo's config with the state moved into `dir`, its demo tenant, and tenant `acme`.
fn write_config(dir: &Path) -> Limits {
    let state = format!("sqlite://{}", dir.join("state.db").display());
    write_config_with_state(dir, &state)
}

/// deploy/demo's config in `dir` with `state = "<state>"` (any URL the config accepts, `${ENV}`
/// included), its demo tenant, and tenant `acme`.
pub fn write_config_with_state(dir: &Path, state: &str) -> Limits {
    let demo_dir = repo("deploy/demo");
    let server_cfg =
        std::fs::read_to_string(demo_dir.join("crmdav.toml")).expect("deploy/demo/crmdav.toml");
    let limits = read_limits(&server_cfg);
    let mut out = String::new();
    let mut saw_state = false;
    for line in server_cfg.lines() {
        if line.trim_start().starts_with("state =") {
            out.push_str(&format!("state = \"{state}\"\n"));
            saw_state = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(saw_state, "deploy/demo/crmdav.toml has no state line");
    std::fs::write(dir.join("crmdav.toml"), out).expect("write crmdav.toml");
    let tenants = dir.join("tenants");
    std::fs::create_dir_all(&tenants).expect("tenants dir");
    std::fs::copy(
        demo_dir.join("tenants/demo.toml"),
        tenants.join("demo.toml"),
    )
    .expect("copy the demo tenant");
    let acme = format!(
        r##"name = "acme"
hosts = ["acme.localhost"]
connector = "local"

[[users]]
name = "alice"
password_hash = "{}"
display_name = "Alice Acme"
email = "alice@acme.example"

[[collections]]
id = "work"
kind = "calendar"
display_name = "Acme work"
components = ["VEVENT", "VTODO"]
users = ["alice"]

[[collections]]
id = "people"
kind = "addressbook"
display_name = "Acme people"
users = ["alice"]
"##,
        hash_password(ALICE_PASS)
    );
    std::fs::write(tenants.join("acme.toml"), acme).expect("write acme.toml");
    limits
}
