//! `crm_budget --sizes 1000,10000,100000`: the CRM grown to each size (contacts), the gateway's
//! first import of it, then a refresh with one change while three phones poll. The real
//! amagi-crm up to `--amagi-max` records (seeded through its API, eight requests at a time), a
//! mock with amagi's contact API beyond. The mock delays every page of 1,000 by amagi's
//! measured cost per page of 1,000 (the bare listing's time ÷ its pages, on the largest amagi
//! size of the run, or `--page-cost-ms`; 768 ms when neither, the 10,000-contact measurement
//! of 2026-12-05). It does not grow with the table: amagi's own per-page cost does (every page
//! costs time in proportion to the whole table), which would make 100,000 take 13–37 minutes
//! to list; the mock keeps a 100,000 run practical and is a lower bound on what amagi would
//! cost at that size.

use super::{client, started, Gateway, Res, CONTACTS, PASS, USER};
use crate::amagi::Amagi;
use futures_util::StreamExt;
use reqwest::{Client, Method};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// What one size measured.
pub struct ScaleRow {
    size: usize,
    crm: &'static str,
    /// Listing every page straight from the CRM (the CRM's own time).
    crm_list_s: f64,
    pages: usize,
    import_s: f64,
    import_calls: u64,
    /// Time until the change reached the first polling phone, from the first poll after the TTL.
    change_seen_s: f64,
    /// The longest any polling phone waited for one answer once the state existed.
    max_wait_s: f64,
    polls: usize,
    refresh_calls: u64,
    refreshes: u64,
    refresh_s: f64,
    rss_import_mb: f64,
    rss_after_mb: f64,
    /// Peak RSS (VmHWM) over the first import, and over the refresh (the mark reset between).
    peak_import_mb: f64,
    peak_refresh_mb: f64,
    /// `/healthz` answered during the first import: (answers, median, slowest).
    health: (usize, Duration, Duration),
}

/// The mock's state: amagi-shaped contacts, and the delay of every page.
struct MockCrm {
    contacts: Arc<Mutex<Vec<Value>>>,
    per_page: Duration,
}

/// amagi's cost per page of 1,000 contacts at 10,000 (7.68 s for 10 pages, 2026-12-05).
const AMAGI_PAGE_COST: Duration = Duration::from_millis(768);

impl Respond for MockCrm {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let q = |k: &str| {
            r.url
                .query_pairs()
                .find(|(n, _)| n == k)
                .and_then(|(_, v)| v.parse::<usize>().ok())
        };
        match r.url.path() {
            "/api/contacts" => {
                let all = self.contacts.lock().unwrap_or_else(|p| p.into_inner());
                let (offset, limit) = (q("offset").unwrap_or(0), q("limit").unwrap_or(100));
                let items: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
                ResponseTemplate::new(200)
                    .set_body_json(json!({"total": all.len(), "items": items}))
                    .set_delay(self.per_page)
            }
            "/api/appointments" | "/api/tasks" => {
                ResponseTemplate::new(200).set_body_json(json!([]))
            }
            _ => ResponseTemplate::new(404).set_body_json(json!({"detail": "Not Found"})),
        }
    }
}

fn contact(i: usize, stamp: &str) -> Value {
    json!({"id": i + 1, "first_name": format!("First{i}"), "last_name": format!("Last{i}"),
        "email": format!("person{i}@scale.example"), "phone": null, "company": format!("Firm {}", i % 97),
        "tags": [], "notes": null, "created_at": stamp, "updated_at": stamp})
}

/// Resident set size of a process, in MB.
fn rss_mb(pid: u32) -> f64 {
    status_mb(pid, "VmRSS:")
}

/// Peak resident set size of a process since it started or since [`reset_peak`], in MB.
fn peak_mb(pid: u32) -> f64 {
    status_mb(pid, "VmHWM:")
}

