//! COPY and MOVE (RFC 4918 §9.8, §9.9) of items and of collections at any depth.

use super::resource::{self, Resource};
use super::validate;
use super::Req;
use crate::error::{DavError, DavResult};
use crate::store::{CollectionKind, ItemRef};
use crate::tree::{self, CollectionPath};
use actix_web::HttpResponse;

/// COPY (`is_move` false) or MOVE.
pub async fn copy_move(req: &Req<'_>, src: Resource, is_move: bool) -> DavResult<HttpResponse> {
    let dest = req
        .header("destination")
        .ok_or_else(|| DavError::bad_request("missing Destination header"))?;
    let target = tree::parse_href(dest).map_err(|_| DavError::Forbidden {
        message: "the destination is not on this server".into(),
        condition: None,
    })?;
    resource::check_access(req.principal, &target)?;
    let Some(dpath) = target.store_path() else {
        return Err(DavError::Forbidden {
            message: "the destination is not writable".into(),
            condition: None,
        });
    };
    let overwrite = !matches!(
        req.header("overwrite").map(str::trim),
        Some("F") | Some("f")
    );
    let depth_zero = match super::propfind::depth(req, true)? {
        Some(0) if !is_move => true,
        Some(1) => {
            return Err(DavError::bad_request(
                "Depth: 1 is not allowed for COPY/MOVE",
            ))
        }
        _ => false,
    };
    let tenant = req.tenant();
    let store = &req.state.store;
    let existing = resource::resolve(req.state, req.principal, &target).await?;
    match src {
        Resource::Item(sc, sm) => {
            let dest = dpath.as_member();
            if dest == CollectionPath::of_stored(&sc.path).member(&sm.name) {
                return Err(DavError::Forbidden {
                    message: "source and destination are the same".into(),
                    condition: None,
                });
            }
            let dcoll = store
                .collection(tenant, dest.collection.as_str())
                .await?
                .ok_or_else(|| DavError::conflict("the destination's parent does not exist"))?;
            let existed = existing.is_some();
            if existed && !overwrite {
                return Err(DavError::PreconditionFailed);
            }
            // Before anything is replaced: a refusal leaves the destination as it was.
            let replaced = match &existing {
                Some(Resource::Item(_, m)) => Some(m.size),
                _ => None,
            };
            req.state
                .collections
                .admit_item_transfer(tenant, &sc.path, &dcoll.path, sm.size, replaced, is_move)
                .await
                .map_err(validate::quota_error)?;
            // Re-validate the body for the destination collection's rules.
            let item = store.item(&sc, &sm.name).await?.ok_or(DavError::NotFound)?;
            let index = if dcoll.kind == CollectionKind::Plain {
                store.item_index(&sc, &sm.name).await?
            } else {
                validate::validate(
                    &req.state.cfg.limits,
                    &dcoll,
                    Some(&item.meta.content_type),
                    &item.body,
                )?
                .index
            };
            // Only once the item is known to fit: a refusal leaves the destination as it was.
            if let Some(Resource::Collection(c)) = &existing {
                store
                    .delete_collection(tenant, &c.path)
                    .await
                    .map_err(|e| super::items::store_error(e, &c.path))?;
            }
            store
                .copy_item(
                    tenant,
                    ItemRef {
                        coll: &sc,
                        name: &sm.name,
                    },
                    &item.meta.etag,
                    ItemRef {
                        coll: &dcoll,
                        name: &dest.name,
                    },
                    &index,
                    is_move,
                )
                .await
                .map_err(|e| super::items::store_error(e, &dcoll.path))?;
            Ok(if existed {
                HttpResponse::NoContent().finish()
            } else {
                HttpResponse::Created().finish()
            })
        }
        Resource::Collection(sc) => {
            let dest = dpath.as_collection();
            let src = CollectionPath::of_stored(&sc.path);
            if dest.overlaps(&src) {
                return Err(DavError::Forbidden {
                    message: "source and destination overlap".into(),
                    condition: None,
                });
            }
            if src.is_home_or_above() {
                return Err(DavError::Forbidden {
                    message: "a home collection cannot be copied or moved".into(),
                    condition: None,
                });
            }
            let parent = match dest.parent() {
                Some(p) => store.collection(tenant, p.as_str()).await?,
                None => None,
            };
            let pc = parent
                .ok_or_else(|| DavError::conflict("the destination's parent does not exist"))?;
            if pc.kind != CollectionKind::Plain {
                return Err(DavError::Forbidden {
                    message: "collections cannot be nested inside a calendar or address book"
                        .into(),
                    condition: None,
                });
            }
            let existed = existing.is_some();
            if existed && !overwrite {
                return Err(DavError::PreconditionFailed);
            }
            req.state
                .collections
                .admit_tree_transfer(tenant, &sc.path, dest.as_str(), is_move, depth_zero)
                .await
                .map_err(validate::quota_error)?;
            match &existing {
                Some(Resource::Collection(c)) => store
                    .delete_collection(tenant, &c.path)
                    .await
                    .map_err(|e| super::items::store_error(e, &c.path))?,
                Some(Resource::Item(c, m)) => store
                    .delete_item(c, &m.name, &Default::default())
                    .await
                    .map_err(|e| super::items::store_error(e, &c.path))?,
                _ => {}
            }
            if is_move {
                store
                    .move_tree(tenant, &sc.path, dest.as_str())
                    .await
                    .map_err(|e| super::items::store_error(e, dest.as_str()))?;
            } else {
                store
                    .copy_tree(tenant, &sc.path, dest.as_str(), depth_zero)
                    .await
                    .map_err(|e| super::items::store_error(e, dest.as_str()))?;
            }
            Ok(if existed {
                HttpResponse::NoContent().finish()
            } else {
                HttpResponse::Created().finish()
            })
        }
        _ => Err(DavError::Forbidden {
            message: "this resource cannot be copied or moved".into(),
            condition: None,
        }),
    }
}
