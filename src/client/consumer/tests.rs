//! The consumer driven by scripted broker replies, with simulated time.

use super::*;
use crate::client::config::ConfigMap;
use crate::client::TransportError;
use crate::protocol::compression::Compression;
use crate::protocol::record_batch::{
    encode_control_batch, BatchOptions, ControlBatch, ControlRecordType, RecordBatchEncoder,
};
use crate::protocol::{Request, Response};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId as NodeId, FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse,
};
use kafka_protocol::messages::{MetadataResponse, ProducerId};

const TOPIC: &str = "t";

fn config(pairs: &[(&str, &str)]) -> ConsumerConfig {
    let mut map = ConfigMap::from_pairs([("bootstrap.servers", "boot:9092")]);
    for (key, value) in pairs {
        map.set(*key, *value);
    }
    ConsumerConfig::from_map(map).expect("valid test config")
}

/// Metadata naming brokers 1 and 2 and `TOPIC` with one partition per leader given (leader epoch 5).
fn metadata(leaders: &[i32]) -> MetadataResponse {
    MetadataResponse::default()
        .with_brokers(
            [(1, 9092), (2, 9093)]
                .into_iter()
                .map(|(id, port)| {
                    MetadataResponseBroker::default()
                        .with_node_id(NodeId(id))
                        .with_host(StrBytes::from_string(format!("h{id}")))
                        .with_port(port)
                })
                .collect(),
        )
        .with_topics(vec![MetadataResponseTopic::default()
            .with_name(Some(topic_name(TOPIC)))
            .with_partitions(
                leaders
                    .iter()
                    .enumerate()
                    .map(|(i, leader)| {
                        MetadataResponsePartition::default()
                            .with_partition_index(i as i32)
                            .with_leader_id(NodeId(*leader))
                            .with_leader_epoch(5)
                    })
                    .collect(),
            )])
}

fn metadata_topic_error(error: ResponseError) -> MetadataResponse {
    MetadataResponse::default().with_topics(vec![MetadataResponseTopic::default()
        .with_name(Some(topic_name(TOPIC)))
        .with_error_code(error.code())])
}

/// Plain records with the given values at `base_offset`, `base_offset + 1`, …
fn batch(base_offset: i64, values: &[&str]) -> Bytes {
    batch_with(base_offset, BatchOptions::default(), values)
}

fn batch_with(base_offset: i64, options: BatchOptions, values: &[&str]) -> Bytes {
    let mut encoder = RecordBatchEncoder::new(options);
    for (i, value) in values.iter().enumerate() {
        encoder
            .append(1_000 + i as i64, None, Some(value.as_bytes()), &[])
            .expect("append");
    }
    at_offset(encoder.finish().expect("finish"), base_offset)
}

fn txn_batch(base_offset: i64, producer_id: i64, values: &[&str]) -> Bytes {
    let options = BatchOptions {
        producer_id,
        producer_epoch: 0,
        base_sequence: 0,
        is_transactional: true,
        ..BatchOptions::default()
    };
    batch_with(base_offset, options, values)
}

fn marker(offset: i64, producer_id: i64, marker: ControlRecordType) -> Bytes {
    let batch = encode_control_batch(&ControlBatch {
        producer_id,
        producer_epoch: 0,
        marker,
        coordinator_epoch: 0,
        timestamp_ms: 2_000,
    })
    .expect("control batch");
    at_offset(batch, offset)
}

/// The encoder writes base offset 0 (the broker assigns offsets); the CRC does not cover it.
fn at_offset(batch: Bytes, base_offset: i64) -> Bytes {
    let mut bytes = BytesMut::from(&batch[..]);
    bytes[..8].copy_from_slice(&base_offset.to_be_bytes());
    bytes.freeze()
}

fn concat(parts: &[Bytes]) -> Bytes {
    let mut out = BytesMut::new();
    for part in parts {
        out.extend_from_slice(part);
    }
    out.freeze()
}

fn data(partition: i32, high_watermark: i64, records: Bytes) -> PartitionData {
    PartitionData::default()
        .with_partition_index(partition)
        .with_high_watermark(high_watermark)
        .with_records(Some(records))
}

fn data_error(partition: i32, error: ResponseError) -> PartitionData {
    PartitionData::default()
        .with_partition_index(partition)
        .with_error_code(error.code())
        .with_records(None)
}

fn fetch_response(partitions: Vec<PartitionData>) -> Response {
    Response::Fetch(
        FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
            .with_topic(topic_name(TOPIC))
            .with_partitions(partitions)]),
    )
}

fn list_offsets_response(partitions: &[(i32, Option<ResponseError>, i64)]) -> Response {
    Response::ListOffsets(ListOffsetsResponse::default().with_topics(
        vec![ListOffsetsTopicResponse::default()
            .with_name(topic_name(TOPIC))
            .with_partitions(
                partitions
                    .iter()
                    .map(|(partition, error, offset)| {
                        ListOffsetsPartitionResponse::default()
                            .with_partition_index(*partition)
                            .with_error_code(error.map_or(0, |e| e.code()))
                            .with_offset(*offset)
                    })
                    .collect(),
            )],
    ))
}

