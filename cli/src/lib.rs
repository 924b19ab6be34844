//! The engine's command lines: clap types and `run` functions of `magictime generate`, `model`,
//! `data`, `eval` and `probe` over the engine libraries (`magictime-model`, `-data`,
//! `-metrics`), which print nothing themselves. The `magictime` binary (`server/`) adds them as
//! subcommands. What a user reads (reports, JSON lines, `wrote …`) goes to stdout, progress bars
//! and notes to stderr.
//!
//! | module | subcommands |
//! |---|---|
//! | [`model`] | `generate`, `model inspect|train-default|train-clip` |
//! | [`data`] | `data filter|cuts|split|caption|sample|synth` |
//! | [`metrics`] | `eval`, `probe` |
//! | [`export`] | writing a generated video (MP4, GIF, WebP, frame-grid PNG): `generate` and the server's generation jobs |

pub mod data;
pub mod export;
pub mod metrics;
pub mod model;
