//! The CRM side against simulated vendors (wiremock), with no gateway: the generic `rest`
//! engine (paging, auth, OAuth2, retries, error mapping) and each shipped SaaS definition and
//! mapping against its vendor's documented API. This binary links only the `crmdav-crm` crate
//! (no actix-web, sqlx or argon2). Fixtures and the shipped `connectors/` and `mappings/` are
//! read from the repository root.

mod contract_dynamics365;
mod contract_hubspot;
mod contract_people;
mod contract_pipedrive;
mod contract_salesforce;
mod contract_zoho;
pub mod odoo_fake;
mod rest_created;
mod rest_engine;
mod rest_engine_ext;
mod rest_format;
mod rest_odoo;
mod rest_rpc;
