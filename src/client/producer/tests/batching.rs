//! Startup, batching and sequences: metadata and the producer id first, one request per leader, sequence
//! numbers per partition, partitioning.

use super::*;

#[test]
fn first_send_waits_for_metadata_and_producer_id_then_sends_one_request_per_leader() {
    let mut h = Harness::producer(&[]);
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
    let mut h = Harness::producer(&[]);
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
    let mut h = Harness::producer(&[("linger.ms", "1000")]);
    for v in values(0..3) {
        h.send("t", 0, &v);
    }
    h.send("t", 1, "p1-a");
    h.connect(cluster(&[("t", &[1, 1])]), 0);
    h.machine.flush();
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
    h.machine.flush();
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
    let mut h = Harness::producer(&[]);
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
    let mut h = Harness::producer(&[("linger.ms", "1000")]);
    h.connect(cluster(&[("t", &[1, 1, 1, 1])]), 0);
    for v in values(0..10) {
        h.send_to("t", None, None, &v);
    }
    h.send_to("t", Some(3), Some("foobar"), "explicit");
    h.machine.flush();
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
fn unkeyed_records_move_on_after_16_kib_whatever_the_default_batch_size() {
    // batch.size defaults to 1000000; a quiet feed must still spread over the partitions.
    let mut h = Harness::producer(&[]);
    h.connect(cluster(&[("t", &[1, 1, 1, 1])]), 0);
    let value = "v".repeat(400);
    for _ in 0..100 {
        h.send_to("t", None, None, &value);
    }
    h.machine.flush();
    let mut partitions = std::collections::BTreeSet::new();
    while let Some(tx) = h.poll() {
        for batch in sent_batches(&tx) {
            partitions.insert(batch.partition);
        }
        h.reply(&tx, answer_all(&tx, Ok(0)));
    }
    assert!(
        partitions.len() >= 2,
        "40 KB of keyless records in {partitions:?}"
    );
}

#[test]
fn a_partition_that_does_not_exist_fails_the_record_clearly() {
    let mut h = Harness::producer(&[]);
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
    let refused = h.machine.send(
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
