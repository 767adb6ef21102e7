//! The real `crmdav` binary with CRM-backed tenants on simulated vendors (wiremock): DAV
//! scenarios on HubSpot, Salesforce and Dynamics 365, and the shipped SaaS tenant examples
//! through `crmdav check` and the config loader. The connector and mapping contracts, which
//! need no gateway, are in `crates/crmdav-crm/tests/contracts/`.

#[path = "../support/mod.rs"]
mod support;

mod coordinated;
mod crm_saas_dav;
mod deletion_feed;
mod detail_relations;
mod faults;
mod moved_start;
mod odoo_dav;
mod person_admin;
mod personal_tokens;
mod rerender;
mod revalidate;
mod scopes;
mod sealed_tokens;
mod tenant_examples;
mod walkthrough;
mod write_during_refresh;
