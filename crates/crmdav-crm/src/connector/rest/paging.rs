//! The paging styles of a list endpoint: for each, where a page's place goes in the request
//! and how the answer names the next page.

use super::def::PagingDef;
use super::transport::header_str;
use super::{jsonpath, RestConnector};
use crate::connector::ConnectorError;
use reqwest::header::HeaderMap;
use reqwest::Url;
use serde_json::Value;

/// Where a page is, in the request: `(query name, value, body placeholder)` triples, or the
/// next link to follow as it is.
#[derive(Default)]
pub(super) struct PagePlace {
    pub(super) params: Vec<(String, String, &'static str)>,
    pub(super) next_url: Option<Url>,
}

/// What a list answer says about the next page.
pub(super) struct Answer<'a> {
    pub(super) body: &'a Value,
    pub(super) headers: &'a HeaderMap,
    /// The URL the page was read from (next links are relative to it).
    pub(super) url: &'a Url,
    /// Records on the page.
    pub(super) count: u64,
}

impl RestConnector {
    /// Where the page `page` (a token this engine handed out; none: the first) goes in the request.
    pub(super) fn page_place(
        &self,
        paging: &PagingDef,
        page: Option<&str>,
    ) -> Result<PagePlace, ConnectorError> {
        match paging {
            PagingDef::None => Ok(PagePlace::default()),
            PagingDef::Offset {
                offset_param,
                limit_param,
                limit,
                ..
            } => offset_place(offset_param, limit_param, *limit, page),
            PagingDef::Page {
                page_param,
                size_param,
                size,
                first_page,
                ..
            } => page_number_place(page_param, size_param.as_deref(), *size, *first_page, page),
            PagingDef::Cursor {
                cursor_param,
                limit_param,
                limit,
                ..
            } => Ok(cursor_place(
                cursor_param,
                limit_param.as_deref(),
                *limit,
                page,
            )),
            PagingDef::NextLink {
                limit_param, limit, ..
            } => self.next_link_place(limit_param.as_deref(), *limit, page),
        }
    }

    /// The token of the page after `page`, from the answer; `None` on the last page.
    pub(super) fn next_page(
        &self,
        paging: &PagingDef,
        page: Option<&str>,
        answer: &Answer<'_>,
    ) -> Result<Option<String>, ConnectorError> {
        match paging {
            PagingDef::None => Ok(None),
            PagingDef::Offset {
                limit, total_path, ..
            } => offset_next(*limit, total_path.as_deref(), page, answer),
            PagingDef::Page {
                size,
                first_page,
                has_more_path,
                ..
            } => page_number_next(*size, *first_page, has_more_path.as_deref(), page, answer),
            PagingDef::Cursor {
                cursor_path,
                has_more_path,
                ..
            } => Ok(cursor_next(cursor_path, has_more_path.as_deref(), answer)),
            PagingDef::NextLink { next_path, .. } => {
                self.next_link_next(next_path.as_deref(), answer)
            }
        }
    }

    /// Next link: the first page carries the limit; later pages are the link itself, which must
    /// stay under the base URL.
    fn next_link_place(
        &self,
        limit_param: Option<&str>,
        limit: u32,
        page: Option<&str>,
    ) -> Result<PagePlace, ConnectorError> {
        let mut place = PagePlace::default();
        match page {
            Some(link) => {
                let u = Url::parse(link).map_err(|_| ConnectorError::Protocol {
                    message: "bad next-page link".into(),
                })?;
                self.check_origin(&u)?;
                place.next_url = Some(u);
            }
            None => {
                if let Some(lp) = limit_param {
                    place
                        .params
                        .push((lp.to_string(), limit.to_string(), "{limit}"));
                }
            }
        }
        Ok(place)
    }

    /// Next link: at `next_path` in the body, else the `Link` header's `rel="next"`; resolved
    /// against the page's URL and kept under the base URL.
    fn next_link_next(
        &self,
        next_path: Option<&str>,
        answer: &Answer<'_>,
    ) -> Result<Option<String>, ConnectorError> {
        let link = match next_path {
            Some(p) => jsonpath::get(answer.body, p).and_then(jsonpath::scalar_string),
            None => header_str(answer.headers, "link").and_then(next_from_link_header),
        };
        match link.filter(|l| !l.is_empty()) {
            Some(l) => {
                let abs = answer.url.join(&l).map_err(|_| ConnectorError::Protocol {
                    message: "bad next-page link".into(),
                })?;
                self.check_origin(&abs)?;
                Ok(Some(abs.to_string()))
            }
            None => Ok(None),
        }
    }
}

