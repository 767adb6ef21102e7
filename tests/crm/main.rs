//! CRM connectors against simulated vendors (wiremock): the generic `rest` engine, each
//! shipped SaaS definition against its vendor's documented API (contract_*), and the real
//! `crmdav` binary serving a tenant on HubSpot, Salesforce or Dynamics 365 over DAV.

#[path = "../support/mod.rs"]
mod support;

mod contract_dynamics365;
mod contract_hubspot;
mod contract_pipedrive;
mod contract_salesforce;
mod contract_zoho;
mod crm_saas_dav;
mod rest_engine;
mod rest_engine_ext;
