use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::protocol::connect_protocol::ConnectorTaskId;

/// Every connector named, with tasks 0..n each.
fn config(connectors: &[(&str, u32)]) -> WorkUnits {
    WorkUnits {
        connectors: connectors.iter().map(|(c, _)| c.to_string()).collect(),
        tasks: connectors
            .iter()
            .flat_map(|(c, n)| (0..*n).map(move |t| ConnectorTaskId::new(*c, t)))
            .collect(),
    }
}

fn units(connectors: &[&str], tasks: &[(&str, u32)]) -> WorkUnits {
    WorkUnits {
        connectors: connectors.iter().map(|c| c.to_string()).collect(),
        tasks: tasks
            .iter()
            .map(|(c, t)| ConnectorTaskId::new(*c, *t))
            .collect(),
    }
}

fn url(id: &str) -> String {
    format!("http://{id}:8083")
}

/// Members that have never had an assignment.
fn new_members(ids: &[&str]) -> BTreeMap<String, WorkerMetadata> {
    ids.iter()
        .map(|id| {
            (
                id.to_string(),
                WorkerMetadata {
                    url: url(id),
                    config_offset: 0,
                    owned: None,
                },
            )
        })
        .collect()
}

/// The members of `round` rejoining, each reporting what it runs after the round (revocations done).
fn rejoin(round: &AssignmentRound) -> BTreeMap<String, WorkerMetadata> {
    round
        .members
        .iter()
        .map(|(id, a)| {
            (
                id.clone(),
                WorkerMetadata {
                    url: a.url.clone(),
                    config_offset: 0,
                    owned: Some(a.assigned.clone()),
                },
            )
        })
        .collect()
}

fn counts(round: &AssignmentRound) -> Vec<(usize, usize)> {
    round
        .members
        .values()
        .map(|a| (a.assigned.tasks.len(), a.assigned.connectors.len()))
        .collect()
}

fn nothing_revoked(round: &AssignmentRound) -> bool {
    round.members.values().all(|a| a.revoked.is_empty())
}

/// Every configured unit runs on exactly one member, and task and connector counts differ by at most one.
fn assert_balanced(round: &AssignmentRound, configured: &WorkUnits) {
    let mut seen = WorkUnits::default();
    for (id, a) in &round.members {
        assert!(
            seen.intersection(&a.assigned).is_empty(),
            "{id} runs a unit another member runs: {round:#?}"
        );
        seen = seen.union(&a.assigned);
    }
    assert_eq!(&seen, configured, "not every unit is assigned: {round:#?}");
    let tasks: Vec<usize> = round
        .members
        .values()
        .map(|a| a.assigned.tasks.len())
        .collect();
    let connectors: Vec<usize> = round
        .members
        .values()
        .map(|a| a.assigned.connectors.len())
        .collect();
    for spread in [tasks, connectors] {
        let max = spread.iter().max().copied().unwrap_or(0);
        let min = spread.iter().min().copied().unwrap_or(0);
        assert!(max - min <= 1, "unbalanced {spread:?}: {round:#?}");
    }
}

const NO_DELAY: Duration = Duration::ZERO;

#[test]
fn a_cluster_of_one_runs_everything() {
    let configured = config(&[("a", 4), ("b", 3)]);
    let round = assign(
        &new_members(&["m1"]),
        &configured,
        &LeaderMemory::default(),
        Instant::now(),
        NO_DELAY,
    );
    let m1 = &round.members["m1"];
    assert_eq!(m1.assigned, configured);
    assert_eq!(m1.added, configured);
    assert!(m1.revoked.is_empty());
    assert_eq!(m1.delay, Duration::ZERO);
    assert_eq!(round.memory.assigned_to("m1"), Some(&configured));
}

#[test]
fn a_new_cluster_of_two_alternates_tasks_and_gives_connectors_to_the_fewest_tasks() {
    let configured = config(&[("a", 4), ("b", 3)]);
    let round = assign(
        &new_members(&["m1", "m2"]),
        &configured,
        &LeaderMemory::default(),
        Instant::now(),
        NO_DELAY,
    );
    assert_eq!(
        round.members["m1"].assigned,
        units(&["b"], &[("a", 0), ("a", 2), ("b", 0), ("b", 2)])
    );
    assert_eq!(
        round.members["m2"].assigned,
        units(&["a"], &[("a", 1), ("a", 3), ("b", 1)])
    );
    assert!(nothing_revoked(&round));
    assert_balanced(&round, &configured);
}

