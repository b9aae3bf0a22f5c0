//! Kafka wire protocol: bytes in, values out.
//!
//! Owns framing, API version negotiation and the record batch v2 codec. Must not touch sockets, clocks,
//! threads or async: every function here takes bytes (or values) and gives back values (or bytes).

pub mod compression;
pub mod record_batch;
pub mod varint;
