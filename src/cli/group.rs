//! `engine consume -G GROUP` (a balanced consumer like `kcat -G`) and `engine group list | describe | delete |
//! offsets`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

use anyhow::Context as _;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    BrokerId as NodeId, DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest,
    GroupId, ListGroupsRequest, ListOffsetsRequest, MetadataRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::cli::format::{FormatRecord, OutputFormat};
use crate::client::admin::AdminTarget;
use crate::client::config::{admin_config, ConfigMap, ConsumerConfig};
use crate::client::consumer::TopicPartition;
use crate::client::errors::{response_error, ResponseError};
use crate::client::group::assignor::decode_assignment;
use crate::client::BrokerId;
use crate::protocol::{Request, Response};
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
    let consumer = GroupConsumer::new(config, options.topics.clone())?;
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

/// One admin request and its response of the expected API, with a bound on the wait.
async fn call(
    admin: &Admin,
    request: Request,
    target: AdminTarget,
    timeout: Duration,
) -> anyhow::Result<Response> {
    let api = request.api_key();
    match tokio::time::timeout(timeout, admin.call(request, target)).await {
        Err(_) => anyhow::bail!("{api:?} got no answer within request.timeout.ms ({timeout:?})"),
        Ok(result) => Ok(result.with_context(|| format!("{api:?} failed"))?),
    }
}

fn group_id(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_owned()))
}

/// The coordinator of `group`, retried while the broker is still loading the group.
async fn coordinator(admin: &Admin, group: &str, timeout: Duration) -> anyhow::Result<BrokerId> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let request = Request::FindCoordinator(
            FindCoordinatorRequest::default()
                .with_key(StrBytes::from_string(group.to_owned()))
                .with_key_type(0),
        );
        let Response::FindCoordinator(response) =
            call(admin, request, AdminTarget::AnyBroker, timeout).await?
        else {
            anyhow::bail!("broker answered FindCoordinator with another API");
        };
        match response_error(response.error_code) {
            None => {
                // Metadata must name the coordinator before a request can go to it.
                call(
                    admin,
                    Request::Metadata(MetadataRequest::default().with_topics(Some(Vec::new()))),
                    AdminTarget::AnyBroker,
                    timeout,
                )
                .await?;
                return Ok(response.node_id.0);
            }
            Some(
                ResponseError::CoordinatorLoadInProgress
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::NotCoordinator,
            ) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Some(error) => {
                anyhow::bail!("could not find the coordinator of group {group}: {error}")
            }
        }
    }
}