/// A consumer with its simulated clock.
struct Harness {
    consumer: Consumer,
    now: Instant,
}

impl Harness {
    fn new(pairs: &[(&str, &str)]) -> Self {
        Self {
            consumer: Consumer::new(config(pairs)),
            now: Instant::now(),
        }
    }

    /// A consumer that assigned `assignments` and learned `leaders` from its first metadata refresh.
    fn started(
        pairs: &[(&str, &str)],
        assignments: &[(i32, StartPosition)],
        leaders: &[i32],
    ) -> Self {
        let mut h = Self::new(pairs);
        h.consumer.assign(
            assignments
                .iter()
                .map(|(p, start)| (TOPIC.to_owned(), *p, *start))
                .collect(),
        );
        let tx = h.expect_transmit();
        assert!(matches!(tx.request, Request::Metadata(_)), "{tx:?}");
        h.reply(&tx, Ok(Response::Metadata(metadata(leaders))));
        h
    }

    fn transmit(&mut self) -> Option<Transmit> {
        self.consumer.poll_transmit(self.now)
    }

    fn expect_transmit(&mut self) -> Transmit {
        self.transmit().expect("a request to send")
    }

    fn expect_fetch(&mut self) -> (Transmit, FetchRequest) {
        let tx = self.expect_transmit();
        match &tx.request {
            Request::Fetch(request) => {
                let request = request.clone();
                (tx, request)
            }
            other => panic!("expected Fetch, got {other:?}"),
        }
    }

    fn expect_list_offsets(&mut self) -> (Transmit, ListOffsetsRequest) {
        let tx = self.expect_transmit();
        match &tx.request {
            Request::ListOffsets(request) => {
                let request = request.clone();
                (tx, request)
            }
            other => panic!("expected ListOffsets, got {other:?}"),
        }
    }

    fn reply(&mut self, tx: &Transmit, result: ResponseResult) {
        self.consumer
            .handle_response(tx.broker, tx.token, result, self.now);
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.consumer.handle_timeout(self.now);
    }

    fn events(&mut self) -> Vec<ConsumerEvent> {
        std::iter::from_fn(|| self.consumer.poll_event()).collect()
    }

    /// A consumer with `config` reading partition 0 (leader 1) from offset 0, whose first Fetch is answered
    /// with `records` (high watermark 10); returns it and the events that answer produced.
    fn after_one_fetch(config: &[(&str, &str)], records: Bytes) -> (Self, Vec<ConsumerEvent>) {
        let mut h = Harness::started(config, &[(0, StartPosition::Offset(0))], &[1]);
        let (tx, _) = h.expect_fetch();
        h.reply(&tx, Ok(fetch_response(vec![data(0, 10, records)])));
        let events = h.events();
        (h, events)
    }

    /// Answers a metadata refresh, which must be the next request.
    fn refresh_metadata(&mut self, leaders: &[i32]) {
        let tx = self.expect_transmit();
        assert!(matches!(tx.request, Request::Metadata(_)), "{tx:?}");
        self.reply(&tx, Ok(Response::Metadata(metadata(leaders))));
    }
}

/// (offset, value) of every delivered record, in event order.
fn delivered(events: &[ConsumerEvent]) -> Vec<(i64, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            ConsumerEvent::Records { records, .. } => Some(records),
            _ => None,
        })
        .flatten()
        .map(|r| {
            let value = r.value.as_deref().unwrap_or_default();
            (r.offset, String::from_utf8_lossy(value).into_owned())
        })
        .collect()
}

fn values(events: &[ConsumerEvent]) -> Vec<String> {
    delivered(events).into_iter().map(|(_, v)| v).collect()
}

fn eofs(events: &[ConsumerEvent]) -> Vec<(i32, i64)> {
    events
        .iter()
        .filter_map(|e| match e {
            ConsumerEvent::PartitionEof {
                partition, offset, ..
            } => Some((*partition, *offset)),
            _ => None,
        })
        .collect()
}

fn errors(events: &[ConsumerEvent]) -> Vec<(Option<i32>, &ConsumerError)> {
    events
        .iter()
        .filter_map(|e| match e {
            ConsumerEvent::Error {
                partition, error, ..
            } => Some((*partition, error)),
            _ => None,
        })
        .collect()
}

fn fetch_offsets(request: &FetchRequest) -> Vec<(i32, i64)> {
    request
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| (p.partition, p.fetch_offset))
        .collect()
}

fn list_timestamps(request: &ListOffsetsRequest) -> Vec<(i32, i64)> {
    request
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| (p.partition_index, p.timestamp))
        .collect()
}

// ---- start positions ----------------------------------------------------------------------------------

