//! Consumer groups against a real broker: `engine consume -G` members joining, leaving and being killed, and a
//! mixed group of our members and confluent-kafka (librdkafka) ones splitting one topic.
//!
//! Members are CLI processes; each tells its assignment changes on stderr ("% group G: assigned t-0, t-1",
//! "revoked …", "lost …"), which is how these tests know who owns what at any moment.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::broker::{create_topic, unique_topic, TestBroker};
use support::engine_cli::run_engine;
use support::group_member::{
    group_offsets, produce_prefixed, wait_all_printed, wait_settled, Member, SETTLE_TIMEOUT,
};
use support::local_runtime::block_on_local;
use support::process::RunOutput;

/// `engine produce` settings for the tests' input: without idempotence, because tansu answers concurrent
/// InitProducerId requests (parallel tests) with UNKNOWN_SERVER_ERROR now and then, and these tests are about
/// groups, not the producer.
const WITHOUT_IDEMPOTENCE: &[&str] = &["-X", "enable.idempotence=false"];

/// The two three-member tests are the longest here (a rebalance takes tansu 6 s, and they go through five):
/// named to sort first, as libtest starts tests in name order, so they do not run last while the other
/// thread waits.
#[test]
fn a_group_of_three_members_shares_partitions_through_join_leave_and_crash_and_nothing_is_lost() {
    three_members("range");
}

/// tansu answers each JoinGroup on its own timer and parks a follower's SyncGroup that arrives before the
/// leader's, so a member joining a cooperative group whose members own partitions (revocation, then the KIP-429
/// follow-up rebalance) cycles through rebalances there; on tansu the three members start together instead.
#[test]
fn a_group_of_three_cooperative_sticky_members_shares_partitions_through_leave_and_crash_late_join_skipped_on_tansu(
) {
    three_members("cooperative-sticky");
}

fn three_members(strategy: &str) {
    let setting = format!("partition.assignment.strategy={strategy}");
    let extra = ["-X", setting.as_str()];
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic(&format!("group3-{strategy}"));
    let group = format!("{topic}-group");
    create_topic(&bootstrap, &topic, 6);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut expected = produce_prefixed(&bootstrap, &topic, "a", 0..60, WITHOUT_IDEMPOTENCE);
    let late_join =
        !(strategy == "cooperative-sticky" && cluster_id(&bootstrap) == "tansu_cluster");

    let mut m0 = Member::engine("m0", &dir, &bootstrap, &topic, &group, &extra);
    let mut m1 = Member::engine("m1", &dir, &bootstrap, &topic, &group, &extra);
    let mut m2 = if late_join {
        wait_settled(&[&m0, &m1], 6);
        expected.extend(produce_prefixed(
            &bootstrap,
            &topic,
            "early",
            0..30,
            WITHOUT_IDEMPOTENCE,
        ));
        wait_all_printed(&[&m0, &m1], &expected);
        // A third member joins a running group: partitions move to it, none owned twice on the way.
        Member::engine("m2", &dir, &bootstrap, &topic, &group, &extra)
    } else {
        Member::engine("m2", &dir, &bootstrap, &topic, &group, &extra)
    };
    let owned = wait_settled(&[&m0, &m1, &m2], 6);
    assert!(
        owned.iter().all(|o| !o.is_empty()),
        "every member got partitions: {owned:?}"
    );
    expected.extend(produce_prefixed(
        &bootstrap,
        &topic,
        "b",
        0..60,
        WITHOUT_IDEMPOTENCE,
    ));
    wait_all_printed(&[&m0, &m1, &m2], &expected);

    // A clean leave (Ctrl-C): commits, leaves, and the other two take over its partitions.
    m0.signal("-INT");
    assert!(
        m0.wait_exit(Duration::from_secs(30)).success(),
        "{}",
        m0.stderr()
    );
    wait_settled(&[&m1, &m2], 6);
    expected.extend(produce_prefixed(
        &bootstrap,
        &topic,
        "c",
        0..60,
        WITHOUT_IDEMPOTENCE,
    ));
    wait_all_printed(&[&m0, &m1, &m2], &expected);

    // A crash: no commit, no leave; after session.timeout.ms the survivor owns everything and goes on from the
    // committed offsets.
    m1.signal("-KILL");
    m1.wait_exit(Duration::from_secs(10));
    let owned = wait_settled(&[&m2], 6);
    assert_eq!(owned[0].len(), 6);
    expected.extend(produce_prefixed(
        &bootstrap,
        &topic,
        "d",
        0..60,
        WITHOUT_IDEMPOTENCE,
    ));
    wait_all_printed(&[&m0, &m1, &m2], &expected);
    m2.signal("-INT");
    assert!(
        m2.wait_exit(Duration::from_secs(30)).success(),
        "{}",
        m2.stderr()
    );

    // Everything consumed was committed: a new member finds nothing left to read.
    let offsets = group_offsets(&bootstrap, &group);
    assert_eq!(offsets.len(), 6, "{offsets:?}");
    let mut late = Member::engine(
        "late",
        &dir,
        &bootstrap,
        &topic,
        &group,
        &["-e", "-X", &setting],
    );
    assert!(
        late.wait_exit(Duration::from_secs(60)).success(),
        "{}",
        late.stderr()
    );
    assert!(
        late.values().is_empty(),
        "resumed before the committed offsets: {:?}",
        late.values()
    );
    let printed: Vec<String> = [&m0, &m1, &m2].iter().flat_map(|m| m.values()).collect();
    let unique: BTreeSet<String> = printed.iter().cloned().collect();
    assert_eq!(unique, expected, "nothing lost");
}

