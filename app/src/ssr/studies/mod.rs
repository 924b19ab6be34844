//! User studies, server side: the design, balanced assignment, storage, the batched durable
//! answer writer, statistics, SVG plots (plotters), exports and the researcher page's data.
pub mod analysis;
pub mod assign;
pub mod auto_metrics;
pub mod demographics;
pub mod design;
pub mod page;
pub mod plots;
pub mod stats;
pub mod stimuli;
pub mod store;
pub mod writer;