#[test]
fn earliest_start_looks_up_the_log_start_on_the_leader_then_fetches_from_it() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Earliest)], &[2]);
    let (tx, request) = h.expect_list_offsets();
    assert_eq!(tx.broker, 2, "ListOffsets goes to the partition leader");
    assert_eq!(list_timestamps(&request), vec![(0, -2)]);
    assert_eq!(request.replica_id, NodeId(-1));
    assert_eq!(request.topics[0].partitions[0].current_leader_epoch, 5);
    assert!(
        h.transmit().is_none(),
        "nothing to fetch before the offset is known"
    );
    h.reply(&tx, Ok(list_offsets_response(&[(0, None, 40)])));
    assert_eq!(h.consumer.position(TOPIC, 0), Some(40));
    let (tx, request) = h.expect_fetch();
    assert_eq!(tx.broker, 2);
    assert_eq!(fetch_offsets(&request), vec![(0, 40)]);
}

#[test]
fn latest_start_asks_for_the_log_end() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Latest)], &[1]);
    let (_, request) = h.expect_list_offsets();
    assert_eq!(list_timestamps(&request), vec![(0, -1)]);
}

#[test]
fn list_offsets_are_grouped_by_leader_broker() {
    let starts = [
        (0, StartPosition::Earliest),
        (1, StartPosition::Latest),
        (2, StartPosition::Earliest),
    ];
    let mut h = Harness::started(&[], &starts, &[1, 2, 1]);
    let (first, request) = h.expect_list_offsets();
    assert_eq!(first.broker, 1);
    assert_eq!(list_timestamps(&request), vec![(0, -2), (2, -2)]);
    let (second, request) = h.expect_list_offsets();
    assert_eq!(second.broker, 2);
    assert_eq!(list_timestamps(&request), vec![(1, -1)]);
}

#[test]
fn timestamp_start_asks_by_timestamp_and_falls_back_to_latest_when_no_record_is_that_new() {
    let starts = [
        (0, StartPosition::Timestamp(1_700_000_000_000)),
        (1, StartPosition::Timestamp(1_700_000_000_000)),
    ];
    let mut h = Harness::started(&[], &starts, &[1, 1]);
    let (tx, request) = h.expect_list_offsets();
    assert_eq!(
        list_timestamps(&request),
        vec![(0, 1_700_000_000_000), (1, 1_700_000_000_000)]
    );
    h.reply(
        &tx,
        Ok(list_offsets_response(&[(0, None, 12), (1, None, -1)])),
    );
    assert_eq!(h.consumer.position(TOPIC, 0), Some(12));
    assert_eq!(h.consumer.position(TOPIC, 1), None);
    let (_, request) = h.expect_list_offsets();
    assert_eq!(list_timestamps(&request), vec![(1, -1)]);
}

#[test]
fn offset_start_fetches_without_a_lookup() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(7))], &[1]);
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 7)]);
}

#[test]
fn committed_start_waits_for_the_committed_offset_or_applies_auto_offset_reset() {
    let starts = [(0, StartPosition::Committed), (1, StartPosition::Committed)];
    let mut h = Harness::started(&[("auto.offset.reset", "earliest")], &starts, &[1, 1]);
    assert!(h.transmit().is_none());
    assert_eq!(h.consumer.awaiting_committed().count(), 2);
    h.consumer.set_committed_offset(TOPIC, 0, Some(33));
    h.consumer.set_committed_offset(TOPIC, 1, None);
    let (_, request) = h.expect_list_offsets();
    assert_eq!(list_timestamps(&request), vec![(1, -2)]);
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 33)]);
}

#[test]
fn list_offsets_error_retries_after_refresh_and_backoff() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Earliest)], &[1]);
    let (tx, _) = h.expect_list_offsets();
    h.reply(
        &tx,
        Ok(list_offsets_response(&[(
            0,
            Some(ResponseError::NotLeaderOrFollower),
            -1,
        )])),
    );
    h.advance(Duration::from_millis(100));
    h.refresh_metadata(&[2]);
    let (tx, request) = h.expect_list_offsets();
    assert_eq!(tx.broker, 2);
    assert_eq!(list_timestamps(&request), vec![(0, -2)]);
}

// ---- fetching -----------------------------------------------------------------------------------------

#[test]
fn fetch_request_carries_the_fetch_settings_and_leader_epoch() {
    let settings = [
        ("fetch.min.bytes", "10"),
        ("fetch.max.wait.ms", "250"),
        ("fetch.max.bytes", "1000000"),
        ("max.partition.fetch.bytes", "65536"),
        ("isolation.level", "read_committed"),
    ];
    let mut h = Harness::started(&settings, &[(0, StartPosition::Offset(0))], &[1]);
    let (tx, request) = h.expect_fetch();
    assert!(tx.expects_response);
    assert_eq!(request.min_bytes, 10);
    assert_eq!(request.max_wait_ms, 250);
    assert_eq!(request.max_bytes, 1_000_000);
    assert_eq!(request.isolation_level, 1);
    assert_eq!(request.replica_id, NodeId(-1));
    assert_eq!(request.session_epoch, -1, "full fetches, no fetch session");
    let partition = &request.topics[0].partitions[0];
    assert_eq!(partition.partition_max_bytes, 65_536);
    assert_eq!(partition.current_leader_epoch, 5);
}