#[test]
fn a_member_with_a_count_commits_only_what_it_printed() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("group-count");
    let group = format!("{topic}-group");
    create_topic(&bootstrap, &topic, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let expected = produce_prefixed(&bootstrap, &topic, "v", 0..20, WITHOUT_IDEMPOTENCE);
    let mut first = Member::engine("first", &dir, &bootstrap, &topic, &group, &["-c", "7"]);
    assert!(
        first.wait_exit(Duration::from_secs(60)).success(),
        "{}",
        first.stderr()
    );
    assert_eq!(first.values().len(), 7);
    let mut second = Member::engine("second", &dir, &bootstrap, &topic, &group, &["-e"]);
    assert!(
        second.wait_exit(Duration::from_secs(60)).success(),
        "{}",
        second.stderr()
    );
    assert_eq!(second.values().len(), 13, "{}", second.stderr());
    let all: BTreeSet<String> = first.values().into_iter().chain(second.values()).collect();
    assert_eq!(all, expected);
}

fn mixed_group(strategy: &str) {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic(&format!("group-mixed-{strategy}"));
    let group = format!("{topic}-group");
    create_topic(&bootstrap, &topic, 4);
    let dir = tempfile::tempdir().expect("tempdir");
    let setting = format!("partition.assignment.strategy={strategy}");
    let mut ours = Member::engine(
        "engine",
        &dir,
        &bootstrap,
        &topic,
        &group,
        &["-X", &setting],
    );
    let mut theirs = Member::python("librdkafka", &dir, &bootstrap, &topic, &group, strategy);
    let owned = wait_settled(&[&ours, &theirs], 4);
    assert_eq!(owned[0].len(), 2, "{owned:?}");
    assert_eq!(owned[1].len(), 2, "{owned:?}");
    let expected = produce_prefixed(&bootstrap, &topic, "m", 0..80, WITHOUT_IDEMPOTENCE);
    wait_all_printed(&[&ours, &theirs], &expected);
    // While the group is stable, each record went to the one member owning its partition.
    let ours_values: BTreeSet<String> = ours.values().into_iter().collect();
    let theirs_values: BTreeSet<String> = theirs.values().into_iter().collect();
    assert!(ours_values.is_disjoint(&theirs_values));
    assert!(!ours_values.is_empty() && !theirs_values.is_empty());
    // Our member leaves; theirs takes everything over.
    ours.signal("-INT");
    assert!(
        ours.wait_exit(Duration::from_secs(30)).success(),
        "{}",
        ours.stderr()
    );
    wait_settled(&[&theirs], 4);
    theirs.signal("-TERM");
    theirs.wait_exit(Duration::from_secs(30));
}