#[test]
fn a_new_cluster_of_three_is_balanced_in_one_round() {
    let configured = config(&[("a", 4), ("b", 3)]);
    let round = assign(
        &new_members(&["m1", "m2", "m3"]),
        &configured,
        &LeaderMemory::default(),
        Instant::now(),
        NO_DELAY,
    );
    assert_eq!(counts(&round), vec![(3, 0), (2, 1), (2, 1)]);
    assert!(nothing_revoked(&round));
    assert_balanced(&round, &configured);
}

#[test]
fn the_same_input_gives_the_same_assignment() {
    let configured = config(&[("a", 5), ("b", 2), ("c", 1)]);
    let members = new_members(&["m3", "m1", "m2"]);
    let now = Instant::now();
    let first = assign(
        &members,
        &configured,
        &LeaderMemory::default(),
        now,
        NO_DELAY,
    );
    let second = assign(
        &members,
        &configured,
        &LeaderMemory::default(),
        now,
        NO_DELAY,
    );
    assert_eq!(first, second);
}

#[test]
fn a_joining_member_gets_only_the_excess_and_nothing_else_stops() {
    let configured = config(&[("a", 4), ("b", 3)]);
    let now = Instant::now();
    let two = assign(
        &new_members(&["m1", "m2"]),
        &configured,
        &LeaderMemory::default(),
        now,
        NO_DELAY,
    );
    let mut members = rejoin(&two);
    members.extend(new_members(&["m3"]));

    // Round one: the most loaded give up their excess; nobody starts anything.
    let first = assign(&members, &configured, &two.memory, now, NO_DELAY);
    let revoked: usize = first.members.values().map(|a| a.revoked.len()).sum();
    assert_eq!(revoked, 2, "{first:#?}");
    for (id, a) in &first.members {
        let before = members[id].owned.clone().unwrap_or_default();
        assert!(before.contains(&a.revoked));
        assert_eq!(
            a.assigned,
            before.difference(&a.revoked),
            "{id} keeps everything else"
        );
        assert!(a.added.is_empty());
        assert!(a.revoked.connectors.is_empty(), "connectors were balanced");
    }
    assert_eq!(first.members["m1"].revoked.tasks.len(), 1);
    assert_eq!(first.members["m2"].revoked.tasks.len(), 1);

    // Round two: the newcomer takes what was given up.
    let second = assign(&rejoin(&first), &configured, &first.memory, now, NO_DELAY);
    assert!(nothing_revoked(&second));
    let given_up = first
        .members
        .values()
        .fold(WorkUnits::default(), |all, a| all.union(&a.revoked));
    assert_eq!(second.members["m3"].added, given_up);
    assert!(second.members["m1"].added.is_empty() && second.members["m2"].added.is_empty());
    assert_balanced(&second, &configured);
}

/// Three members that ran one round and rejoined with what they were given.
fn three_settled(configured: &WorkUnits, now: Instant) -> AssignmentRound {
    assign(
        &new_members(&["m1", "m2", "m3"]),
        configured,
        &LeaderMemory::default(),
        now,
        NO_DELAY,
    )
}

#[test]
fn without_a_delay_a_dead_members_work_moves_at_once() {
    let configured = config(&[("a", 4), ("b", 3), ("c", 2)]);
    let now = Instant::now();
    let settled = three_settled(&configured, now);
    let lost = settled.members["m3"].assigned.clone();
    let mut members = rejoin(&settled);
    members.remove("m3");

    let round = assign(&members, &configured, &settled.memory, now, NO_DELAY);
    assert!(nothing_revoked(&round));
    assert_eq!(
        round.members["m1"].added.union(&round.members["m2"].added),
        lost
    );
    assert!(round.members.values().all(|a| a.delay.is_zero()));
    assert_eq!(round.memory.held().count(), 0);
    assert_balanced(&round, &configured);
}

