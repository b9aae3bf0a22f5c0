//! The ConsumerProtocol bytes: a member's subscription (JoinGroup metadata) and its assignment (SyncGroup),
//! in the layout of the Java client, so a group can mix our members with theirs.
//!
//! Owns the encoding only: what the bytes say, not who gets which partition (that is `client::group::assignor`).
//! Newer versions only append fields, so the known prefix of a newer version is read.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignmentTopic;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as SubscriptionTopic;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::TopicPartition;

/// Version of the subscription we write: v2 carries owned partitions and their generation (KIP-429, KIP-792).
pub const SUBSCRIPTION_VERSION: i16 = 2;
/// Version of the assignment we write; v0 to v3 share one layout.
pub const ASSIGNMENT_VERSION: i16 = 1;
/// Highest versions `kafka-protocol` decodes; newer versions only append fields, so the known prefix is read.
const MAX_KNOWN_VERSION: i16 = 3;

/// Subscription or assignment bytes that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsumerProtocolError {
    #[error("ConsumerProtocol {what} is {len} bytes, too short for its version")]
    Truncated { what: &'static str, len: usize },
    #[error("ConsumerProtocol {what} v{version} could not be decoded: {reason}")]
    Decode {
        what: &'static str,
        version: i16,
        reason: String,
    },
    #[error("ConsumerProtocol {what} could not be encoded: {reason}")]
    Encode { what: &'static str, reason: String },
}

/// What a member's subscription says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub topics: Vec<String>,
    /// Partitions the member owns now (cooperative protocols); empty under eager ones.
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which it owned them; -1 if unknown (versions before 2).
    pub generation: i32,
}

pub fn encode_subscription(
    topics: &[String],
    owned: &[TopicPartition],
    generation: i32,
) -> Result<Bytes, ConsumerProtocolError> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in owned {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    let message = ConsumerProtocolSubscription::default()
        .with_topics(
            topics
                .iter()
                .map(|t| StrBytes::from_string(t.clone()))
                .collect(),
        )
        .with_owned_partitions(
            by_topic
                .into_iter()
                .map(|(topic, partitions)| {
                    SubscriptionTopic::default()
                        .with_topic(topic_name(topic))
                        .with_partitions(partitions)
                })
                .collect(),
        )
        .with_generation_id(generation);
    let mut out = BytesMut::new();
    out.put_i16(SUBSCRIPTION_VERSION);
    message
        .encode(&mut out, SUBSCRIPTION_VERSION)
        .map_err(|e| ConsumerProtocolError::Encode {
            what: "subscription",
            reason: e.to_string(),
        })?;
    Ok(out.freeze())
}

/// Reads a member's JoinGroup metadata.
pub fn decode_subscription(mut bytes: Bytes) -> Result<Subscription, ConsumerProtocolError> {
    let version = read_version(&mut bytes, "subscription")?;
    let message = ConsumerProtocolSubscription::decode(&mut bytes, version.min(MAX_KNOWN_VERSION))
        .map_err(|e| ConsumerProtocolError::Decode {
            what: "subscription",
            version,
            reason: e.to_string(),
        })?;
    let owned_partitions = message
        .owned_partitions
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| TopicPartition::new(t.topic.0.as_str(), *p))
        })
        .collect();
    Ok(Subscription {
        topics: message
            .topics
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect(),
        owned_partitions,
        generation: if version >= 2 {
            message.generation_id
        } else {
            -1
        },
    })
}

pub fn encode_assignment(partitions: &[TopicPartition]) -> Result<Bytes, ConsumerProtocolError> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    let message = ConsumerProtocolAssignment::default().with_assigned_partitions(
        by_topic
            .into_iter()
            .map(|(topic, partitions)| {
                AssignmentTopic::default()
                    .with_topic(topic_name(topic))
                    .with_partitions(partitions)
            })
            .collect(),
    );
    let mut out = BytesMut::new();
    out.put_i16(ASSIGNMENT_VERSION);
    message
        .encode(&mut out, ASSIGNMENT_VERSION)
        .map_err(|e| ConsumerProtocolError::Encode {
            what: "assignment",
            reason: e.to_string(),
        })?;
    Ok(out.freeze())
}

/// Reads the SyncGroup assignment; empty bytes (a member the leader gave nothing) is an empty assignment.
pub fn decode_assignment(mut bytes: Bytes) -> Result<Vec<TopicPartition>, ConsumerProtocolError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let version = read_version(&mut bytes, "assignment")?;
    let message = ConsumerProtocolAssignment::decode(&mut bytes, version.min(MAX_KNOWN_VERSION))
        .map_err(|e| ConsumerProtocolError::Decode {
            what: "assignment",
            version,
            reason: e.to_string(),
        })?;
    let mut partitions: Vec<TopicPartition> = message
        .assigned_partitions
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| TopicPartition::new(t.topic.0.as_str(), *p))
        })
        .collect();
    partitions.sort();
    partitions.dedup();
    Ok(partitions)
}

fn read_version(bytes: &mut Bytes, what: &'static str) -> Result<i16, ConsumerProtocolError> {
    if bytes.remaining() < 2 {
        return Err(ConsumerProtocolError::Truncated {
            what,
            len: bytes.len(),
        });
    }
    let version = bytes.get_i16();
    if version < 0 {
        return Err(ConsumerProtocolError::Decode {
            what,
            version,
            reason: "negative version".into(),
        });
    }
    Ok(version)
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
        list.iter()
            .map(|(t, p)| TopicPartition::new(*t, *p))
            .collect()
    }

    #[test]
    fn subscription_round_trips_and_starts_with_the_version() {
        let bytes = encode_subscription(
            &["orders".into(), "payments".into()],
            &tps(&[("orders", 1), ("orders", 0)]),
            7,
        )
        .unwrap();
        assert_eq!(&bytes[..2], &SUBSCRIPTION_VERSION.to_be_bytes());
        let decoded = decode_subscription(bytes).unwrap();
        assert_eq!(decoded.topics, vec!["orders", "payments"]);
        assert_eq!(
            decoded.owned_partitions,
            tps(&[("orders", 1), ("orders", 0)])
        );
        assert_eq!(decoded.generation, 7);
    }

    #[test]
    fn subscription_v0_from_an_old_client_is_read() {
        // v0: version, topics array ["t"], null user data.
        let bytes = Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff]);
        let decoded = decode_subscription(bytes).unwrap();
        assert_eq!(decoded.topics, vec!["t"]);
        assert!(decoded.owned_partitions.is_empty());
        assert_eq!(decoded.generation, -1);
    }

    #[test]
    fn assignment_round_trips_and_empty_bytes_mean_nothing() {
        let bytes = encode_assignment(&tps(&[("a", 2), ("a", 0), ("b", 1)])).unwrap();
        assert_eq!(&bytes[..2], &ASSIGNMENT_VERSION.to_be_bytes());
        assert_eq!(
            decode_assignment(bytes).unwrap(),
            tps(&[("a", 0), ("a", 2), ("b", 1)])
        );
        assert!(decode_assignment(Bytes::new()).unwrap().is_empty());
        assert!(decode_assignment(Bytes::from_static(&[0])).is_err());
        assert!(decode_assignment(Bytes::from_static(&[0, 1, 0, 0, 0, 9])).is_err());
    }
}
