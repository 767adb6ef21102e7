//! The text every crmdav layer shares: the content-line grammar of iCalendar and vCard
//! (`contentline`) and the domain's words (`vocab`). A leaf crate with no server, HTTP client
//! or database in it, so the CRM crate and its tests build without them.

pub mod contentline;
pub mod vocab;