/// Offset: the token is the offset of the page's first record.
fn offset_place(
    offset_param: &str,
    limit_param: &str,
    limit: u32,
    page: Option<&str>,
) -> Result<PagePlace, ConnectorError> {
    let offset = parse_token(page, 0)?;
    Ok(PagePlace {
        params: vec![
            (offset_param.to_string(), offset.to_string(), "{offset}"),
            (limit_param.to_string(), limit.to_string(), "{limit}"),
        ],
        next_url: None,
    })
}

/// Offset: more when a total says so, else when the page was full.
fn offset_next(
    limit: u32,
    total_path: Option<&str>,
    page: Option<&str>,
    answer: &Answer<'_>,
) -> Result<Option<String>, ConnectorError> {
    let offset = parse_token(page, 0)?;
    let count = answer.count;
    let more = match total_path.and_then(|p| jsonpath::get(answer.body, p)) {
        Some(t) => t.as_u64().is_some_and(|t| offset + count < t),
        None => count >= u64::from(limit) && count > 0,
    };
    Ok(more.then(|| (offset + count).to_string()))
}

/// Page number: the token is the page number (from `first_page`).
fn page_number_place(
    page_param: &str,
    size_param: Option<&str>,
    size: u32,
    first_page: u32,
    page: Option<&str>,
) -> Result<PagePlace, ConnectorError> {
    let n = parse_token(page, u64::from(first_page))?;
    let mut params = vec![(page_param.to_string(), n.to_string(), "{page}")];
    if let Some(sp) = size_param {
        params.push((sp.to_string(), size.to_string(), "{limit}"));
    }
    Ok(PagePlace {
        params,
        next_url: None,
    })
}

/// Page number: more when `has_more_path` says so, else when the page was full.
fn page_number_next(
    size: u32,
    first_page: u32,
    has_more_path: Option<&str>,
    page: Option<&str>,
    answer: &Answer<'_>,
) -> Result<Option<String>, ConnectorError> {
    let n = parse_token(page, u64::from(first_page))?;
    let count = answer.count;
    let more = match has_more_path {
        Some(p) => jsonpath::get(answer.body, p)
            .and_then(Value::as_bool)
            .unwrap_or(false),
        None => count >= u64::from(size) && count > 0,
    };
    Ok(more.then(|| (n + 1).to_string()))
}

/// Cursor: the token is the CRM's cursor (none on the first page).
fn cursor_place(
    cursor_param: &str,
    limit_param: Option<&str>,
    limit: u32,
    page: Option<&str>,
) -> PagePlace {
    let mut params = Vec::new();
    if let Some(c) = page {
        params.push((cursor_param.to_string(), c.to_string(), "{cursor}"));
    }
    if let Some(lp) = limit_param {
        params.push((lp.to_string(), limit.to_string(), "{limit}"));
    }
    PagePlace {
        params,
        next_url: None,
    }
}

/// Cursor: the next cursor at `cursor_path`, unless `has_more_path` says there is no more.
fn cursor_next(
    cursor_path: &str,
    has_more_path: Option<&str>,
    answer: &Answer<'_>,
) -> Option<String> {
    let more = has_more_path.is_none_or(|p| {
        jsonpath::get(answer.body, p)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    });
    jsonpath::get(answer.body, cursor_path)
        .and_then(jsonpath::scalar_string)
        .filter(|c| more && !c.is_empty())
}

/// A numeric page token (offset or page number); `default` for the first page.
pub(super) fn parse_token(page: Option<&str>, default: u64) -> Result<u64, ConnectorError> {
    match page {
        None => Ok(default),
        Some(p) => p.parse().map_err(|_| ConnectorError::Protocol {
            message: format!("bad page token {p:?}"),
        }),
    }
}

/// `<https://x/y?page=2>; rel="next", <…>; rel="last"` → the next URL.
pub(super) fn next_from_link_header(value: &str) -> Option<String> {
    value.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p == "rel=\"next\"" || p == "rel=next"
        });
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| url.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header() {
        assert_eq!(
            next_from_link_header(
                r#"<https://a/x?page=2>; rel="next", <https://a/x?page=9>; rel="last""#
            ),
            Some("https://a/x?page=2".to_string())
        );
        assert_eq!(
            next_from_link_header(r#"<https://a/x?page=9>; rel="last""#),
            None
        );
    }
}
