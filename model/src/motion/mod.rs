//! AnimateDiff motion modules (v3): temporal transformers inserted after every resnet(+attention)
//! pair of the UNet, none in the mid block.
//!
//! - [`temporal_transformer`]: the module itself (`VanillaTemporalModule` / diffusers
//!   `AnimateDiffTransformer3D`).
//! - [`loader`]: original AnimateDiff keys (`…motion_modules.M.temporal_transformer…`) ↔ the
//!   diffusers `UNetMotionModel` / `MotionAdapter` keys the modules are named after.

pub mod loader;
pub mod magic_adapter_t;
pub mod temporal_transformer;

pub use temporal_transformer::{MotionModule, MotionModuleConfig};
