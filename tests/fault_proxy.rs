//! The fault proxy itself, before anything relies on it: it rewrites advertised addresses so clients stay
//! behind it, a real client (confluent-kafka) works through it, and every fault does what it says.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, FindCoordinatorRequest,
    FindCoordinatorResponse, MetadataResponse, ResponseHeader,
};
use kafka_protocol::protocol::{Encodable, StrBytes};

use support::broker::{create_topic, unique_topic, TestBroker};
use support::fault_proxy::{DropPolicy, FaultProxy};
use support::peers::{ck_consume, ck_produce, PeerRecord};
use support::raw_kafka::{RawKafka, READ_TIMEOUT};
use support::waiting::wait_for;

const COORDINATOR_NOT_AVAILABLE: i16 = 15;

fn broker_addresses(response: &MetadataResponse) -> Vec<String> {
    let mut addresses: Vec<String> = response
        .brokers
        .iter()
        .map(|broker| format!("{}:{}", broker.host, broker.port))
        .collect();
    addresses.sort();
    addresses
}

#[test]
fn metadata_responses_advertise_the_proxy_listeners_at_old_and_flexible_versions() {
    let broker = TestBroker::start();
    let proxy = FaultProxy::start(&broker.bootstrap());
    let upstream = broker_addresses(&RawKafka::connect(&broker.bootstrap()).metadata(12));

    // v4-v8 (header v0, non-flexible) and v9+ (header v1, flexible encoding) take different code paths.
    // Kafka 4 removed Metadata v0-v3 (KIP-896), so they are not asked for: an external broker may be Kafka 4.
    for version in [4, 8, 9, 12] {
        let through_proxy = RawKafka::connect(&proxy.bootstrap()).metadata(version);
        let listeners = proxy.listeners();
        let mut expected: Vec<String> = upstream
            .iter()
            .map(|address| {
                listeners
                    .get(address)
                    .unwrap_or_else(|| panic!("no listener for upstream broker {address}"))
                    .to_string()
            })
            .collect();
        expected.sort();
        assert_eq!(
            broker_addresses(&through_proxy),
            expected,
            "Metadata v{version}"
        );
    }
    let stats = proxy.stats();
    assert_eq!(stats.responses_rewritten, 4);
    assert_eq!(stats.rewrite_errors, 0);
}

#[test]
fn find_coordinator_responses_point_at_the_proxy() {
    let broker = TestBroker::start();
    let proxy = FaultProxy::start(&broker.bootstrap());
    let mut client = RawKafka::connect(&proxy.bootstrap());
    let group = StrBytes::from_string(unique_topic("group"));

    // Up to v3 the answer is one host/port; from v4 it is a list of coordinators. A fresh Kafka cluster
    // answers COORDINATOR_NOT_AVAILABLE until its offsets topic exists: ask again until it knows.
    let mut v3 = FindCoordinatorResponse::default();
    let mut v4 = FindCoordinatorResponse::default();
    wait_for("a group coordinator", Duration::from_secs(30), || {
        let request = FindCoordinatorRequest::default().with_key(group.clone());
        let correlation_id = client.send(ApiKey::FindCoordinator, 3, &request);
        v3 = client.receive(ApiKey::FindCoordinator, 3, correlation_id);
        let request = FindCoordinatorRequest::default().with_coordinator_keys(vec![group.clone()]);
        let correlation_id = client.send(ApiKey::FindCoordinator, 4, &request);
        v4 = client.receive(ApiKey::FindCoordinator, 4, correlation_id);
        v3.error_code != COORDINATOR_NOT_AVAILABLE
            && v4
                .coordinators
                .iter()
                .all(|c| c.error_code != COORDINATOR_NOT_AVAILABLE)
    });

    let proxy_addresses: Vec<String> = proxy.listeners().values().map(|a| a.to_string()).collect();
    assert_eq!(v3.error_code, 0, "FindCoordinator v3: {v3:?}");
    let v3_address = format!("{}:{}", v3.host, v3.port);
    assert!(
        proxy_addresses.contains(&v3_address),
        "v3 coordinator {v3_address} is not a proxy listener {proxy_addresses:?}"
    );
    assert_eq!(v4.coordinators.len(), 1, "FindCoordinator v4: {v4:?}");
    let v4_address = format!("{}:{}", v4.coordinators[0].host, v4.coordinators[0].port);
    assert!(
        proxy_addresses.contains(&v4_address),
        "v4 coordinator {v4_address} is not a proxy listener {proxy_addresses:?}"
    );
    assert_eq!(proxy.stats().rewrite_errors, 0);
}

