//! The connectors, one folder each: `config.rs`-style key declarations (registered in `COMPONENTS`) and the
//! task loop.

pub mod kafka;
