//! The connector definitions and mappings a configuration names, checked while it loads: the
//! configuration layer sits below connectors and mappings, so this side supplies its
//! [`DefinitionCheck`].

use crate::config::{load_with, ConfigError, DefinitionCheck, ServerConfig};
use crate::connector::rest::def::ConnectorDef;
use crate::mapping::{ComponentKind, Mapping};
use std::collections::HashMap;
use std::path::Path;

/// Reads connector definitions and mappings with the REST engine's and the mapping layer's
/// own parsers.
#[derive(Debug, Clone, Copy, Default)]
pub struct CrmDefinitions;

impl DefinitionCheck for CrmDefinitions {
    fn connector_entities(
        &self,
        text: &str,
        vars: &HashMap<String, String>,
    ) -> Result<Vec<String>, String> {
        let def = ConnectorDef::from_toml_str(text, vars)?;
        Ok(def.entities.into_keys().collect())
    }

    fn mapping_component(
        &self,
        text: &str,
        vars: &HashMap<String, String>,
        crm: &str,
        entity: &str,
    ) -> Result<ComponentKind, String> {
        Mapping::from_toml_str(text, vars, Some(crm.to_string()), Some(entity.to_string()))
            .map(|m| m.component())
    }

    fn personal_token(&self, text: &str, vars: &HashMap<String, String>) -> Result<(), String> {
        let def = ConnectorDef::from_toml_str(text, vars)?;
        crate::crm::credentials::personal_token_def(&def, "-").map(|_| ())
    }

    fn entity_scopes(
        &self,
        text: &str,
        vars: &HashMap<String, String>,
        entity: &str,
    ) -> Result<Vec<String>, String> {
        let def = ConnectorDef::from_toml_str(text, vars)?;
        Ok(def
            .entities
            .get(entity)
            .map(|e| e.scopes.keys().cloned().collect())
            .unwrap_or_default())
    }
}

/// Load the server file at `path` and its tenants, checking every connector definition and
/// mapping they name.
pub fn load_config(path: &Path) -> Result<ServerConfig, ConfigError> {
    load_with(path, &CrmDefinitions)
}
