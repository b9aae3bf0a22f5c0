//! The broker process killed with SIGKILL and started again while our clients work against it.
//!
//! The broker is a `RestartableBroker`: tansu storing in S3 on a moto server of its own, so its data survives
//! the kill (or the external broker restarted by `PIPEWRIGHT_TEST_BROKER_RESTART`). Restart points are drawn
//! from a seeded RNG; `PIPEWRIGHT_FAULT_SEED` replays a run.
//!
//! tansu's S3 store is not crash-safe inside a Produce: it saves the producer's sequence, then the partition's
//! high watermark, then the batch, each a separate S3 write. Killed between them it has counted a batch it
//! never stored, and the retry of that batch is answered DUPLICATE_SEQUENCE_NUMBER ("already written"), so the
//! records are acknowledged and lost; confluent-kafka loses records the same way (see tests/README.md). So on
//! tansu, a kill while a producer is at work falls between requests: the fault proxy in front of the producer
//! holds back new requests and answers, waits until tansu has answered everything it was sent, and then tansu
//! is killed. For the producer nothing changes: its requests in flight are lost unanswered, some written and
//! some not, and it cannot tell which. Against an external broker the kill lands anywhere.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pipewright::client::config::{ConfigMap, ProducerConfig};
use pipewright::client::producer::RecordRef;
use pipewright::runtime::producer::{now_ms, Delivery, DeliveryFuture};
use pipewright::runtime::Producer;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use support::broker::{create_topic, unique_topic};
use support::engine_cli::{assert_delivered, engine_consume, spawn_engine_produce};
use support::engine_process::{
    committed_file_position, positions_file, start_engine, terminate, write_pipelines,
};
use support::fault_proxy::{seed_from_env_or_clock, FaultProxy};
use support::group_member::{
    committed_offsets, prefixed_values, produce_prefixed, wait_all_printed, wait_settled, Member,
};
use support::local_runtime::block_on_local;
use support::numbered::{assert_exactly_once_in_order, numbered_json_lines, numbered_record};
use support::peers::{ck_consume, spawn_ck_produce, ConsumedRecord};
use support::restartable_broker::RestartableBroker;
use support::waiting::wait_for;

const PARTITIONS: u32 = 3;
/// How long a background client may run, restarts and all, before the test fails.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

/// Our async producer (`runtime::Producer`) on a thread of its own, sending numbered records 0..records.
struct BackgroundProducer {
    /// Records whose outcome is known, counted in send order (so the first `n` records all have one).
    settled: Arc<AtomicUsize>,
    thread: thread::JoinHandle<Vec<Result<Delivery, String>>>,
}

impl BackgroundProducer {
    fn start(bootstrap: &str, topic: &str, records: usize, config: &[(&str, &str)]) -> Self {
        let mut map = ConfigMap::from_pairs([("bootstrap.servers", bootstrap)]);
        for (name, value) in config {
            map.set(*name, *value);
        }
        let config = ProducerConfig::from_map(map).expect("producer config");
        let topic = topic.to_string();
        let settled = Arc::new(AtomicUsize::new(0));
        let thread = {
            let settled = settled.clone();
            thread::Builder::new()
                .name("producer".into())
                .spawn(move || produce_numbered(config, &topic, records, &settled))
                .expect("spawn producer thread")
        };
        BackgroundProducer { settled, thread }
    }

    fn settled(&self) -> usize {
        self.settled.load(Ordering::Acquire)
    }

    /// Waits until the first `count` records have an outcome; panics if the producer ends or hangs first.
    fn wait_settled(&self, count: usize) {
        wait_for(
            &format!("{count} records to have an outcome"),
            CLIENT_TIMEOUT,
            || {
                assert!(
                    !self.thread.is_finished() || self.settled() >= count,
                    "the producer ended after {} records",
                    self.settled()
                );
                self.settled() >= count
            },
        );
    }

    /// Every record's outcome, in send order.
    fn finish(self) -> Vec<Result<Delivery, String>> {
        wait_for("the producer to finish", CLIENT_TIMEOUT, || {
            self.thread.is_finished()
        });
        self.thread.join().expect("producer thread panicked")
    }
}