#[test]
fn confluent_kafka_produces_and_consumes_through_the_proxy() {
    let broker = TestBroker::start();
    let proxy = FaultProxy::start(&broker.bootstrap());
    let topic = unique_topic("proxy-ck");
    create_topic(&broker.bootstrap(), &topic, 3);
    let records: Vec<PeerRecord> = (0..500)
        .map(|i| {
            PeerRecord::new(
                Some(format!("key-{}", i % 17).as_bytes()),
                Some(format!("value-{i}").as_bytes()),
            )
            .header("n", Some(i.to_string().as_bytes()))
        })
        .collect();

    ck_produce(&proxy.bootstrap(), &topic, "none", &[], &records);
    let read = ck_consume(&proxy.bootstrap(), &topic, Some(records.len()));

    let mut values: Vec<Vec<u8>> = read.iter().map(|r| r.value.clone().unwrap()).collect();
    values.sort();
    let mut expected: Vec<Vec<u8>> = records.iter().map(|r| r.value.clone().unwrap()).collect();
    expected.sort();
    assert_eq!(values, expected);
    let stats = proxy.stats();
    assert!(stats.responses_rewritten >= 2, "{stats:?}");
    assert_eq!(stats.rewrite_errors, 0);
    // The records themselves went through the proxy, both ways: not just the bootstrap metadata.
    let value_bytes: usize = records
        .iter()
        .map(|r| r.value.as_ref().unwrap().len())
        .sum();
    assert!(stats.bytes_forwarded > 2 * value_bytes as u64, "{stats:?}");
}

#[test]
fn drop_all_connections_closes_open_connections_and_accepts_new_ones() {
    let broker = TestBroker::start();
    let proxy = FaultProxy::start(&broker.bootstrap());
    let mut first = RawKafka::connect(&proxy.bootstrap());
    let mut second = RawKafka::connect(&proxy.bootstrap());
    first.api_versions();
    second.api_versions();

    proxy.drop_all_connections();

    first.assert_closed("first connection after drop_all_connections");
    second.assert_closed("second connection after drop_all_connections");
    assert_eq!(proxy.stats().connections_cut, 2);
    RawKafka::connect(&proxy.bootstrap()).api_versions();
}

#[test]
fn drop_policy_after_frames_closes_each_connection_after_its_budget() {
    let broker = TestBroker::start();
    let proxy = FaultProxy::start(&broker.bootstrap());
    // Budget of exactly 4 frames: two request/response round trips, then the connection is closed.
    proxy.set_drop_policy(DropPolicy::AfterFrames { min: 4, max: 4 });
    for _ in 0..2 {
        let mut client = RawKafka::connect(&proxy.bootstrap());
        client.api_versions();
        client.api_versions();
        client.assert_closed("after 4 frames");
    }
    assert_eq!(proxy.stats().connections_cut, 2);

    proxy.set_drop_policy(DropPolicy::Never);
    let mut client = RawKafka::connect(&proxy.bootstrap());
    for _ in 0..5 {
        client.api_versions();
    }
}

