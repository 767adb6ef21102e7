//! A CRM tenant: its connector, the collections bound to its entities, and each collection's
//! flight (the locks its refresh and writes take, the writes a refresh must not undo, and when
//! it was last refreshed).

use super::binding::Binding;
use super::credentials::Credentials;
use super::listing::Listings;
use super::scope::Person;
use crate::config::SyncOptions;
use crate::connector::Connector;
use crate::store::CollectionKind;
use crate::tree::{CollectionPath, HomeKind};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

/// What a binding is keyed by: the kind of collection and its id in the tenant file. Every user
/// the tenant file lists sees the same bound collection under that id in their home.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BindingKey {
    /// Calendar or address book.
    pub kind: CollectionKind,
    /// The collection's URL segment.
    pub id: String,
}

fn kind_of(home: HomeKind) -> CollectionKind {
    match home {
        HomeKind::Calendars => CollectionKind::Calendar,
        HomeKind::Addressbooks => CollectionKind::Addressbook,
    }
}

/// One collection's refresh and write serialization, and when it was last refreshed.
#[derive(Default)]
pub(super) struct Flight {
    /// Taken by a phone's write for its whole CRM call and store write, and by a refresh only
    /// to apply what it listed (a batch, then the removals): a write never waits for a
    /// listing. A first import and a read-through (TTL 0) hold it for the whole refresh.
    pub(super) lock: tokio::sync::Mutex<()>,
    /// Single flight of refreshes: concurrent callers wait on one refresh.
    pub(super) refresh: tokio::sync::Mutex<()>,
    /// The phone writes made while a listing may have been in flight (`WriteLog`).
    pub(super) writes: WriteLog,
    /// When the collection's last refresh finished (or failed): the TTL counts from there.
    pub(super) checked: std::sync::Mutex<Option<(Instant, bool)>>,
    /// When (epoch ms) a write last asked for a new listing: another instance's refresh from
    /// before then is not reused.
    pub(super) forced_at: std::sync::atomic::AtomicI64,
    /// The collection has a stored state (a refresh completed, here or on another instance):
    /// a stale read is served from it while a background refresh runs.
    pub(super) has_state: std::sync::atomic::AtomicBool,
    /// A background refresh is queued or running (one per collection at a time).
    pub(super) revalidating: std::sync::atomic::AtomicBool,
    /// When (epoch ms) the person's own CRM credential last changed, as far as this flight
    /// knows, and the change its last successful refresh listed under: while they differ,
    /// the stored state is another credential's, and a read waits for the refresh rather
    /// than be served records the new credential may not see.
    pub(super) credential_at: std::sync::atomic::AtomicI64,
    pub(super) refreshed_under: std::sync::atomic::AtomicI64,
}

/// The phone writes (PUT, DELETE) of one collection by CRM id, each with its write generation,
/// so a refresh can tell which records a phone wrote after its listing started.
///
/// How a listed record older than a phone's write is detected: a refresh reads the
/// generation ([`WriteLog::generation`]) before it lists; every write notes its record under
/// the flight lock with a generation past every earlier one, after its CRM call; the refresh
/// applies under the same lock and leaves alone every record noted with a later generation
/// than the one it read ([`WriteLog::since`]), whether its listed copy is older or newer than
/// the phone's: the next refresh lists it again. A write noted before the listing started has
/// its CRM call behind it, so the listing shows it.
#[derive(Default)]
pub(super) struct WriteLog {
    generation: std::sync::atomic::AtomicU64,
    by_crm: std::sync::Mutex<HashMap<String, u64>>,
}

impl WriteLog {
    /// The generation of the last write noted: read by a refresh before it lists.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Note a phone's write of `crm_id` (under the flight lock, after its CRM call).
    pub(super) fn note(&self, crm_id: &str) {
        let mut m = self.by_crm.lock().unwrap_or_else(|p| p.into_inner());
        let g = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
            + 1;
        m.insert(crm_id.to_string(), g);
    }

    /// Whether a phone wrote `crm_id` after generation `listed_at`.
    pub(super) fn since(&self, crm_id: &str, listed_at: u64) -> bool {
        let m = self.by_crm.lock().unwrap_or_else(|p| p.into_inner());
        m.get(crm_id).is_some_and(|g| *g > listed_at)
    }

    /// Forget the writes a refresh listed from generation `listed_at` saw (one refresh per
    /// flight at a time, so no older listing still needs them).
    pub(super) fn prune(&self, listed_at: u64) {
        let mut m = self.by_crm.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, g| *g > listed_at);
    }
}