#[test]
fn fetch_delivers_records_in_order_and_advances_the_position() {
    let records = concat(&[batch(0, &["a", "b"]), batch(2, &["c"])]);
    let (mut h, events) = Harness::after_one_fetch(&[], records);
    assert_eq!(
        delivered(&events),
        vec![(0, "a".into()), (1, "b".into()), (2, "c".into())]
    );
    assert_eq!(h.consumer.position(TOPIC, 0), Some(3));
    assert_eq!(h.consumer.high_watermark(TOPIC, 0), Some(10));
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 3)]);
}

#[test]
fn partial_trailing_batch_is_fetched_again_from_the_first_undelivered_offset() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(0))], &[1]);
    let (tx, _) = h.expect_fetch();
    let second = batch(2, &["c", "d"]);
    let truncated = second.slice(..second.len() - 5);
    let records = concat(&[batch(0, &["a", "b"]), truncated]);
    h.reply(&tx, Ok(fetch_response(vec![data(0, 10, records)])));
    assert_eq!(values(&h.events()), vec!["a", "b"]);
    assert_eq!(h.consumer.position(TOPIC, 0), Some(2));
    let (tx, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 2)]);
    h.reply(&tx, Ok(fetch_response(vec![data(0, 10, second)])));
    assert_eq!(values(&h.events()), vec!["c", "d"]);
}

#[test]
fn records_below_the_fetch_offset_inside_a_batch_are_skipped() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(3))], &[1]);
    let (tx, _) = h.expect_fetch();
    // A compressed batch is returned whole, starting before the fetch offset.
    let gzip = BatchOptions {
        compression: Compression::Gzip,
        ..BatchOptions::default()
    };
    let records = concat(&[
        batch_with(0, gzip, &["a", "b", "c", "d", "e"]),
        batch(5, &["f"]),
    ]);
    h.reply(&tx, Ok(fetch_response(vec![data(0, 10, records)])));
    assert_eq!(
        delivered(&h.events()),
        vec![(3, "d".into()), (4, "e".into()), (5, "f".into())]
    );
    assert_eq!(h.consumer.position(TOPIC, 0), Some(6));
}

#[test]
fn empty_fetch_keeps_the_position_and_fetches_again() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(4))], &[1]);
    let (tx, _) = h.expect_fetch();
    h.reply(&tx, Ok(fetch_response(vec![data(0, 10, Bytes::new())])));
    assert!(h.events().is_empty());
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 4)]);
}

#[test]
fn one_fetch_in_flight_per_broker_with_partitions_grouped_by_leader() {
    let starts = [
        (0, StartPosition::Offset(0)),
        (1, StartPosition::Offset(0)),
        (2, StartPosition::Offset(0)),
    ];
    let mut h = Harness::started(&[], &starts, &[1, 2, 1]);
    let (to_1, request) = h.expect_fetch();
    assert_eq!(to_1.broker, 1);
    assert_eq!(fetch_offsets(&request), vec![(0, 0), (2, 0)]);
    let (to_2, request) = h.expect_fetch();
    assert_eq!(to_2.broker, 2);
    assert_eq!(fetch_offsets(&request), vec![(1, 0)]);
    assert!(
        h.transmit().is_none(),
        "both brokers have a fetch in flight"
    );
    h.reply(
        &to_1,
        Ok(fetch_response(vec![
            data(0, 0, Bytes::new()),
            data(2, 0, Bytes::new()),
        ])),
    );
    let (again, _) = h.expect_fetch();
    assert_eq!(again.broker, 1);
}

#[test]
fn partition_order_rotates_between_fetches() {
    let starts = [(0, StartPosition::Offset(0)), (1, StartPosition::Offset(0))];
    let mut h = Harness::started(&[], &starts, &[1, 1]);
    let (tx, first) = h.expect_fetch();
    h.reply(
        &tx,
        Ok(fetch_response(vec![
            data(0, 9, Bytes::new()),
            data(1, 9, Bytes::new()),
        ])),
    );
    let (_, second) = h.expect_fetch();
    assert_eq!(fetch_offsets(&first), vec![(0, 0), (1, 0)]);
    assert_eq!(fetch_offsets(&second), vec![(1, 0), (0, 0)]);
}

#[test]
fn paused_partition_is_not_fetched_and_its_in_flight_data_is_dropped() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(0))], &[1]);
    let (tx, _) = h.expect_fetch();
    h.consumer.pause(TOPIC, 0);
    h.reply(&tx, Ok(fetch_response(vec![data(0, 10, batch(0, &["a"]))])));
    assert!(h.events().is_empty());
    assert_eq!(h.consumer.position(TOPIC, 0), Some(0));
    assert!(h.transmit().is_none());
    h.consumer.resume(TOPIC, 0);
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 0)]);
}

