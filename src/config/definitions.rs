//! What the loader asks of the connector definitions and mappings a tenant names.
//!
//! Configuration sits below the connector and mapping layers, so it cannot read those files
//! itself: whoever builds connectors passes an implementation to [`super::load_with`], and the
//! loader keeps its own error messages and the order in which it checks.

use crate::vocab::ComponentKind;
use std::collections::HashMap;

/// Parses connector definitions and mappings for the configuration loader.
pub trait DefinitionCheck {
    /// Parse a connector definition with a tenant's option variables: its entity names, in
    /// order, or why it is wrong.
    fn connector_entities(
        &self,
        text: &str,
        vars: &HashMap<String, String>,
    ) -> Result<Vec<String>, String>;

    /// Parse a mapping of `crm`'s `entity` with a tenant's option variables: the component it
    /// makes, or why it is wrong.
    fn mapping_component(
        &self,
        text: &str,
        vars: &HashMap<String, String>,
        crm: &str,
        entity: &str,
    ) -> Result<ComponentKind, String>;

    /// Whether a person's own API token (`users[].crm_token`) can stand in for the connector
    /// definition's credential, or why not.
    fn personal_token(&self, text: &str, vars: &HashMap<String, String>) -> Result<(), String> {
        let _ = (text, vars);
        Ok(())
    }

    /// The scopes (`mine`, `team`) the connector definition declares for `entity`.
    fn entity_scopes(
        &self,
        text: &str,
        vars: &HashMap<String, String>,
        entity: &str,
    ) -> Result<Vec<String>, String> {
        let _ = (text, vars, entity);
        Ok(Vec::new())
    }
}
