//! Model crate: MagicTime network stack in Burn (CLIP, UNet3D + motion modules, VAE, LoRA adapters, schedulers, pipeline).

pub mod backend;
pub mod error;
pub mod kernels;

pub use error::{ModelError, Result};
pub mod clip;
pub mod context;
pub mod default_model;
pub mod loader;
pub mod lora;
pub mod motion;
pub mod pipeline;
pub mod sample_config;
pub mod scheduler;
pub mod train;
pub mod unet;
pub mod vae;
