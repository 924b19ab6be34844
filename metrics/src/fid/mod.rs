//! FID InceptionV3 in pytorch-fid's "FID Inception" variant (2048-d pool3 features).

pub mod basic_conv2d;
pub mod inception;
pub mod inception_v3;
pub mod loader;
pub mod random;

pub use inception_v3::{fid_input, FidInceptionV3, FidInceptionV3Config, FID_DIM, FID_SIZE};
pub use loader::{default_weights_path, load_fid_inception, load_from_source, TensorSource};