#[test]
fn with_a_delay_a_dead_members_work_waits_for_its_url_to_return() {
    let configured = config(&[("a", 4), ("b", 3), ("c", 2)]);
    let max_delay = Duration::from_secs(10);
    let t0 = Instant::now();
    let settled = three_settled(&configured, t0);
    let lost = settled.members["m3"].assigned.clone();
    let mut members = rejoin(&settled);
    members.remove("m3");

    let waiting = assign(&members, &configured, &settled.memory, t0, max_delay);
    assert!(waiting.members.values().all(|a| a.added.is_empty()));
    assert!(nothing_revoked(&waiting), "no balancing while work is held");
    assert!(waiting.members.values().all(|a| a.delay == max_delay));
    assert_eq!(
        waiting.members["m1"]
            .to_wire(ConnectProtocolVersion::Sessioned, "m1", &url("m1"), 0)
            .delay_ms,
        10_000
    );
    let held: Vec<(&str, &WorkUnits)> = waiting.memory.held().map(|(u, w, _)| (u, w)).collect();
    assert_eq!(held, vec![(url("m3").as_str(), &lost)]);

    // Still gone 6 s later: still held, the delay counted from when it was first seen lost.
    let later = assign(
        &rejoin(&waiting),
        &configured,
        &waiting.memory,
        t0 + Duration::from_secs(6),
        max_delay,
    );
    assert!(later.members.values().all(|a| a.added.is_empty()));
    assert!(later
        .members
        .values()
        .all(|a| a.delay == Duration::from_secs(4)));

    // The worker restarts under a new member id but the same URL: it gets its work back.
    let mut members = rejoin(&later);
    members.insert(
        "m3-restarted".into(),
        WorkerMetadata {
            url: url("m3"),
            config_offset: 0,
            owned: None,
        },
    );
    let back = assign(
        &members,
        &configured,
        &later.memory,
        t0 + Duration::from_secs(8),
        max_delay,
    );
    assert_eq!(back.members["m3-restarted"].added, lost);
    assert!(back.members["m1"].added.is_empty() && back.members["m2"].added.is_empty());
    assert!(nothing_revoked(&back));
    assert!(back.members.values().all(|a| a.delay.is_zero()));
    assert_eq!(back.memory.held().count(), 0);
    assert_balanced(&back, &configured);
}

#[test]
fn held_work_goes_to_the_others_when_the_delay_is_up() {
    let configured = config(&[("a", 4), ("b", 3), ("c", 2)]);
    let max_delay = Duration::from_secs(10);
    let t0 = Instant::now();
    let settled = three_settled(&configured, t0);
    let lost = settled.members["m3"].assigned.clone();
    let mut members = rejoin(&settled);
    members.remove("m3");
    let waiting = assign(&members, &configured, &settled.memory, t0, max_delay);

    let expired = assign(
        &rejoin(&waiting),
        &configured,
        &waiting.memory,
        t0 + max_delay,
        max_delay,
    );
    assert_eq!(
        expired.members["m1"]
            .added
            .union(&expired.members["m2"].added),
        lost
    );
    assert!(expired.members.values().all(|a| a.delay.is_zero()));
    assert_eq!(expired.memory.held().count(), 0);
    assert_balanced(&expired, &configured);
}

#[test]
fn a_deleted_connector_and_its_tasks_are_revoked_and_nothing_else_moves() {
    let before = config(&[("a", 2), ("b", 2)]);
    let now = Instant::now();
    let settled = assign(
        &new_members(&["m1", "m2"]),
        &before,
        &LeaderMemory::default(),
        now,
        NO_DELAY,
    );
    let after = config(&[("a", 2)]);
    let round = assign(&rejoin(&settled), &after, &settled.memory, now, NO_DELAY);
    let revoked = round
        .members
        .values()
        .fold(WorkUnits::default(), |all, a| all.union(&a.revoked));
    assert_eq!(revoked, units(&["b"], &[("b", 0), ("b", 1)]));
    for (id, a) in &round.members {
        assert!(a.added.is_empty());
        assert_eq!(
            a.assigned,
            settled.members[id].assigned.intersection(&after),
            "{id}"
        );
    }
    assert_balanced(&round, &after);
}

#[test]
fn new_tasks_go_to_the_least_loaded_and_removed_tasks_are_revoked() {
    let now = Instant::now();
    let two_tasks = config(&[("a", 2)]);
    let settled = assign(
        &new_members(&["m1", "m2"]),
        &two_tasks,
        &LeaderMemory::default(),
        now,
        NO_DELAY,
    );

    let five_tasks = config(&[("a", 5)]);
    let grown = assign(
        &rejoin(&settled),
        &five_tasks,
        &settled.memory,
        now,
        NO_DELAY,
    );
    assert!(nothing_revoked(&grown));
    let added = grown.members["m1"].added.union(&grown.members["m2"].added);
    assert_eq!(added, units(&[], &[("a", 2), ("a", 3), ("a", 4)]));
    assert_balanced(&grown, &five_tasks);

    let one_task = config(&[("a", 1)]);
    let shrunk = assign(&rejoin(&grown), &one_task, &grown.memory, now, NO_DELAY);
    let revoked = shrunk.members["m1"]
        .revoked
        .union(&shrunk.members["m2"].revoked);
    assert_eq!(
        revoked,
        units(&[], &[("a", 1), ("a", 2), ("a", 3), ("a", 4)])
    );
    assert!(shrunk.members.values().all(|a| a.added.is_empty()));
    assert_balanced(&shrunk, &one_task);
}