#[test]
fn drop_policy_after_bytes_cuts_mid_frame() {
    let broker = TestBroker::start();
    let proxy = FaultProxy::start(&broker.bootstrap());
    let mut client = RawKafka::connect(&proxy.bootstrap());
    client.api_versions();
    // The ApiVersions request is ~30 bytes; its response is hundreds. 40 bytes ends inside the response.
    proxy.set_drop_policy(DropPolicy::AfterBytes { min: 40, max: 40 });
    client.send(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
    let mut received = Vec::new();
    let _ = client.stream.read_to_end(&mut received);
    let request_bytes = 4 + 10 + "fault-proxy-test".len();
    assert!(
        !received.is_empty() && received.len() < 40,
        "expected a cut response of {} bytes, got {} bytes",
        40 - request_bytes,
        received.len()
    );
    assert_eq!(received.len(), 40 - request_bytes);
}

#[test]
fn truncated_frame_reaches_the_peer_half_way_then_the_connection_closes() {
    let broker = TestBroker::start();
    let proxy = FaultProxy::start(&broker.bootstrap());
    let mut client = RawKafka::connect(&proxy.bootstrap());
    client.api_versions();
    proxy.truncate_next_frames(1);
    // The request is cut, so the broker never answers and the proxy closes the client side.
    client.send(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
    client.assert_closed("after a truncated request");
    assert_eq!(proxy.stats().connections_cut, 1);
    RawKafka::connect(&proxy.bootstrap()).api_versions();
}

#[test]
fn delay_holds_every_frame_in_both_directions() {
    let broker = TestBroker::start();
    let proxy = FaultProxy::start(&broker.bootstrap());
    let mut client = RawKafka::connect(&proxy.bootstrap());
    client.api_versions();
    let delay = Duration::from_millis(300);
    proxy.set_delay(delay);
    let started = Instant::now();
    client.api_versions();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= 2 * delay,
        "round trip took {elapsed:?}, expected at least 2 x {delay:?}"
    );
    proxy.set_delay(Duration::ZERO);
}

#[test]
fn blackhole_swallows_frames_until_lifted() {
    let broker = TestBroker::start();
    let proxy = FaultProxy::start(&broker.bootstrap());
    let mut client = RawKafka::connect(&proxy.bootstrap());
    client.api_versions();

    proxy.set_blackhole(true);
    client.send(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
    client
        .stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let outcome = client.read_frame();
    assert!(
        matches!(&outcome, Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "expected no answer while blackholed, got {outcome:?}"
    );
    assert_eq!(proxy.stats().frames_blackholed, 1);

    proxy.set_blackhole(false);
    client.stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    // The swallowed request never reached the broker: the next answer is for the next request.
    let correlation_id = client.send(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
    let _: ApiVersionsResponse = client.receive(ApiKey::ApiVersions, 0, correlation_id);
}

#[test]
fn tcp_mode_forwards_bytes_without_rewriting() {
    let broker = TestBroker::start();
    let proxy = FaultProxy::start_tcp(&broker.bootstrap());
    let direct = broker_addresses(&RawKafka::connect(&broker.bootstrap()).metadata(12));
    let through_proxy = broker_addresses(&RawKafka::connect(&proxy.bootstrap()).metadata(12));
    assert_eq!(through_proxy, direct);
    assert_eq!(proxy.stats().responses_rewritten, 0);

    let mut client = RawKafka::connect(&proxy.bootstrap());
    client.api_versions();
    proxy.drop_all_connections();
    client.assert_closed("tcp mode after drop_all_connections");
}

#[test]
fn every_advertised_broker_gets_its_own_listener() {
    // A one-shot fake broker advertising a three-node cluster: Metadata is all this test needs.
    let fake = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let fake_address = fake.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut connection, _) = fake.accept().unwrap();
        let mut size = [0u8; 4];
        connection.read_exact(&mut size).unwrap();
        let mut request = vec![0u8; u32::from_be_bytes(size) as usize];
        connection.read_exact(&mut request).unwrap();
        let version = i16::from_be_bytes([request[2], request[3]]);
        let correlation_id = i32::from_be_bytes(request[4..8].try_into().unwrap());
        let broker = |node: i32, host: &'static str, port: i32| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(node))
                .with_host(StrBytes::from_static_str(host))
                .with_port(port)
        };
        let response = MetadataResponse::default().with_brokers(vec![
            broker(1, "127.0.0.1", 1111),
            broker(2, "127.0.0.1", 2222),
            broker(3, "localhost", 3333),
        ]);
        let mut body = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(&mut body, ApiKey::Metadata.response_header_version(version))
            .unwrap();
        response.encode(&mut body, version).unwrap();
        connection
            .write_all(&(body.len() as u32).to_be_bytes())
            .unwrap();
        connection.write_all(&body).unwrap();
    });
    let proxy = FaultProxy::start(&fake_address);

    let response = RawKafka::connect(&proxy.bootstrap()).metadata(12);
    server.join().expect("fake broker");

    let listeners = proxy.listeners();
    assert_eq!(
        listeners.len(),
        4,
        "bootstrap + one per broker: {listeners:?}"
    );
    let local = |upstream: &str| listeners[upstream].to_string();
    let mut expected = vec![
        local("127.0.0.1:1111"),
        local("127.0.0.1:2222"),
        local("localhost:3333"),
    ];
    expected.sort();
    assert_eq!(broker_addresses(&response), expected);
    assert_eq!(proxy.stats().responses_rewritten, 1);
}

/// The idle wait of the broker-restart tests: a request the broker holds (a Fetch on an empty partition, answered
/// after max_wait_ms) keeps the proxy busy even after its client left, until the broker has answered it.
#[test]
fn upstream_idle_waits_for_an_answer_the_broker_owes_a_client_that_left() {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{FetchRequest, TopicName};

    const MAX_WAIT: Duration = Duration::from_millis(1500);
    let broker = TestBroker::start();
    let topic = unique_topic("idle");
    create_topic(&broker.bootstrap(), &topic, 1);
    let proxy = FaultProxy::start(&broker.bootstrap());
    let mut client = RawKafka::connect(&proxy.bootstrap());
    client.api_versions();
    proxy.wait_until_upstream_idle(Duration::from_secs(5));

    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(MAX_WAIT.as_millis() as i32)
        .with_min_bytes(1)
        .with_max_bytes(1024 * 1024)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1024 * 1024)])]);
    let sent = Instant::now();
    client.send(ApiKey::Fetch, 11, &request);
    wait_for("the Fetch to be counted", Duration::from_secs(5), || {
        proxy.stats().requests_awaiting_answer == 1
    });
    drop(client);
    proxy.wait_until_upstream_idle(Duration::from_secs(10));
    let idle_after = sent.elapsed();
    assert!(
        idle_after >= MAX_WAIT - Duration::from_millis(300),
        "idle {idle_after:?} after the Fetch, before the broker could have answered it ({MAX_WAIT:?})"
    );
}
