//! Kafka wire protocol: bytes in, values out.
//!
//! Owns framing, API version negotiation, the record batch v2 codec and the consumer-protocol codec (the
//! subscription and assignment bytes inside JoinGroup and SyncGroup). Must not touch sockets, clocks,
//! threads or async: every function here takes bytes (or values) and gives back values (or bytes).

pub mod compression;
pub mod connect_protocol;
pub mod consumer_protocol;
pub mod error;
pub mod frame;
pub mod messages;
pub mod record_batch;
pub mod topic_partition;
pub mod varint;
pub mod versions;

pub use error::ProtocolError;
pub use messages::{Request, Response};
pub use topic_partition::TopicPartition;