/// Sends records 0..records and awaits each delivery; `settled` counts outcomes in send order.
fn produce_numbered(
    config: ProducerConfig,
    topic: &str,
    records: usize,
    settled: &AtomicUsize,
) -> Vec<Result<Delivery, String>> {
    block_on_local(async {
        let producer = Producer::new(config);
        let (pending_tx, mut pending_rx) =
            tokio::sync::mpsc::unbounded_channel::<Result<DeliveryFuture, String>>();
        // Awaits deliveries in send order while the sender goes on, so `settled` moves as acks come in.
        let collector = async {
            let mut outcomes = Vec::with_capacity(records);
            while let Some(pending) = pending_rx.recv().await {
                let outcome = match pending {
                    Ok(delivery) => delivery.await.map_err(|err| err.to_string()),
                    Err(err) => Err(err),
                };
                outcomes.push(outcome);
                settled.fetch_add(1, Ordering::Release);
            }
            outcomes
        };
        let sender = async {
            for i in 0..records {
                let (key, value) = numbered_record(i);
                let accepted = producer
                    .send(RecordRef {
                        topic,
                        partition: None,
                        key: Some(key.as_bytes()),
                        value: Some(value.as_bytes()),
                        headers: &[],
                        timestamp_ms: now_ms(),
                    })
                    .await
                    .map_err(|err| format!("send refused: {err}"));
                if pending_tx.send(accepted).is_err() {
                    break;
                }
            }
            drop(pending_tx);
            producer.flush().await
        };
        let (outcomes, _) = tokio::join!(collector, sender);
        producer.close().await;
        outcomes
    })
}

/// `count` distinct restart points in `records * 5 / 100 .. records * 95 / 100`, ascending.
fn restart_points(rng: &mut StdRng, records: usize, count: usize) -> Vec<usize> {
    let mut points = std::collections::BTreeSet::new();
    while points.len() < count {
        points.insert(rng.random_range(records * 5 / 100..records * 95 / 100));
    }
    points.into_iter().collect()
}

/// 120,000 keyed records over 3 partitions from our idempotent producer, the broker killed -9 and restarted
/// at 4 random points of its progress (counted in acknowledged records, so batches are in flight at each
/// kill; between requests on tansu): every record acknowledged, each exactly once in the topic, at the offset
/// its acknowledgement named (when it named one), in send order per partition.
#[test]
fn idempotent_producer_loses_and_duplicates_nothing_through_broker_kill_9_restarts_between_requests_on_tansu(
) {
    const RECORDS: usize = 120_000;
    const RESTARTS: usize = 4;
    let seed = seed_from_env_or_clock();
    eprintln!("restart points seeded with {seed} (PIPEWRIGHT_FAULT_SEED replays them)");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut broker = RestartableBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("restart-produce");
    create_topic(&bootstrap, &topic, PARTITIONS);

    let proxy = FaultProxy::start(&bootstrap);

    let started = Instant::now();
    let producer = BackgroundProducer::start(
        &proxy.bootstrap(),
        &topic,
        RECORDS,
        &[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", "5"),
        ],
    );
    for point in restart_points(&mut rng, RECORDS, RESTARTS) {
        producer.wait_settled(point);
        eprintln!(
            "killing the broker with {} records settled",
            producer.settled()
        );
        broker.restart_between_requests_on_tansu(&proxy);
    }
    let outcomes = producer.finish();
    eprintln!(
        "produced {RECORDS} records through {} restarts in {:?}; proxy: {:?}",
        broker.restarts(),
        started.elapsed(),
        proxy.stats()
    );
    let failed: Vec<(usize, &String)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, outcome)| outcome.as_ref().err().map(|err| (i, err)))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {RECORDS} records failed, first: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert_eq!(outcomes.len(), RECORDS);

    // Read back by a client no one here wrote.
    let read = ck_consume(&bootstrap, &topic, None);
    assert_exactly_once_in_order(&read, RECORDS);
    let at: BTreeMap<(i32, i64), String> = read
        .iter()
        .map(|r| ((r.partition, r.offset), r.value_text()))
        .collect();
    // A batch answered DUPLICATE_SEQUENCE_NUMBER (written before, answer lost) may come back without its offset.
    let unnamed = outcomes
        .iter()
        .filter(|outcome| outcome.as_ref().is_ok_and(|d| d.offset < 0))
        .count();
    eprintln!("{unnamed} records acknowledged without an offset");
    let misplaced: Vec<String> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, outcome)| {
            let delivery = outcome.as_ref().ok().filter(|d| d.offset >= 0)?;
            let found = at.get(&(delivery.partition, delivery.offset));
            (found != Some(&numbered_record(i).1)).then(|| {
                format!(
                    "record {i} acknowledged at {}/{} where the topic has {found:?}",
                    delivery.partition, delivery.offset
                )
            })
        })
        .collect();
    assert!(
        misplaced.is_empty(),
        "{} acknowledgements name the wrong offset, first: {:?}",
        misplaced.len(),
        &misplaced[..misplaced.len().min(5)]
    );
}

