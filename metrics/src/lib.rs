//! Metrics crate: Fréchet distance, KID, FVD (I3D), FID (InceptionV3), CLIPSIM, metamorphic score.
//!
//! Every reported number carries the sample count it came from (FD is biased by N).

pub mod bench;
pub mod cli;
pub mod clipsim;
pub mod error;
pub mod eval;
pub mod features;
pub mod fid;
pub mod frechet;
pub mod i3d;
pub mod kid;
pub mod report;
pub mod stats;

pub use error::{MetricsError, Result};
pub use frechet::{frechet_distance, FrechetDistance};
pub use kid::{kernel_distance, KernelDistance, KidOptions};
pub use stats::{GaussianStats, StatsAccumulator};
