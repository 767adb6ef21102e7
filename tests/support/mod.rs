pub mod amagi;