/// The producer scenario with confluent-kafka (librdkafka) as the producer: the reference showing it is
/// survivable on this broker, so a failure of ours is ours. Its progress is not visible from here, so the
/// restart points are counted in bytes the proxy forwarded (at most what the records take on the wire).
#[test]
fn reference_client_loses_and_duplicates_nothing_through_broker_kill_9_restarts_between_requests_on_tansu(
) {
    const RECORDS: usize = 120_000;
    const RESTARTS: usize = 4;
    /// Fewer bytes than a record takes on the wire, request and answer together: every point is reached.
    const BYTES_PER_RECORD: usize = 16;
    let seed = seed_from_env_or_clock();
    eprintln!("restart points seeded with {seed} (PIPEWRIGHT_FAULT_SEED replays them)");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut broker = RestartableBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("restart-produce-reference");
    create_topic(&bootstrap, &topic, PARTITIONS);
    let proxy = FaultProxy::start(&bootstrap);

    let mut producer = spawn_ck_produce(
        &proxy.bootstrap(),
        &topic,
        &[
            "--partitioner",
            "murmur2_random",
            "-X",
            "enable.idempotence=true",
            "-X",
            "acks=all",
        ],
    );
    producer.feed(numbered_json_lines(0..RECORDS).as_bytes());
    for point in restart_points(&mut rng, RECORDS * BYTES_PER_RECORD, RESTARTS) {
        producer.wait_while_running(
            &format!("{point} bytes through the proxy"),
            CLIENT_TIMEOUT,
            || proxy.stats().bytes_forwarded >= point as u64,
        );
        broker.restart_between_requests_on_tansu(&proxy);
    }
    let output = producer.finish(CLIENT_TIMEOUT);
    output.assert_success("confluent-kafka through broker restarts");
    assert_eq!(
        output.stdout_str().lines().count(),
        RECORDS,
        "delivery reports"
    );
    let read = ck_consume(&bootstrap, &topic, None);
    assert_exactly_once_in_order(&read, RECORDS);
}

/// Waits until the group has committed `total` records' worth of offsets, so that everything printed so far is
/// committed.
fn wait_committed(bootstrap: &str, group: &str, total: usize) -> BTreeMap<i32, i64> {
    let mut offsets = BTreeMap::new();
    wait_for(
        &format!("group {group} to commit {total} records"),
        Duration::from_secs(60),
        || {
            offsets = committed_offsets(bootstrap, group);
            offsets.values().sum::<i64>() == total as i64
        },
    );
    offsets
}

