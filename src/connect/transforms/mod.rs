//! Single message transforms with Kafka Connect's names, options and `$Key`/`$Value` variants, plus the
//! predicates that gate them (`predicate` + `negate`).
//!
//! A transform is built once from `(name, ParsedConfig)` into the `Transform` enum and applied per record by
//! a `match` (no `dyn` call). Transforms touch only converted data; `TransformChain` converts a record's key
//! or value lazily, the first time a transform needs it, so a record nothing reads stays raw bytes.
//! Each transform lives in its own file with its `CONFIG` (declared keys) beside its code.

pub mod cast;
mod chain;
mod components;
pub mod drop_headers;
pub mod extract_field;
pub mod filter;
pub mod flatten;
pub mod header_from;
pub mod hoist_field;
pub mod insert_field;
pub mod insert_header;
pub mod mask_field;
pub mod predicates;
pub mod regex_router;
pub mod replace_field;
pub mod set_schema_metadata;
mod shared;
pub mod timefmt;
pub mod timestamp_converter;
pub mod timestamp_router;
mod transform;
mod util;
pub mod value_to_key;

#[cfg(test)]
mod tests;

pub use chain::{ChainError, TransformChain};
pub use components::COMPONENTS;
pub use shared::{TransformBuildError, TransformError, Which};
pub use transform::{Needs, Transform, TransformKind};
