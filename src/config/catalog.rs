//! Where connector definitions and mappings come from: the files of the repository's
//! `connectors/` and `mappings/` folders are compiled into the binary (see `build.rs`); a
//! server file's `connectors_dir` / `mappings_dir` adds files or overrides embedded ones.

use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_catalog.rs"));
}

/// Folders that override the embedded files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// `<dir>/<crm>.toml` is preferred over the embedded definition.
    pub connectors_dir: Option<PathBuf>,
    /// `<dir>/<crm>/<entity>.toml` is preferred over the embedded mapping.
    pub mappings_dir: Option<PathBuf>,
}

/// A text and where it came from (for error messages).
#[derive(Debug, Clone)]
pub struct Source {
    /// The file, or `embedded:connectors/<crm>.toml`.
    pub origin: String,
    /// The content.
    pub text: String,
}

fn read(p: &Path) -> Result<Option<Source>, String> {
    match std::fs::read_to_string(p) {
        Ok(text) => Ok(Some(Source {
            origin: p.display().to_string(),
            text,
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", p.display())),
    }
}

fn safe_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Catalog {
    /// The definition of CRM `crm`.
    pub fn connector(&self, crm: &str) -> Result<Source, String> {
        if !safe_name(crm) {
            return Err(format!("'{crm}' is not a valid connector name"));
        }
        if let Some(d) = &self.connectors_dir {
            if let Some(s) = read(&d.join(format!("{crm}.toml")))? {
                return Ok(s);
            }
        }
        embedded::CONNECTORS
            .iter()
            .find(|(n, _)| *n == crm)
            .map(|(n, t)| Source {
                origin: format!("embedded:connectors/{n}.toml"),
                text: t.to_string(),
            })
            .ok_or_else(|| {
                format!(
                    "no connector definition '{crm}' (built in: {}{})",
                    self.known_connectors().join(", "),
                    self.connectors_dir
                        .as_ref()
                        .map(|d| format!("; nor {}/{crm}.toml", d.display()))
                        .unwrap_or_default()
                )
            })
    }

    /// The mapping `name` of CRM `crm`.
    pub fn mapping(&self, crm: &str, name: &str) -> Result<Source, String> {
        if !safe_name(crm) || !safe_name(name) {
            return Err(format!("'{crm}/{name}' is not a valid mapping name"));
        }
        if let Some(d) = &self.mappings_dir {
            if let Some(s) = read(&d.join(crm).join(format!("{name}.toml")))? {
                return Ok(s);
            }
        }
        embedded::MAPPINGS
            .iter()
            .find(|(c, e, _)| *c == crm && *e == name)
            .map(|(c, e, t)| Source {
                origin: format!("embedded:mappings/{c}/{e}.toml"),
                text: t.to_string(),
            })
            .ok_or_else(|| {
                let known: Vec<&str> = embedded::MAPPINGS
                    .iter()
                    .filter(|(c, _, _)| *c == crm)
                    .map(|(_, e, _)| *e)
                    .collect();
                format!(
                    "no mapping '{crm}/{name}' (built in for {crm}: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )
            })
    }

    /// Names of the embedded connector definitions.
    pub fn known_connectors(&self) -> Vec<&'static str> {
        embedded::CONNECTORS.iter().map(|(n, _)| *n).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_amagi_and_overrides() {
        let c = Catalog::default();
        let d = c.connector("amagi-crm").unwrap();
        assert!(d.text.contains("[entities.appointments]"));
        assert_eq!(d.origin, "embedded:connectors/amagi-crm.toml");
        let m = c.mapping("amagi-crm", "contacts").unwrap();
        assert!(m.text.contains("VCARD"));
        assert!(c.connector("../etc/passwd").is_err());
        let e = c.connector("nope").unwrap_err();
        assert!(e.contains("amagi-crm"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("amagi-crm.toml"), "name = \"x\"").unwrap();
        let c = Catalog {
            connectors_dir: Some(dir.path().into()),
            mappings_dir: None,
        };
        assert_eq!(c.connector("amagi-crm").unwrap().text, "name = \"x\"");
    }
}