/// Start the peak RSS mark again from the current RSS (`/proc/<pid>/clear_refs`, 5).
fn reset_peak(pid: u32) {
    if let Err(e) = std::fs::write(format!("/proc/{pid}/clear_refs"), "5") {
        log!(
            "the peak RSS mark could not be reset ({e}): the refresh's peak includes the import's"
        );
    }
}

fn status_mb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// `GET /healthz` every 20 ms until `done`: how long each answer took. An actix worker busy
/// with a refresh's batch answers nothing meanwhile, which shows here. A new connection each
/// time: actix hands connections to its workers in turn, so the probes reach every worker.
async fn probe_health(base: String, done: Arc<std::sync::atomic::AtomicBool>) -> Vec<Duration> {
    let Ok(http) = Client::builder()
        .pool_max_idle_per_host(0)
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
    else {
        return Vec::new();
    };
    let mut took = Vec::new();
    while !done.load(std::sync::atomic::Ordering::Acquire) {
        let t = Instant::now();
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            took.push(t.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    took
}

/// One sync-collection: (new token, members reported).
async fn sync(http: &Client, base: &str, token: &str) -> Res<(String, usize)> {
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#
    );
    let r = http
        .request(
            Method::from_bytes(b"REPORT").map_err(|e| e.to_string())?,
            format!("{base}{CONTACTS}"),
        )
        .basic_auth(USER, Some(PASS))
        .header("Content-Type", "application/xml")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("REPORT: {e}"))?;
    let st = r.status();
    let text = r.text().await.map_err(|e| e.to_string())?;
    if st.as_u16() != 207 {
        return Err(format!("sync-collection: {st} {text}"));
    }
    let doc = roxmltree::Document::parse(&text).map_err(|e| e.to_string())?;
    let tok = doc
        .descendants()
        .find(|n| n.has_tag_name(("DAV:", "sync-token")))
        .and_then(|n| n.text())
        .ok_or("no sync-token")?
        .to_string();
    let n = doc
        .descendants()
        .filter(|n| n.has_tag_name(("DAV:", "response")))
        .count();
    Ok((tok, n))
}

/// Every page of the contact listing straight from the CRM, as the connector asks for it.
async fn list_crm(http: &Client, api: &str, token: &str) -> Res<(Duration, usize, usize)> {
    let t = Instant::now();
    let (mut offset, mut pages) = (0, 0);
    loop {
        let v: Value = http
            .get(format!("{api}/contacts?limit=1000&offset={offset}"))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        pages += 1;
        let got = v["items"].as_array().map_or(0, Vec::len);
        offset += got;
        let total = v["total"].as_u64().unwrap_or(0) as usize;
        if got == 0 || offset >= total {
            return Ok((t.elapsed(), pages, total));
        }
    }
}