#[test]
fn batch_larger_than_max_partition_fetch_bytes_is_a_clear_error_not_a_loop() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(0))], &[1]);
    let (tx, _) = h.expect_fetch();
    let whole = batch(0, &["a large record"]);
    h.reply(
        &tx,
        Ok(fetch_response(vec![data(0, 10, whole.slice(..40))])),
    );
    let events = h.events();
    let errors = errors(&events);
    assert!(
        matches!(
            errors[..],
            [(
                Some(0),
                ConsumerError::NoCompleteBatch {
                    offset: 0,
                    bytes: 40,
                    ..
                }
            )]
        ),
        "{errors:?}"
    );
    assert!(errors[0]
        .1
        .to_string()
        .contains("max.partition.fetch.bytes"));
    assert!(h.transmit().is_none(), "the partition is no longer fetched");
}

#[test]
fn corrupt_batch_is_an_error_event_after_the_good_records() {
    let mut bad = BytesMut::from(&batch(1, &["b"])[..]);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let records = concat(&[batch(0, &["a"]), bad.freeze()]);
    let (_, events) = Harness::after_one_fetch(&[], records);
    assert_eq!(values(&events), vec!["a"]);
    assert!(matches!(
        errors(&events)[..],
        [(Some(0), ConsumerError::Corrupt { offset: 1, .. })]
    ));
}

/// A batch whose stored CRC32C is wrong but whose bytes are intact, after a good one.
fn records_with_a_wrong_crc_field() -> Bytes {
    let mut bad = BytesMut::from(&batch(1, &["b"])[..]);
    // The CRC field follows base offset (8), batch length (4), leader epoch (4) and magic (1).
    bad[17] ^= 0xff;
    concat(&[batch(0, &["a"]), bad.freeze()])
}

#[test]
fn check_crcs_false_delivers_a_batch_whose_crc_is_wrong_as_the_java_setting_does() {
    let (_, events) =
        Harness::after_one_fetch(&[("check.crcs", "false")], records_with_a_wrong_crc_field());
    assert_eq!(values(&events), vec!["a", "b"]);
    assert!(errors(&events).is_empty());
}

#[test]
fn by_default_a_batch_whose_crc_is_wrong_is_corrupt() {
    let (_, events) = Harness::after_one_fetch(&[], records_with_a_wrong_crc_field());
    assert_eq!(values(&events), vec!["a"]);
    assert!(matches!(
        errors(&events)[..],
        [(Some(0), ConsumerError::Corrupt { offset: 1, .. })]
    ));
}

// ---- end of partition ---------------------------------------------------------------------------------

#[test]
fn partition_eof_is_reported_once_each_time_the_position_reaches_the_high_watermark() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(0))], &[1]);
    let (tx, _) = h.expect_fetch();
    h.reply(
        &tx,
        Ok(fetch_response(vec![data(0, 2, batch(0, &["a", "b"]))])),
    );
    let events = h.events();
    assert!(
        matches!(events.last(), Some(ConsumerEvent::PartitionEof { .. })),
        "records first, then EOF"
    );
    assert_eq!(eofs(&events), vec![(0, 2)]);

    let (tx, _) = h.expect_fetch();
    h.reply(&tx, Ok(fetch_response(vec![data(0, 2, Bytes::new())])));
    assert!(
        eofs(&h.events()).is_empty(),
        "still at the same end: no second EOF"
    );

    let (tx, _) = h.expect_fetch();
    h.reply(&tx, Ok(fetch_response(vec![data(0, 3, batch(2, &["c"]))])));
    assert_eq!(eofs(&h.events()), vec![(0, 3)]);
}

#[test]
fn empty_partition_reports_eof_at_its_start() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Earliest)], &[1]);
    let (tx, _) = h.expect_list_offsets();
    h.reply(&tx, Ok(list_offsets_response(&[(0, None, 0)])));
    let (tx, _) = h.expect_fetch();
    h.reply(&tx, Ok(fetch_response(vec![data(0, 0, Bytes::new())])));
    assert_eq!(eofs(&h.events()), vec![(0, 0)]);
}

// ---- errors -------------------------------------------------------------------------------------------

#[test]
fn not_leader_refreshes_metadata_and_fetches_from_the_new_leader_after_backoff() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(5))], &[1]);
    let (tx, _) = h.expect_fetch();
    h.reply(
        &tx,
        Ok(fetch_response(vec![data_error(
            0,
            ResponseError::NotLeaderOrFollower,
        )])),
    );
    assert!(
        h.events().is_empty(),
        "a moved leader is not the user's problem"
    );
    assert!(
        h.transmit().is_none(),
        "metadata and fetch both wait for the backoff"
    );
    let wake = h.consumer.poll_timeout().expect("a timer");
    assert!(wake > h.now && wake <= h.now + Duration::from_millis(100));
    h.advance(Duration::from_millis(100));
    h.refresh_metadata(&[2]);
    let (tx, request) = h.expect_fetch();
    assert_eq!(tx.broker, 2, "the fetch goes to the new leader");
    assert_eq!(fetch_offsets(&request), vec![(0, 5)]);
}