#[test]
fn mixed_group_with_confluent_kafka_range() {
    mixed_group("range");
}

#[test]
fn mixed_group_with_confluent_kafka_roundrobin() {
    mixed_group("roundrobin");
}

#[test]
fn mixed_group_with_confluent_kafka_cooperative_sticky() {
    mixed_group("cooperative-sticky");
}

/// The cluster id the broker reports (`engine metadata`): "tansu_cluster" on tansu.
fn cluster_id(bootstrap: &str) -> String {
    let output = run_engine(&[
        "metadata",
        "-b",
        bootstrap,
        "-t",
        "cluster-id-probe-no-such-topic",
    ]);
    output
        .stdout_str()
        .lines()
        .next()
        .and_then(|l| l.rsplit_once("cluster id "))
        .map(|(_, id)| id.trim_end_matches(':').to_owned())
        .unwrap_or_default()
}

/// Static membership (KIP-345): members join under their `group.instance.id`; a member that crashes and comes
/// back within session.timeout.ms gets its partitions back without the others rebalancing. tansu accepts
/// static members, but a static member's rejoin starts a fresh generation in which the other members never get
/// an assignment again; that part runs only against a real Kafka broker (PIPEWRIGHT_TEST_BROKER).
#[test]
fn static_members_split_partitions_and_restart_skips_rebalance_except_on_tansu() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("group-static");
    let group = format!("{topic}-group");
    create_topic(&bootstrap, &topic, 4);
    let dir = tempfile::tempdir().expect("tempdir");
    let static_member = |name: &str, instance: &str| {
        Member::engine(
            name,
            &dir,
            &bootstrap,
            &topic,
            &group,
            &[
                "-X",
                &format!("group.instance.id={instance}"),
                "-X",
                "session.timeout.ms=10000",
            ],
        )
    };
    let mut first = static_member("s1", "instance-1");
    let mut second = static_member("s2", "instance-2");
    let owned = wait_settled(&[&first, &second], 4);
    assert_eq!(owned[0].len(), 2, "{owned:?}");
    if cluster_id(&bootstrap) == "tansu_cluster" {
        eprintln!("skipping the static restart: tansu rebalances static rejoins into a generation that never settles");
        first.signal("-INT");
        second.signal("-INT");
        first.wait_exit(Duration::from_secs(30));
        second.wait_exit(Duration::from_secs(30));
        return;
    }
    first.signal("-KILL");
    first.wait_exit(Duration::from_secs(10));
    let restarted = static_member("s1-again", "instance-1");
    let owned_after = wait_settled(&[&restarted, &second], 4);
    assert_eq!(
        owned_after, owned,
        "the restarted instance got its partitions back"
    );
    assert!(
        !second.stderr().contains("revoked"),
        "the other static member was not rebalanced: {}",
        second.stderr()
    );
}

/// `engine group <args> -b BOOTSTRAP`. Does not check the exit status.
fn engine_group(args: &[&str], bootstrap: &str) -> RunOutput {
    run_engine(&[&["group"], args, &["-b", bootstrap]].concat())
}

