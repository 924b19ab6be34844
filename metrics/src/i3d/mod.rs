//! I3D (Inception-3D, Kinetics-400) for FVD, ported from i3d-jax (`i3d_jax/i3d.py`), with the
//! original FVD preprocessing.

pub mod inception_i3d;
pub mod inception_module;
pub mod loader;
pub mod pattern;
pub mod pool;
pub mod preprocess;
pub mod unit3d;

pub use inception_i3d::{I3dOutput, InceptionI3d, InceptionI3dConfig};
pub use loader::{default_weights_path, load_i3d};