#[test]
fn leader_and_epoch_errors_retry_after_a_metadata_refresh() {
    for error in [
        ResponseError::UnknownTopicOrPartition,
        ResponseError::FencedLeaderEpoch,
        ResponseError::UnknownLeaderEpoch,
    ] {
        let mut h = Harness::started(&[], &[(0, StartPosition::Offset(5))], &[1]);
        let (tx, _) = h.expect_fetch();
        h.reply(&tx, Ok(fetch_response(vec![data_error(0, error)])));
        assert!(h.events().is_empty(), "{error:?}");
        h.advance(Duration::from_millis(100));
        h.refresh_metadata(&[1]);
        let (_, request) = h.expect_fetch();
        assert_eq!(fetch_offsets(&request), vec![(0, 5)], "{error:?}");
    }
}

#[test]
fn offset_out_of_range_resets_to_earliest_or_latest() {
    for (reset, timestamp) in [("earliest", -2), ("latest", -1)] {
        let mut h = Harness::started(
            &[("auto.offset.reset", reset)],
            &[(0, StartPosition::Offset(99))],
            &[1],
        );
        let (tx, _) = h.expect_fetch();
        h.reply(
            &tx,
            Ok(fetch_response(vec![data_error(
                0,
                ResponseError::OffsetOutOfRange,
            )])),
        );
        assert!(h.events().is_empty());
        let (tx, request) = h.expect_list_offsets();
        assert_eq!(list_timestamps(&request), vec![(0, timestamp)], "{reset}");
        h.reply(&tx, Ok(list_offsets_response(&[(0, None, 20)])));
        let (_, request) = h.expect_fetch();
        assert_eq!(fetch_offsets(&request), vec![(0, 20)]);
    }
}

#[test]
fn offset_out_of_range_with_reset_none_is_an_error_event() {
    let mut h = Harness::started(
        &[("auto.offset.reset", "none")],
        &[(0, StartPosition::Offset(99))],
        &[1],
    );
    let (tx, _) = h.expect_fetch();
    h.reply(
        &tx,
        Ok(fetch_response(vec![data_error(
            0,
            ResponseError::OffsetOutOfRange,
        )])),
    );
    let events = h.events();
    assert_eq!(
        errors(&events),
        vec![(Some(0), &ConsumerError::OffsetOutOfRange { offset: 99 })]
    );
    assert!(h.transmit().is_none());
    let wake = h.consumer.poll_timeout();
    assert!(
        wake.is_some_and(|t| t >= h.now + Duration::from_secs(299)),
        "only the periodic metadata refresh is left"
    );
}

#[test]
fn topic_authorization_failed_is_a_fatal_partition_error() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(0))], &[1]);
    let (tx, _) = h.expect_fetch();
    h.reply(
        &tx,
        Ok(fetch_response(vec![data_error(
            0,
            ResponseError::TopicAuthorizationFailed,
        )])),
    );
    let events = h.events();
    assert_eq!(
        errors(&events),
        vec![(
            Some(0),
            &ConsumerError::Broker {
                api: ApiKey::Fetch,
                error: ResponseError::TopicAuthorizationFailed
            }
        )]
    );
}

#[test]
fn topic_authorization_failed_in_metadata_fails_the_topic() {
    let mut h = Harness::new(&[]);
    h.consumer
        .assign_topic_all_partitions(TOPIC, StartPosition::Earliest);
    let tx = h.expect_transmit();
    h.reply(
        &tx,
        Ok(Response::Metadata(metadata_topic_error(
            ResponseError::TopicAuthorizationFailed,
        ))),
    );
    let events = h.events();
    assert_eq!(
        errors(&events),
        vec![(
            None,
            &ConsumerError::Topic {
                error: ResponseError::TopicAuthorizationFailed
            }
        )]
    );
}

#[test]
fn disconnect_retries_after_backoff_with_a_metadata_refresh() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(3))], &[1]);
    let (tx, _) = h.expect_fetch();
    h.reply(&tx, Err(TransportError::Disconnected { broker: 1 }));
    assert!(h.events().is_empty());
    assert!(h.transmit().is_none());
    h.advance(Duration::from_millis(100));
    h.refresh_metadata(&[1]);
    let (tx, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 3)]);
    // A second failure in a row waits longer (exponential backoff).
    h.reply(&tx, Err(TransportError::TimedOut { broker: 1 }));
    h.advance(Duration::from_millis(100));
    h.refresh_metadata(&[1]);
    assert!(h.transmit().is_none(), "second backoff is 200 ms");
    h.advance(Duration::from_millis(100));
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 3)]);
}

#[test]
fn unknown_topic_is_an_error_after_request_timeout() {
    let mut h = Harness::new(&[("request.timeout.ms", "1000")]);
    h.consumer
        .assign_topic_all_partitions(TOPIC, StartPosition::Earliest);
    let tx = h.expect_transmit();
    h.reply(
        &tx,
        Ok(Response::Metadata(metadata_topic_error(
            ResponseError::UnknownTopicOrPartition,
        ))),
    );
    assert!(
        h.events().is_empty(),
        "a new topic may still be propagating"
    );
    h.advance(Duration::from_millis(999));
    assert!(h.events().is_empty());
    h.advance(Duration::from_millis(1));
    let events = h.events();
    assert!(
        matches!(
            errors(&events)[..],
            [(None, ConsumerError::UnknownTopic { .. })]
        ),
        "{events:?}"
    );
}

