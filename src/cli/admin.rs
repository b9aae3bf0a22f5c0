//! `engine metadata` and `engine topic create`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{CreateTopicsRequest, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::client::admin::AdminTarget;
use crate::client::config::{admin_config, ConfigMap};
use crate::client::errors::{response_error, ResponseError};
use crate::protocol::{Request, Response};
use crate::runtime::Admin;

/// Renders metadata like `kcat -L`.
pub fn render_metadata(response: &MetadataResponse, bootstrap: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Metadata (from {bootstrap}), cluster id {}:",
        response.cluster_id.as_deref().unwrap_or("-")
    );
    let _ = writeln!(out, " {} brokers:", response.brokers.len());
    for b in &response.brokers {
        let controller = if b.node_id == response.controller_id {
            " (controller)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  broker {} at {}:{}{controller}",
            b.node_id.0,
            b.host.as_str(),
            b.port
        );
    }
    let mut topics: Vec<_> = response.topics.iter().collect();
    topics.sort_by(|a, b| {
        a.name
            .as_ref()
            .map(|n| n.0.as_str())
            .cmp(&b.name.as_ref().map(|n| n.0.as_str()))
    });
    let _ = writeln!(out, " {} topics:", topics.len());
    for t in topics {
        let name = t.name.as_ref().map_or("?", |n| n.0.as_str());
        let error = response_error(t.error_code)
            .map(|e| format!(" error: {e}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  topic \"{name}\" with {} partitions:{error}",
            t.partitions.len()
        );
        let mut partitions: Vec<_> = t.partitions.iter().collect();
        partitions.sort_by_key(|p| p.partition_index);
        for p in partitions {
            let list = |ids: &[kafka_protocol::messages::BrokerId]| {
                ids.iter()
                    .map(|i| i.0.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let error = response_error(p.error_code)
                .map(|e| format!(", error: {e}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    partition {}, leader {}, replicas: {}, isrs: {}{error}",
                p.partition_index,
                p.leader_id.0,
                list(&p.replica_nodes),
                list(&p.isr_nodes)
            );
        }
    }
    out
}

/// `engine metadata`: prints brokers, topics, partitions and leaders.
pub async fn metadata(config: ConfigMap, topics: Vec<String>) -> anyhow::Result<String> {
    let common = admin_config(config)?;
    let bootstrap = common.bootstrap_servers.join(",");
    let admin = Admin::new(common);
    let request_topics = if topics.is_empty() {
        None
    } else {
        Some(
            topics
                .iter()
                .map(|t| {
                    kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                })
                .collect(),
        )
    };
    let request = MetadataRequest::default()
        .with_topics(request_topics)
        .with_allow_auto_topic_creation(false);
    let result = admin
        .call(Request::Metadata(request), AdminTarget::AnyBroker)
        .await;
    admin.close().await;
    match result? {
        Response::Metadata(response) => Ok(render_metadata(&response, &bootstrap)),
        other => anyhow::bail!("broker answered Metadata with {:?}", other.api_key()),
    }
}

/// `engine topic create`.
pub async fn create_topic(
    config: ConfigMap,
    name: &str,
    partitions: i32,
    replication_factor: i16,
    if_not_exists: bool,
) -> anyhow::Result<String> {
    if partitions < 1 {
        anyhow::bail!("--partitions must be at least 1, got {partitions}");
    }
    let common = admin_config(config)?;
    let timeout = common.request_timeout;
    let admin = Admin::new(common);
    let request = Request::CreateTopics(
        CreateTopicsRequest::default()
            .with_timeout_ms(timeout.as_millis().min(i32::MAX as u128) as i32)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(name.to_owned())))
                .with_num_partitions(partitions)
                .with_replication_factor(replication_factor)]),
    );
    let deadline = Instant::now() + timeout;
    let outcome = loop {
        let result = admin.call(request.clone(), AdminTarget::Controller).await;
        let response = match result {
            Ok(Response::CreateTopics(response)) => response,
            Ok(other) => {
                break Err(anyhow::anyhow!(
                    "broker answered CreateTopics with {:?}",
                    other.api_key()
                ))
            }
            Err(e) => break Err(e.into()),
        };
        let Some(topic) = response.topics.first() else {
            break Err(anyhow::anyhow!("CreateTopics response names no topic"));
        };
        match response_error(topic.error_code) {
            None => break Ok(format!("created topic {name} with {partitions} partitions")),
            Some(ResponseError::TopicAlreadyExists) if if_not_exists => {
                break Ok(format!("topic {name} already exists"))
            }
            Some(
                error @ (ResponseError::NotController | ResponseError::CoordinatorLoadInProgress),
            ) if Instant::now() < deadline => {
                tracing::debug!(%error, "retrying CreateTopics");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Some(error) => {
                let detail = topic
                    .error_message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                break Err(anyhow::anyhow!(
                    "could not create topic {name}: {error}{detail}"
                ));
            }
        }
    };
    admin.close().await;
    outcome
}
