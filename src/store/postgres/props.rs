//! Dead properties (RFC 4918 §4.2), one row per (tenant, path, namespace, name). Every write
//! is an upsert or a delete in one transaction, so concurrent PROPPATCHes from several
//! instances never fail on a duplicate key: the last to commit wins, property by property.
//! Rows are locked in key order (path, namespace, name) before they change.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::{like_prefix, PgStore, Tx};
use crate::store::backend::{DbError, DeadPropertyStore};
use crate::store::model::DeadProperty;

fn row_prop(r: &PgRow) -> DeadProperty {
    DeadProperty {
        ns: r.get("ns"),
        name: r.get("name"),
        value: r.get("xml"),
    }
}

const UPSERT: &str = "INSERT INTO props (tenant, path, ns, name, xml) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (tenant, path, ns, name) DO UPDATE SET xml = EXCLUDED.xml";

#[async_trait]
impl DeadPropertyStore for PgStore {
    async fn dead_props(&self, tenant: &str, path: &str) -> Result<Vec<DeadProperty>, DbError> {
        let rows = sqlx::query(
            "SELECT ns, name, xml FROM props WHERE tenant = $1 AND path = $2 ORDER BY ns, name",
        )
        .bind(tenant)
        .bind(path)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row_prop).collect())
    }

    async fn dead_props_under(
        &self,
        tenant: &str,
        prefix: &str,
    ) -> Result<HashMap<String, Vec<DeadProperty>>, DbError> {
        let rows = sqlx::query(
            "SELECT path, ns, name, xml FROM props WHERE tenant = $1 AND (path = $2 OR path LIKE $3 ESCAPE '\\') ORDER BY path, ns, name",
        )
        .bind(tenant)
        .bind(prefix)
        .bind(like_prefix(prefix))
        .fetch_all(&self.pool)
        .await?;
        let mut out: HashMap<String, Vec<DeadProperty>> = HashMap::new();
        for r in rows {
            out.entry(r.get("path")).or_default().push(row_prop(&r));
        }
        Ok(out)
    }

    async fn patch_dead_props(
        &self,
        tenant: &str,
        path: &str,
        changes: &[(String, String, Option<String>)],
    ) -> Result<(), DbError> {
        // Row locks in key order, whatever order the PROPPATCH named them in. Sorting is stable,
        // so two changes of one property still apply in the client's order.
        let mut changes: Vec<_> = changes.iter().collect();
        changes.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let mut tx = self.pool.begin().await?;
        for (ns, name, xml) in changes {
            match xml {
                Some(x) => {
                    sqlx::query(UPSERT)
                        .bind(tenant)
                        .bind(path)
                        .bind(ns)
                        .bind(name)
                        .bind(x)
                        .execute(&mut *tx)
                        .await?;
                }
                None => {
                    sqlx::query(
                        "DELETE FROM props WHERE tenant = $1 AND path = $2 AND ns = $3 AND name = $4",
                    )
                    .bind(tenant)
                    .bind(path)
                    .bind(ns)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await
    }

    async fn copy_props(
        &self,
        tenant: &str,
        src: &str,
        dst: &str,
        tree: bool,
    ) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        copy_props_tx(&mut tx, tenant, src, dst, tree).await?;
        tx.commit().await
    }

    async fn drop_props(&self, tenant: &str, path: &str) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        drop_props_tx(&mut tx, tenant, path).await?;
        tx.commit().await
    }
}

/// Lock the dead-property rows of `path` (and, with `tree`, of everything below it) in key
/// order before they are deleted or renamed, so that a statement's own row order never makes
/// two writers wait on each other in a cycle.
pub(super) async fn lock_props(
    tx: &mut Tx<'_>,
    tenant: &str,
    path: &str,
    tree: bool,
) -> Result<(), DbError> {
    let pattern = if tree {
        like_prefix(path)
    } else {
        String::new()
    };
    sqlx::query(
        "SELECT 1 FROM props WHERE tenant = $1 AND (path = $2 OR ($4 AND path LIKE $3 ESCAPE '\\')) \
         ORDER BY path, ns, name FOR UPDATE",
    )
    .bind(tenant)
    .bind(path)
    .bind(pattern)
    .bind(tree)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Copy the dead properties of `src` (and of everything under it with `tree`) to `dst`,
/// replacing those of `dst`, inside the caller's transaction.
pub(super) async fn copy_props_tx(
    tx: &mut Tx<'_>,
    tenant: &str,
    src: &str,
    dst: &str,
    tree: bool,
) -> Result<(), DbError> {
    lock_props(tx, tenant, dst, false).await?;
    sqlx::query("DELETE FROM props WHERE tenant = $1 AND path = $2")
        .bind(tenant)
        .bind(dst)
        .execute(&mut **tx)
        .await?;
    let rows = if tree {
        sqlx::query("SELECT path, ns, name, xml FROM props WHERE tenant = $1 AND (path = $2 OR path LIKE $3 ESCAPE '\\') ORDER BY path, ns, name")
            .bind(tenant)
            .bind(src)
            .bind(like_prefix(src))
            .fetch_all(&mut **tx)
            .await?
    } else {
        sqlx::query("SELECT path, ns, name, xml FROM props WHERE tenant = $1 AND path = $2 ORDER BY ns, name")
            .bind(tenant)
            .bind(src)
            .fetch_all(&mut **tx)
            .await?
    };
    for r in rows {
        let p: String = r.get("path");
        let np = format!("{dst}{}", &p[src.len()..]);
        sqlx::query(UPSERT)
            .bind(tenant)
            .bind(np)
            .bind(r.get::<String, _>("ns"))
            .bind(r.get::<String, _>("name"))
            .bind(r.get::<String, _>("xml"))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Drop the dead properties of one path inside the caller's transaction.
pub(super) async fn drop_props_tx(
    tx: &mut Tx<'_>,
    tenant: &str,
    path: &str,
) -> Result<(), DbError> {
    lock_props(tx, tenant, path, false).await?;
    sqlx::query("DELETE FROM props WHERE tenant = $1 AND path = $2")
        .bind(tenant)
        .bind(path)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
