//! The `engine` command line: `--config` (run pipelines), kcat-style `produce` / `consume`, `metadata`,
//! `topic create`, `group`, `validate`.
//!
//! Errors reach the user as one line and a non-zero exit; `--help` exists on every command.

pub mod admin;
pub mod args;
pub mod consume;
pub mod format;
pub mod group;
pub mod produce;
pub mod prometheus_text;
pub mod rest_client;
pub mod run;
pub mod status;
pub mod validate;