/// `engine group list | describe | offsets | delete` around a live and then finished group. tansu's ListOffsets
/// answers "latest" with the last batch's base offset + 1 instead of the log end, so the END and LAG columns are
/// only checked against a real Kafka broker.
#[test]
fn group_commands_list_describe_offsets_delete_end_offsets_unchecked_on_tansu() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("group-cli");
    let group = format!("{topic}-group");
    create_topic(&bootstrap, &topic, 3);
    let dir = tempfile::tempdir().expect("tempdir");
    let expected = produce_prefixed(&bootstrap, &topic, "x", 0..45, WITHOUT_IDEMPOTENCE);
    let mut member = Member::engine("member", &dir, &bootstrap, &topic, &group, &[]);
    wait_settled(&[&member], 3);
    wait_all_printed(&[&member], &expected);

    let described = engine_group(&["describe", &group], &bootstrap);
    assert!(described.status.success(), "{}", described.stderr);
    assert!(
        described.stdout_str().contains("1 members"),
        "{}",
        described.stdout_str()
    );
    // Deleting a group with members is refused with a clear error (tansu deletes it anyway).
    if cluster_id(&bootstrap) != "tansu_cluster" {
        let refused = engine_group(&["delete", &group], &bootstrap);
        assert!(!refused.status.success());
        assert!(refused.stderr.contains("still has members"));
    }

    member.signal("-INT");
    assert!(
        member.wait_exit(Duration::from_secs(30)).success(),
        "{}",
        member.stderr()
    );
    // tansu lists a group only once it has stored offsets, so the listing is checked after the commits.
    let listed = engine_group(&["list"], &bootstrap);
    assert!(listed.status.success(), "{}", listed.stderr);
    assert!(listed.stdout_str().contains(&group));
    let offsets = group_offsets(&bootstrap, &group);
    let committed: i64 = offsets.values().map(|(committed, _)| committed).sum();
    assert_eq!(committed, 45, "{offsets:?}");
    if cluster_id(&bootstrap) != "tansu_cluster" {
        assert!(
            offsets.values().all(|(committed, end)| committed == end),
            "{offsets:?}"
        );
    }
    let deleted = engine_group(&["delete", &group], &bootstrap);
    assert!(deleted.status.success(), "{}", deleted.stderr);
    assert!(group_offsets(&bootstrap, &group).is_empty());
}

/// The library API without the CLI: a `GroupConsumer` on its own current-thread runtime, manual commits (one
/// asynchronous, one awaited), then a second consumer of the group starting after them.
#[test]
fn library_group_consumer_commits_async_and_sync_without_auto_commit() {
    use pipewright::client::config::{ConfigMap, ConsumerConfig};
    use pipewright::runtime::group_consumer::{GroupConsumer, GroupConsumerEvent};

    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("group-lib");
    let group = format!("{topic}-group");
    create_topic(&bootstrap, &topic, 2);
    produce_prefixed(&bootstrap, &topic, "l", 0..30, WITHOUT_IDEMPOTENCE);
    let config = |bootstrap: &str| {
        ConsumerConfig::from_map(ConfigMap::from_pairs([
            ("bootstrap.servers", bootstrap),
            ("group.id", group.as_str()),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "300"),
        ]))
        .expect("config")
    };
    let consume = |count: usize| -> Vec<String> {
        block_on_local(async {
            let consumer =
                GroupConsumer::new(config(&bootstrap), vec![topic.clone()]).expect("consumer");
            let mut values = Vec::new();
            let mut async_commit = None;
            let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
            while values.len() < count {
                let event = tokio::time::timeout_at(deadline, consumer.recv())
                    .await
                    .expect("records before the deadline");
                match event {
                    GroupConsumerEvent::Records { records, .. } => {
                        for record in records {
                            values.push(
                                String::from_utf8_lossy(
                                    record.value.as_deref().unwrap_or_default(),
                                )
                                .into_owned(),
                            );
                        }
                        if async_commit.is_none() {
                            async_commit = consumer.commit_async();
                        }
                    }
                    GroupConsumerEvent::Fatal(e) => panic!("{e}"),
                    GroupConsumerEvent::PartitionError { error, .. } => panic!("{error}"),
                    _ => {}
                }
            }
            consumer.commit().await.expect("commit");
            consumer.close().await;
            values
        })
    };
    let first = consume(30);
    assert_eq!(first.len(), 30);
    let offsets = group_offsets(&bootstrap, &group);
    assert_eq!(
        offsets.values().map(|(c, _)| c).sum::<i64>(),
        30,
        "{offsets:?}"
    );
    // Everything was committed: a later member of the group has nothing to read until new records come.
    produce_prefixed(&bootstrap, &topic, "later", 0..5, WITHOUT_IDEMPOTENCE);
    let second = consume(5);
    assert!(second.iter().all(|v| v.starts_with("later-")), "{second:?}");
}
