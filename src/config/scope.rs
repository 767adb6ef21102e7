//! Per-person scopes and calendar windows of declared collections (`scope`,
//! `window_past_days`, `window_future_days` in a tenant file's `[[collections]]`).

use super::load::{err, ConfigError};
use serde::Deserialize;
use std::path::Path;

/// Which of a CRM entity's records a person's collection holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeConfig {
    /// Every record of the entity (the default).
    #[default]
    All,
    /// The records the person owns, is assigned to or attends (the entity's `scopes.mine`).
    Mine,
    /// The records of the person's team (the entity's `scopes.team`).
    Team,
}

impl ScopeConfig {
    /// The scope's name in files and in connector definitions.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeConfig::All => "all",
            ScopeConfig::Mine => "mine",
            ScopeConfig::Team => "team",
        }
    }
}

/// How far back and ahead a CRM calendar reaches, in days from today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowConfig {
    /// Days before today.
    pub past_days: u32,
    /// Days after today.
    pub future_days: u32,
}

/// Longest window side accepted (about 30 years).
const MAX_WINDOW_DAYS: i64 = 11_000;

/// Take `scope`, `window_past_days` and `window_future_days` from a collection table.
pub(super) fn take_scope(
    c: &mut toml::Table,
    file: &Path,
    key: &str,
) -> Result<(ScopeConfig, Option<WindowConfig>), ConfigError> {
    let scope = match c.remove("scope") {
        None => ScopeConfig::All,
        Some(v) => v.try_into::<ScopeConfig>().map_err(|_| {
            err(
                file,
                &format!("{key}.scope"),
                "must be \"mine\", \"team\" or \"all\"",
            )
        })?,
    };
    let mut days = |name: &str| -> Result<Option<u32>, ConfigError> {
        match c.remove(name) {
            None => Ok(None),
            Some(toml::Value::Integer(n)) if (0..=MAX_WINDOW_DAYS).contains(&n) => {
                Ok(Some(n as u32))
            }
            Some(_) => Err(err(
                file,
                &format!("{key}.{name}"),
                format!("must be a whole number of days from 0 to {MAX_WINDOW_DAYS}"),
            )),
        }
    };
    let past = days("window_past_days")?;
    let future = days("window_future_days")?;
    let window = match (past, future) {
        (None, None) => None,
        (Some(p), Some(f)) => Some(WindowConfig {
            past_days: p,
            future_days: f,
        }),
        _ => {
            return Err(err(
                file,
                &format!("{key}.window_past_days"),
                "a window needs both window_past_days and window_future_days",
            ))
        }
    };
    Ok((scope, window))
}
