//! Native TLS: the rustls server configuration, a certificate resolver whose certificate can
//! be swapped while the server runs, the task that reads the files again when they change
//! (every `tls_reload_secs` and on SIGHUP), and the plain-HTTP listener that only redirects.
//!
//! A renewed certificate serves every connection accepted after the swap; connections
//! already open keep theirs, so nothing is dropped.

use crate::config::TlsOptions;
use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Why a certificate and key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no usable PEM item of the expected kind.
    #[error("{file}: {message}")]
    Pem {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The key does not fit the certificate, or rustls refused them.
    #[error("{cert} with {key}: {source}")]
    Rustls {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
}

/// The certificate served to new connections, swappable without a lock on the handshake.
#[derive(Debug)]
pub struct CertResolver {
    current: ArcSwap<CertifiedKey>,
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The file contents a certificate was loaded from, to see whether they changed.
#[derive(PartialEq, Eq)]
struct Loaded {
    cert: Vec<u8>,
    key: Vec<u8>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(file: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(file).map_err(|source| TlsError::Read {
        file: file.to_path_buf(),
        source,
    })
}

/// Parse a PEM certificate chain and key and check that they belong together.
fn certified_key(opts: &TlsOptions, loaded: &Loaded) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(&loaded.cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            file: opts.cert_file.clone(),
            message: format!("not a PEM certificate chain: {e}"),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            file: opts.cert_file.clone(),
            message: "no CERTIFICATE in the file".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&loaded.key).map_err(|e| TlsError::Pem {
        file: opts.key_file.clone(),
        message: format!("no usable PEM private key: {e}"),
    })?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|source| TlsError::Rustls {
        cert: opts.cert_file.clone(),
        key: opts.key_file.clone(),
        source,
    })
}

fn load(opts: &TlsOptions) -> Result<(Loaded, CertifiedKey), TlsError> {
    let loaded = Loaded {
        cert: read(&opts.cert_file)?,
        key: read(&opts.key_file)?,
    };
    let ck = certified_key(opts, &loaded)?;
    Ok((loaded, ck))
}

/// Native TLS of one server: its rustls configuration and the resolver behind it.
pub struct Tls {
    /// For `HttpService::rustls_0_23`.
    pub config: rustls::ServerConfig,
    resolver: Arc<CertResolver>,
    loaded: Loaded,
}

impl Tls {
    /// Load the certificate and key; an error here stops the start.
    pub fn load(opts: &TlsOptions) -> Result<Tls, TlsError> {
        let (loaded, ck) = load(opts)?;
        let resolver = Arc::new(CertResolver {
            current: ArcSwap::from_pointee(ck),
        });
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Rustls {
                cert: opts.cert_file.clone(),
                key: opts.key_file.clone(),
                source,
            })?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        Ok(Tls {
            config,
            resolver,
            loaded,
        })
    }

    /// Read the files again every `reload_secs` and on SIGHUP; when they changed and are
    /// valid, new connections get the new certificate. An invalid pair (say, a certificate
    /// written before its key) is logged and the old one kept until the next check.
    pub fn watch(self, opts: TlsOptions) {
        let Tls {
            resolver,
            mut loaded,
            ..
        } = self;
        tokio::spawn(async move {
            let mut hup = crate::signals::Hangups::new();
            let mut tick = tokio::time::interval(Duration::from_secs(opts.reload_secs));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_error = None;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = hup.recv() => {}
                }
                let files = match (read(&opts.cert_file), read(&opts.key_file)) {
                    (Ok(cert), Ok(key)) => Loaded { cert, key },
                    (Err(e), _) | (_, Err(e)) => {
                        report(&mut last_error, e);
                        continue;
                    }
                };
                if files == loaded {
                    continue;
                }
                match certified_key(&opts, &files) {
                    Ok(ck) => {
                        resolver.current.store(Arc::new(ck));
                        loaded = files;
                        last_error = None;
                        tracing::info!(cert = %opts.cert_file.display(), "TLS certificate reloaded");
                    }
                    Err(e) => report(&mut last_error, e),
                }
            }
        });
    }
}

/// Log a reload failure once per distinct message, not at every tick.
fn report(last: &mut Option<String>, e: TlsError) {
    let msg = e.to_string();
    if last.as_deref() != Some(msg.as_str()) {
        tracing::warn!(error = %msg, "TLS certificate not reloaded; the previous one stays");
        *last = Some(msg);
    }
}

/// The port of the TLS listener, for the redirect listener's `Location`.
#[derive(Clone, Copy, Debug)]
pub struct HttpsPort(pub u16);

/// The plain-HTTP listener's service: every request gets [`redirect`].
pub fn redirect_service(
    https_port: u16,
) -> impl actix_service::ServiceFactory<
    actix_web::rt::net::TcpStream,
    Config = (),
    Response = (),
    Error = actix_http::error::DispatchError,
    InitError = (),
> {
    use actix_service::{map_config, IntoServiceFactory, ServiceFactoryExt};
    let app = actix_web::App::new()
        .app_data(actix_web::web::Data::new(HttpsPort(https_port)))
        .default_service(actix_web::web::to(redirect));
    actix_http::HttpService::build()
        .client_request_timeout(Duration::from_secs(5))
        .keep_alive(Duration::from_secs(5))
        .h1(map_config(
            app.into_factory()
                .map_err(|e: actix_web::Error| e.error_response()),
            |_| actix_web::dev::AppConfig::default(),
        ))
        .tcp()
}

/// The redirect listener's one answer: 308 to the same host and path over https, on the
/// TLS listener's port (omitted when it is 443). A Host that is not a plain host name
/// becomes `localhost` rather than being echoed into the header.
pub async fn redirect(
    req: actix_web::HttpRequest,
    port: actix_web::web::Data<HttpsPort>,
) -> actix_web::HttpResponse {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(strip_port)
        .filter(|h| !h.is_empty() && h.len() <= 255 && h.chars().all(host_char))
        .unwrap_or("localhost");
    let port = match port.0 {
        443 => String::new(),
        p => format!(":{p}"),
    };
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    actix_web::HttpResponse::PermanentRedirect()
        .insert_header(("Location", format!("https://{host}{port}{path}")))
        .finish()
}

fn host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':')
}

/// `example.com:80` → `example.com`, `[::1]:80` → `[::1]`, `[::1]` stays.
fn strip_port(h: &str) -> &str {
    match h.rfind(':') {
        Some(i) if !h[i..].contains(']') && (h.starts_with('[') || !h[..i].contains(':')) => {
            &h[..i]
        }
        _ => h,
    }
}

#[cfg(test)]
mod tests {
    use super::strip_port;

    #[test]
    fn ports_are_stripped_from_hosts() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }
}
