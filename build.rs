//! Embeds `connectors/*.toml` and `mappings/<crm>/*.toml` into the binary, so a deployment
//! needs no copies of them (a server file's `connectors_dir`/`mappings_dir` can still add or
//! override files). Generates `$OUT_DIR/embedded_catalog.rs`, and rebuilds when the state
//! store's `migrations/` change.

use std::fmt::Write;
use std::path::Path;

fn toml_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|e| e == "toml"));
    v.sort();
    v
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=connectors");
    println!("cargo:rerun-if-changed=mappings");
    // `sqlx::migrate!` embeds `migrations/*.sql` at compile time.
    println!("cargo:rerun-if-changed=migrations");
    let mut out =
        String::from("/// (crm, definition text)\npub static CONNECTORS: &[(&str, &str)] = &[\n");
    for f in toml_files(&root.join("connectors")) {
        let stem = f.file_stem().unwrap().to_string_lossy();
        let _ = writeln!(
            out,
            "    ({stem:?}, include_str!({:?})),",
            f.display().to_string()
        );
    }
    out.push_str(
        "];\n/// (crm, entity, mapping text)\npub static MAPPINGS: &[(&str, &str, &str)] = &[\n",
    );
    let mut crms: Vec<_> = std::fs::read_dir(root.join("mappings"))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    crms.sort();
    for d in crms {
        let crm = d.file_name().unwrap().to_string_lossy().into_owned();
        for f in toml_files(&d) {
            let stem = f.file_stem().unwrap().to_string_lossy();
            let _ = writeln!(
                out,
                "    ({crm:?}, {stem:?}, include_str!({:?})),",
                f.display().to_string()
            );
        }
    }
    out.push_str("];\n");
    let dst = Path::new(&std::env::var("OUT_DIR").unwrap()).join("embedded_catalog.rs");
    std::fs::write(dst, out).unwrap();
}
