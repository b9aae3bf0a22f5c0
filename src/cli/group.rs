//! `engine consume -G GROUP` (a balanced consumer like `kcat -G`) and `engine group list | describe | delete |
//! offsets`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

use crate::cli::format::{FormatRecord, OutputFormat};
use crate::client::admin::{
    AdminError, AdminOperation, DeleteGroup, DescribeCluster, DescribeGroup, FetchOffsets,
    ListGroups, ListOffsets, OffsetSpec,
};
use crate::client::config::{admin_config, ConfigMap, ConsumerConfig};
use crate::client::consumer::TopicPartition;
use crate::client::errors::ResponseError;
use crate::protocol::consumer_protocol::decode_assignment;
use crate::runtime::group_consumer::{GroupConsumer, GroupConsumerEvent};
use crate::runtime::Admin;

/// What `engine consume -G` was asked to do.
#[derive(Debug, Clone)]
pub struct GroupConsumeOptions {
    pub group: String,
    pub topics: Vec<String>,
    pub count: Option<u64>,
    pub exit_at_end: bool,
    pub format: Option<OutputFormat>,
    pub config: ConfigMap,
}

/// How a group consume run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConsumeReport {
    pub records: u64,
    pub error: Option<String>,
}

/// Consumes as a member of the group until `-c` records, the end of every assigned partition (`-e`), an error,
/// or Ctrl-C; commits what was printed on the way out and leaves the group.
pub async fn consume(
    options: GroupConsumeOptions,
    out: &mut impl Write,
) -> anyhow::Result<GroupConsumeReport> {
    let mut map = options.config.clone();
    map.set("group.id", options.group.clone());
    let config = ConsumerConfig::from_map(map)?;
    crate::config::check_tls_files(&config.common)?;
    let consumer = GroupConsumer::new(config, options.topics.clone())?;
    let [fetching, membership] = consumer.connection_problems();
    // A broker refusing our credentials ends the command at once; the group would never be joined.
    tokio::select! {
        report = consume_with(consumer, options, out) => report,
        failure = fetching.authentication_refused() => Err(anyhow::anyhow!(failure)),
        failure = membership.authentication_refused() => Err(anyhow::anyhow!(failure)),
    }
}

async fn consume_with(
    consumer: GroupConsumer,
    options: GroupConsumeOptions,
    out: &mut impl Write,
) -> anyhow::Result<GroupConsumeReport> {
    let mut buffer: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut records = 0u64;
    let mut at_end: BTreeSet<TopicPartition> = BTreeSet::new();
    let mut error = None;
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        if options.count.is_some_and(|c| records >= c) {
            break;
        }
        let event = tokio::select! {
            event = consumer.recv() => event,
            _ = &mut ctrl_c => break,
        };
        match event {
            GroupConsumerEvent::Records {
                topic,
                partition,
                records: batch,
            } => {
                at_end.remove(&TopicPartition::new(topic.as_str(), partition));
                let mut last_printed = None;
                for record in batch {
                    if options.count.is_some_and(|c| records >= c) {
                        break;
                    }
                    records += 1;
                    last_printed = Some(record.offset);
                    render(&options.format, &topic, partition, &record, &mut buffer);
                }
                // Written out before the next recv lets these records count as consumed (and be committed): a
                // killed process must not have committed records it never printed.
                out.write_all(&buffer)?;
                out.flush()?;
                buffer.clear();
                if options.count.is_some_and(|c| records >= c) {
                    // Stopped part-way through the batch: commit only what was printed.
                    consumer.forget_delivered();
                    if let Some(offset) = last_printed {
                        consumer.with_member(|m| {
                            m.record_consumed(
                                &TopicPartition::new(topic.as_str(), partition),
                                offset + 1,
                            )
                        });
                    }
                }
            }
            GroupConsumerEvent::PartitionEof {
                topic, partition, ..
            } => {
                at_end.insert(TopicPartition::new(topic, partition));
                if options.exit_at_end {
                    let assignment = consumer.assignment();
                    if !assignment.is_empty() && assignment.iter().all(|tp| at_end.contains(tp)) {
                        break;
                    }
                }
            }
            GroupConsumerEvent::Assigned(partitions) => {
                eprintln!("% group {}: assigned {}", options.group, list(&partitions));
            }
            GroupConsumerEvent::Revoked(partitions) => {
                eprintln!("% group {}: revoked {}", options.group, list(&partitions));
                // With enable.auto.commit=false nothing was committed yet: the next owner starts where we stopped.
                if let Err(e) = consumer.commit().await {
                    eprintln!("% group {}: commit on revoke failed: {e}", options.group);
                }
                for tp in partitions {
                    at_end.remove(&tp);
                }
            }
            GroupConsumerEvent::Lost(partitions) => {
                eprintln!("% group {}: lost {}", options.group, list(&partitions));
                for tp in partitions {
                    at_end.remove(&tp);
                }
            }
            GroupConsumerEvent::PartitionError {
                topic,
                partition,
                error: e,
            } => {
                let place = partition.map_or(topic.clone(), |p| format!("{topic}-{p}"));
                error = Some(format!("{place}: {e}"));
                break;
            }
            GroupConsumerEvent::Fatal(e) => {
                error = Some(format!("group {}: {e}", options.group));
                break;
            }
        }
    }
    out.flush()?;
    if let Err(e) = consumer.commit().await {
        error.get_or_insert(format!("final commit failed: {e}"));
    }
    consumer.close().await;
    Ok(GroupConsumeReport { records, error })
}

