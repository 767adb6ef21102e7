pub mod amagi;
pub mod saas;
