//! Dead properties (RFC 4918 §4.2), one row per (tenant, path, namespace, name).

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::Row;

use super::{like_prefix, prefix_end, SqliteStore};
use crate::store::backend::{DbError, DeadPropertyStore};
use crate::store::model::DeadProperty;

fn row_prop(r: &sqlx::sqlite::SqliteRow) -> DeadProperty {
    DeadProperty {
        ns: r.get("ns"),
        name: r.get("name"),
        value: r.get("xml"),
    }
}

#[async_trait]
impl DeadPropertyStore for SqliteStore {
    async fn dead_props(&self, tenant: &str, path: &str) -> Result<Vec<DeadProperty>, DbError> {
        let rows = sqlx::query(
            "SELECT ns, name, xml FROM props WHERE tenant = ? AND path = ? ORDER BY ns, name",
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
        // Every PROPFIND and REPORT asks: read on the calling thread (`lite`), not through
        // sqlx's worker, by a path range (`prefix_end`); a prefix without its slash by LIKE.
        let end = prefix_end(prefix);
        let sql = match end {
            Some(_) => {
                "SELECT path, ns, name, xml FROM props WHERE tenant = ?1 AND path >= ?2 \
                 AND path < ?3 ORDER BY path, ns, name"
            }
            None => {
                "SELECT path, ns, name, xml FROM props WHERE tenant = ?1 AND (path = ?2 OR \
                 path LIKE ?3 ESCAPE '\\') ORDER BY path, ns, name"
            }
        };
        let upper = end.unwrap_or_else(|| like_prefix(prefix));
        self.lite.read(|c| {
            let mut out: HashMap<String, Vec<DeadProperty>> = HashMap::new();
            let mut stmt = c.prepare_cached(sql)?;
            let mut rows = stmt.query((tenant, prefix, upper.as_str()))?;
            while let Some(r) = rows.next()? {
                out.entry(r.get(0)?).or_default().push(DeadProperty {
                    ns: r.get(1)?,
                    name: r.get(2)?,
                    value: r.get(3)?,
                });
            }
            Ok(out)
        })
    }

    async fn patch_dead_props(
        &self,
        tenant: &str,
        path: &str,
        changes: &[(String, String, Option<String>)],
    ) -> Result<(), DbError> {
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        for (ns, name, xml) in changes {
            match xml {
                Some(x) => {
                    sqlx::query("INSERT OR REPLACE INTO props (tenant, path, ns, name, xml) VALUES (?, ?, ?, ?, ?)")
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
                        "DELETE FROM props WHERE tenant = ? AND path = ? AND ns = ? AND name = ?",
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
        tx.commit().await?;
        Ok(())
    }

    async fn copy_props(
        &self,
        tenant: &str,
        src: &str,
        dst: &str,
        tree: bool,
    ) -> Result<(), DbError> {
        let _w = self.write.lock().await;
        self.lite
            .write(|tx| copy_props_tx(tx, tenant, src, dst, tree))
            .map_err(super::lite::lite)
    }

    async fn drop_props(&self, tenant: &str, path: &str) -> Result<(), DbError> {
        let _w = self.write.lock().await;
        sqlx::query("DELETE FROM props WHERE tenant = ? AND path = ?")
            .bind(tenant)
            .bind(path)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Copy the dead properties of `src` (and of everything under it with `tree`) to `dst`,
/// replacing those of `dst`, inside the caller's write transaction (`lite`).
pub(super) fn copy_props_tx(
    tx: &rusqlite::Connection,
    tenant: &str,
    src: &str,
    dst: &str,
    tree: bool,
) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM props WHERE tenant = ?1 AND path = ?2")?
        .execute((tenant, dst))?;
    let rows: Vec<(String, String, String, String)> = {
        let mut st = tx.prepare_cached(
            "SELECT path, ns, name, xml FROM props WHERE tenant = ?1 \
             AND (path = ?2 OR (?3 IS NOT NULL AND path LIKE ?3 ESCAPE '\\'))",
        )?;
        let like = tree.then(|| like_prefix(src));
        let rows = st.query_map((tenant, src, like), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut ins = tx.prepare_cached(
        "INSERT OR REPLACE INTO props (tenant, path, ns, name, xml) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (p, ns, name, xml) in rows {
        let np = format!("{dst}{}", &p[src.len()..]);
        ins.execute((tenant, np, ns, name, xml))?;
    }
    Ok(())
}

/// Drop the dead properties of one path inside the caller's write transaction (`lite`).
pub(super) fn drop_props_tx(
    tx: &rusqlite::Connection,
    tenant: &str,
    path: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM props WHERE tenant = ?1 AND path = ?2")?
        .execute((tenant, path))?;
    Ok(())
}
