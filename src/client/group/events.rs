//! What the group member reports (events, errors, commit ids) and the settings it takes from
//! [`ConsumerConfig`].

use std::time::Duration;

use kafka_protocol::messages::ApiKey;

use crate::client::config::{AssignmentStrategy, ConsumerConfig};
use crate::client::consumer::TopicPartition;
use crate::client::errors::ResponseError;
use crate::client::TransportError;
use crate::protocol::consumer_protocol::ConsumerProtocolError;

/// Identifies one commit, so its outcome can be matched to the caller that asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitId(pub u64);

/// What went wrong in the group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("{api:?} failed with {error:?} ({error})")]
    Broker { api: ApiKey, error: ResponseError },
    #[error("{api:?} got no response: {error}")]
    Transport { api: ApiKey, error: TransportError },
    #[error("bad group protocol data: {0}")]
    ConsumerProtocol(#[from] ConsumerProtocolError),
    #[error("the coordinator chose assignment protocol `{name}`, which this member did not offer")]
    UnknownProtocol { name: String },
    #[error("`group.id` is required to join a group; set -X group.id=NAME (or -G NAME)")]
    NoGroupId,
    #[error("no topics to subscribe to")]
    NoTopics,
    #[error("the commit got no answer within {waited:?} (request.timeout.ms); is the group coordinator reachable?")]
    CommitTimedOut { waited: Duration },
}

/// Something the member reports to its caller.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupEvent {
    /// A rebalance finished; these partitions are new to this member (under eager protocols: all of them).
    /// Their committed offsets follow in [`GroupEvent::CommittedOffsets`].
    PartitionsAssigned {
        partitions: Vec<TopicPartition>,
    },
    /// These partitions go to another member. Stop fetching them, commit what was consumed, then call
    /// [`GroupMember::revoke_done`](super::GroupMember::revoke_done); the member does not rejoin before.
    PartitionsRevoked {
        partitions: Vec<TopicPartition>,
    },
    /// These partitions were taken away without a chance to commit (session expired, fenced, poll timeout):
    /// another member may already own them. Stop fetching them and do not commit them.
    PartitionsLost {
        partitions: Vec<TopicPartition>,
    },
    /// Committed offsets of assigned partitions; `None` where the group never committed one.
    CommittedOffsets {
        offsets: Vec<(TopicPartition, Option<i64>)>,
    },
    OffsetsCommitted {
        id: CommitId,
        offsets: Vec<(TopicPartition, i64)>,
    },
    CommitFailed {
        id: CommitId,
        error: GroupError,
    },
    /// The member cannot go on (authorization, inconsistent protocols, bad configuration).
    Fatal {
        error: GroupError,
    },
    /// [`GroupMember::close`](super::GroupMember::close) finished: commits done, group left.
    Closed,
}

/// Group settings taken from [`ConsumerConfig`].
#[derive(Debug, Clone, PartialEq)]
pub struct GroupConfig {
    pub group_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub session_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub max_poll_interval: Duration,
    pub strategies: Vec<AssignmentStrategy>,
    /// `None` with enable.auto.commit=false.
    pub auto_commit_interval: Option<Duration>,
    pub retry_backoff: Duration,
}

impl GroupConfig {
    pub fn from_consumer_config(config: &ConsumerConfig) -> Result<Self, GroupError> {
        let group_id = config
            .group_id
            .clone()
            .filter(|g| !g.is_empty())
            .ok_or(GroupError::NoGroupId)?;
        Ok(Self {
            group_id,
            group_instance_id: config.group_instance_id.clone(),
            client_id: config.common.client_id.clone(),
            session_timeout: config.session_timeout,
            heartbeat_interval: config.heartbeat_interval,
            max_poll_interval: config.max_poll_interval,
            strategies: config.partition_assignment_strategy.clone(),
            auto_commit_interval: config
                .enable_auto_commit
                .then_some(config.auto_commit_interval),
            retry_backoff: config.common.retry_backoff,
        })
    }
}
