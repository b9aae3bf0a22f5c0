//! `engine metadata` and `engine topic create`.

use std::fmt::Write as _;

use crate::client::admin::{
    AdminError, ClusterDescription, CreateTopics, DescribeCluster, NewTopic,
};
use crate::client::config::{admin_config, ConfigMap};
use crate::client::errors::ResponseError;
use crate::runtime::Admin;

/// Renders metadata like `kcat -L`.
pub fn render_metadata(cluster: &ClusterDescription, bootstrap: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Metadata (from {bootstrap}), cluster id {}:",
        cluster.cluster_id.as_deref().unwrap_or("-")
    );
    let _ = writeln!(out, " {} brokers:", cluster.brokers.len());
    for b in &cluster.brokers {
        let controller = if Some(b.id) == cluster.controller {
            " (controller)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  broker {} at {}:{}{controller}",
            b.id, b.host, b.port
        );
    }
    let mut topics: Vec<_> = cluster.topics.iter().collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    let _ = writeln!(out, " {} topics:", topics.len());
    for t in topics {
        let error = t.error.map(|e| format!(" error: {e}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "  topic \"{}\" with {} partitions:{error}",
            t.name,
            t.partitions.len()
        );
        let mut partitions: Vec<_> = t.partitions.iter().collect();
        partitions.sort_by_key(|p| p.partition);
        for p in partitions {
            let list = |ids: &[i32]| {
                ids.iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let error = p.error.map(|e| format!(", error: {e}")).unwrap_or_default();
            let _ = writeln!(
                out,
                "    partition {}, leader {}, replicas: {}, isrs: {}{error}",
                p.partition,
                p.leader,
                list(&p.replicas),
                list(&p.in_sync_replicas)
            );
        }
    }
    out
}

/// `engine metadata`: prints brokers, topics, partitions and leaders.
pub async fn metadata(config: ConfigMap, topics: Vec<String>) -> anyhow::Result<String> {
    let common = admin_config(config)?;
    crate::config::check_tls_files(&common)?;
    let bootstrap = common.bootstrap_servers.join(",");
    let admin = Admin::new(common);
    let topics = (!topics.is_empty()).then_some(topics);
    let result = admin.run(DescribeCluster { topics }).await;
    admin.close().await;
    Ok(render_metadata(&result?, &bootstrap))
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
    crate::config::check_tls_files(&common)?;
    let timeout = common.request_timeout;
    let admin = Admin::new(common);
    // NOT_CONTROLLER and COORDINATOR_LOAD_IN_PROGRESS are asked again by the admin client.
    let result = admin
        .run(CreateTopics {
            topics: vec![NewTopic {
                name: name.to_owned(),
                partitions,
                replication_factor,
                configs: Vec::new(),
            }],
            timeout_ms: timeout.as_millis().min(i32::MAX as u128) as i32,
        })
        .await;
    admin.close().await;
    let outcomes = result?;
    let Some(outcome) = outcomes.into_iter().find(|t| t.name == name) else {
        anyhow::bail!("CreateTopics response does not name topic {name}");
    };
    match outcome.result {
        Ok(()) => Ok(format!("created topic {name} with {partitions} partitions")),
        Err(AdminError::Broker { error, message, .. }) => {
            if if_not_exists && error == ResponseError::TopicAlreadyExists {
                return Ok(format!("topic {name} already exists"));
            }
            let detail = message.map(|m| format!(": {m}")).unwrap_or_default();
            anyhow::bail!("could not create topic {name}: {error}{detail}")
        }
        Err(error) => anyhow::bail!("could not create topic {name}: {error}"),
    }
}
