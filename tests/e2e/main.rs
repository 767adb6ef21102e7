//! End to end with a real amagi-crm 0.1.0 from PyPI (support/amagi.rs): the `rest` engine and
//! mappings directly, and the real `crmdav` binary serving a CRM-backed tenant to a phone.
//! Needs Python >= 3.10 with pip and PyPI on the first run; fails loudly without them.
//! Also the sign-in page (`setup`, `setup_browser`) against a real OpenID Connect provider
//! (npm `oidc-provider` under Node) and headless chromium: without Node or chromium those
//! tests fail when `CI` is set, and otherwise print why and return.

#[path = "../support/mod.rs"]
mod support;

mod amagi_e2e;
mod amagi_faults;
mod crm_amagi;
mod people_amagi;
mod scopes_amagi;
mod setup;
mod setup_browser;
mod setup_crm;
mod setup_instances;