fn list(partitions: &[TopicPartition]) -> String {
    if partitions.is_empty() {
        return "nothing".into();
    }
    partitions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn render(
    format: &Option<OutputFormat>,
    topic: &str,
    partition: i32,
    record: &crate::protocol::record_batch::Record,
    buffer: &mut Vec<u8>,
) {
    match format {
        Some(format) => {
            let headers = record.headers.borrowed();
            let header_iter = headers
                .iter()
                .filter_map(Result::ok)
                .map(|h| (h.key, h.value));
            format.render(
                &FormatRecord {
                    topic,
                    partition,
                    offset: record.offset,
                    timestamp_ms: record.timestamp,
                    key: record.key.as_deref(),
                    value: record.value.as_deref(),
                    headers: header_iter,
                },
                buffer,
            );
        }
        None => {
            buffer.extend_from_slice(record.value.as_deref().unwrap_or_default());
            buffer.push(b'\n');
        }
    }
}

// ---- engine group … -------------------------------------------------------------------------------------------

/// One admin operation, with a bound on the wait.
async fn run<O: AdminOperation>(
    admin: &Admin,
    operation: O,
    timeout: Duration,
) -> anyhow::Result<O::Output> {
    match tokio::time::timeout(timeout, admin.run(operation)).await {
        Err(_) => anyhow::bail!(
            "{:?} got no answer within request.timeout.ms ({timeout:?})",
            O::API
        ),
        Ok(result) => Ok(result?),
    }
}

/// A group operation's error as the user reads it: `could not <what> group G: <error>`.
fn group_failure(what: &str, group: &str, error: AdminError) -> anyhow::Error {
    match error {
        AdminError::Broker { error, .. } => {
            anyhow::anyhow!("could not {what} group {group}: {error}")
        }
        other => anyhow::anyhow!(other),
    }
}

/// `engine group list`: every group of every broker, with its state and protocol type.
pub async fn list_groups(config: ConfigMap) -> anyhow::Result<String> {
    let common = admin_config(config)?;
    crate::config::check_tls_files(&common)?;
    let timeout = common.request_timeout;
    let admin = Admin::new(common);
    let outcome = async {
        let cluster = run(
            &admin,
            DescribeCluster {
                topics: Some(Vec::new()),
            },
            timeout,
        )
        .await?;
        let mut groups: BTreeMap<String, (String, String)> = BTreeMap::new();
        for broker in cluster.brokers.iter().map(|b| b.id) {
            let listed = run(&admin, ListGroups { broker }, timeout)
                .await
                .map_err(|e| match e.downcast::<AdminError>() {
                    Ok(AdminError::Broker { error, .. }) => {
                        anyhow::anyhow!("ListGroups on broker {broker} failed: {error}")
                    }
                    Ok(other) => anyhow::anyhow!(other),
                    Err(other) => other,
                })?;
            for g in listed {
                groups.insert(g.group_id, (g.state, g.protocol_type));
            }
        }
        let mut out = String::new();
        let _ = writeln!(out, "{} groups:", groups.len());
        for (name, (state, protocol_type)) in groups {
            let _ = writeln!(
                out,
                "  {name}  state {}  type {}",
                or_dash(&state),
                or_dash(&protocol_type)
            );
        }
        Ok(out)
    }
    .await;
    admin.close().await;
    outcome
}

/// `engine group describe GROUP`: state, protocol, and each member with its assignment.
pub async fn describe_group(config: ConfigMap, group: &str) -> anyhow::Result<String> {
    let common = admin_config(config)?;
    crate::config::check_tls_files(&common)?;
    let timeout = common.request_timeout;
    let admin = Admin::new(common);
    let outcome = async {
        let operation = DescribeGroup {
            group: group.to_owned(),
        };
        let described = tokio::time::timeout(timeout, admin.run(operation))
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "DescribeGroups got no answer within request.timeout.ms ({timeout:?})"
                )
            })?
            .map_err(|e| group_failure("describe", group, e))?;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "group {group}: state {}, protocol type {}, protocol {}, coordinator {}, {} members",
            described.state,
            or_dash(&described.protocol_type),
            or_dash(&described.protocol),
            described.coordinator,
            described.members.len()
        );
        for member in &described.members {
            let assignment = if described.protocol_type == "consumer" {
                match decode_assignment(member.assignment.clone()) {
                    Ok(partitions) => list(&partitions),
                    Err(e) => format!("(unreadable: {e})"),
                }
            } else {
                format!("({} bytes)", member.assignment.len())
            };
            let instance = member
                .group_instance_id
                .as_ref()
                .map(|i| format!(" instance {i}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  member {}{instance} client {} host {}: {assignment}",
                member.member_id, member.client_id, member.client_host
            );
        }
        Ok(out)
    }
    .await;
    admin.close().await;
    outcome
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// `engine group delete GROUP`: removes an empty group and its committed offsets.
pub async fn delete_group(config: ConfigMap, group: &str) -> anyhow::Result<String> {
    let common = admin_config(config)?;
    crate::config::check_tls_files(&common)?;
    let timeout = common.request_timeout;
    let admin = Admin::new(common);
    let operation = DeleteGroup {
        group: group.to_owned(),
    };
    let outcome = match tokio::time::timeout(timeout, admin.run(operation)).await {
        Err(_) => Err(anyhow::anyhow!(
            "DeleteGroups got no answer within request.timeout.ms ({timeout:?})"
        )),
        Ok(Ok(())) => Ok(format!("deleted group {group}")),
        Ok(Err(e)) if e.response_error() == Some(ResponseError::NonEmptyGroup) => Err(
            anyhow::anyhow!("group {group} still has members; stop its consumers first"),
        ),
        Ok(Err(e)) => Err(group_failure("delete", group, e)),
    };
    admin.close().await;
    outcome
}