/// Two `engine consume -G` members share 3 partitions. The broker is killed -9 and restarted once while the
/// group is idle with everything committed, and once while records are being produced, with one member
/// killed -9 while the broker is down. Committed offsets survive each restart, the survivor takes over the dead
/// member's partitions from its committed offsets (nothing committed is read again), every record produced is
/// printed, and a member joining at the end finds nothing left to read.
#[test]
fn consumer_group_keeps_committed_offsets_and_skips_no_record_through_broker_kill_9_restarts() {
    let mut broker = RestartableBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("restart-group");
    let group = format!("{topic}-group");
    create_topic(&bootstrap, &topic, PARTITIONS);
    let dir = tempfile::tempdir().expect("tempdir");
    let commit_often = ["-X", "auto.commit.interval.ms=200"];

    let mut expected: BTreeSet<String> = produce_prefixed(&bootstrap, &topic, "a", 0..3_000, &[]);
    let mut m0 = Member::engine("m0", &dir, &bootstrap, &topic, &group, &commit_often);
    let mut m1 = Member::engine("m1", &dir, &bootstrap, &topic, &group, &commit_often);
    wait_settled(&[&m0, &m1], PARTITIONS as i32);
    wait_all_printed(&[&m0, &m1], &expected);
    let committed = wait_committed(&bootstrap, &group, expected.len());

    // 1. The broker dies with the group idle and everything committed.
    broker.restart();
    assert_eq!(
        committed_offsets(&bootstrap, &group),
        committed,
        "committed offsets after the restart"
    );
    expected.extend(produce_prefixed(&bootstrap, &topic, "b", 0..3_000, &[]));
    wait_all_printed(&[&m0, &m1], &expected);
    let committed = wait_committed(&bootstrap, &group, expected.len());
    let committed_before_crash = expected.clone();

    // 2. The broker dies while records are produced (between requests on tansu, see the header), and m1 dies
    // with it: no commit, no leave.
    let proxy = FaultProxy::start(&bootstrap);
    let (c_values, c_input) = prefixed_values("c", 0..6_000);
    let (c_first, c_rest) = c_input.split_at(c_input.len() / 2);
    let mut producer = spawn_engine_produce(&proxy.bootstrap(), &topic, &["-K", ":"]);
    producer.feed(c_first.as_bytes());
    wait_for(
        "the producer's first records",
        Duration::from_secs(30),
        || proxy.stats().bytes_forwarded > 10_000,
    );
    m1.signal("-KILL");
    m1.wait_exit(Duration::from_secs(10));
    // The rest goes in right before the kill, so the producer has records in hand and in flight.
    producer.feed(c_rest.as_bytes());
    broker.restart_between_requests_on_tansu(&proxy);
    let after_restart = committed_offsets(&bootstrap, &group);
    for (partition, before) in &committed {
        let after = after_restart.get(partition).copied();
        assert!(
            after.is_some_and(|after| after >= *before),
            "partition {partition}: committed {before} before the restart, {after:?} after"
        );
    }
    assert_delivered(
        &producer.finish(Duration::from_secs(90)),
        &topic,
        c_values.len(),
    );
    expected.extend(c_values);
    // The broker has every record, so one never printed was skipped by the consumers.
    let in_topic: BTreeSet<String> = ck_consume(&bootstrap, &topic, None)
        .iter()
        .map(ConsumedRecord::value_text)
        .collect();
    let not_in_topic: Vec<&String> = expected.difference(&in_topic).collect();
    assert!(
        not_in_topic.is_empty(),
        "{} acknowledged records are not in the topic, e.g. {:?}",
        not_in_topic.len(),
        &not_in_topic[..not_in_topic.len().min(5)]
    );
    let owned = wait_settled(&[&m0], PARTITIONS as i32);
    assert_eq!(
        owned[0].len(),
        PARTITIONS as usize,
        "m0 took over everything"
    );
    wait_all_printed(&[&m0, &m1], &expected);

    // m0 leaves cleanly, committing what it printed.
    m0.signal("-INT");
    assert!(
        m0.wait_exit(Duration::from_secs(30)).success(),
        "{}",
        m0.stderr()
    );
    let printed: Vec<String> = [&m0, &m1].iter().flat_map(|m| m.values()).collect();
    let unique: BTreeSet<String> = printed.iter().cloned().collect();
    assert_eq!(unique, expected, "every record printed, nothing else");
    // What was committed before the crash was printed once: the takeover started from committed offsets.
    let mut copies: BTreeMap<&String, usize> = BTreeMap::new();
    for value in printed
        .iter()
        .filter(|v| committed_before_crash.contains(*v))
    {
        *copies.entry(value).or_default() += 1;
    }
    let reread: Vec<(&&String, &usize)> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        reread.is_empty(),
        "{} committed records read again after the restart, e.g. {:?}",
        reread.len(),
        &reread[..reread.len().min(5)]
    );
    wait_committed(&bootstrap, &group, expected.len());
    let mut late = Member::engine("late", &dir, &bootstrap, &topic, &group, &["-e"]);
    assert!(
        late.wait_exit(Duration::from_secs(60)).success(),
        "{}",
        late.stderr()
    );
    assert!(
        late.values().is_empty(),
        "a member joining at the end read {} records again",
        late.values().len()
    );
}