#[test]
fn a_unit_run_twice_stays_with_the_member_the_leader_gave_it_to() {
    let configured = config(&[("a", 2)]);
    let now = Instant::now();
    let settled = assign(
        &new_members(&["m1", "m2"]),
        &configured,
        &LeaderMemory::default(),
        now,
        NO_DELAY,
    );
    // m2 was given a-1; m1 (wrongly) runs it too.
    assert!(settled.members["m2"]
        .assigned
        .tasks
        .contains(&ConnectorTaskId::new("a", 1)));
    let mut members = rejoin(&settled);
    let m1_runs = members
        .get_mut("m1")
        .and_then(|m| m.owned.as_mut())
        .expect("m1 rejoined with what it runs");
    m1_runs.tasks.insert(ConnectorTaskId::new("a", 1));

    let round = assign(&members, &configured, &settled.memory, now, NO_DELAY);
    assert_eq!(round.members["m1"].revoked, units(&[], &[("a", 1)]));
    assert!(round.members["m2"].revoked.is_empty());
    assert_balanced(&round, &configured);

    // A new leader has no memory: the smallest member id keeps it (and, holding both tasks, gives one up for
    // balance in the same round, so a-1 runs nowhere until the next).
    let fresh = assign(
        &members,
        &configured,
        &LeaderMemory::default(),
        now,
        NO_DELAY,
    );
    assert_eq!(fresh.members["m2"].revoked, units(&[], &[("a", 1)]));
    assert_eq!(fresh.members["m1"].assigned.tasks.len(), 1);
    let next = assign(&rejoin(&fresh), &configured, &fresh.memory, now, NO_DELAY);
    assert_balanced(&next, &configured);
}

#[test]
fn work_a_member_runs_that_the_config_no_longer_has_is_revoked() {
    let configured = config(&[("a", 1)]);
    let mut members = new_members(&["m1"]);
    if let Some(m1) = members.get_mut("m1") {
        m1.owned = Some(units(&["gone"], &[("gone", 0), ("a", 0)]));
    }
    let round = assign(
        &members,
        &configured,
        &LeaderMemory::default(),
        Instant::now(),
        NO_DELAY,
    );
    let m1 = &round.members["m1"];
    assert_eq!(m1.revoked, units(&["gone"], &[("gone", 0)]));
    assert_eq!(m1.added, units(&["a"], &[]));
    assert_eq!(m1.assigned, configured);
}

#[test]
fn the_wire_assignment_carries_additions_for_incremental_protocols_and_everything_for_eager() {
    let assignment = MemberAssignment {
        url: url("m1"),
        assigned: units(&["a"], &[("a", 0), ("a", 1)]),
        added: units(&[], &[("a", 1)]),
        revoked: units(&[], &[("b", 0)]),
        delay: Duration::from_micros(1500),
    };
    let incremental = assignment.to_wire(ConnectProtocolVersion::Compatible, "m1", "http://l", 42);
    assert_eq!(incremental.assigned, assignment.added);
    assert_eq!(incremental.revoked, assignment.revoked);
    assert_eq!(incremental.delay_ms, 2, "rounded up");
    assert_eq!(incremental.config_offset, 42);
    assert_eq!(incremental.leader, "m1");
    assert_eq!(incremental.leader_url, "http://l");
    assert_eq!(
        units(&["a"], &[("a", 0)]).after(&incremental),
        assignment.assigned
    );

    let eager = assignment.to_wire(ConnectProtocolVersion::Eager, "m1", "http://l", 42);
    assert_eq!(eager.assigned, assignment.assigned);
    assert!(eager.revoked.is_empty());
    assert_eq!(eager.delay_ms, 0);
    assert!(eager.encode(0).is_ok());
}

#[test]
fn an_empty_group_assigns_nothing() {
    let round = assign(
        &BTreeMap::new(),
        &config(&[("a", 3)]),
        &LeaderMemory::default(),
        Instant::now(),
        NO_DELAY,
    );
    assert!(round.members.is_empty());
}

