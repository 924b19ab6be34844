//! Checkpoint loaders: the one way weights enter a module. [`store`] is the path into burn-store
//! (files and in-memory [`WeightMap`]s, one [`LoadReport`], typed errors), [`tensors`] reads a
//! checkpoint's tensors for key conversions done in memory, [`read_config`] reads config files
//! into `#[derive(Deserialize)]` mirrors; the other files hold each model's key table and folder
//! layout (`clip`, `vae`, `unet`, `single_file` for LDM files, `peft` / `swift` for adapters,
//! `magictime` for the release's `ckpts/` tree).

pub mod clip;
pub mod inspect;
pub mod magictime;
pub mod peft;
pub mod single_file;
pub mod store;
pub mod swift;
pub mod tensors;
pub mod unet;
pub mod vae;

pub use store::{
    find_weights, load_file, load_map, read_config, LoadMode, LoadReport, Missing, Rename, Renames,
};
pub use tensors::{RawTensor, WeightMap};
