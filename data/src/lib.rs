//! Data crate: the ChronoMagic pipeline (video I/O, metadata filter, cut detection, clips, sampling, captions) and ChronoMagic-Synth.
