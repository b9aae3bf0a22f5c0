//! The broker process killed with SIGKILL and started again while our clients work against it.
//!
//! The broker is a `RestartableBroker`: tansu storing in S3 on a moto server of its own, so its data survives
//! the kill (or the external broker restarted by `PIPEWRIGHT_TEST_BROKER_RESTART`). Restart points are drawn
//! from a seeded RNG; `PIPEWRIGHT_FAULT_SEED` replays a run.
//!
//! tansu's S3 store is not crash-safe inside a Produce: it saves the producer's sequence, then the partition's
//! high watermark, then the batch, each a separate S3 write. Killed between them it has counted a batch it
//! never stored, and the retry of that batch is answered DUPLICATE_SEQUENCE_NUMBER ("already written"), so the
//! records are acknowledged and lost; confluent-kafka loses records the same way (see tests/README.md). On
//! tansu the producer test therefore kills the broker between requests: the fault proxy in front of it holds
//! back new requests and answers, waits until tansu has answered everything it was sent, and then tansu is
//! killed. For the producer nothing changes: its requests in flight are lost unanswered, some written and
//! some not, and it cannot tell which. Against an external broker the kill lands anywhere.

mod support;

use std::collections::BTreeMap;
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

use support::fault_proxy::{seed_from_env_or_clock, FaultProxy};
use support::restartable_broker::RestartableBroker;
use support::{
    assert_exactly_once_in_order, ck_consume, create_topic, numbered_record, unique_topic, wait_for,
};

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
            &format!("{count} records acknowledged"),
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
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

/// Kills the broker with SIGKILL and starts it again. On tansu, first holds the producer's traffic in `proxy`
/// until tansu has answered all it got, so the kill falls between requests (see the header for why).
fn restart_between_requests_on_tansu(broker: &mut RestartableBroker, proxy: &FaultProxy) {
    if broker.is_external() {
        broker.restart();
        return;
    }
    proxy.set_blackhole(true);
    proxy.wait_until_upstream_idle(Duration::from_secs(30));
    broker.restart();
    // Connections to the killed broker are dead; close their client sides too before traffic flows again.
    proxy.drop_all_connections();
    proxy.set_blackhole(false);
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
            "killing the broker at {} acknowledged records",
            producer.settled()
        );
        restart_between_requests_on_tansu(&mut broker, &proxy);
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
        .map(|r| {
            (
                (r.partition, r.offset),
                String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned(),
            )
        })
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