/// A group whose members report arbitrary work: subsets of the config, strays, and units run twice.
fn cluster_strategy() -> impl Strategy<Value = (WorkUnits, BTreeMap<String, WorkerMetadata>)> {
    let connectors = proptest::collection::vec(0u32..7, 0..5);
    (connectors, 1usize..6).prop_flat_map(|(tasks_per_connector, member_count)| {
        let named: Vec<(String, u32)> = tasks_per_connector
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("c{i}"), *n))
            .collect();
        let configured = WorkUnits {
            connectors: named.iter().map(|(c, _)| c.clone()).collect(),
            tasks: named
                .iter()
                .flat_map(|(c, n)| (0..*n).map(move |t| ConnectorTaskId::new(c.clone(), t)))
                .collect(),
        };
        // Candidates a member may report: the configured units and a few that are not configured.
        let mut candidates_connectors: Vec<String> =
            configured.connectors.iter().cloned().collect();
        candidates_connectors.push("stray".into());
        let mut candidates_tasks: Vec<ConnectorTaskId> = configured.tasks.iter().cloned().collect();
        candidates_tasks.push(ConnectorTaskId::new("stray", 0));
        candidates_tasks.push(ConnectorTaskId::new("c0", 99));
        let owned = proptest::option::of((
            proptest::sample::subsequence(
                candidates_connectors.clone(),
                0..=candidates_connectors.len(),
            ),
            proptest::sample::subsequence(candidates_tasks.clone(), 0..=candidates_tasks.len()),
        ));
        let members = proptest::collection::vec(owned, member_count);
        (Just(configured), members).prop_map(|(configured, owned)| {
            let members = owned
                .into_iter()
                .enumerate()
                .map(|(i, owned)| {
                    let id = format!("m{i}");
                    let metadata = WorkerMetadata {
                        url: url(&id),
                        config_offset: 0,
                        owned: owned.map(|(c, t)| WorkUnits {
                            connectors: c.into_iter().collect(),
                            tasks: t.into_iter().collect(),
                        }),
                    };
                    (id, metadata)
                })
                .collect();
            (configured, members)
        })
    })
}

/// What members do with a round: stop the revoked, keep the rest, start the added; no unit may then run on
/// two members, and the round's `assigned` is exactly that.
fn check_cooperative(members: &BTreeMap<String, WorkerMetadata>, round: &AssignmentRound) {
    let mut running: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (id, a) in &round.members {
        let before = members[id].owned.clone().unwrap_or_default();
        assert!(
            before.contains(&a.revoked),
            "{id} revokes what it does not run"
        );
        assert!(
            before.intersection(&a.added).is_empty(),
            "{id} starts what it runs"
        );
        assert_eq!(
            before.difference(&a.revoked).union(&a.added),
            a.assigned,
            "{id}"
        );
        for unit in a.assigned.connectors.iter().cloned().chain(
            a.assigned
                .tasks
                .iter()
                .map(|t| format!("{}-{}", t.connector, t.task)),
        ) {
            running.entry(unit).or_default().insert(id.clone());
        }
    }
    for (unit, on) in running {
        assert_eq!(on.len(), 1, "{unit} runs on {on:?}");
    }
}

proptest! {
    #[test]
    fn two_rounds_with_stable_membership_assign_everything_once_and_balance_it(
        (configured, members) in cluster_strategy(),
    ) {
        let now = Instant::now();
        let first = assign(&members, &configured, &LeaderMemory::default(), now, NO_DELAY);
        check_cooperative(&members, &first);
        let rejoined = rejoin(&first);
        let second = assign(&rejoined, &configured, &first.memory, now, NO_DELAY);
        check_cooperative(&rejoined, &second);
        assert_balanced(&second, &configured);
        // Once balanced, nothing moves.
        let third = assign(&rejoin(&second), &configured, &second.memory, now, NO_DELAY);
        prop_assert!(third.members.values().all(|a| a.added.is_empty() && a.revoked.is_empty()));
    }

    #[test]
    fn members_leaving_and_joining_never_run_a_unit_twice(
        (configured, members) in cluster_strategy(),
        changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<bool>()), 1..6),
        delay_secs in 0u64..3,
    ) {
        let max_delay = Duration::from_secs(delay_secs);
        let mut now = Instant::now();
        let mut round = assign(&members, &configured, &LeaderMemory::default(), now, max_delay);
        check_cooperative(&members, &round);
        let mut next_id = members.len();
        for (index, join) in changes {
            let mut members = rejoin(&round);
            if join || members.len() == 1 {
                let id = format!("m{next_id}");
                next_id += 1;
                members.insert(id.clone(), WorkerMetadata { url: url(&id), config_offset: 0, owned: None });
            } else {
                let leaving = members.keys().nth(index.index(members.len())).cloned();
                if let Some(id) = leaving {
                    members.remove(&id);
                }
            }
            now += Duration::from_secs(1);
            round = assign(&members, &configured, &round.memory, now, max_delay);
            check_cooperative(&members, &round);
        }
        // Past every hold, two quiet rounds settle the group.
        now += max_delay;
        for _ in 0..2 {
            let members = rejoin(&round);
            round = assign(&members, &configured, &round.memory, now, max_delay);
        }
        assert_balanced(&round, &configured);
    }
}