#[test]
fn all_partitions_assignment_waits_for_metadata_then_starts_every_partition() {
    let mut h = Harness::new(&[]);
    h.consumer
        .assign_topic_all_partitions(TOPIC, StartPosition::Offset(0));
    assert_eq!(h.consumer.assignment().count(), 0);
    h.refresh_metadata(&[1, 1, 2]);
    assert_eq!(h.consumer.assignment().count(), 3);
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 0), (1, 0)]);
}

#[test]
fn broker_addresses_come_from_metadata_and_bootstrap() {
    let mut h = Harness::new(&[]);
    h.consumer
        .assign(vec![(TOPIC.into(), 0, StartPosition::Offset(0))]);
    let tx = h.expect_transmit();
    assert_eq!(h.consumer.broker_address(tx.broker), Some("boot:9092"));
    h.reply(&tx, Ok(Response::Metadata(metadata(&[2]))));
    assert_eq!(h.consumer.broker_address(2), Some("h2:9093"));
}

// ---- transactions -------------------------------------------------------------------------------------

/// Producer 7 commits "c1","c2"; producer 8 aborts "x1","x2" interleaved; then plain "p".
fn transactional_log() -> (Bytes, Vec<AbortedTransaction>) {
    let records = concat(&[
        txn_batch(0, 7, &["c1"]),
        txn_batch(1, 8, &["x1"]),
        txn_batch(2, 7, &["c2"]),
        txn_batch(3, 8, &["x2"]),
        marker(4, 7, ControlRecordType::Commit),
        marker(5, 8, ControlRecordType::Abort),
        batch(6, &["p"]),
    ]);
    let aborted = vec![AbortedTransaction::default()
        .with_producer_id(ProducerId(8))
        .with_first_offset(1)];
    (records, aborted)
}

#[test]
fn read_committed_skips_aborted_transactions_and_every_control_record() {
    let mut h = Harness::started(
        &[("isolation.level", "read_committed")],
        &[(0, StartPosition::Offset(0))],
        &[1],
    );
    let (tx, _) = h.expect_fetch();
    let (records, aborted) = transactional_log();
    let partition = data(0, 7, records)
        .with_last_stable_offset(7)
        .with_aborted_transactions(Some(aborted));
    h.reply(&tx, Ok(fetch_response(vec![partition])));
    let events = h.events();
    assert_eq!(
        delivered(&events),
        vec![(0, "c1".into()), (2, "c2".into()), (6, "p".into())]
    );
    assert_eq!(h.consumer.position(TOPIC, 0), Some(7));
    assert_eq!(eofs(&events), vec![(0, 7)]);
}

#[test]
fn read_uncommitted_shows_aborted_data_but_never_control_records() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(0))], &[1]);
    let (tx, _) = h.expect_fetch();
    let (records, aborted) = transactional_log();
    let partition = data(0, 7, records).with_aborted_transactions(Some(aborted));
    h.reply(&tx, Ok(fetch_response(vec![partition])));
    assert_eq!(values(&h.events()), vec!["c1", "x1", "c2", "x2", "p"]);
    assert_eq!(h.consumer.position(TOPIC, 0), Some(7));
}

#[test]
fn read_committed_end_of_partition_is_the_last_stable_offset() {
    let mut h = Harness::started(
        &[("isolation.level", "read_committed")],
        &[(0, StartPosition::Offset(0))],
        &[1],
    );
    let (tx, _) = h.expect_fetch();
    // An open transaction holds the LSO at 1 while the high watermark is 3.
    let partition = data(0, 3, batch(0, &["a"])).with_last_stable_offset(1);
    h.reply(&tx, Ok(fetch_response(vec![partition])));
    let events = h.events();
    assert_eq!(eofs(&events), vec![(0, 1)]);
    assert_eq!(h.consumer.last_stable_offset(TOPIC, 0), Some(1));
}

#[test]
fn deleted_topic_is_an_error_after_request_timeout() {
    let mut h = Harness::started(
        &[("request.timeout.ms", "1000")],
        &[(0, StartPosition::Offset(0))],
        &[1],
    );
    let (tx, _) = h.expect_fetch();
    h.reply(
        &tx,
        Ok(fetch_response(vec![data_error(
            0,
            ResponseError::UnknownTopicOrPartition,
        )])),
    );
    h.advance(Duration::from_millis(100));
    let tx = h.expect_transmit();
    h.reply(
        &tx,
        Ok(Response::Metadata(metadata_topic_error(
            ResponseError::UnknownTopicOrPartition,
        ))),
    );
    assert!(h.events().is_empty());
    h.advance(Duration::from_millis(1000));
    let events = h.events();
    assert!(
        matches!(
            errors(&events)[..],
            [(None, ConsumerError::UnknownTopic { .. })]
        ),
        "{events:?}"
    );
}

