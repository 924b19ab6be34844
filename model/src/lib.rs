//! Model crate: MagicTime network stack in Burn (CLIP, UNet3D + motion modules, VAE, LoRA adapters, schedulers, pipeline).

pub mod backend;
pub mod error;

pub use error::{ModelError, Result};
pub mod motion;
pub mod unet;
pub mod clip;
pub mod loader;
pub mod lora;
pub mod scheduler;
pub mod vae;
pub mod pipeline;
pub mod cli;