/// `engine group list`: every group of every broker, with its state and protocol type.
pub async fn list_groups(config: ConfigMap) -> anyhow::Result<String> {
    let common = admin_config(config)?;
    let timeout = common.request_timeout;
    let admin = Admin::new(common);
    let outcome = async {
        call(
            &admin,
            Request::Metadata(MetadataRequest::default().with_topics(Some(Vec::new()))),
            AdminTarget::AnyBroker,
            timeout,
        )
        .await?;
        let brokers: Vec<BrokerId> =
            admin.with_metadata(|m| m.brokers().map(|(id, _)| id).collect());
        let mut groups: BTreeMap<String, (String, String)> = BTreeMap::new();
        for broker in brokers {
            let Response::ListGroups(response) = call(
                &admin,
                Request::ListGroups(ListGroupsRequest::default()),
                AdminTarget::Broker(broker),
                timeout,
            )
            .await?
            else {
                anyhow::bail!("broker {broker} answered ListGroups with another API");
            };
            if let Some(error) = response_error(response.error_code) {
                anyhow::bail!("ListGroups on broker {broker} failed: {error}");
            }
            for g in response.groups {
                groups.insert(
                    g.group_id.0.to_string(),
                    (g.group_state.to_string(), g.protocol_type.to_string()),
                );
            }
        }
        let mut out = String::new();
        let _ = writeln!(out, "{} groups:", groups.len());
        for (name, (state, protocol_type)) in groups {
            let state = if state.is_empty() { "-".into() } else { state };
            let protocol_type = if protocol_type.is_empty() {
                "-".into()
            } else {
                protocol_type
            };
            let _ = writeln!(out, "  {name}  state {state}  type {protocol_type}");
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
    let timeout = common.request_timeout;
    let admin = Admin::new(common);
    let outcome = async {
        let coordinator = coordinator(&admin, group, timeout).await?;
        let request = Request::DescribeGroups(DescribeGroupsRequest::default().with_groups(vec![group_id(group)]));
        let Response::DescribeGroups(response) = call(&admin, request, AdminTarget::Broker(coordinator), timeout).await? else {
            anyhow::bail!("coordinator answered DescribeGroups with another API");
        };
        let Some(described) = response.groups.first() else {
            anyhow::bail!("DescribeGroups response names no group");
        };
        if let Some(error) = response_error(described.error_code) {
            anyhow::bail!("could not describe group {group}: {error}");
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "group {group}: state {}, protocol type {}, protocol {}, coordinator {coordinator}, {} members",
            described.group_state.as_str(),
            or_dash(described.protocol_type.as_str()),
            or_dash(described.protocol_data.as_str()),
            described.members.len()
        );
        for member in &described.members {
            let assignment = if described.protocol_type.as_str() == "consumer" {
                match decode_assignment(member.member_assignment.clone()) {
                    Ok(partitions) => list(&partitions),
                    Err(e) => format!("(unreadable: {e})"),
                }
            } else {
                format!("({} bytes)", member.member_assignment.len())
            };
            let instance = member.group_instance_id.as_ref().map(|i| format!(" instance {}", i.as_str())).unwrap_or_default();
            let _ = writeln!(
                out,
                "  member {}{instance} client {} host {}: {assignment}",
                member.member_id.as_str(),
                member.client_id.as_str(),
                member.client_host.as_str()
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
    let timeout = common.request_timeout;
    let admin = Admin::new(common);
    let outcome = async {
        let coordinator = coordinator(&admin, group, timeout).await?;
        let request = Request::DeleteGroups(
            DeleteGroupsRequest::default().with_groups_names(vec![group_id(group)]),
        );
        let Response::DeleteGroups(response) =
            call(&admin, request, AdminTarget::Broker(coordinator), timeout).await?
        else {
            anyhow::bail!("coordinator answered DeleteGroups with another API");
        };
        let result = response
            .results
            .iter()
            .find(|r| r.group_id.0.as_str() == group);
        match result.and_then(|r| response_error(r.error_code)) {
            None if result.is_some() => Ok(format!("deleted group {group}")),
            None => anyhow::bail!("DeleteGroups response does not mention group {group}"),
            Some(ResponseError::NonEmptyGroup) => {
                anyhow::bail!("group {group} still has members; stop its consumers first")
            }
            Some(error) => anyhow::bail!("could not delete group {group}: {error}"),
        }
    }
    .await;
    admin.close().await;
    outcome
}

/// `engine group offsets GROUP`: committed offset, end offset and lag per partition.
pub async fn group_offsets(config: ConfigMap, group: &str) -> anyhow::Result<String> {
    let common = admin_config(config)?;
    let timeout = common.request_timeout;
    let admin = Admin::new(common);
    let outcome = async {
        let coordinator = coordinator(&admin, group, timeout).await?;
        // Every partition of every topic, named explicitly: asking with null topics ("all") is the short way, but
        // some brokers (tansu) answer it with a null array the protocol does not allow.
        let all_topics = call(
            &admin,
            Request::Metadata(
                MetadataRequest::default()
                    .with_topics(None)
                    .with_allow_auto_topic_creation(false),
            ),
            AdminTarget::AnyBroker,
            timeout,
        )
        .await?;
        let Response::Metadata(all_topics) = all_topics else {
            anyhow::bail!("broker answered Metadata with another API");
        };
        let request_topics: Vec<OffsetFetchRequestTopic> = all_topics
            .topics
            .iter()
            .filter_map(|t| {
                let name = t.name.as_ref()?;
                Some(
                    OffsetFetchRequestTopic::default()
                        .with_name(name.clone())
                        .with_partition_indexes(
                            t.partitions.iter().map(|p| p.partition_index).collect(),
                        ),
                )
            })
            .collect();
        let request = Request::OffsetFetch(
            OffsetFetchRequest::default()
                .with_group_id(group_id(group))
                .with_topics(Some(request_topics)),
        );
        let Response::OffsetFetch(response) =
            call(&admin, request, AdminTarget::Broker(coordinator), timeout).await?
        else {
            anyhow::bail!("coordinator answered OffsetFetch with another API");
        };
        if let Some(error) = response_error(response.error_code) {
            anyhow::bail!("could not fetch the offsets of group {group}: {error}");
        }
        let mut committed: BTreeMap<TopicPartition, i64> = BTreeMap::new();
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
        let topics: BTreeSet<String> = committed.keys().map(|tp| tp.topic.clone()).collect();
        let ends = end_offsets(&admin, &topics, timeout).await?;
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

/// Latest offsets of every partition of `topics`, asked of each partition's leader.
async fn end_offsets(
    admin: &Admin,
    topics: &BTreeSet<String>,
    timeout: Duration,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let mut ends = BTreeMap::new();
    if topics.is_empty() {
        return Ok(ends);
    }
    let metadata_topics = topics
        .iter()
        .map(|t| {
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
        })
        .collect();
    let Response::Metadata(metadata) = call(
        admin,
        Request::Metadata(
            MetadataRequest::default()
                .with_topics(Some(metadata_topics))
                .with_allow_auto_topic_creation(false),
        ),
        AdminTarget::AnyBroker,
        timeout,
    )
    .await?
    else {
        anyhow::bail!("broker answered Metadata with another API");
    };
    let mut by_leader: BTreeMap<BrokerId, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
    for topic in &metadata.topics {
        let Some(name) = topic.name.as_ref() else {
            continue;
        };
        for p in &topic.partitions {
            if p.leader_id.0 >= 0 {
                by_leader
                    .entry(p.leader_id.0)
                    .or_default()
                    .entry(name.0.to_string())
                    .or_default()
                    .push(p.partition_index);
            }
        }
    }
    for (leader, topics) in by_leader {
        let request = ListOffsetsRequest::default()
            .with_replica_id(NodeId(-1))
            .with_topics(
                topics
                    .iter()
                    .map(|(topic, partitions)| {
                        ListOffsetsTopic::default()
                            .with_name(TopicName(StrBytes::from_string(topic.clone())))
                            .with_partitions(
                                partitions
                                    .iter()
                                    .map(|p| {
                                        ListOffsetsPartition::default()
                                            .with_partition_index(*p)
                                            .with_timestamp(-1)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let Response::ListOffsets(response) = call(
            admin,
            Request::ListOffsets(request),
            AdminTarget::Broker(leader),
            timeout,
        )
        .await?
        else {
            anyhow::bail!("broker {leader} answered ListOffsets with another API");
        };
        for topic in &response.topics {
            for p in &topic.partitions {
                if p.error_code == 0 && p.offset >= 0 {
                    ends.insert(
                        TopicPartition::new(topic.name.0.as_str(), p.partition_index),
                        p.offset,
                    );
                }
            }
        }
    }
    Ok(ends)
}