#[test]
fn throttled_broker_is_not_fetched_from_until_the_throttle_ends() {
    let mut h = Harness::started(&[], &[(0, StartPosition::Offset(0))], &[1]);
    let (tx, _) = h.expect_fetch();
    let response = FetchResponse::default()
        .with_throttle_time_ms(300)
        .with_responses(vec![FetchableTopicResponse::default()
            .with_topic(topic_name(TOPIC))
            .with_partitions(vec![data(0, 5, Bytes::new())])]);
    h.reply(&tx, Ok(Response::Fetch(response)));
    assert!(h.transmit().is_none());
    assert_eq!(
        h.consumer.poll_timeout(),
        Some(h.now + Duration::from_millis(300))
    );
    h.advance(Duration::from_millis(300));
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 0)]);
}

#[test]
fn unassigned_partition_is_no_longer_fetched_and_its_late_data_is_ignored() {
    let starts = [(0, StartPosition::Offset(0)), (1, StartPosition::Offset(0))];
    let mut h = Harness::started(&[], &starts, &[1, 1]);
    let (tx, _) = h.expect_fetch();
    h.consumer.unassign(TOPIC, 1);
    h.reply(
        &tx,
        Ok(fetch_response(vec![
            data(0, 1, batch(0, &["a"])),
            data(1, 1, batch(0, &["b"])),
        ])),
    );
    assert_eq!(values(&h.events()), vec!["a"]);
    let (_, request) = h.expect_fetch();
    assert_eq!(fetch_offsets(&request), vec![(0, 1)]);
}

#[test]
fn requests_encode_at_every_version_we_speak() {
    use crate::protocol::versions::client_range;
    for (isolation, list_offsets_min) in [("read_uncommitted", 1), ("read_committed", 2)] {
        let starts = [(0, StartPosition::Earliest), (1, StartPosition::Offset(4))];
        let mut h = Harness::started(&[("isolation.level", isolation)], &starts, &[1, 2]);
        let (list, _) = h.expect_list_offsets();
        let (fetch, _) = h.expect_fetch();
        let (min, max) = client_range(ApiKey::ListOffsets).expect("range");
        for version in min.max(list_offsets_min)..=max {
            let mut out = BytesMut::new();
            list.request
                .encode_body(&mut out, version)
                .unwrap_or_else(|e| panic!("ListOffsets v{version} {isolation}: {e}"));
        }
        let (min, max) = client_range(ApiKey::Fetch).expect("range");
        for version in min..=max {
            let mut out = BytesMut::new();
            fetch
                .request
                .encode_body(&mut out, version)
                .unwrap_or_else(|e| panic!("Fetch v{version} {isolation}: {e}"));
        }
    }
}

/// Drives `h` by its own deadlines for `steps` rounds, answering each request through `answer` (or leaving
/// it unanswered), and checks the driver's contract: once everything due at `now` was handled and sent,
/// `poll_timeout` names only a later instant (one at or before `now` would make a driver spin).
fn assert_deadlines_move_forward(
    h: &mut Harness,
    steps: usize,
    mut answer: impl FnMut(&Transmit, usize) -> Option<ResponseResult>,
) {
    for step in 0..steps {
        while let Some(tx) = h.transmit() {
            if let Some(result) = answer(&tx, step) {
                h.reply(&tx, result);
            }
        }
        h.events();
        let Some(deadline) = h.consumer.poll_timeout() else {
            return;
        };
        assert!(
            deadline > h.now,
            "step {step}: poll_timeout names an instant {:?} at or before the handled now",
            h.now.saturating_duration_since(deadline)
        );
        h.now = deadline;
        h.consumer.handle_timeout(h.now);
    }
}

fn fetching_three_partitions() -> Harness {
    let starts: Vec<(i32, StartPosition)> = (0..3).map(|p| (p, StartPosition::Offset(0))).collect();
    Harness::started(&[], &starts, &[1, 2, 1])
}

#[test]
fn deadlines_move_forward_while_every_connection_fails() {
    let mut h = fetching_three_partitions();
    assert_deadlines_move_forward(&mut h, 300, |tx, _| {
        Some(Err(TransportError::Disconnected { broker: tx.broker }))
    });
}

#[test]
fn deadlines_move_forward_while_leaders_move_and_the_topic_comes_and_goes() {
    let mut h = fetching_three_partitions();
    assert_deadlines_move_forward(&mut h, 300, |tx, step| match &tx.request {
        Request::Metadata(_) if step % 4 == 0 => Some(Ok(Response::Metadata(
            metadata_topic_error(ResponseError::UnknownTopicOrPartition),
        ))),
        Request::Metadata(_) if step % 4 == 1 => {
            Some(Ok(Response::Metadata(metadata(&[-1, 2, 1]))))
        }
        Request::Metadata(_) => Some(Ok(Response::Metadata(metadata(&[2, 1, 2])))),
        Request::Fetch(request) => Some(Ok(fetch_response(
            fetch_offsets(request)
                .into_iter()
                .map(|(p, _)| data_error(p, ResponseError::NotLeaderOrFollower))
                .collect(),
        ))),
        _ => None,
    });
}

#[test]
fn deadlines_move_forward_while_the_brokers_never_answer() {
    let mut h = fetching_three_partitions();
    assert_deadlines_move_forward(&mut h, 300, |_, _| None);
}
