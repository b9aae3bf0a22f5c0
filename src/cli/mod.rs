//! The `engine` command line: kcat-style `produce` / `consume`, `metadata`, `topic create`, `validate`.
//!
//! Errors reach the user as one line and a non-zero exit; `--help` exists on every command.

pub mod admin;
pub mod args;
pub mod consume;
pub mod format;
pub mod group;
pub mod produce;
pub mod validate;
