//! Login throttling: failed logins counted per client address, per user, and per (user,
//! address) pair, each with its own threshold. Past a threshold every further failure doubles
//! a pause during which that key's attempts are refused without verifying a password.
//!
//! The pair key is the strict one (few failures), so an attacker guessing one user's password
//! from one address is stopped quickly while the real user, from another address, still gets
//! in; the per-user key has a much higher threshold and only stops guessing spread over many
//! addresses. Memory is bounded: failures are forgotten `backoff_max` after the last one, and
//! the table holds at most `throttle_entries` keys (the oldest go first).

use crate::config::AuthOptions;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What failures are counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    User(String),
    Pair(String, IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
    until: Option<Instant>,
}

/// The throttle tables.
pub struct Throttle {
    opts: AuthOptions,
    table: Mutex<HashMap<Key, Entry>>,
}

impl Throttle {
    /// An empty throttle with these thresholds.
    pub fn new(opts: &AuthOptions) -> Self {
        Throttle {
            opts: opts.clone(),
            table: Mutex::new(HashMap::new()),
        }
    }

    fn keys(user: &str, addr: IpAddr) -> [Key; 3] {
        let addr = bucket(addr);
        [
            Key::Pair(user.to_string(), addr),
            Key::Address(addr),
            Key::User(user.to_string()),
        ]
    }

    fn limit(&self, key: &Key) -> u32 {
        match key {
            Key::Pair(..) => self.opts.user_address_failures,
            Key::Address(_) => self.opts.address_failures,
            Key::User(_) => self.opts.user_failures,
        }
        .max(1)
    }

    /// How long attempts for `user` from `addr` are refused, if they are now.
    pub fn blocked(&self, user: &str, addr: IpAddr, now: Instant) -> Option<Duration> {
        let table = self.table.lock().ok()?;
        // Nothing failed lately (the usual case): no keys to build.
        if table.is_empty() {
            return None;
        }
        Self::keys(user, addr)
            .iter()
            .filter_map(|k| table.get(k)?.until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    /// Count a failed login of `user` from `addr`.
    pub fn failure(&self, user: &str, addr: IpAddr, now: Instant) {
        let Ok(mut table) = self.table.lock() else {
            return;
        };
        let forget = Duration::from_secs(self.opts.backoff_max_secs);
        for key in Self::keys(user, addr) {
            let limit = self.limit(&key);
            let e = table.entry(key).or_insert(Entry {
                failures: 0,
                last: now,
                until: None,
            });
            if now.duration_since(e.last) > forget {
                e.failures = 0;
            }
            e.failures = e.failures.saturating_add(1);
            e.last = now;
            if e.failures >= limit {
                e.until = Some(now + self.pause(e.failures - limit));
            }
        }
        self.bound(&mut table, now);
    }

    /// A successful login of `user` from `addr`: that pair starts afresh (the address and
    /// user counts stay, so a valid account does not reset an address's guesses).
    pub fn success(&self, user: &str, addr: IpAddr) {
        if let Ok(mut table) = self.table.lock() {
            if !table.is_empty() {
                table.remove(&Key::Pair(user.to_string(), addr));
            }
        }
    }

    /// Keys remembered (for tests and metrics).
    pub fn len(&self) -> usize {
        self.table.lock().map(|t| t.len()).unwrap_or(0)
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `base · 2^excess`, at most `backoff_max`.
    fn pause(&self, excess: u32) -> Duration {
        let base = self.opts.backoff_base_secs.max(1);
        let secs = base
            .checked_shl(excess.min(32))
            .unwrap_or(u64::MAX)
            .min(self.opts.backoff_max_secs.max(base));
        Duration::from_secs(secs)
    }

    /// Forget expired keys; if still over the cap, the least recently failed tenth.
    fn bound(&self, table: &mut HashMap<Key, Entry>, now: Instant) {
        let cap = self.opts.throttle_entries.max(3);
        if table.len() <= cap {
            return;
        }
        let forget = Duration::from_secs(self.opts.backoff_max_secs);
        table.retain(|_, e| {
            now.duration_since(e.last) <= forget || e.until.is_some_and(|u| u > now)
        });
        let keep = cap * 9 / 10;
        if table.len() > keep {
            let mut by_age: Vec<(Instant, Key)> =
                table.iter().map(|(k, e)| (e.last, k.clone())).collect();
            by_age.sort_unstable_by_key(|(last, _)| *last);
            let excess = by_age.len() - keep;
            for (_, k) in by_age.into_iter().take(excess) {
                table.remove(&k);
            }
        }
    }
}

/// The address as throttled: an IPv6 client controls at least a /64 (RFC 4291 §2.5.4
/// interface identifiers), so the /64 is one client; an IPv4-mapped address is its IPv4.
fn bucket(addr: IpAddr) -> IpAddr {
    match addr.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> AuthOptions {
        AuthOptions {
            user_address_failures: 3,
            address_failures: 10,
            user_failures: 20,
            backoff_base_secs: 1,
            backoff_max_secs: 60,
            throttle_entries: 100,
            ..AuthOptions::default()
        }
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn pair_is_throttled_after_its_threshold_with_doubling_pauses() {
        let t = Throttle::new(&opts());
        let now = Instant::now();
        for _ in 0..2 {
            t.failure("demo/demo", A, now);
        }
        assert_eq!(t.blocked("demo/demo", A, now), None);
        t.failure("demo/demo", A, now);
        assert_eq!(t.blocked("demo/demo", A, now), Some(Duration::from_secs(1)));
        let later = now + Duration::from_secs(2);
        t.failure("demo/demo", A, later);
        assert_eq!(
            t.blocked("demo/demo", A, later),
            Some(Duration::from_secs(2))
        );
        // Another address is not affected, nor another user from the same address.
        assert_eq!(t.blocked("demo/demo", B, later), None);
        assert_eq!(t.blocked("demo/other", A, later), None);
    }

    #[test]
    fn an_ipv6_64_is_one_client() {
        let t = Throttle::new(&opts());
        let now = Instant::now();
        for i in 1..=3u16 {
            let a = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, i));
            t.failure("u", a, now);
        }
        let same_64 = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 9, 9, 9, 9));
        let other_64 = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1));
        assert!(t.blocked("u", same_64, now).is_some());
        assert_eq!(t.blocked("u", other_64, now), None);
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            t.failure("v", mapped, now);
        }
        assert!(t.blocked("v", A, now).is_some());
    }

    #[test]
    fn success_clears_the_pair_only() {
        let t = Throttle::new(&opts());
        let now = Instant::now();
        for _ in 0..3 {
            t.failure("u", A, now);
        }
        t.success("u", A);
        assert_eq!(t.blocked("u", A, now), None);
        for i in 0..10 {
            t.failure(&format!("x{i}"), A, now);
        }
        assert!(t.blocked("anyone", A, now).is_some(), "address threshold");
    }

    #[test]
    fn failures_are_forgotten_and_the_table_is_bounded() {
        let t = Throttle::new(&opts());
        let now = Instant::now();
        for i in 0..2 {
            t.failure("u", A, now + Duration::from_secs(i));
        }
        let much_later = now + Duration::from_secs(120);
        t.failure("u", A, much_later);
        assert_eq!(
            t.blocked("u", A, much_later),
            None,
            "old failures forgotten"
        );
        for i in 0..1000u32 {
            let addr = IpAddr::V4(std::net::Ipv4Addr::from(i));
            t.failure(&format!("user{i}"), addr, much_later);
        }
        assert!(t.len() <= 100, "{} entries", t.len());
    }
}
