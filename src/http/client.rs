//! The client's address, for throttling and log lines: the peer address, or the address a
//! trusted reverse proxy names in `X-Forwarded-For` (anyone can send that header, so it is
//! believed only from a configured proxy).

use actix_web::HttpRequest;
use std::net::{IpAddr, Ipv4Addr};

/// The client's address as far as it can be trusted.
pub fn address(req: &HttpRequest, trusted_proxies: &[IpAddr]) -> IpAddr {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    // Each proxy appends the address it received from; the rightmost one that is not one of
    // our proxies is the client (anything left of it was written by the client itself).
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|a| !trusted_proxies.contains(a))
        .unwrap_or(peer)
}
