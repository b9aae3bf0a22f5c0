//! The consumed-record and header types of the record batch codec, for layers above the client that read
//! records and write headers (the Kafka connectors) without knowing the wire format.

pub use crate::protocol::record_batch::{HeaderRef, Record};
