//! Listings narrowed for one scope (`Connector::list_query`: a scope's filter parameters and a
//! calendar's window bounds added to the list request) and the CRM's user list
//! (`Connector::list_users`, the definition's `[users]`).

use super::def::{Endpoint, EntityDef, ModifiedSinceDef, UsersDef};
use super::{jsonpath, RestConnector};
use crate::connector::{ConnectorError, CrmUser, ListQuery, Page};
use chrono::{DateTime, Utc};
use serde_json::Value;

impl RestConnector {
    /// One page of `entity` with `query` added to its list request (and to a modified-since
    /// search request that replaces the list endpoint's query).
    pub(super) async fn list_filtered(
        &self,
        entity: &str,
        since: Option<DateTime<Utc>>,
        page: Option<String>,
        query: &ListQuery,
    ) -> Result<Page, ConnectorError> {
        let e = self.entity(entity)?;
        if query.is_empty() {
            return self.list_page(e, since, page).await;
        }
        let mut narrowed = e.clone();
        narrowed.list.query.extend(query.clone());
        if let Some(ModifiedSinceDef::Body { query: Some(q), .. }) = &mut narrowed.modified_since {
            q.extend(query.clone());
        }
        self.list_page(&narrowed, since, page).await
    }

    /// The answer of the definition's `[me]` request, with this connector's credential.
    pub(super) async fn who_am_i(&self) -> Result<Value, ConnectorError> {
        let me = self
            .definition()
            .me
            .as_ref()
            .ok_or_else(|| ConnectorError::NotSupported {
                message: format!(
                    "{} has no [me] request in its definition",
                    self.definition().name
                ),
            })?;
        let ep = Endpoint {
            method: "GET".into(),
            path: me.path.clone(),
            query: me.query.clone(),
            body: None,
            constants: Default::default(),
            headers: Default::default(),
        };
        let req = self.endpoint_req(&ep, None, None, true)?;
        let resp = self.execute(&req).await?;
        self.check(&resp)
    }

    /// Every user of the CRM, paged, at most `max_pages` pages.
    pub(super) async fn users(&self) -> Result<Vec<CrmUser>, ConnectorError> {
        let u = self
            .definition()
            .users
            .as_ref()
            .ok_or_else(|| ConnectorError::NotSupported {
                message: format!(
                    "{} has no users listing in its definition",
                    self.definition().name
                ),
            })?;
        let e = users_entity(u);
        let mut out = Vec::new();
        let mut page = None;
        for _ in 0..u.max_pages.max(1) {
            let p = self.list_page(&e, None, page).await?;
            out.extend(p.records.iter().map(|r| user_of(u, &r.id, &r.data)));
            match p.next {
                Some(n) => page = Some(n),
                None => return Ok(out),
            }
        }
        tracing::warn!(crm = %self.definition().name, pages = u.max_pages, "the CRM's user list has more pages than max_pages; the rest is not read");
        Ok(out)
    }
}

/// The users listing as an entity the list machinery reads.
fn users_entity(u: &UsersDef) -> EntityDef {
    EntityDef {
        id_field: u.id_field.clone(),
        modified_field: None,
        version_field: None,
        version_header: None,
        records_path: u.records_path.clone(),
        record_path: String::new(),
        write_record_path: None,
        body_wrap: None,
        list: u.list.clone(),
        get: None,
        create: None,
        update: None,
        delete: Default::default(),
        paging: u.paging.clone(),
        modified_since: None,
        deletion_feed: false,
        max_scan_pages: u.max_pages,
        refetch_after_write: false,
        created_id_path: None,
        deleted: None,
        find_created: None,
        scopes: Default::default(),
        window: None,
        id_type: Default::default(),
        version_type: Default::default(),
    }
}

/// One user from a listed record.
fn user_of(u: &UsersDef, id: &str, data: &Value) -> CrmUser {
    let text = |p: &Option<String>| {
        p.as_deref()
            .and_then(|p| jsonpath::get(data, p))
            .and_then(jsonpath::scalar_string)
            .filter(|s| !s.is_empty())
    };
    let active = match &u.active_field {
        None => true,
        Some(p) => {
            let want = u.active_value.clone().unwrap_or(Value::Bool(true));
            jsonpath::get(data, p).is_some_and(|v| *v == want)
        }
    };
    CrmUser {
        id: id.to_string(),
        email: text(&Some(u.email_field.clone())),
        name: text(&u.name_field),
        active,
        team_id: text(&u.team_field),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_read_with_their_active_flag() {
        let u: UsersDef = toml::from_str(
            r#"list = { path = "/users" }
email_field = "email"
name_field = "name"
active_field = "active_flag"
team_field = "team.id"
"#,
        )
        .unwrap();
        let a = user_of(
            &u,
            "7",
            &serde_json::json!({"email": "A@x.io", "name": "A", "active_flag": true, "team": {"id": 3}}),
        );
        assert_eq!(
            a,
            CrmUser {
                id: "7".into(),
                email: Some("A@x.io".into()),
                name: Some("A".into()),
                active: true,
                team_id: Some("3".into())
            }
        );
        let b = user_of(
            &u,
            "8",
            &serde_json::json!({"email": "", "active_flag": false}),
        );
        assert!(!b.active);
        assert_eq!(b.email, None);
    }
}
