//! Kafka Connect's worker group (JoinGroup protocol type "connect"): the leader's assignor.

pub mod assignor;
