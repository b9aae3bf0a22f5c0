//! Offset operations: a group's committed offsets (fetch, alter, delete) and partitions' log offsets
//! (ListOffsets, at each partition's leader).

use std::collections::BTreeMap;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, BrokerId as NodeId, ListOffsetsRequest, OffsetCommitRequest, OffsetDeleteRequest,
    OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::groups::group_id;
use super::operation::{
    broker_error, coordinator_retry, unexpected, unexpected_for_group, AdminError, AdminOperation,
    AdminTarget, Answer, AnswerRetry,
};
use super::topics::ClusterDescription;
use crate::client::BrokerId;
use crate::protocol::{Request, Response, TopicPartition};

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

/// `items` grouped by topic, in topic order.
fn by_topic<T>(
    items: impl IntoIterator<Item = (TopicPartition, T)>,
) -> BTreeMap<String, Vec<(i32, T)>> {
    let mut topics: BTreeMap<String, Vec<(i32, T)>> = BTreeMap::new();
    for (tp, item) in items {
        topics
            .entry(tp.topic)
            .or_default()
            .push((tp.partition, item));
    }
    topics
}

/// The first per-partition error that asks for a retry (the coordinator moved or is loading).
fn partitions_retry(codes: impl Iterator<Item = i16>) -> Option<AnswerRetry> {
    codes.filter_map(coordinator_retry).next()
}

/// Per-partition outcomes of an alter or delete.
pub type PartitionOutcomes = Vec<(TopicPartition, Result<(), AdminError>)>;

/// OffsetFetch: the offsets `group` committed for `partitions` (named one by one: asking for "all" with null
/// topics is the short way, but some brokers, tansu, answer it with a null array the protocol does not allow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOffsets {
    pub group: String,
    pub partitions: Vec<TopicPartition>,
}

impl AdminOperation for FetchOffsets {
    /// The partitions with a committed offset; those without one are left out.
    type Output = BTreeMap<TopicPartition, i64>;
    const API: ApiKey = ApiKey::OffsetFetch;

    fn target(&self) -> AdminTarget {
        AdminTarget::GroupCoordinator(self.group.clone())
    }

    fn request(&self) -> Request {
        let topics = by_topic(self.partitions.iter().map(|tp| (tp.clone(), ())))
            .into_iter()
            .map(|(topic, partitions)| {
                OffsetFetchRequestTopic::default()
                    .with_name(topic_name(&topic))
                    .with_partition_indexes(partitions.into_iter().map(|(p, ())| p).collect())
            })
            .collect();
        Request::OffsetFetch(
            OffsetFetchRequest::default()
                .with_group_id(group_id(&self.group))
                .with_topics(Some(topics)),
        )
    }

    fn retry(response: &Response) -> Option<AnswerRetry> {
        match response {
            Response::OffsetFetch(r) => coordinator_retry(r.error_code),
            _ => None,
        }
    }

    fn read(self, answer: Answer) -> Result<Self::Output, AdminError> {
        let Response::OffsetFetch(response) = &answer.response else {
            return Err(unexpected_for_group(
                Self::API,
                &self.group,
                &answer.response,
            ));
        };
        broker_error(Self::API, response.error_code, None)?;
        let mut committed = BTreeMap::new();
        for topic in &response.topics {
            for p in &topic.partitions {
                if p.error_code == 0 && p.committed_offset >= 0 {
                    committed.insert(
                        TopicPartition::new(topic.name.0.as_str(), p.partition_index),
                        p.committed_offset,
                    );
                }
            }
        }
        Ok(committed)
    }
}

/// OffsetCommit from outside the group (generation -1, no member id, as the Java admin client's
/// `alterConsumerGroupOffsets`): the coordinator accepts it only while the group has no members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterOffsets {
    pub group: String,
    /// The next offset to read, per partition.
    pub offsets: Vec<(TopicPartition, i64)>,
}

impl AdminOperation for AlterOffsets {
    type Output = PartitionOutcomes;
    const API: ApiKey = ApiKey::OffsetCommit;

