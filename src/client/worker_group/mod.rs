//! Kafka Connect's worker group, sans-IO: the member ([`member`]) of a group with protocol type `connect`.

pub mod member;
