//! Checkpoint loaders. [`store`] is the one path into burn-store (typed errors); the other files
//! hold each model's key table and folder layout.

pub mod clip;
pub mod inspect;
pub mod magictime;
pub mod peft;
pub mod single_file;
pub mod store;
pub mod swift;
pub mod vae;

pub use store::{find_weights, load_into, read_config, LoadReport, Missing, Rename, Renames};