/// `engine group offsets GROUP`: committed offset, end offset and lag per partition.
pub async fn group_offsets(config: ConfigMap, group: &str) -> anyhow::Result<String> {
    let common = admin_config(config)?;
    crate::config::check_tls_files(&common)?;
    let timeout = common.request_timeout;
    let admin = Admin::new(common);
    let outcome = async {
        // Every partition of every topic: the group may have committed for any of them.
        let cluster = run(&admin, DescribeCluster { topics: None }, timeout).await?;
        let partitions = cluster.partitions();
        let operation = FetchOffsets {
            group: group.to_owned(),
            partitions,
        };
        let committed = tokio::time::timeout(timeout, admin.run(operation))
            .await
            .map_err(|_| {
                anyhow::anyhow!("OffsetFetch got no answer within request.timeout.ms ({timeout:?})")
            })?
            .map_err(|e| match e {
                AdminError::Broker { error, .. } => {
                    anyhow::anyhow!("could not fetch the offsets of group {group}: {error}")
                }
                other => anyhow::anyhow!(other),
            })?;
        let ends = end_offsets(&admin, &committed, timeout).await?;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "group {group}: {} partitions with committed offsets",
            committed.len()
        );
        let _ = writeln!(
            out,
            "  {:<40} {:>9} {:>12} {:>12} {:>10}",
            "TOPIC", "PARTITION", "COMMITTED", "END", "LAG"
        );
        for (tp, offset) in &committed {
            let (end, lag) = match ends.get(tp) {
                Some(end) => (end.to_string(), (end - offset).max(0).to_string()),
                None => ("-".into(), "-".into()),
            };
            let _ = writeln!(
                out,
                "  {:<40} {:>9} {:>12} {:>12} {:>10}",
                tp.topic, tp.partition, offset, end, lag
            );
        }
        Ok(out)
    }
    .await;
    admin.close().await;
    outcome
}

/// Latest offsets of every partition of the topics in `committed`, asked of each partition's leader.
async fn end_offsets(
    admin: &Admin,
    committed: &BTreeMap<TopicPartition, i64>,
    timeout: Duration,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let mut ends = BTreeMap::new();
    let topics: BTreeSet<String> = committed.keys().map(|tp| tp.topic.clone()).collect();
    if topics.is_empty() {
        return Ok(ends);
    }
    let cluster = run(
        admin,
        DescribeCluster {
            topics: Some(topics.into_iter().collect()),
        },
        timeout,
    )
    .await?;
    let partitions = cluster.topics.iter().flat_map(|t| {
        t.partitions.iter().map(|p| {
            (
                TopicPartition::new(t.name.as_str(), p.partition),
                OffsetSpec::Latest,
            )
        })
    });
    for request in ListOffsets::by_leader(&cluster, partitions) {
        for (tp, offset) in run(admin, request, timeout).await? {
            match offset {
                Ok(offset) if offset >= 0 => {
                    ends.insert(tp, offset);
                }
                _ => {}
            }
        }
    }
    Ok(ends)
}
