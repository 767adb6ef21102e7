//! What the loader asks of the connector definitions and mappings a tenant names.
//!
//! Configuration sits below the connector and mapping layers, so it cannot read those files
//! itself: whoever builds connectors passes an implementation to [`super::load_with`], and the
//! loader keeps its own error messages and the order in which it checks.

use std::collections::HashMap;
use std::fmt::Debug;

/// Parses connector definitions and mappings for the configuration loader.
pub trait DefinitionCheck {
    /// The component a mapping makes; its `Debug` form names it in errors (`Vcard`).
    type Component: Debug;

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
    ) -> Result<Self::Component, String>;

    /// The iCalendar name of a component: `VEVENT`, `VTODO` or `VCARD`.
    fn component_name(&self, component: &Self::Component) -> &'static str;
}
