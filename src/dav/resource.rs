//! Resolving a request target to a resource, with the access rule: a user reaches only their
//! own principal and homes; the tenant config decides what is in them.

use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{DavError, DavResult, Precondition};
use crate::store::{Collection, ItemMeta};
use crate::tree::{self, CollectionPath, HomeKind, StorePath, Target};

/// A resource the server can describe.
#[derive(Debug, Clone)]
pub enum Resource {
    /// `/`.
    Root,
    /// `/dav/`.
    Context,
    /// `/dav/principals/`.
    Principals,
    /// A user's principal.
    Principal(String),
    /// `/dav/calendars/` or `/dav/addressbooks/`.
    Homes(HomeKind),
    /// A stored collection (homes included).
    Collection(Collection),
    /// A stored item.
    Item(Collection, ItemMeta),
}

impl Resource {
    /// The href of this resource.
    pub fn href(&self) -> String {
        match self {
            Resource::Root => "/".into(),
            Resource::Context => tree::CONTEXT.into(),
            Resource::Principals => tree::href("principals/"),
            Resource::Principal(u) => tree::principal_href(u),
            Resource::Homes(k) => tree::href(&format!("{}/", k.segment())),
            Resource::Collection(c) => tree::href(&c.path),
            Resource::Item(c, m) => CollectionPath::of_stored(&c.path).member(&m.name).href(),
        }
    }

    /// The store path used for dead properties (`None` for virtual resources).
    pub fn store_path(&self) -> Option<String> {
        match self {
            Resource::Collection(c) => Some(c.path.clone()),
            Resource::Item(c, m) => Some(CollectionPath::of_stored(&c.path).member(&m.name).path()),
            _ => None,
        }
    }

    /// True for collections of any kind.
    pub fn is_collection(&self) -> bool {
        !matches!(self, Resource::Item(..))
    }
}

/// Refuse a target outside the user's own space.
pub fn check_access(p: &Principal, target: &Target) -> DavResult<()> {
    let owner = match target {
        Target::Principal(u) => u,
        Target::Store { owner, .. } => owner,
        _ => return Ok(()),
    };
    if owner != &p.user.name {
        tracing::warn!(user = %p.user.name, %owner, "access outside the user's grants refused");
        return Err(DavError::forbidden(
            Precondition::NeedPrivileges,
            "this path belongs to another user",
        ));
    }
    Ok(())
}

/// Resolve a target to an existing resource (`None` when nothing is there).
pub async fn resolve(
    state: &AppState,
    p: &Principal,
    target: &Target,
) -> DavResult<Option<Resource>> {
    check_access(p, target)?;
    let tenant = &p.tenant;
    Ok(match target {
        Target::Root => Some(Resource::Root),
        Target::Context => Some(Resource::Context),
        Target::Principals => Some(Resource::Principals),
        Target::Principal(u) => Some(Resource::Principal(u.clone())),
        Target::Homes(k) => Some(Resource::Homes(*k)),
        Target::Store {
            path: StorePath::Collection(c),
            ..
        } => state
            .store
            .collection(tenant, c.as_str())
            .await?
            .map(Resource::Collection),
        Target::Store {
            path: StorePath::Member(m),
            ..
        } => {
            // Most such paths name items: look for the item first, then for a collection
            // named without its trailing slash.
            if let Some(c) = state
                .store
                .collection(tenant, m.collection.as_str())
                .await?
            {
                if let Some(meta) = state.store.item_meta(&c, &m.name).await? {
                    return Ok(Some(Resource::Item(c, meta)));
                }
            }
            state
                .store
                .collection(tenant, m.as_collection().as_str())
                .await?
                .map(Resource::Collection)
        }
    })
}