    fn target(&self) -> AdminTarget {
        AdminTarget::GroupCoordinator(self.group.clone())
    }

    fn request(&self) -> Request {
        let topics = by_topic(self.offsets.iter().cloned())
            .into_iter()
            .map(|(topic, partitions)| {
                OffsetCommitRequestTopic::default()
                    .with_name(topic_name(&topic))
                    .with_partitions(
                        partitions
                            .into_iter()
                            .map(|(partition, offset)| {
                                OffsetCommitRequestPartition::default()
                                    .with_partition_index(partition)
                                    .with_committed_offset(offset)
                            })
                            .collect(),
                    )
            })
            .collect();
        Request::OffsetCommit(
            OffsetCommitRequest::default()
                .with_group_id(group_id(&self.group))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(topics),
        )
    }

    fn retry(response: &Response) -> Option<AnswerRetry> {
        match response {
            Response::OffsetCommit(r) => partitions_retry(
                r.topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            ),
            _ => None,
        }
    }

    fn read(self, answer: Answer) -> Result<Self::Output, AdminError> {
        let Response::OffsetCommit(response) = &answer.response else {
            return Err(unexpected_for_group(
                Self::API,
                &self.group,
                &answer.response,
            ));
        };
        Ok(response
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    (
                        TopicPartition::new(t.name.0.as_str(), p.partition_index),
                        broker_error(Self::API, p.error_code, None),
                    )
                })
            })
            .collect())
    }
}

/// OffsetDelete: forgets what `group` committed for `partitions` (refused for partitions the group still
/// consumes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteOffsets {
    pub group: String,
    pub partitions: Vec<TopicPartition>,
}

impl AdminOperation for DeleteOffsets {
    type Output = PartitionOutcomes;
    const API: ApiKey = ApiKey::OffsetDelete;

    fn target(&self) -> AdminTarget {
        AdminTarget::GroupCoordinator(self.group.clone())
    }

    fn request(&self) -> Request {
        let topics = by_topic(self.partitions.iter().map(|tp| (tp.clone(), ())))
            .into_iter()
            .map(|(topic, partitions)| {
                OffsetDeleteRequestTopic::default()
                    .with_name(topic_name(&topic))
                    .with_partitions(
                        partitions
                            .into_iter()
                            .map(|(partition, ())| {
                                OffsetDeleteRequestPartition::default()
                                    .with_partition_index(partition)
                            })
                            .collect(),
                    )
            })
            .collect();
        Request::OffsetDelete(
            OffsetDeleteRequest::default()
                .with_group_id(group_id(&self.group))
                .with_topics(topics),
        )
    }

    fn retry(response: &Response) -> Option<AnswerRetry> {
        match response {
            Response::OffsetDelete(r) => coordinator_retry(r.error_code),
            _ => None,
        }
    }

    fn read(self, answer: Answer) -> Result<Self::Output, AdminError> {
        let Response::OffsetDelete(response) = &answer.response else {
            return Err(unexpected_for_group(
                Self::API,
                &self.group,
                &answer.response,
            ));
        };
        broker_error(Self::API, response.error_code, None)?;
        Ok(response
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    (
                        TopicPartition::new(t.name.0.as_str(), p.partition_index),
                        broker_error(Self::API, p.error_code, None),
                    )
                })
            })
            .collect())
    }
}

/// Which offset of a partition's log ListOffsets asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset.
    Latest,
    /// The first offset whose timestamp is at or after this many ms since the epoch.
    Timestamp(i64),
}

impl OffsetSpec {
    fn timestamp(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(ms) => ms.max(0),
        }
    }
}

/// ListOffsets at one leader, for partitions it leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsets {
    pub leader: BrokerId,
    pub partitions: Vec<(TopicPartition, OffsetSpec)>,
}