/// Seed `n` contacts into amagi through its API, eight requests at a time.
async fn seed_amagi(amagi: &Amagi, n: usize) -> Res<()> {
    let t = Instant::now();
    let results: Vec<bool> = futures_util::stream::iter(0..n)
        .map(|i| async move {
            let (st, _) = amagi
                .try_call(
                    &amagi.token,
                    "POST",
                    "/contacts",
                    Some(json!({"first_name": format!("First{i}"), "last_name": format!("Last{i}"),
                        "email": format!("person{i}@scale.example"), "company": format!("Firm {}", i % 97)})),
                )
                .await;
            st < 300
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let failed = results.iter().filter(|ok| !**ok).count();
    if failed > 0 {
        return Err(format!(
            "{failed} of {n} contacts could not be created in amagi"
        ));
    }
    log!(
        "seeded {n} contacts into amagi in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Measure one size.
async fn measure_size(
    bin: &Path,
    size: usize,
    ttl: u64,
    amagi_max: usize,
    per_page: &mut Option<Duration>,
) -> Res<ScaleRow> {
    let http = client()?;
    let stamp = "2026-11-26T08:34:56.236764+01:00";
    let mut amagi = None;
    let mut mock = None;
    let contacts = Arc::new(Mutex::new(Vec::new()));
    let (api, token, crm) = if size <= amagi_max {
        let a = Amagi::start().await;
        seed_amagi(&a, size).await?;
        let r = (a.api.clone(), a.token.clone(), "amagi-crm");
        amagi = Some(a);
        r
    } else {
        let cost = per_page.unwrap_or(AMAGI_PAGE_COST);
        *contacts.lock().unwrap_or_else(|p| p.into_inner()) =
            (0..size).map(|i| contact(i, stamp)).collect();
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(MockCrm {
                contacts: contacts.clone(),
                per_page: cost,
            })
            .mount(&server)
            .await;
        log!(
            "mock CRM with {size} contacts, {} ms per page (amagi's cost per page of 1,000)",
            cost.as_millis()
        );
        let r = (
            format!("{}/api", server.uri()),
            "mock-token".to_string(),
            "mock (amagi's cost per page of 1,000)",
        );
        mock = Some(server);
        r
    };
    let (crm_list, pages, total) = list_crm(&http, &api, &token).await?;
    if total < size {
        return Err(format!("the CRM lists {total} contacts, {size} expected"));
    }
    if amagi.is_some() {
        // amagi's cost per page, for the mock's larger sizes.
        *per_page = Some(crm_list / (pages as u32).max(1));
    }
    log!(
        "{crm}: {size} contacts listed in {pages} page(s), {:.2} s",
        crm_list.as_secs_f64()
    );
    let gw = Gateway::start_on(bin, &api, &token, ttl).await?;
    let m0 = gw.metrics().await?;
    // The first import answers after the whole listing (77 s at 100,000 on the mock): longer
    // than the phones' 60 s client timeout.
    let importer = Client::builder()
        .timeout(crm_list.saturating_mul(3) + Duration::from_secs(300))
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let probe = tokio::spawn(probe_health(gw.base.clone(), done.clone()));
    let t = Instant::now();
    let imported = sync(&importer, &gw.base, "").await;
    done.store(true, std::sync::atomic::Ordering::Release);
    let (tok0, n) = imported?;
    let import = t.elapsed();
    let imported_at = Instant::now();
    let mut health = probe.await.unwrap_or_default();
    health.sort();
    let health = (
        health.len(),
        health.get(health.len() / 2).copied().unwrap_or_default(),
        health.last().copied().unwrap_or_default(),
    );
    if n < size {
        return Err(format!("the first sync reported {n} of {size} contacts"));
    }
    let m1 = gw.metrics().await?;
    let rss_import = rss_mb(gw.pid());
    let peak_import = peak_mb(gw.pid());
    reset_peak(gw.pid());
    log!(
        "first import: {:.2} s ({} CRM calls), RSS {rss_import:.0} MB (peak {peak_import:.0} MB); /healthz meanwhile: {} answers, median {:?}, slowest {:?}",
        import.as_secs_f64(),
        m1.calls - m0.calls,
        health.0,
        health.1,
        health.2
    );

    // One change in the CRM; once the TTL has passed, three phones poll every 200 ms.
    if let Some(a) = &amagi {
        let (st, v) = a
            .try_call(
                &a.token,
                "PATCH",
                "/contacts/1",
                Some(json!({"last_name": "Changed"})),
            )
            .await;
        if st >= 300 {
            return Err(format!("PATCH /contacts/1: {st} {v}"));
        }
    } else if let Some(c) = contacts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .first_mut()
    {
        c["last_name"] = json!("Changed");
        c["updated_at"] = json!("2026-11-27T08:00:00+01:00");
    }
    tokio::time::sleep(
        Duration::from_secs(ttl).saturating_sub(imported_at.elapsed()) + Duration::from_millis(100),
    )
    .await;
    let polling = Instant::now();
    let deadline = Duration::from_secs(ttl) + crm_list.saturating_mul(3) + Duration::from_secs(60);
    let phones = (0..3).map(|_| {
        let (base, tok0) = (gw.base.clone(), tok0.clone());
        async move {
            let http = client()?;
            let (mut max_wait, mut polls) = (Duration::ZERO, 0usize);
            loop {
                let t = Instant::now();
                let (_, changed) = sync(&http, &base, &tok0).await?;
                max_wait = max_wait.max(t.elapsed());
                polls += 1;
                if changed > 0 {
                    return Ok::<_, String>((polling.elapsed(), max_wait, polls));
                }
                if polling.elapsed() > deadline {
                    return Err(format!(
                        "the change did not reach a phone within {deadline:?}"
                    ));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    let seen = futures_util::future::join_all(phones).await;
    let mut row_seen = Duration::MAX;
    let (mut max_wait, mut polls) = (Duration::ZERO, 0);
    for s in seen {
        let (at, w, p) = s?;
        row_seen = row_seen.min(at);
        max_wait = max_wait.max(w);
        polls += p;
    }
    // A refresh applies its listing a page at a time, so a phone may see the change (on an
    // early page) before the refresh ends: its calls, time and peak memory are read once it
    // has.
    let mut m2 = gw.metrics().await?;
    while m2.refreshes == m1.refreshes && polling.elapsed() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        m2 = gw.metrics().await?;
    }
    let rss_after = rss_mb(gw.pid());
    let peak_refresh = peak_mb(gw.pid());
    drop(gw);
    drop(mock);
    drop(amagi);
    Ok(ScaleRow {
        size,
        crm,
        crm_list_s: crm_list.as_secs_f64(),
        pages,
        import_s: import.as_secs_f64(),
        import_calls: m1.calls - m0.calls,
        change_seen_s: row_seen.as_secs_f64(),
        max_wait_s: max_wait.as_secs_f64(),
        polls,
        refresh_calls: m2.calls - m1.calls,
        refreshes: m2.refreshes - m1.refreshes,
        refresh_s: m2.refresh_sum - m1.refresh_sum,
        rss_import_mb: rss_import,
        rss_after_mb: rss_after,
        peak_import_mb: peak_import,
        peak_refresh_mb: peak_refresh,
        health,
    })
}

/// Every size in turn; the table on stdout (and in `md` when given).
pub async fn run(
    bin: &Path,
    sizes: &[usize],
    ttl: u64,
    amagi_max: usize,
    page_cost: Option<Duration>,
    md: Option<&Path>,
) -> Res<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut per_page = page_cost;
    let mut rows = Vec::new();
    for &size in sizes {
        rows.push(measure_size(bin, size, ttl, amagi_max, &mut per_page).await?);
    }
    let mut out = String::new();
    let _ = writeln!(out, "TTL {ttl} s; contacts listed in pages of 1,000; three phones poll every 200 ms after the TTL.\n");
    let _ = writeln!(out, "| records | CRM | CRM listing (pages) | first import | gateway share | calls | change seen after | longest phone wait | polls | refresh calls | refreshes | refresh time | RSS after import / after refresh | peak RSS import / refresh | /healthz during the import (n, median, slowest) |");
    let _ = writeln!(
        out,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in &rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} s ({}) | {:.2} s | {:.2} s | {} | {:.2} s | {:.3} s | {} | {} | {} | {:.2} s | {:.0} / {:.0} MB | {:.0} / {:.0} MB | {}, {:.1} ms, {:.1} ms |",
            r.size, r.crm, r.crm_list_s, r.pages, r.import_s, (r.import_s - r.crm_list_s).max(0.0), r.import_calls,
            r.change_seen_s, r.max_wait_s, r.polls, r.refresh_calls, r.refreshes, r.refresh_s, r.rss_import_mb, r.rss_after_mb,
            r.peak_import_mb, r.peak_refresh_mb, r.health.0, r.health.1.as_secs_f64() * 1e3, r.health.2.as_secs_f64() * 1e3
        );
    }
    println!("{out}");
    if let Some(p) = md {
        std::fs::write(p, &out).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(())
}
