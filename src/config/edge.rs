//! Settings of the HTTP edge (`[http]`: timeouts, trusted proxies, the operations address,
//! what `/metrics` may name) and of authentication (`[auth]`: argon2 concurrency, login
//! throttling). Every default keeps a plain deployment working without the section.

use serde::Deserialize;
use std::net::IpAddr;

/// `[http]` in the server file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpOptions {
    /// Whole-body read deadline, seconds: a body not complete by then gets 408.
    pub body_timeout_secs: u64,
    /// Longest pause between two chunks of a body, seconds (408 beyond).
    pub body_idle_secs: u64,
    /// Deadline for the request line and headers of a new connection, seconds.
    pub header_timeout_secs: u64,
    /// Idle keep-alive connections are closed after this many seconds.
    pub keep_alive_secs: u64,
    /// Peers whose `X-Forwarded-For` is believed (reverse proxies); anyone else's is ignored.
    pub trusted_proxies: Vec<IpAddr>,
    /// A second listen address for `/metrics`, `/healthz` and `/readyz`; when set, `/metrics`
    /// is served only there.
    pub ops_listen: Option<String>,
    /// Name CRM tenants in `/metrics` series; off by default, the series are then summed over
    /// tenants.
    pub metrics_tenant_names: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            body_timeout_secs: 30,
            body_idle_secs: 10,
            header_timeout_secs: 5,
            keep_alive_secs: 5,
            trusted_proxies: Vec::new(),
            ops_listen: None,
            metrics_tenant_names: false,
        }
    }
}

/// `[auth]` in the server file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthOptions {
    /// Password verifications (argon2) running at once; 0 means the number of cores.
    pub verify_concurrency: usize,
    /// Failed logins for one user from one address before that pair is throttled.
    pub user_address_failures: u32,
    /// Failed logins from one address (any user) before the address is throttled.
    pub address_failures: u32,
    /// Failed logins for one user from anywhere before the user is throttled everywhere.
    pub user_failures: u32,
    /// First throttling pause, seconds; it doubles with every further failure.
    pub backoff_base_secs: u64,
    /// Longest throttling pause, seconds; failures are forgotten this long after the last.
    pub backoff_max_secs: u64,
    /// Most addresses and logins remembered by the throttle (oldest forgotten first).
    pub throttle_entries: usize,
}

impl Default for AuthOptions {
    fn default() -> Self {
        AuthOptions {
            verify_concurrency: 0,
            user_address_failures: 10,
            address_failures: 50,
            user_failures: 500,
            backoff_base_secs: 1,
            backoff_max_secs: 900,
            throttle_entries: 100_000,
        }
    }
}
