//! Native TLS settings of the server file: the certificate and key files (PEM), how often
//! they are checked for a renewal, and an optional plain-HTTP listener that only redirects.

use std::path::PathBuf;

/// `tls_cert_file`, `tls_key_file`, `tls_reload_secs` and `redirect_http_listen`.
///
/// The two `*_file` keys are paths, kept as such (not replaced by the file's contents like
/// other `*_file` keys), because the files are read again when they change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM certificate chain, leaf first (relative to the server file).
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// Every this many seconds (and on SIGHUP) the files are read again and, when they
    /// changed and are valid, the new certificate serves new connections.
    pub reload_secs: u64,
    /// A plain-HTTP `host:port` that answers every request with a redirect to https.
    pub redirect_http_listen: Option<String>,
}

/// Default of `tls_reload_secs`.
pub const DEFAULT_RELOAD_SECS: u64 = 60;

/// Top-level keys whose value is a path the server reads itself, exempt from the `*_file`
/// substitution.
pub(super) const PATH_KEYS: &[&str] = &["tls_cert_file", "tls_key_file"];