/// A CRM tenant: its connector, its collections' bindings and refresh state.
pub struct CrmTenant {
    /// Tenant name.
    pub name: String,
    pub(super) connector: Arc<dyn Connector>,
    calls: Box<dyn Fn() -> u64 + Send + Sync>,
    pub(super) opts: SyncOptions,
    bindings: HashMap<BindingKey, Arc<Binding>>,
    flights: std::sync::Mutex<HashMap<i64, Arc<Flight>>>,
    pub(super) failures: AtomicU64,
    pub(super) refreshes: AtomicU64,
    /// Background refreshes started by stale reads and not yet finished.
    pub(super) background: AtomicU64,
    pub(super) max_instances: usize,
    pub(super) listings: Listings,
    /// The tenant's people by login name, as scopes see them (CRM link, e-mail, team).
    people: std::sync::RwLock<HashMap<String, Person>>,
    /// The people as the tenant file gives them (before linking by e-mail).
    configured: std::sync::RwLock<Vec<Person>>,
    /// When the CRM's user list was last read, and whether that worked.
    pub(super) users_checked: std::sync::Mutex<Option<(Instant, bool)>>,
    pub(super) users_lock: tokio::sync::Mutex<()>,
    /// Reads of the CRM's user list.
    pub(super) user_listings: AtomicU64,
    /// Where the links stored with `crmdav link` are read from.
    link_store: Option<Arc<crate::store::Store>>,
    /// People's own CRM credentials (`crm::credentials`).
    pub(super) credentials: Credentials,
}

impl CrmTenant {
    /// A tenant over any connector (tests use fakes); `calls` reports upstream calls.
    pub fn new(
        name: &str,
        connector: Arc<dyn Connector>,
        calls: Box<dyn Fn() -> u64 + Send + Sync>,
        opts: SyncOptions,
        max_instances: usize,
    ) -> Self {
        CrmTenant {
            name: name.to_string(),
            connector,
            calls,
            opts,
            bindings: HashMap::new(),
            flights: Default::default(),
            failures: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
            background: AtomicU64::new(0),
            max_instances,
            listings: Default::default(),
            people: Default::default(),
            configured: Default::default(),
            users_checked: Default::default(),
            users_lock: Default::default(),
            user_listings: AtomicU64::new(0),
            link_store: None,
            credentials: Default::default(),
        }
    }

    /// Set the tenant's people as the tenant file gives them; until the CRM's user list is read
    /// (`ensure_people`), only their explicit `crm_id`s link them.
    pub fn set_people(&self, people: impl IntoIterator<Item = Person>) {
        let people: Vec<Person> = people.into_iter().collect();
        *self.configured.write().unwrap_or_else(|p| p.into_inner()) = people.clone();
        self.set_linked(people);
    }

    /// Read the links stored with `crmdav link` from `store` (every `users_ttl_secs`).
    pub fn set_link_store(&mut self, store: Arc<crate::store::Store>) {
        self.link_store = Some(store);
    }

    pub(super) fn link_store(&self) -> Option<Arc<crate::store::Store>> {
        self.link_store.clone()
    }

    /// The people as the tenant file gives them.
    pub fn configured(&self) -> Vec<Person> {
        self.configured
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn set_linked(&self, people: impl IntoIterator<Item = Person>) {
        let map = people.into_iter().map(|p| (p.name.clone(), p)).collect();
        *self.people.write().unwrap_or_else(|p| p.into_inner()) = map;
    }

    /// Reads of the CRM's user list so far.
    pub fn user_listings(&self) -> u64 {
        self.user_listings
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A person by login name; someone the tenant does not know has no CRM link.
    pub fn person(&self, name: &str) -> Person {
        self.people
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .unwrap_or_else(|| Person {
                name: name.to_string(),
                ..Default::default()
            })
    }

    /// Listings that went to the CRM (a reused shared listing is not counted).
    pub fn listings_run(&self) -> u64 {
        self.listings
            .runs
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Bind a declared collection (`kind`, config `id`) to an entity.
    pub fn bind(&mut self, kind: CollectionKind, id: &str, binding: Binding) {
        self.bindings.insert(
            BindingKey {
                kind,
                id: id.to_string(),
            },
            Arc::new(binding),
        );
    }

    /// Upstream calls so far, with the tenant's credential and with people's own.
    pub fn calls(&self) -> u64 {
        (self.calls)() + self.credentials.calls()
    }

    /// Upstream calls so far with people's own credentials.
    pub fn personal_calls(&self) -> u64 {
        self.credentials.calls()
    }

    /// The connector.
    pub fn connector(&self) -> &Arc<dyn Connector> {
        &self.connector
    }

    /// The binding of a collection directly in a home (`calendars/<user>/<id>/`).
    pub fn binding(&self, path: &CollectionPath) -> Option<Arc<Binding>> {
        let (home, _owner, id) = path.in_home()?;
        self.bindings
            .get(&BindingKey {
                kind: kind_of(home),
                id: id.to_string(),
            })
            .cloned()
    }

    /// The bound collections in a user's home (`calendars/<user>/`).
    pub fn bound_under(&self, home: &CollectionPath) -> Vec<CollectionPath> {
        let Some((kind, _owner)) = home.as_home() else {
            return Vec::new();
        };
        self.bindings
            .keys()
            .filter(|k| k.kind == kind_of(kind))
            .map(|k| home.child(&k.id))
            .collect()
    }

    pub(super) fn flight(&self, coll: i64) -> Arc<Flight> {
        let mut f = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        f.entry(coll).or_default().clone()
    }

    /// Forget freshness (the next read refreshes, and lists the CRM anew).
    pub fn invalidate(&self, coll: i64) {
        self.listings.written_all();
        let f = self.flight(coll);
        f.forced_at
            .store(super::lease::now(), std::sync::atomic::Ordering::Release);
        *f.checked.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}
