//! What the client benches share: a Metadata response naming one broker (`bench:9092`, id 1) and a topic
//! whose every partition it leads.

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use pipewright::protocol::messages::Response;

pub fn metadata(topic: &'static str, partitions: i32) -> Response {
    let partitions = (0..partitions)
        .map(|index| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(BrokerId(1))
        })
        .collect();
    Response::Metadata(
        MetadataResponse::default()
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(BrokerId(1))
                .with_host(StrBytes::from_static_str("bench"))
                .with_port(9092)])
            .with_topics(vec![MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str(topic))))
                .with_partitions(partitions)]),
    )
}
