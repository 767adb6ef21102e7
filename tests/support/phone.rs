//! A phone's side of a gateway serving one CRM-backed tenant (`firm`, user `alice`): async
//! DAV requests, sync-collection and PROPFIND digests, the tenant's `/metrics` counters. The
//! wiremock vendors and the real amagi-crm tests both drive their gateway through it.

use super::gateway::Gateway;
use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

pub const USER: &str = "alice";
pub const PASS: &str = "phone-Secret-7";
pub const TENANT: &str = "firm";

/// The gateway, and an HTTP client of the test's runtime.
pub struct Phone {
    gateway: Gateway,
    pub http: reqwest::Client,
}

impl Deref for Phone {
    type Target = Gateway;
    fn deref(&self) -> &Gateway {
        &self.gateway
    }
}

impl DerefMut for Phone {
    fn deref_mut(&mut self) -> &mut Gateway {
        &mut self.gateway
    }
}

impl Phone {
    /// Speak to a started gateway.
    pub fn new(gateway: Gateway) -> Phone {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Phone {
            gateway,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("reqwest client"),
        }
    }

    /// Any request as the tenant's user: (status, headers, body text).
    pub async fn req(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self
            .http
            .request(m, format!("{}{path}", self.base))
            .basic_auth(USER, Some(PASS));
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let r = rb.send().await.expect("crmdav reachable");
        let st = r.status().as_u16();
        let h = r.headers().clone();
        (st, h, r.text().await.unwrap())
    }

    /// sync-collection: (new token, href → Some(etag) | None for deleted).
    pub async fn sync(
        &self,
        coll: &str,
        token: &str,
    ) -> (String, BTreeMap<String, Option<String>>) {
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#
        );
        let (st, _, text) = self
            .req(
                "REPORT",
                coll,
                Some(body),
                &[("Content-Type", "application/xml")],
            )
            .await;
        assert_eq!(st, 207, "sync-collection on {coll}: {text}");
        let doc = roxmltree::Document::parse(&text).unwrap();
        let token = doc
            .descendants()
            .find(|n| n.has_tag_name(("DAV:", "sync-token")))
            .and_then(|n| n.text())
            .expect("sync-token")
            .to_string();
        let mut out = BTreeMap::new();
        for r in doc
            .descendants()
            .filter(|n| n.has_tag_name(("DAV:", "response")))
        {
            let href = r
                .children()
                .find(|n| n.has_tag_name(("DAV:", "href")))
                .and_then(|n| n.text())
                .unwrap()
                .to_string();
            let etag = r
                .descendants()
                .find(|n| n.has_tag_name(("DAV:", "getetag")))
                .and_then(|n| n.text())
                .map(String::from);
            out.insert(href, etag);
        }
        (token, out)
    }

    /// PROPFIND Depth 1: href → etag of the members.
    pub async fn members(&self, coll: &str) -> BTreeMap<String, String> {
        let body = r#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>"#;
        let (st, _, text) = self
            .req("PROPFIND", coll, Some(body.into()), &[("Depth", "1")])
            .await;
        assert_eq!(st, 207, "PROPFIND {coll}: {text}");
        let doc = roxmltree::Document::parse(&text).unwrap();
        let mut out = BTreeMap::new();
        for r in doc
            .descendants()
            .filter(|n| n.has_tag_name(("DAV:", "response")))
        {
            let href = r
                .children()
                .find(|n| n.has_tag_name(("DAV:", "href")))
                .and_then(|n| n.text())
                .unwrap()
                .to_string();
            if href == coll {
                continue;
            }
            let etag = r
                .descendants()
                .find(|n| n.has_tag_name(("DAV:", "getetag")))
                .and_then(|n| n.text())
                .unwrap_or_default()
                .to_string();
            out.insert(href, etag);
        }
        out
    }

    /// GET: (status, ETag, body).
    pub async fn get(&self, href: &str) -> (u16, String, String) {
        let (st, h, body) = self.req("GET", href, None, &[]).await;
        let etag = h
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (st, etag, body)
    }

    /// The whole /metrics text.
    pub async fn metrics_text(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// A per-tenant counter from /metrics.
    pub async fn metric(&self, name: &str) -> u64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let key = format!("{name}{{tenant=\"{TENANT}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&key))
            .unwrap_or_else(|| panic!("no {key} in /metrics:\n{text}"))
            .trim()
            .parse()
            .unwrap()
    }

    /// A read of `coll` past its TTL, and the background refresh it starts, awaited (the
    /// tenant's refresh counter moves): the next read serves what the CRM held.
    pub async fn refreshed(&self, coll: &str) {
        // A background refresh still running may have listed before the test's last change.
        self.await_metric("crmdav_refreshes_pending", |n| n == 0)
            .await;
        let before = self.metric("crmdav_refreshes_total").await;
        let (st, _, text) = self.req("PROPFIND", coll, None, &[("Depth", "0")]).await;
        assert_eq!(st, 207, "PROPFIND {coll}: {text}");
        self.refreshes_reach(before + 1).await;
    }

    /// Wait until the tenant has run `n` refreshes.
    pub async fn refreshes_reach(&self, n: u64) {
        self.await_metric("crmdav_refreshes_total", |now| now >= n)
            .await;
    }

    /// As [`Phone::refreshed`], then a sync-collection from `token`.
    pub async fn sync_fresh(
        &self,
        coll: &str,
        token: &str,
    ) -> (String, BTreeMap<String, Option<String>>) {
        self.refreshed(coll).await;
        self.sync(coll, token).await
    }

    /// Wait until a per-tenant metric satisfies `done` (bounded: 60 s).
    pub async fn await_metric(&self, name: &str, done: impl Fn(u64) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let now = self.metric(name).await;
            if done(now) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name} is {now} after 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
