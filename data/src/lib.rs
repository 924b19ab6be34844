//! Data crate: the ChronoMagic pipeline (video I/O, filter, cut detection, clips, sampling,
//! captions) and ChronoMagic-Synth, the procedural metamorphic-video generator.

pub mod caption;
pub mod clips;
pub mod cuts;
pub mod error;
pub mod filter;
pub mod keyframes;
pub mod manifest;
pub mod sampler;
pub mod synth;
pub mod video;

pub use error::{DataError, Result};