/// An at-least-once file → Kafka pipeline copies 200,000 lines while the broker is killed -9 and restarted at 3
/// random points of its committed position (between requests on tansu, see the header): the whole file ends up
/// committed and every line is in the topic.
#[test]
fn at_least_once_file_to_kafka_pipeline_loses_nothing_through_broker_kill_9_restarts() {
    const LINES: usize = 200_000;
    const RESTARTS: usize = 3;
    let seed = seed_from_env_or_clock();
    eprintln!("restart points seeded with {seed} (PIPEWRIGHT_FAULT_SEED replays them)");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut broker = RestartableBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("restart-pipeline");
    create_topic(&bootstrap, &topic, 2);
    let proxy = FaultProxy::start(&bootstrap);
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("lines.txt");
    let line = |i: usize| format!("line-{i:08}");
    let text: String = (0..LINES).map(|i| line(i) + "\n").collect();
    std::fs::write(&input, &text).expect("write input");
    let file_len = text.len() as u64;
    let config = write_pipelines(
        dir.path(),
        &proxy.bootstrap(),
        &format!(
            r#"[[pipeline]]
name = "lines-to-kafka"
delivery = "at-least-once"
source = {{ type = "file", file = "{input}", "batch.size" = 500 }}
sink = {{ type = "kafka", topic = "{topic}" }}
"value.converter" = "string"
"#,
            input = input.display()
        ),
    );
    let state = dir.path().join("state");
    let positions = positions_file(&state, "lines-to-kafka", 0);

    let started = Instant::now();
    let mut engine = start_engine(&config, &state, 1);
    for point in restart_points(&mut rng, file_len as usize, RESTARTS) {
        engine.wait_while_running(
            &format!("the pipeline to commit byte {point} of {file_len}"),
            CLIENT_TIMEOUT,
            || committed_file_position(&positions).is_some_and(|at| at >= point as u64),
        );
        eprintln!(
            "killing the broker at byte {:?} committed",
            committed_file_position(&positions)
        );
        broker.restart_between_requests_on_tansu(&proxy);
    }
    wait_for("the whole file committed", CLIENT_TIMEOUT, || {
        committed_file_position(&positions) == Some(file_len)
    });
    eprintln!(
        "copied {LINES} lines through {} restarts in {:?}",
        broker.restarts(),
        started.elapsed()
    );
    let status = terminate(&mut engine, Duration::from_secs(30));
    assert!(
        status.success(),
        "the engine exits 0 on SIGTERM: {status:?}"
    );

    let read = engine_consume(&bootstrap, &topic, &["-o", "beginning", "-e", "-f", "%s\n"]);
    read.assert_success("engine consume");
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for value in read.stdout_str().lines() {
        *copies.entry(value.to_string()).or_default() += 1;
    }
    let missing: Vec<String> = (0..LINES)
        .map(line)
        .filter(|l| !copies.contains_key(l))
        .collect();
    let duplicated = copies.values().filter(|&&n| n > 1).count();
    eprintln!("{duplicated} lines in the topic more than once (allowed at least once)");
    assert!(
        missing.is_empty(),
        "{} lines lost, first: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert_eq!(
        copies.len(),
        LINES,
        "only the file's lines are in the topic"
    );
}
