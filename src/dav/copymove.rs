//! COPY and MOVE (RFC 4918 §9.8, §9.9) of items and of collections at any depth.

use super::resource::{self, Resource};
use super::validate;
use super::Req;
use crate::error::{DavError, DavResult};
use crate::store::{parent_of, split_item_path, CollectionKind, ItemRef};
use crate::tree::{self, Target};
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
    let Target::Store { path: dpath, .. } = &target else {
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
            let dpath = dpath.trim_end_matches('/').to_string();
            let src_path = format!("{}{}", sc.path, sm.name);
            if dpath == src_path {
                return Err(DavError::Forbidden {
                    message: "source and destination are the same".into(),
                    condition: None,
                });
            }
            let (dparent, dname) = split_item_path(&dpath);
            let dcoll = store
                .collection(tenant, &dparent)
                .await?
                .ok_or_else(|| DavError::conflict("the destination's parent does not exist"))?;
            let existed = existing.is_some();
            if existed && !overwrite {
                return Err(DavError::PreconditionFailed);
            }
            if let Some(Resource::Collection(c)) = &existing {
                store
                    .delete_collection(tenant, &c.path)
                    .await
                    .map_err(|e| super::items::store_error(e, &c.path))?;
            }
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
            // A MOVE within one collection keeps the UID: drop the source first so the
            // destination does not conflict with it.
            store
                .copy_item(
                    tenant,
                    ItemRef {
                        coll: &sc,
                        name: &sm.name,
                    },
                    ItemRef {
                        coll: &dcoll,
                        name: &dname,
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
            let dpath = if dpath.ends_with('/') {
                dpath.clone()
            } else {
                format!("{dpath}/")
            };
            if dpath.starts_with(&sc.path) || sc.path.starts_with(&dpath) {
                return Err(DavError::Forbidden {
                    message: "source and destination overlap".into(),
                    condition: None,
                });
            }
            if sc.path.trim_end_matches('/').matches('/').count() < 2 {
                return Err(DavError::Forbidden {
                    message: "a home collection cannot be copied or moved".into(),
                    condition: None,
                });
            }
            let dparent = parent_of(&dpath);
            let pc = store
                .collection(tenant, &dparent)
                .await?
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
                    .move_tree(tenant, &sc.path, &dpath)
                    .await
                    .map_err(|e| super::items::store_error(e, &dpath))?;
            } else {
                store
                    .copy_tree(tenant, &sc.path, &dpath, depth_zero)
                    .await
                    .map_err(|e| super::items::store_error(e, &dpath))?;
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
