//! Helpers shared by the integration-test binaries (`tests/<area>/main.rs`), each of which
//! uses only part of them.
//!
//! - [`gateway`]: the one launcher of the real `crmdav` binary, `bin()`, `hash_password`,
//!   `free_port`, state folders kept when a test fails.
//! - [`demo`] and [`dav`]: the demo server shared by a process, and the blocking client DSL.
//! - [`phone`]: async DAV against a gateway with a CRM-backed tenant.
//! - [`saas`]: HubSpot, Salesforce and Dynamics 365 simulated with wiremock.
//! - [`amagi`]: a real amagi-crm from PyPI.
//! - [`oidc`]: a real OpenID Connect provider (oidc-provider under Node); [`browser`]: headless
//!   chromium over WebDriver.
//! - [`examples`]: the shipped SaaS tenant examples load.
//! - [`front`]: a round-robin loopback TCP front for several gateways.
//! - [`postgres`]: a throwaway PostgreSQL cluster (skipped without the server binaries).
#![allow(dead_code)]

pub mod amagi;
pub mod browser;
pub mod dav;
pub mod demo;
pub mod examples;
pub mod front;
pub mod gateway;
pub mod oidc;
pub mod phone;
pub mod postgres;
pub mod saas;
