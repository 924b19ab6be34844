//! The SD1.5 UNet inflated over frames, with AnimateDiff motion modules (see `crate::motion`).
//!
//! Files follow the diffusers modules they port: `resnet.rs`, `attention.rs`, `embeddings.rs`,
//! `blocks.rs` (unet_motion_model blocks), `unet_3d_condition.rs`; `norm.rs` holds GroupNorm and
//! LayerNorm under torch's parameter names; `linear.rs` runs `Linear` on token batches as one GEMM;
//! `checkpoint.rs` reads upstream UNet files (the key table is `crate::loader::unet`).
//!
//! Presets (`UNet3DConfig::sd15()`, `tiny()`, `parity()`, `bench()`) are in
//! `unet_3d_condition.rs`.

pub mod attention;
pub mod blocks;
pub mod checkpoint;
pub mod embeddings;
pub mod linear;
pub mod magic_adapter_s;
pub mod norm;
pub mod resnet;
pub mod unet_3d_condition;

pub use unet_3d_condition::{UNet3DConditionModel, UNet3DConfig};
