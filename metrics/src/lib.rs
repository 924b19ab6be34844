//! Metrics crate: Fréchet distance, KID, FVD (I3D), FID (InceptionV3), CLIPSIM, metamorphic score.
