//! Kafka Connect's worker group (JoinGroup protocol type "connect"), sans-IO: the member ([`member`]) and the
//! leader's assignor ([`assignor`]).

pub mod assignor;
pub mod member;
