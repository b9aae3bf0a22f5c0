//! The producer against a scripted broker: every test plays the broker's side by hand, request by request, on
//! a fake timeline (`start` plus durations, never a sleep), and reads the record batches it is sent with our
//! own batch decoder.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId as NodeId, InitProducerIdRequest, InitProducerIdResponse,
    MetadataResponse, ProduceResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::*;
use crate::client::config::ConfigMap;
use crate::client::partitioner::partition_for_key;
use crate::client::TransportError;
use crate::protocol::record_batch::{RecordBatch, DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES};
use crate::protocol::versions::ApiVersionTable;
use crate::protocol::{Request, Response};
use kafka_protocol::messages::ProduceRequest;

const PID: i64 = 4242;

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

// ---------------------------------------------------------------------------------------------------------
// The broker's side: responses built with kafka-protocol's structs.
// ---------------------------------------------------------------------------------------------------------

/// Brokers 1, 2 and 3, and each topic with the leader of each of its partitions (-1: no leader).
fn cluster(topics: &[(&str, &[i32])]) -> MetadataResponse {
    MetadataResponse::default()
        .with_brokers(
            (1..=3)
                .map(|id| {
                    MetadataResponseBroker::default()
                        .with_node_id(NodeId(id))
                        .with_host(StrBytes::from_string(format!("b{id}")))
                        .with_port(9092)
                })
                .collect(),
        )
        .with_topics(
            topics
                .iter()
                .map(|(name, leaders)| {
                    MetadataResponseTopic::default()
                        .with_name(Some(topic_name(name)))
                        .with_partitions(
                            leaders
                                .iter()
                                .enumerate()
                                .map(|(i, leader)| {
                                    MetadataResponsePartition::default()
                                        .with_partition_index(i as i32)
                                        .with_leader_id(NodeId(*leader))
                                        .with_error_code(if *leader < 0 {
                                            ResponseError::LeaderNotAvailable.code()
                                        } else {
                                            0
                                        })
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
}

fn topic_error(name: &str, error: ResponseError) -> MetadataResponse {
    cluster(&[]).with_topics(vec![MetadataResponseTopic::default()
        .with_name(Some(topic_name(name)))
        .with_error_code(error.code())])
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

fn producer_id(producer_id: i64, epoch: i16) -> Response {
    Response::InitProducerId(
        InitProducerIdResponse::default()
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(epoch),
    )
}

fn producer_id_error(error: ResponseError) -> Response {
    Response::InitProducerId(
        InitProducerIdResponse::default()
            .with_error_code(error.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    )
}

/// One Produce answer per partition: `Ok(base_offset)` or the error code.
fn produce_response(outcomes: &[(&str, i32, Result<i64, ResponseError>)]) -> Response {
    let mut topics: BTreeMap<&str, Vec<PartitionProduceResponse>> = BTreeMap::new();
    for (topic, partition, outcome) in outcomes {
        let (error_code, base_offset) = match outcome {
            Ok(offset) => (0, *offset),
            Err(error) => (error.code(), -1),
        };
        topics.entry(topic).or_default().push(
            PartitionProduceResponse::default()
                .with_index(*partition)
                .with_error_code(error_code)
                .with_base_offset(base_offset),
        );
    }
    Response::Produce(
        ProduceResponse::default().with_responses(
            topics
                .into_iter()
                .map(|(topic, partitions)| {
                    TopicProduceResponse::default()
                        .with_name(topic_name(topic))
                        .with_partition_responses(partitions)
                })
                .collect(),
        ),
    )
}

/// Every batch of `tx` answered the same way.
fn answer_all(tx: &Transmit, outcome: Result<i64, ResponseError>) -> Response {
    let batches = sent_batches(tx);
    let outcomes: Vec<(&str, i32, Result<i64, ResponseError>)> = batches
        .iter()
        .map(|b| (b.topic.as_str(), b.partition, outcome))
        .collect();
    produce_response(&outcomes)
}

/// What a broker that speaks every version we do, except InitProducerId only up to `init_pid_max`, says.
fn versions_with_init_producer_id_up_to(init_pid_max: i16) -> ApiVersionTable {
    let response = ApiVersionsResponse::default().with_api_keys(vec![
        ApiVersion::default()
            .with_api_key(ApiKey::Produce as i16)
            .with_min_version(3)
            .with_max_version(9),
        ApiVersion::default()
            .with_api_key(ApiKey::Metadata as i16)
            .with_min_version(1)
            .with_max_version(9),
        ApiVersion::default()
            .with_api_key(ApiKey::InitProducerId as i16)
            .with_min_version(0)
            .with_max_version(init_pid_max),
    ]);
    ApiVersionTable::from_response(&response).expect("valid table")
}

// ---------------------------------------------------------------------------------------------------------
// What the producer sent, decoded.
// ---------------------------------------------------------------------------------------------------------

/// One record batch of a Produce request, decoded (which also checks its CRC).
#[derive(Debug, Clone, PartialEq)]
struct SentBatch {
    topic: String,
    partition: i32,
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
    values: Vec<String>,
}

fn produce_request(tx: &Transmit) -> &ProduceRequest {
    match &tx.request {
        Request::Produce(request) => request,
        other => panic!("expected a Produce request, got {:?}", other.api_key()),
    }
}

fn init_producer_id_request(tx: &Transmit) -> &InitProducerIdRequest {
    match &tx.request {
        Request::InitProducerId(request) => request,
        other => panic!("expected InitProducerId, got {:?}", other.api_key()),
    }
}

fn sent_batches(tx: &Transmit) -> Vec<SentBatch> {
    let mut out = Vec::new();
    for topic in &produce_request(tx).topic_data {
        for partition in &topic.partition_data {
            let bytes: Bytes = partition.records.clone().expect("records");
            let batch = RecordBatch::parse(bytes, DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES)
                .expect("a valid record batch (CRC checked)");
            let values: Vec<String> = batch
                .records()
                .expect("records")
                .map(|r| {
                    let r = r.expect("record");
                    String::from_utf8(r.value.expect("value").to_vec()).expect("utf8")
                })
                .collect();
            assert_eq!(values.len() as i32, batch.record_count());
            out.push(SentBatch {
                topic: topic.name.0.to_string(),
                partition: partition.index,
                producer_id: batch.producer_id(),
                epoch: batch.producer_epoch(),
                base_sequence: batch.base_sequence(),
                values,
            });
        }
    }
    out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    out
}

/// The only batch of a Produce request.
fn single_batch(tx: &Transmit) -> SentBatch {
    let mut batches = sent_batches(tx);
    assert_eq!(batches.len(), 1, "one batch expected in {batches:?}");
    batches.remove(0)
}

fn values(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("v{i}")).collect()
}

// ---------------------------------------------------------------------------------------------------------
// The harness: a producer, a clock, and a cluster that answers metadata requests.
// ---------------------------------------------------------------------------------------------------------

struct Harness {
    producer: Producer,
    start: Instant,
    now: Instant,
    /// What metadata requests are answered with by [`Harness::poll`].
    cluster: MetadataResponse,
    metadata_requests: usize,
}

impl Harness {
    fn new(settings: &[(&str, &str)]) -> Self {
        let mut pairs = vec![
            ("bootstrap.servers", "boot:9092"),
            ("linger.ms", "0"),
            ("retry.backoff.ms", "100"),
            ("retry.backoff.max.ms", "1000"),
        ];
        pairs.extend_from_slice(settings);
        let config = ProducerConfig::from_map(ConfigMap::from_pairs(pairs)).expect("valid config");
        let mut producer = Producer::new(config);
        for broker in [-1, 1, 2, 3] {
            producer.handle_broker_versions(broker, ApiVersionTable::all_client_versions());
        }
        let start = Instant::now();
        Self {
            producer,
            start,
            now: start,
            cluster: cluster(&[]),
            metadata_requests: 0,
        }
    }

    fn at(&mut self, since_start: Duration) {
        assert!(
            self.start + since_start >= self.now,
            "time only moves forward"
        );
        self.now = self.start + since_start;
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    fn send_to(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&str>,
        value: &str,
    ) -> RecordId {
        self.producer
            .send(
                RecordRef {
                    topic,
                    partition,
                    key: key.map(str::as_bytes),
                    value: Some(value.as_bytes()),
                    headers: &[],
                    timestamp_ms: 1_700_000_000_000,
                },
                self.now,
            )
            .expect("record accepted")
    }

    fn send(&mut self, topic: &str, partition: i32, value: &str) -> RecordId {
        self.send_to(topic, Some(partition), None, value)
    }

    /// The next request, whatever it is.
    fn poll_raw(&mut self) -> Option<Transmit> {
        self.producer.poll_transmit(self.now)
    }

    /// The next request that is not a metadata request; those are answered with `self.cluster` on the spot.
    fn poll(&mut self) -> Option<Transmit> {
        loop {
            let tx = self.poll_raw()?;
            if let Request::Metadata(_) = tx.request {
                self.metadata_requests += 1;
                let response = Response::Metadata(self.cluster.clone());
                self.reply(&tx, response);
                continue;
            }
            return Some(tx);
        }
    }

    fn poll_produce(&mut self) -> Transmit {
        let tx = self.poll().expect("a request");
        produce_request(&tx);
        tx
    }

    fn reply(&mut self, tx: &Transmit, response: Response) {
        self.producer
            .handle_response(tx.broker, tx.token, Ok(response), self.now);
    }

    fn lose(&mut self, tx: &Transmit) {
        self.producer.handle_response(
            tx.broker,
            tx.token,
            Err(TransportError::Disconnected { broker: tx.broker }),
            self.now,
        );
    }

    /// Metadata as `cluster`, then a producer id: what every producer does before its first Produce.
    fn connect(&mut self, cluster: MetadataResponse, epoch: i16) {
        self.cluster = cluster;
        let tx = self.poll().expect("InitProducerId");
        init_producer_id_request(&tx);
        self.reply(&tx, producer_id(PID, epoch));
    }

    /// Metadata only: for producers without idempotence.
    fn connect_without_idempotence(&mut self, cluster: MetadataResponse) {
        self.cluster = cluster;
        let tx = self.poll_raw().expect("metadata request");
        assert!(matches!(tx.request, Request::Metadata(_)));
        self.reply(&tx, Response::Metadata(self.cluster.clone()));
    }

    /// What a runtime does when idle: sleep until `poll_timeout`, which must lie ahead, then `handle_timeout`.
    fn sleep_until_next_deadline(&mut self) {
        let deadline = self.producer.poll_timeout().expect("a deadline");
        assert!(
            deadline > self.now,
            "a deadline not after now would make the caller spin"
        );
        self.now = deadline;
        self.producer.handle_timeout(self.now);
    }

    fn events(&mut self) -> Vec<ProducerEvent> {
        std::iter::from_fn(|| self.producer.poll_event()).collect()
    }

    /// (record ids, partition, base offset) of each delivery, in the order reported.
    fn deliveries(&mut self) -> Vec<(Vec<RecordId>, i32, i64)> {
        self.events()
            .into_iter()
            .map(|event| match event {
                ProducerEvent::Delivered {
                    record_ids,
                    partition,
                    base_offset,
                    ..
                } => (record_ids, partition, base_offset),
                failed => panic!("expected deliveries only, got {failed:?}"),
            })
            .collect()
    }

    /// (record ids, error) of each failure, in the order reported.
    fn failures(&mut self) -> Vec<(Vec<RecordId>, ProduceError)> {
        self.events()
            .into_iter()
            .map(|event| match event {
                ProducerEvent::Failed { record_ids, error } => (record_ids, error),
                delivered => panic!("expected failures only, got {delivered:?}"),
            })
            .collect()
    }

    fn assert_idle(&self) {
        assert_eq!(
            self.producer.outstanding_records(),
            0,
            "outstanding records"
        );
        assert_eq!(self.producer.buffered_bytes(), 0, "buffered bytes");
    }
}

// ---------------------------------------------------------------------------------------------------------
// Startup, batching, sequences
// ---------------------------------------------------------------------------------------------------------

#[test]
fn first_send_waits_for_metadata_and_producer_id_then_sends_one_request_per_leader() {
    let mut h = Harness::new(&[]);
    h.send("orders", 0, "a");
    h.send("orders", 1, "b");
    h.send("orders", 2, "c");

    let metadata = h.poll_raw().expect("metadata first");
    match &metadata.request {
        Request::Metadata(request) => {
            let topics: Vec<String> = request
                .topics
                .iter()
                .flatten()
                .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
                .collect();
            assert_eq!(topics, vec!["orders".to_string()]);
        }
        other => panic!("expected Metadata, got {:?}", other.api_key()),
    }
    let init = h
        .poll_raw()
        .expect("InitProducerId may go out while metadata is in flight");
    let request = init_producer_id_request(&init);
    assert_eq!(
        request.transactional_id, None,
        "an idempotent producer has no transactional id (an empty one is INVALID_REQUEST)"
    );
    assert_eq!(request.producer_id, ProducerId(-1));
    assert_eq!(request.producer_epoch, -1);
    assert!(
        h.poll_raw().is_none(),
        "nothing else until both are answered"
    );

    h.reply(
        &metadata,
        Response::Metadata(cluster(&[("orders", &[1, 2, 1])])),
    );
    assert!(h.poll_raw().is_none(), "no Produce without a producer id");
    h.reply(&init, producer_id(PID, 3));

    let first = h.poll_raw().expect("Produce");
    let second = h.poll_raw().expect("Produce");
    assert!(h.poll_raw().is_none());
    let (to_1, to_2) = if first.broker == 1 {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!((to_1.broker, to_2.broker), (1, 2));
    assert!(to_1.expects_response);
    let request = produce_request(&to_1);
    assert_eq!(request.acks, -1, "idempotence means acks=all");
    assert_eq!(request.transactional_id, None);
    let batch = |partition: i32, value: &str| SentBatch {
        topic: "orders".into(),
        partition,
        producer_id: PID,
        epoch: 3,
        base_sequence: 0,
        values: vec![value.into()],
    };
    assert_eq!(sent_batches(&to_1), vec![batch(0, "a"), batch(2, "c")]);
    assert_eq!(sent_batches(&to_2), vec![batch(1, "b")]);

    h.reply(
        &to_1,
        produce_response(&[("orders", 0, Ok(10)), ("orders", 2, Ok(20))]),
    );
    h.reply(&to_2, answer_all(&to_2, Ok(30)));
    let mut deliveries = h.deliveries();
    deliveries.sort();
    assert_eq!(
        deliveries,
        vec![(vec![0], 0, 10), (vec![1], 1, 30), (vec![2], 2, 20)]
    );
    h.assert_idle();
}

#[test]
fn partitions_of_several_topics_on_one_leader_share_one_request() {
    let mut h = Harness::new(&[]);
    h.send("orders", 0, "o");
    h.send("audit", 1, "a");
    h.connect(cluster(&[("orders", &[1]), ("audit", &[2, 1])]), 0);
    let tx = h.poll_produce();
    assert!(h.poll().is_none());
    assert_eq!(tx.broker, 1);
    let placed: Vec<(String, i32)> = sent_batches(&tx)
        .into_iter()
        .map(|b| (b.topic, b.partition))
        .collect();
    assert_eq!(placed, vec![("audit".into(), 1), ("orders".into(), 0)]);
}

#[test]
fn sequences_continue_per_partition_by_record_count() {
    let mut h = Harness::new(&[("linger.ms", "1000")]);
    for v in values(0..3) {
        h.send("t", 0, &v);
    }
    h.send("t", 1, "p1-a");
    h.connect(cluster(&[("t", &[1, 1])]), 0);
    h.producer.flush();
    let tx = h.poll_produce();
    let batches = sent_batches(&tx);
    assert_eq!(
        batches
            .iter()
            .map(|b| (b.partition, b.base_sequence, b.values.len()))
            .collect::<Vec<_>>(),
        vec![(0, 0, 3), (1, 0, 1)]
    );
    h.reply(&tx, answer_all(&tx, Ok(0)));

    for v in values(3..5) {
        h.send("t", 0, &v);
    }
    h.send("t", 1, "p1-b");
    h.producer.flush();
    let tx = h.poll_produce();
    let batches = sent_batches(&tx);
    assert_eq!(batches[0].values, values(3..5));
    assert_eq!(
        batches
            .iter()
            .map(|b| (b.partition, b.base_sequence, b.values.len()))
            .collect::<Vec<_>>(),
        vec![(0, 3, 2), (1, 1, 1)],
        "next base sequence = previous base + record count, counted per partition"
    );
    h.reply(&tx, answer_all(&tx, Ok(3)));
    assert_eq!(h.deliveries().len(), 4);
    h.assert_idle();
}

#[test]
fn keyed_records_land_on_the_java_murmur2_partition() {
    let mut h = Harness::new(&[]);
    h.connect(cluster(&[("t", &[1, 1, 1, 1, 1])]), 0);
    // murmur2 vectors of the Java client's UtilsTest: foobar → -790332482, abc → 479470107, 21 → -973932308.
    for (key, expected) in [("foobar", 1), ("abc", 2), ("21", 0)] {
        assert_eq!(partition_for_key(key.as_bytes(), 5), expected);
        h.send_to("t", None, Some(key), key);
        let tx = h.poll_produce();
        let batch = single_batch(&tx);
        assert_eq!(
            (batch.partition, batch.values),
            (expected, vec![key.to_string()])
        );
        h.reply(&tx, answer_all(&tx, Ok(0)));
    }
}

#[test]
fn unkeyed_records_stick_to_one_partition_and_explicit_partitions_are_honoured() {
    let mut h = Harness::new(&[("linger.ms", "1000")]);
    h.connect(cluster(&[("t", &[1, 1, 1, 1])]), 0);
    for v in values(0..10) {
        h.send_to("t", None, None, &v);
    }
    h.send_to("t", Some(3), Some("foobar"), "explicit");
    h.producer.flush();
    let tx = h.poll_produce();
    let placed: Vec<(i32, String)> = sent_batches(&tx)
        .into_iter()
        .flat_map(|b| b.values.into_iter().map(move |v| (b.partition, v)))
        .collect();
    let sticky: std::collections::BTreeSet<i32> = placed
        .iter()
        .filter(|(_, v)| v.starts_with('v'))
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(
        sticky.len(),
        1,
        "all unkeyed records in one partition: {placed:?}"
    );
    assert!(
        placed.contains(&(3, "explicit".to_string())),
        "the explicit partition wins over the key: {placed:?}"
    );
}

#[test]
fn a_partition_that_does_not_exist_fails_the_record_clearly() {
    let mut h = Harness::new(&[]);
    // Before metadata: accepted, then failed once the partition count is known.
    let early = h.send("t", 7, "early");
    h.connect(cluster(&[("t", &[1, 1])]), 0);
    let failures = h.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, vec![early]);
    let expected = ProduceError::UnknownPartition {
        topic: "t".into(),
        partition: 7,
        partitions: 2,
    };
    assert_eq!(failures[0].1, expected);
    assert_eq!(
        expected.to_string(),
        "partition 7 does not exist in topic t (2 partitions)"
    );
    // After metadata: refused at once.
    let refused = h.producer.send(
        RecordRef {
            topic: "t",
            partition: Some(2),
            key: None,
            value: Some(b"late"),
            headers: &[],
            timestamp_ms: 0,
        },
        h.now,
    );
    assert!(matches!(
        refused,
        Err(ProduceError::UnknownPartition { partition: 2, .. })
    ));
    assert!(h.poll().is_none());
    h.assert_idle();
}

// ---------------------------------------------------------------------------------------------------------
// linger.ms, batch.size, flush, max.in.flight
// ---------------------------------------------------------------------------------------------------------

#[test]
fn linger_holds_a_batch_until_its_deadline() {
    let mut h = Harness::new(&[("linger.ms", "50")]);
    h.connect(cluster(&[("t", &[1])]), 0);
    h.at(ms(10));
    h.send("t", 0, "a");
    h.at(ms(30));
    h.send("t", 0, "b");
    assert!(h.poll().is_none(), "linger not elapsed");
    assert_eq!(h.producer.poll_timeout(), Some(h.start + ms(60)));
    h.at(ms(59));
    h.producer.handle_timeout(h.now);
    assert!(h.poll().is_none());
    h.at(ms(60));
    h.producer.handle_timeout(h.now);
    let tx = h.poll_produce();
    assert_eq!(single_batch(&tx).values, vec!["a", "b"]);
    let timeout = h.producer.poll_timeout();
    assert!(
        timeout.is_none_or(|t| t > h.now),
        "while waiting for the answer, no deadline in the past: {timeout:?} vs now {:?}",
        h.now
    );
}

#[test]
fn a_full_batch_goes_out_before_linger() {
    let mut h = Harness::new(&[("linger.ms", "60000"), ("batch.size", "200")]);
    h.connect(cluster(&[("t", &[1])]), 0);
    for sent in 1..=100 {
        h.send("t", 0, &format!("{sent:040}"));
        if let Some(tx) = h.poll() {
            let batch = single_batch(&tx);
            assert!(batch.values.len() > 1, "{batch:?}");
            assert!(batch.values.len() <= sent, "{batch:?}");
            return;
        }
    }
    panic!("batch.size never closed a batch");
}

#[test]
fn flush_sends_at_once_and_linger_applies_again_afterwards() {
    let mut h = Harness::new(&[("linger.ms", "1000")]);
    h.connect(cluster(&[("t", &[1])]), 0);
    h.send("t", 0, "a");
    assert!(h.poll().is_none());
    h.producer.flush();
    let tx = h.poll_produce();
    h.reply(&tx, answer_all(&tx, Ok(0)));
    assert_eq!(h.deliveries().len(), 1);
    h.assert_idle();

    // The flush is over: a new record lingers again.
    h.advance(ms(5));
    h.send("t", 0, "b");
    assert!(
        h.poll().is_none(),
        "a completed flush must not turn linger.ms off for good"
    );
    assert_eq!(h.producer.poll_timeout(), Some(h.now + ms(1000)));
}

#[test]
fn poll_timeout_never_reports_a_deadline_in_the_past() {
    let mut h = Harness::new(&[
        ("linger.ms", "10"),
        ("max.in.flight.requests.per.connection", "1"),
    ]);
    h.connect(cluster(&[("t", &[1])]), 0);
    h.send("t", 0, "a");
    h.at(ms(10));
    let first = h.poll_produce();
    h.send("t", 0, "b");
    // "b" lingers until 20 ms, then waits for the request slot "a" holds.
    h.at(ms(25));
    h.producer.handle_timeout(h.now);
    assert!(h.poll().is_none(), "max.in.flight=1 holds the second batch");
    let timeout = h.producer.poll_timeout();
    assert!(
        timeout.is_none_or(|t| t > h.now),
        "deadline {timeout:?} is not after now: the caller would spin"
    );
    h.reply(&first, answer_all(&first, Ok(0)));
    let second = h.poll_produce();
    assert_eq!(single_batch(&second).values, vec!["b"]);
}

#[test]
fn max_in_flight_caps_produce_requests_per_broker() {
    let mut h = Harness::new(&[
        ("batch.size", "1"),
        ("max.in.flight.requests.per.connection", "2"),
    ]);
    h.connect(cluster(&[("t", &[1, 2])]), 0);
    for v in values(0..4) {
        h.send("t", 0, &v);
    }
    h.send("t", 1, "other-broker");
    let mut to_1 = Vec::new();
    let mut to_2 = Vec::new();
    while let Some(tx) = h.poll() {
        if tx.broker == 1 {
            to_1.push(tx)
        } else {
            to_2.push(tx)
        }
    }
    assert_eq!(to_1.len(), 2, "two requests in flight to broker 1, no more");
    assert_eq!(to_2.len(), 1, "broker 2 has its own budget");
    let first = to_1.remove(0);
    h.reply(&first, answer_all(&first, Ok(0)));
    let third = h.poll_produce();
    assert_eq!(third.broker, 1);
    assert_eq!(single_batch(&third).values, vec!["v2"]);
    assert!(h.poll().is_none());
}

// ---------------------------------------------------------------------------------------------------------
// acks
// ---------------------------------------------------------------------------------------------------------

#[test]
fn acks_zero_expects_no_answer_and_delivers_at_offset_minus_one() {
    let mut h = Harness::new(&[("acks", "0")]);
    assert_eq!(h.producer.producer_id_state(), ProducerIdState::Disabled);
    let id = h.send("t", 0, "fire-and-forget");
    h.connect_without_idempotence(cluster(&[("t", &[1])]));
    let tx = h.poll_produce();
    assert!(!tx.expects_response);
    assert_eq!(produce_request(&tx).acks, 0);
    assert_eq!(h.deliveries(), vec![(vec![id], 0, -1)]);
    h.assert_idle();
}

#[test]
fn acks_one_without_idempotence_writes_no_producer_id() {
    let mut h = Harness::new(&[("acks", "1")]);
    h.send("t", 0, "a");
    h.connect_without_idempotence(cluster(&[("t", &[1])]));
    let tx = h.poll_produce();
    assert_eq!(produce_request(&tx).acks, 1);
    let batch = single_batch(&tx);
    assert_eq!(
        (batch.producer_id, batch.epoch, batch.base_sequence),
        (-1, -1, -1)
    );
    h.reply(&tx, answer_all(&tx, Ok(5)));
    assert_eq!(h.deliveries(), vec![(vec![0], 0, 5)]);
    h.assert_idle();
}

// ---------------------------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------------------------

#[test]
fn not_leader_refreshes_metadata_and_retries_to_the_new_leader_with_the_same_sequence() {
    let mut h = Harness::new(&[]);
    h.connect(cluster(&[("t", &[1])]), 0);
    h.send("t", 0, "a");
    let tx = h.poll_produce();
    let sent = single_batch(&tx);
    assert_eq!(tx.broker, 1);
    let refreshes = h.metadata_requests;
    h.cluster = cluster(&[("t", &[2])]);
    h.reply(
        &tx,
        answer_all(&tx, Err(ResponseError::NotLeaderOrFollower)),
    );
    assert!(h.poll().is_none(), "retry waits for retry.backoff.ms");
    h.advance(ms(100));
    let retry = h.poll_produce();
    assert!(h.metadata_requests > refreshes, "metadata was refreshed");
    assert_eq!(retry.broker, 2, "the retry goes to the new leader");
    assert_eq!(
        single_batch(&retry),
        sent,
        "same producer id, epoch, sequence, records"
    );
    h.reply(&retry, answer_all(&retry, Ok(7)));
    assert_eq!(h.deliveries(), vec![(vec![0], 0, 7)]);
    h.assert_idle();
}

#[test]
fn timeouts_and_missing_replicas_are_retried_with_backoff_and_the_same_sequence() {
    let mut h = Harness::new(&[]);
    h.connect(cluster(&[("t", &[1])]), 0);
    h.send("t", 0, "a");
    let tx = h.poll_produce();
    let sent = single_batch(&tx);
    h.reply(&tx, answer_all(&tx, Err(ResponseError::RequestTimedOut)));
    assert_eq!(h.producer.poll_timeout(), Some(h.now + ms(100)));
    h.advance(ms(99));
    assert!(h.poll().is_none());
    h.advance(ms(1));
    let retry = h.poll_produce();
    assert_eq!(single_batch(&retry), sent);
    h.reply(
        &retry,
        answer_all(&retry, Err(ResponseError::NotEnoughReplicas)),
    );
    assert_eq!(
        h.producer.poll_timeout(),
        Some(h.now + ms(200)),
        "backoff doubles on each attempt"
    );
    h.advance(ms(200));
    let retry = h.poll_produce();
    assert_eq!(single_batch(&retry), sent);
    h.reply(&retry, answer_all(&retry, Ok(1)));
    assert_eq!(h.deliveries(), vec![(vec![0], 0, 1)]);
    h.assert_idle();
}

#[test]
fn a_failed_batch_among_five_in_flight_is_resent_in_order_after_all_five_have_outcomes() {
    let mut h = Harness::new(&[("batch.size", "1")]);
    h.connect(cluster(&[("t", &[1])]), 0);
    for v in values(0..5) {
        h.send("t", 0, &v);
    }
    let requests: Vec<Transmit> = (0..5).map(|_| h.poll_produce()).collect();
    assert!(h.poll().is_none(), "five in flight is the limit");
    let sequences: Vec<i32> = requests
        .iter()
        .map(|tx| single_batch(tx).base_sequence)
        .collect();
    assert_eq!(sequences, vec![0, 1, 2, 3, 4]);

    h.reply(&requests[0], answer_all(&requests[0], Ok(100)));
    h.reply(
        &requests[1],
        answer_all(&requests[1], Err(ResponseError::NotEnoughReplicas)),
    );
    h.advance(ms(100));
    assert!(
        h.poll().is_none(),
        "no resend while later batches are in flight"
    );
    for tx in &requests[2..4] {
        h.reply(
            tx,
            answer_all(tx, Err(ResponseError::OutOfOrderSequenceNumber)),
        );
        assert!(h.poll().is_none(), "still one batch in flight");
    }
    h.reply(
        &requests[4],
        answer_all(&requests[4], Err(ResponseError::OutOfOrderSequenceNumber)),
    );
    assert_eq!(
        h.producer.producer_id_state(),
        ProducerIdState::Ready {
            producer_id: PID,
            epoch: 0
        },
        "out-of-order behind a failed batch is expected, not a reason to bump the epoch"
    );
    h.advance(ms(100));
    let resends: Vec<Transmit> = std::iter::from_fn(|| h.poll()).collect();
    let resent: Vec<(i32, i16, Vec<String>)> = resends
        .iter()
        .map(|tx| {
            let b = single_batch(tx);
            (b.base_sequence, b.epoch, b.values)
        })
        .collect();
    assert_eq!(
        resent,
        (1..5)
            .map(|i: i32| (i, 0, vec![format!("v{i}")]))
            .collect::<Vec<_>>(),
        "resent in sequence order with their original sequences"
    );
    for (i, tx) in resends.iter().enumerate() {
        h.reply(tx, answer_all(tx, Ok(101 + i as i64)));
    }
    assert_eq!(
        h.deliveries(),
        (0..5)
            .map(|i| (vec![i as u64], 0, 100 + i as i64))
            .collect::<Vec<_>>(),
        "offsets follow record order"
    );
    h.assert_idle();
}

#[test]
fn a_lost_request_resends_all_its_batches_and_a_duplicate_counts_as_delivered() {
    let mut h = Harness::new(&[]);
    h.connect(cluster(&[("t", &[1, 2, 1])]), 0);
    h.send("t", 0, "a");
    h.send("t", 2, "c");
    let tx = h.poll_produce();
    let sent = sent_batches(&tx);
    assert_eq!(sent.len(), 2);
    h.lose(&tx);
    assert!(h.poll().is_none(), "resend after backoff");
    h.advance(ms(100));
    let retry = h.poll_produce();
    assert_eq!(sent_batches(&retry), sent, "same batches, same sequences");
    h.reply(
        &retry,
        produce_response(&[
            ("t", 0, Err(ResponseError::DuplicateSequenceNumber)),
            ("t", 2, Ok(9)),
        ]),
    );
    let mut deliveries = h.deliveries();
    deliveries.sort();
    assert_eq!(deliveries, vec![(vec![0], 0, -1), (vec![1], 2, 9)]);
    assert_eq!(
        h.producer.producer_id_state(),
        ProducerIdState::Ready {
            producer_id: PID,
            epoch: 0
        }
    );
    h.assert_idle();
}

// ---------------------------------------------------------------------------------------------------------
// Epoch bumps (KIP-360)
// ---------------------------------------------------------------------------------------------------------

/// Two batches in flight on partition 0: "a","b" (sequence 0) and "c" (sequence 2). The first is answered
/// with `error`; returns the two requests.
fn first_batch_rejected(h: &mut Harness, error: ResponseError) -> (Transmit, Transmit) {
    h.connect(cluster(&[("t", &[1])]), 5);
    h.send("t", 0, "a");
    h.send("t", 0, "b");
    let first = h.poll_produce();
    h.send("t", 0, "c");
    let second = h.poll_produce();
    assert_eq!(single_batch(&first).base_sequence, 0);
    assert_eq!(single_batch(&second).base_sequence, 2);
    h.reply(&first, answer_all(&first, Err(error)));
    (first, second)
}

fn epoch_bump_renumbers_unacknowledged_batches(error: ResponseError) {
    let mut h = Harness::new(&[]);
    let (_first, second) = first_batch_rejected(&mut h, error);
    assert_eq!(
        h.producer.producer_id_state(),
        ProducerIdState::BumpNeeded {
            producer_id: PID,
            epoch: 5,
            not_before: None
        }
    );
    h.send("t", 0, "d");
    h.advance(ms(100));
    assert!(
        h.poll().is_none(),
        "no InitProducerId and no Produce while a batch is still in flight"
    );
    h.reply(
        &second,
        answer_all(&second, Err(ResponseError::OutOfOrderSequenceNumber)),
    );

    let bump = h.poll().expect("InitProducerId once in-flight drained");
    let request = init_producer_id_request(&bump);
    assert_eq!(
        (request.producer_id, request.producer_epoch),
        (ProducerId(PID), 5),
        "v3+: bump the epoch of the producer id we have"
    );
    assert_eq!(request.transactional_id, None);
    assert!(h.poll().is_none(), "no Produce before the new epoch");
    h.reply(&bump, producer_id(PID, 6));

    h.advance(ms(200));
    let resends: Vec<SentBatch> = std::iter::from_fn(|| h.poll())
        .map(|tx| single_batch(&tx))
        .collect();
    let expected = |seq: i32, values: &[&str]| SentBatch {
        topic: "t".into(),
        partition: 0,
        producer_id: PID,
        epoch: 6,
        base_sequence: seq,
        values: values.iter().map(|v| v.to_string()).collect(),
    };
    assert_eq!(
        resends,
        vec![
            expected(0, &["a", "b"]),
            expected(2, &["c"]),
            expected(3, &["d"])
        ],
        "renumbered from 0 under the new epoch (decoding checked the rewritten CRC)"
    );
}

#[test]
fn unknown_producer_id_bumps_the_epoch_and_renumbers_from_zero() {
    epoch_bump_renumbers_unacknowledged_batches(ResponseError::UnknownProducerId);
}

#[test]
fn out_of_order_sequence_on_the_first_unacknowledged_batch_bumps_the_epoch() {
    epoch_bump_renumbers_unacknowledged_batches(ResponseError::OutOfOrderSequenceNumber);
}

#[test]
fn a_broker_without_init_producer_id_v3_gives_a_new_producer_id_instead() {
    let mut h = Harness::new(&[]);
    for broker in [-1, 1, 2, 3] {
        h.producer
            .handle_broker_versions(broker, versions_with_init_producer_id_up_to(2));
    }
    let (_first, second) = first_batch_rejected(&mut h, ResponseError::UnknownProducerId);
    h.reply(
        &second,
        answer_all(&second, Err(ResponseError::OutOfOrderSequenceNumber)),
    );
    let init = h.poll().expect("InitProducerId");
    let request = init_producer_id_request(&init);
    assert_eq!(
        (request.producer_id, request.producer_epoch),
        (ProducerId(-1), -1),
        "a broker before KIP-360 is asked for a fresh producer id"
    );
    h.reply(&init, producer_id(PID + 1, 0));
    h.advance(ms(200));
    let resent: Vec<(i64, i16, i32)> = std::iter::from_fn(|| h.poll())
        .map(|tx| {
            let b = single_batch(&tx);
            (b.producer_id, b.epoch, b.base_sequence)
        })
        .collect();
    assert_eq!(resent, vec![(PID + 1, 0, 0), (PID + 1, 0, 2)]);
}

#[test]
fn an_epoch_bump_rewrites_compressed_batches_with_a_valid_crc() {
    let mut h = Harness::new(&[("compression.type", "lz4")]);
    let (first, second) = first_batch_rejected(&mut h, ResponseError::UnknownProducerId);
    let records = produce_request(&first).topic_data[0].partition_data[0]
        .records
        .clone()
        .expect("records");
    let batch = RecordBatch::parse(records, DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES).expect("batch");
    assert_eq!(
        batch.compression(),
        crate::protocol::compression::Compression::Lz4
    );
    h.reply(
        &second,
        answer_all(&second, Err(ResponseError::OutOfOrderSequenceNumber)),
    );
    let bump = h.poll().expect("InitProducerId");
    h.reply(&bump, producer_id(PID, 6));
    h.advance(ms(200));
    let resent: Vec<(i16, i32, Vec<String>)> = std::iter::from_fn(|| h.poll())
        .map(|tx| {
            let b = single_batch(&tx);
            (b.epoch, b.base_sequence, b.values)
        })
        .collect();
    assert_eq!(
        resent,
        vec![
            (6, 0, vec!["a".to_string(), "b".to_string()]),
            (6, 2, vec!["c".to_string()])
        ]
    );
}

#[test]
fn a_rejected_batch_among_five_in_flight_renumbers_the_rest_under_a_new_epoch() {
    let mut h = Harness::new(&[("batch.size", "1")]);
    h.connect(cluster(&[("t", &[1])]), 0);
    for v in values(0..5) {
        h.send("t", 0, &v);
    }
    let requests: Vec<Transmit> = (0..5).map(|_| h.poll_produce()).collect();
    h.reply(&requests[0], answer_all(&requests[0], Ok(100)));
    h.reply(
        &requests[1],
        answer_all(&requests[1], Err(ResponseError::MessageTooLarge)),
    );
    for tx in &requests[2..] {
        assert!(h.poll().is_none(), "no bump while batches are in flight");
        h.reply(
            tx,
            answer_all(tx, Err(ResponseError::OutOfOrderSequenceNumber)),
        );
    }
    let bump = h.poll().expect("InitProducerId");
    assert_eq!(init_producer_id_request(&bump).producer_epoch, 0);
    h.reply(&bump, producer_id(PID, 1));
    h.advance(ms(100));
    let resent: Vec<(i16, i32, Vec<String>)> = std::iter::from_fn(|| h.poll())
        .map(|tx| {
            let b = single_batch(&tx);
            (b.epoch, b.base_sequence, b.values)
        })
        .collect();
    assert_eq!(
        resent,
        vec![
            (1, 0, vec!["v2".to_string()]),
            (1, 1, vec!["v3".to_string()]),
            (1, 2, vec!["v4".to_string()])
        ],
        "the rejected batch's sequence is gone: the rest start over at 0"
    );
}

#[test]
fn a_lost_epoch_bump_is_asked_again_for_the_same_producer_id_and_epoch() {
    let mut h = Harness::new(&[]);
    let (_first, second) = first_batch_rejected(&mut h, ResponseError::UnknownProducerId);
    h.reply(&second, answer_all(&second, Ok(2)));
    let bump = h.poll().expect("InitProducerId");
    h.lose(&bump);
    assert!(h.poll().is_none(), "backoff");
    h.advance(ms(100));
    let again = h.poll().expect("InitProducerId again");
    let request = init_producer_id_request(&again);
    assert_eq!(
        (request.producer_id, request.producer_epoch),
        (ProducerId(PID), 5)
    );
    h.reply(
        &again,
        producer_id_error(ResponseError::CoordinatorLoadInProgress),
    );
    h.advance(ms(200));
    let third = h.poll().expect("InitProducerId a third time");
    let request = init_producer_id_request(&third);
    assert_eq!(
        (request.producer_id, request.producer_epoch),
        (ProducerId(PID), 5)
    );
    h.reply(&third, producer_id(PID, 6));
    let resent = single_batch(&h.poll_produce());
    assert_eq!(
        (resent.epoch, resent.base_sequence, resent.values),
        (6, 0, vec!["a".into(), "b".into()])
    );
}

#[test]
fn a_bump_refused_for_an_unknown_epoch_starts_over_with_a_new_producer_id() {
    let mut h = Harness::new(&[]);
    let (_first, second) = first_batch_rejected(&mut h, ResponseError::UnknownProducerId);
    h.reply(&second, answer_all(&second, Ok(2)));
    let bump = h.poll().expect("InitProducerId");
    h.reply(
        &bump,
        producer_id_error(ResponseError::InvalidProducerEpoch),
    );
    assert!(h.poll().is_none(), "backoff");
    h.advance(ms(100));
    let fresh = h.poll().expect("InitProducerId for a new producer id");
    let request = init_producer_id_request(&fresh);
    assert_eq!(
        (request.producer_id, request.producer_epoch),
        (ProducerId(-1), -1)
    );
    h.reply(&fresh, producer_id(PID + 1, 0));
    let resent = single_batch(&h.poll_produce());
    assert_eq!(
        (resent.producer_id, resent.epoch, resent.base_sequence),
        (PID + 1, 0, 0)
    );
}

#[test]
fn a_batch_that_expires_before_its_resend_under_a_new_epoch_needs_no_second_bump() {
    let mut h = Harness::new(&[("delivery.timeout.ms", "1000")]);
    h.connect(cluster(&[("t", &[1])]), 5);
    let a = h.send("t", 0, "a");
    let tx = h.poll_produce();
    h.at(ms(900));
    h.reply(&tx, answer_all(&tx, Err(ResponseError::UnknownProducerId)));
    let bump = h.poll().expect("InitProducerId");
    h.reply(&bump, producer_id(PID, 6));
    h.at(ms(1000));
    h.producer.handle_timeout(h.now);
    let failures = h.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, vec![a]);
    assert_eq!(
        h.producer.producer_id_state(),
        ProducerIdState::Ready {
            producer_id: PID,
            epoch: 6
        },
        "the expired batch never got a sequence under epoch 6: no gap, no bump"
    );
    h.send("t", 0, "b");
    let next = single_batch(&h.poll_produce());
    assert_eq!((next.epoch, next.base_sequence), (6, 0));
}

#[test]
fn a_rejected_batch_fails_alone_with_topic_partition_and_error_then_the_epoch_is_bumped() {
    for error in [
        ResponseError::MessageTooLarge,
        ResponseError::TopicAuthorizationFailed,
    ] {
        let mut h = Harness::new(&[]);
        h.connect(cluster(&[("t", &[1, 1])]), 0);
        let rejected = h.send("t", 0, "too-big");
        let fine = h.send("t", 1, "fine");
        let tx = h.poll_produce();
        h.reply(
            &tx,
            produce_response(&[("t", 0, Err(error)), ("t", 1, Ok(40))]),
        );
        let mut events = h.events();
        events.sort_by_key(|e| matches!(e, ProducerEvent::Failed { .. }));
        assert!(matches!(
            &events[0],
            ProducerEvent::Delivered { record_ids, base_offset: 40, .. } if *record_ids == vec![fine]
        ));
        let ProducerEvent::Failed {
            record_ids,
            error: failure,
        } = &events[1]
        else {
            panic!("expected a failure, got {events:?}");
        };
        assert_eq!(record_ids, &vec![rejected]);
        assert_eq!(
            failure,
            &ProduceError::Broker {
                topic: "t".into(),
                partition: 0,
                error
            }
        );
        let message = failure.to_string();
        assert!(
            message.contains("t-0") && message.contains(&error.code().to_string()),
            "{message}"
        );
        h.assert_idle();

        // A sent sequence was lost: bump the epoch before anything else goes out.
        h.send("t", 0, "next");
        let init = h.poll().expect("InitProducerId");
        assert_eq!(init_producer_id_request(&init).producer_epoch, 0);
        h.reply(&init, producer_id(PID, 1));
        let next = single_batch(&h.poll_produce());
        assert_eq!((next.epoch, next.base_sequence), (1, 0));
    }
}

// ---------------------------------------------------------------------------------------------------------
// Giving up: retries, delivery.timeout.ms
// ---------------------------------------------------------------------------------------------------------

#[test]
fn exhausted_retries_fail_with_delivery_timeout_carrying_the_last_error() {
    let mut h = Harness::new(&[("retries", "1")]);
    h.connect(cluster(&[("t", &[1])]), 0);
    let id = h.send("t", 0, "a");
    let tx = h.poll_produce();
    h.reply(&tx, answer_all(&tx, Err(ResponseError::RequestTimedOut)));
    h.advance(ms(100));
    let retry = h.poll_produce();
    h.reply(
        &retry,
        answer_all(&retry, Err(ResponseError::NotEnoughReplicas)),
    );
    let failures = h.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, vec![id]);
    match &failures[0].1 {
        ProduceError::DeliveryTimeout {
            topic,
            partition,
            last_error,
            ..
        } => {
            assert_eq!((topic.as_str(), *partition), ("t", 0));
            assert_eq!(
                last_error.as_deref(),
                Some(ResponseError::NotEnoughReplicas.to_string().as_str())
            );
        }
        other => panic!("expected DeliveryTimeout, got {other:?}"),
    }
    h.assert_idle();
}

#[test]
fn a_batch_waiting_to_be_retried_expires_after_delivery_timeout() {
    let mut h = Harness::new(&[
        ("delivery.timeout.ms", "1000"),
        ("retry.backoff.max.ms", "5000"),
    ]);
    h.connect(cluster(&[("t", &[1])]), 0);
    let id = h.send("t", 0, "a");
    let mut attempt = h.poll_produce();
    loop {
        h.reply(
            &attempt,
            answer_all(&attempt, Err(ResponseError::NotEnoughReplicas)),
        );
        if !h.events().is_empty() {
            panic!("failed before the deadline was reached");
        }
        h.sleep_until_next_deadline();
        let events = h.events();
        if let Some(event) = events.first() {
            assert_eq!(
                h.now,
                h.start + ms(1000),
                "expired exactly at delivery.timeout.ms"
            );
            let ProducerEvent::Failed {
                record_ids,
                error:
                    ProduceError::DeliveryTimeout {
                        last_error,
                        timeout_ms,
                        ..
                    },
            } = event
            else {
                panic!("expected DeliveryTimeout, got {event:?}");
            };
            assert_eq!(record_ids, &vec![id]);
            assert_eq!(*timeout_ms, 1000);
            assert_eq!(
                last_error.as_deref(),
                Some(ResponseError::NotEnoughReplicas.to_string().as_str())
            );
            break;
        }
        attempt = h.poll_produce();
    }
    h.assert_idle();
}

#[test]
fn records_for_a_topic_whose_metadata_never_arrives_fail_after_delivery_timeout() {
    let mut h = Harness::new(&[("delivery.timeout.ms", "1000")]);
    h.cluster = topic_error("ghost", ResponseError::UnknownTopicOrPartition);
    let id = h.send("ghost", 0, "boo");
    // Play the runtime: sleep until each deadline, wake up, answer whatever is asked.
    for _ in 0..100 {
        while let Some(tx) = h.poll() {
            match tx.request {
                Request::InitProducerId(_) => h.reply(&tx, producer_id(PID, 0)),
                _ => panic!("unexpected {:?}", tx.request.api_key()),
            }
        }
        h.sleep_until_next_deadline();
        if h.now >= h.start + ms(1000) {
            break;
        }
        assert_eq!(h.producer.outstanding_records(), 1, "not failed early");
    }
    assert_eq!(h.now, h.start + ms(1000));
    let failures = h.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, vec![id]);
    match &failures[0].1 {
        ProduceError::DeliveryTimeout {
            topic, last_error, ..
        } => {
            assert_eq!(topic, "ghost");
            assert_eq!(
                last_error.as_deref(),
                Some(ResponseError::UnknownTopicOrPartition.to_string().as_str())
            );
        }
        other => panic!("expected DeliveryTimeout, got {other:?}"),
    }
    h.assert_idle();
}

#[test]
fn records_for_a_partition_without_a_leader_fail_after_delivery_timeout() {
    let mut h = Harness::new(&[("delivery.timeout.ms", "1000")]);
    let id = h.send("t", 0, "a");
    h.connect(cluster(&[("t", &[-1])]), 0);
    // Play the runtime: sleep until each deadline, answer the metadata refreshes it asks for meanwhile.
    while h.now < h.start + ms(1000) {
        assert!(h.poll().is_none(), "no leader, no Produce");
        h.sleep_until_next_deadline();
    }
    assert_eq!(h.now, h.start + ms(1000));
    let failures = h.failures();
    assert_eq!(
        failures.len(),
        1,
        "the record must not wait forever for a leader"
    );
    assert_eq!(failures[0].0, vec![id]);
    assert!(matches!(
        failures[0].1,
        ProduceError::DeliveryTimeout { partition: 0, .. }
    ));
    h.assert_idle();
}

#[test]
fn a_topic_we_may_not_write_fails_its_records_as_soon_as_metadata_says_so() {
    let mut h = Harness::new(&[]);
    let id = h.send("secret", 0, "a");
    h.cluster = topic_error("secret", ResponseError::TopicAuthorizationFailed);
    let tx = h.poll_raw().expect("metadata");
    h.reply(&tx, Response::Metadata(h.cluster.clone()));
    assert_eq!(
        h.failures(),
        vec![(
            vec![id],
            ProduceError::Topic {
                topic: "secret".into(),
                error: ResponseError::TopicAuthorizationFailed
            }
        )],
        "not after delivery.timeout.ms: waiting cannot help"
    );
    h.assert_idle();
}

// ---------------------------------------------------------------------------------------------------------
// InitProducerId errors
// ---------------------------------------------------------------------------------------------------------

#[test]
fn init_producer_id_is_retried_after_backoff_on_retriable_errors() {
    let mut h = Harness::new(&[]);
    h.send("t", 0, "a");
    h.cluster = cluster(&[("t", &[1])]);
    let init = h.poll().expect("InitProducerId");
    h.reply(
        &init,
        producer_id_error(ResponseError::CoordinatorLoadInProgress),
    );
    assert!(h.poll().is_none());
    assert_eq!(h.producer.poll_timeout(), Some(h.now + ms(100)));
    h.advance(ms(100));
    let init = h.poll().expect("InitProducerId again");
    init_producer_id_request(&init);
    h.reply(&init, producer_id_error(ResponseError::NotCoordinator));
    h.advance(ms(100));
    assert!(h.poll().is_none(), "backoff grows");
    h.advance(ms(100));
    let init = h.poll().expect("InitProducerId a third time");
    h.reply(&init, producer_id(PID, 0));
    let batch = single_batch(&h.poll_produce());
    assert_eq!((batch.producer_id, batch.base_sequence), (PID, 0));
}

#[test]
fn a_fatal_init_producer_id_error_fails_every_record_and_later_sends() {
    let mut h = Harness::new(&[]);
    let a = h.send("t", 0, "a");
    h.cluster = cluster(&[("t", &[1])]);
    let init = h.poll().expect("InitProducerId");
    h.reply(
        &init,
        producer_id_error(ResponseError::ClusterAuthorizationFailed),
    );
    let failures = h.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, vec![a]);
    assert!(
        matches!(&failures[0].1, ProduceError::Fatal { reason } if reason.contains(&ResponseError::ClusterAuthorizationFailed.to_string())),
        "{:?}",
        failures[0].1
    );
    h.assert_idle();
    let later = h.producer.send(
        RecordRef {
            topic: "t",
            partition: Some(0),
            key: None,
            value: Some(b"b"),
            headers: &[],
            timestamp_ms: 0,
        },
        h.now,
    );
    assert!(matches!(later, Err(ProduceError::Fatal { .. })));
    assert!(h.poll().is_none());
}

// ---------------------------------------------------------------------------------------------------------
// Accounting
// ---------------------------------------------------------------------------------------------------------

#[test]
fn buffered_bytes_and_outstanding_records_return_to_zero_once_everything_is_settled() {
    let mut h = Harness::new(&[("batch.size", "1")]);
    h.assert_idle();
    let ids: Vec<RecordId> = values(0..4).iter().map(|v| h.send("t", 0, v)).collect();
    assert_eq!(h.producer.outstanding_records(), 4);
    assert!(h.producer.buffered_bytes() > 0);
    h.connect(cluster(&[("t", &[1])]), 0);
    let requests: Vec<Transmit> = std::iter::from_fn(|| h.poll()).collect();
    assert_eq!(requests.len(), 4);
    h.reply(&requests[0], answer_all(&requests[0], Ok(0)));
    h.reply(
        &requests[1],
        answer_all(&requests[1], Err(ResponseError::MessageTooLarge)),
    );
    h.lose(&requests[2]);
    h.reply(
        &requests[3],
        answer_all(&requests[3], Err(ResponseError::OutOfOrderSequenceNumber)),
    );
    assert_eq!(h.producer.outstanding_records(), 2);
    let init = h.poll().expect("epoch bump");
    h.reply(&init, producer_id(PID, 1));
    h.advance(ms(1000));
    let resends: Vec<Transmit> = std::iter::from_fn(|| h.poll()).collect();
    assert_eq!(resends.len(), 2);
    for tx in &resends {
        h.reply(tx, answer_all(tx, Ok(1)));
    }
    let settled: usize = h
        .events()
        .iter()
        .map(|e| match e {
            ProducerEvent::Delivered { record_ids, .. }
            | ProducerEvent::Failed { record_ids, .. } => record_ids.len(),
            ProducerEvent::Transaction(event) => panic!("not transactional: {event:?}"),
        })
        .sum();
    assert_eq!(settled, ids.len());
    h.assert_idle();
}

mod transactions;

#[test]
fn a_retry_backoff_behind_an_open_batch_past_its_linger_still_wakes_the_caller() {
    // A lost request puts its batch back with a backoff while new records sit in an open batch whose
    // linger deadline has already passed (it cannot go before the retried batch). The past linger deadline
    // must not hide the future retry deadline, or a runtime sleeping on poll_timeout never resends.
    let mut h = Harness::new(&[("linger.ms", "5")]);
    h.connect(cluster(&[("t", &[1])]), 0);
    h.send("t", 0, "a");
    h.advance(ms(5));
    let tx = h.poll_produce();
    h.lose(&tx);
    h.send("t", 0, "b");
    h.advance(ms(10));
    assert!(
        h.poll().is_none(),
        "the retry waits for its backoff and 'b' waits behind it"
    );
    let deadline = h
        .producer
        .poll_timeout()
        .expect("the retry backoff is a deadline");
    assert!(deadline > h.now, "the reported deadline lies ahead");
    // Sleeping from deadline to deadline (a metadata refresh may come first) reaches the resend.
    let retry = (0..5)
        .find_map(|_| {
            h.sleep_until_next_deadline();
            h.poll()
        })
        .expect("the lost batch is resent once its backoff is over");
    assert!(
        h.now <= h.start + ms(5 + 100),
        "resent when the 100 ms backoff ends, not later"
    );
    assert_eq!(
        sent_batches(&retry),
        sent_batches(&tx),
        "the lost batch goes again, same sequence"
    );
}