impl ListOffsets {
    /// One request per leader for `partitions`, as `cluster` names their leaders; partitions without a
    /// leader are left out.
    pub fn by_leader(
        cluster: &ClusterDescription,
        partitions: impl IntoIterator<Item = (TopicPartition, OffsetSpec)>,
    ) -> Vec<ListOffsets> {
        let mut by_leader: BTreeMap<BrokerId, Vec<(TopicPartition, OffsetSpec)>> = BTreeMap::new();
        for (tp, spec) in partitions {
            let leader = cluster
                .topic(&tp.topic)
                .and_then(|t| t.partitions.iter().find(|p| p.partition == tp.partition))
                .map(|p| p.leader)
                .filter(|leader| *leader >= 0);
            if let Some(leader) = leader {
                by_leader.entry(leader).or_default().push((tp, spec));
            }
        }
        by_leader
            .into_iter()
            .map(|(leader, partitions)| ListOffsets { leader, partitions })
            .collect()
    }
}

impl AdminOperation for ListOffsets {
    /// The offset of each partition answered; -1 where the log has none for the spec.
    type Output = Vec<(TopicPartition, Result<i64, AdminError>)>;
    const API: ApiKey = ApiKey::ListOffsets;

    fn target(&self) -> AdminTarget {
        AdminTarget::Broker(self.leader)
    }

    fn request(&self) -> Request {
        let topics = by_topic(self.partitions.iter().cloned())
            .into_iter()
            .map(|(topic, partitions)| {
                ListOffsetsTopic::default()
                    .with_name(topic_name(&topic))
                    .with_partitions(
                        partitions
                            .into_iter()
                            .map(|(partition, spec)| {
                                ListOffsetsPartition::default()
                                    .with_partition_index(partition)
                                    .with_timestamp(spec.timestamp())
                            })
                            .collect(),
                    )
            })
            .collect();
        Request::ListOffsets(
            ListOffsetsRequest::default()
                .with_replica_id(NodeId(-1))
                .with_topics(topics),
        )
    }

    fn read(self, answer: Answer) -> Result<Self::Output, AdminError> {
        let Response::ListOffsets(response) = &answer.response else {
            return Err(unexpected(Self::API, &answer.response));
        };
        Ok(response
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    (
                        TopicPartition::new(t.name.0.as_str(), p.partition_index),
                        broker_error(Self::API, p.error_code, None).map(|()| p.offset),
                    )
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::admin::topics::{PartitionDescription, TopicDescription};

    fn partition(partition: i32, leader: BrokerId) -> PartitionDescription {
        PartitionDescription {
            partition,
            leader,
            replicas: vec![leader],
            in_sync_replicas: vec![leader],
            error: None,
        }
    }

    #[test]
    fn list_offsets_asks_each_leader_for_the_partitions_it_leads() {
        let cluster = ClusterDescription {
            cluster_id: None,
            controller: Some(1),
            brokers: Vec::new(),
            topics: vec![TopicDescription {
                name: "t".into(),
                error: None,
                partitions: vec![partition(0, 1), partition(1, 2), partition(2, -1)],
            }],
        };
        let requests = ListOffsets::by_leader(
            &cluster,
            (0..3).map(|p| (TopicPartition::new("t", p), OffsetSpec::Latest)),
        );
        assert_eq!(
            requests.len(),
            2,
            "no request for the partition without a leader"
        );
        assert_eq!(requests[0].leader, 1);
        assert_eq!(requests[1].partitions[0].0, TopicPartition::new("t", 1));
        let Request::ListOffsets(request) = requests[0].request() else {
            panic!("ListOffsets expected")
        };
        assert_eq!(request.topics[0].partitions[0].timestamp, -1);
    }

    #[test]
    fn committed_offsets_are_named_partition_by_partition() {
        let op = FetchOffsets {
            group: "g".into(),
            partitions: vec![TopicPartition::new("b", 0), TopicPartition::new("a", 1)],
        };
        let Request::OffsetFetch(request) = op.request() else {
            panic!("OffsetFetch expected")
        };
        let topics = request.topics.unwrap();
        assert_eq!(topics[0].name.0.as_str(), "a");
        assert_eq!(topics[1].partition_indexes, vec![0]);
    }
}
