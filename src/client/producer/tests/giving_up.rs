//! Giving up: exhausted retries, delivery.timeout.ms, topics that never come or may not be written, and
//! InitProducerId errors.

use super::*;

#[test]
fn exhausted_retries_fail_with_delivery_timeout_carrying_the_last_error() {
    let mut h = Harness::producer(&[("retries", "1")]);
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
    let mut h = Harness::producer(&[
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
    let mut h = Harness::producer(&[
        ("delivery.timeout.ms", "1000"),
        ("topic.metadata.propagation.max.ms", "5000"),
    ]);
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
        assert_eq!(h.machine.outstanding_records(), 1, "not failed early");
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
fn records_for_a_topic_that_does_not_exist_fail_with_that_error_after_the_propagation_bound() {
    // Defaults: delivery.timeout.ms 120 s, topic.metadata.propagation.max.ms 30 s.
    let mut h = Harness::producer(&[]);
    h.cluster = topic_error("ghost", ResponseError::UnknownTopicOrPartition);
    let id = h.send("ghost", 0, "boo");
    for _ in 0..1000 {
        while let Some(tx) = h.poll() {
            match tx.request {
                Request::InitProducerId(_) => h.reply(&tx, producer_id(PID, 0)),
                _ => panic!("unexpected {:?}", tx.request.api_key()),
            }
        }
        h.sleep_until_next_deadline();
        if h.now >= h.start + ms(30_000) {
            break;
        }
        assert_eq!(h.machine.outstanding_records(), 1, "not failed early");
    }
    assert_eq!(h.now, h.start + ms(30_000), "woken at the bound, not later");
    let failures = h.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, vec![id]);
    match &failures[0].1 {
        ProduceError::Topic { topic, error } => {
            assert_eq!(topic, "ghost");
            assert_eq!(*error, ResponseError::UnknownTopicOrPartition);
        }
        other => panic!("expected the topic's error, got {other:?}"),
    }
}

#[test]
fn records_for_a_partition_without_a_leader_fail_after_delivery_timeout() {
    let mut h = Harness::producer(&[("delivery.timeout.ms", "1000")]);
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
    let mut h = Harness::producer(&[]);
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
    let mut h = Harness::producer(&[]);
    h.send("t", 0, "a");
    h.cluster = cluster(&[("t", &[1])]);
    let init = h.poll().expect("InitProducerId");
    h.reply(
        &init,
        producer_id_error(ResponseError::CoordinatorLoadInProgress),
    );
    assert!(h.poll().is_none());
    assert_eq!(h.machine.poll_timeout(), Some(h.now + ms(100)));
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
    let mut h = Harness::producer(&[]);
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
    let later = h.machine.send(
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
    assert!(
        matches!(&later, Err(ProduceError::Fatal { reason }) if reason.contains("InitProducerId failed")
            && reason.contains(&ResponseError::ClusterAuthorizationFailed.to_string())),
        "a later send gives the cause: {later:?}"
    );
    assert!(h.poll().is_none());
}
