//! Admin operations, sans-IO: typed requests for topics, groups and offsets, and the client that routes them.
//!
//! Each operation (`topics.rs`, `groups.rs`, `offsets.rs`) builds its request, says where it goes (any broker,
//! the controller, a group's coordinator, one broker) and which answers ask to be sent again, and reads the
//! answer into plain values. [`AdminClient`] (`router.rs`) sends them: metadata first where a target needs it,
//! FindCoordinator for a group's coordinator (`client::coordinator`), retries on transport failures and on
//! answers that ask for it, all within `request.timeout.ms`. The runtime's `Admin` drives it over sockets.

mod groups;
mod offsets;
mod operation;
mod router;
mod topics;

pub use groups::{
    DeleteGroup, DescribeGroup, GroupDescription, GroupListing, GroupMemberDescription, ListGroups,
    RemoveStaticMembers,
};
pub use offsets::{AlterOffsets, DeleteOffsets, FetchOffsets, ListOffsets, OffsetSpec};
pub use operation::{AdminError, AdminOperation, AdminTarget, Answer, AnswerRetry};
pub use router::AdminClient;
pub use topics::{
    BrokerDescription, ClusterDescription, CreateTopics, DeleteTopics, DescribeCluster,
    DescribeTopicConfigs, NewTopic, PartitionDescription, TopicDescription, TopicOutcome,
};
