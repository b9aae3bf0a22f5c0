//! `datagen`: synthetic JSON records at a given rate, for demos and benches. Record `n` of a seed is always the
//! same bytes, so a restart at a stored position resumes the sequence. Owns no I/O but a timer.

mod config;
mod schemas;
mod task;

pub use config::{DatagenConfig, CONFIG, SOURCE};
pub use schemas::DatagenSchema;
pub use task::DatagenSource;
