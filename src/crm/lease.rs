//! Work done once for every instance sharing the state: before a collection's refresh, an
//! instance claims the collection's lease in the store. Another instance that refreshed it
//! within the TTL has stored the result, so it is reused (no listing); one refreshing it now is
//! waited for. SQLite has one process, so there the lease only repeats the in-process flight.

use crate::store::{Lease, Store};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a claim holds when its holder never releases it (crashed): a refresh taking
/// longer lets another instance refresh too, which the identity map tolerates.
const LEASE: Duration = Duration::from_secs(120);

/// How long a caller waits for another instance's refresh before serving the stored state.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// How often a waiting caller asks again (the holder's release is not pushed to it).
const POLL: Duration = Duration::from_millis(50);

/// What the caller of [`claim`] does next.
pub(super) enum Claim {
    /// Refresh, then [`release`].
    Refresh,
    /// Another instance refreshed this long ago, within the TTL: serve the store.
    Fresh(Duration),
    /// Another instance is still refreshing after [`MAX_WAIT`]: serve the store as it is.
    Waited,
}

/// This process among the instances sharing the state.
pub(super) fn holder() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        format!("{}-{nanos:x}", std::process::id())
    })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The lease key of a collection's refresh (collection ids are the shared database's).
pub(super) fn refresh_key(coll: i64) -> String {
    format!("refresh:{coll}")
}

/// Claim `key` unless it was done within `ttl` and after `not_before_ms` (a local write
/// asked for a new listing). A store that fails is logged and the refresh runs uncoordinated,
/// as it would with one instance.
pub(super) async fn claim(store: &Store, key: &str, ttl: Duration, not_before_ms: i64) -> Claim {
    let started = Instant::now();
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let lease_ms = LEASE.as_millis() as i64;
    loop {
        let now = now_ms();
        let fresh_after = now.saturating_sub(ttl_ms).max(not_before_ms);
        match store
            .lease_claim(key, holder(), now, lease_ms, fresh_after)
            .await
        {
            Ok(Lease::Claimed) => return Claim::Refresh,
            Ok(Lease::Done(at)) => {
                let age = u64::try_from(now.saturating_sub(at)).unwrap_or(0);
                return Claim::Fresh(Duration::from_millis(age));
            }
            Ok(Lease::Busy) if started.elapsed() < MAX_WAIT => tokio::time::sleep(POLL).await,
            Ok(Lease::Busy) => return Claim::Waited,
            Err(e) => {
                tracing::warn!(key, error = %e, "the refresh lease could not be claimed; refreshing without it");
                return Claim::Refresh;
            }
        }
    }
}

/// Release `key`; `done` is when the work that succeeded finished (epoch ms: the TTL counts
/// from there), `None` when it failed (the next caller on any instance tries again).
pub(super) async fn release(store: &Store, key: &str, done: Option<i64>) {
    if let Err(e) = store.lease_release(key, holder(), done).await {
        tracing::warn!(key, error = %e, "the refresh lease could not be released; it runs out");
    }
}

/// Now, as [`claim`] and [`release`] count time.
pub(super) fn now() -> i64 {
    now_ms()
}
