//! Partition assignors: who in the group gets which partition.
//!
//! The group leader runs the assignor chosen by the coordinator over every member's subscription. Names and
//! algorithms follow the Java client (and librdkafka, which copies it), so a group can mix our members with
//! theirs: whichever member leads, everyone gets the same answer. The bytes subscriptions and assignments
//! travel in are `protocol::consumer_protocol`'s. Pure functions: no state, no clock.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::client::config::AssignmentStrategy;
use crate::protocol::consumer_protocol::{decode_subscription, ConsumerProtocolError};
use crate::protocol::TopicPartition;

/// One member's subscription as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSubscription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub topics: Vec<String>,
    /// Partitions the member owns now (cooperative protocols); empty under eager ones.
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which it owned them; -1 if unknown.
    pub generation: i32,
}

impl MemberSubscription {
    /// Java's `MemberInfo` order: static members first by instance id, then dynamic members by member id.
    fn sort_key(&self) -> (bool, &str) {
        match &self.group_instance_id {
            Some(instance) => (false, instance.as_str()),
            None => (true, self.member_id.as_str()),
        }
    }
}

/// Reads a member's JoinGroup metadata into what the assignor works with.
pub fn decode_member(
    member_id: &str,
    group_instance_id: Option<&str>,
    bytes: Bytes,
) -> Result<MemberSubscription, ConsumerProtocolError> {
    let subscription = decode_subscription(bytes)?;
    Ok(MemberSubscription {
        member_id: member_id.to_owned(),
        group_instance_id: group_instance_id.map(str::to_owned),
        topics: subscription.topics,
        owned_partitions: subscription.owned_partitions,
        generation: subscription.generation,
    })
}

/// Member id → its partitions, every member present (possibly with nothing).
pub type Assignment = BTreeMap<String, Vec<TopicPartition>>;

/// Runs `strategy` over the members' subscriptions; `partition_counts` names every known topic's partition count
/// (topics missing from it have no partitions to give).
pub fn assign(
    strategy: AssignmentStrategy,
    members: &[MemberSubscription],
    partition_counts: &BTreeMap<String, i32>,
) -> Assignment {
    let mut assignment = match strategy {
        AssignmentStrategy::Range => assign_range(members, partition_counts),
        AssignmentStrategy::RoundRobin => assign_round_robin(members, partition_counts),
        AssignmentStrategy::CooperativeSticky => {
            assign_cooperative_sticky(members, partition_counts)
        }
    };
    for partitions in assignment.values_mut() {
        partitions.sort();
    }
    assignment
}

fn sorted_members(members: &[MemberSubscription]) -> Vec<&MemberSubscription> {
    let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
    sorted.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    sorted
}

fn empty_assignment(members: &[MemberSubscription]) -> Assignment {
    members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect()
}

/// Java's `RangeAssignor`: per topic, the partitions split in ranges over the subscribed members in order; the
/// first `partitions % members` members get one extra.
fn assign_range(
    members: &[MemberSubscription],
    partition_counts: &BTreeMap<String, i32>,
) -> Assignment {
    let mut assignment = empty_assignment(members);
    let members = sorted_members(members);
    let topics: BTreeSet<&String> = members.iter().flat_map(|m| m.topics.iter()).collect();
    for topic in topics {
        let Some(&count) = partition_counts.get(topic.as_str()) else {
            continue;
        };
        let subscribed: Vec<&&MemberSubscription> = members
            .iter()
            .filter(|m| m.topics.contains(topic))
            .collect();
        if subscribed.is_empty() || count <= 0 {
            continue;
        }
        let per_member = count as usize / subscribed.len();
        let extra = count as usize % subscribed.len();
        for (i, member) in subscribed.iter().enumerate() {
            let start = per_member * i + i.min(extra);
            let length = per_member + usize::from(i < extra);
            let partitions = assignment.entry(member.member_id.clone()).or_default();
            for partition in start..start + length {
                partitions.push(TopicPartition::new(topic.as_str(), partition as i32));
            }
        }
    }
    assignment
}

/// Java's `RoundRobinAssignor`: every partition of every subscribed topic in (topic, partition) order, dealt to the
/// members in order, skipping members not subscribed to its topic.
fn assign_round_robin(
    members: &[MemberSubscription],
    partition_counts: &BTreeMap<String, i32>,
) -> Assignment {
    let mut assignment = empty_assignment(members);
    let members = sorted_members(members);
    if members.is_empty() {
        return assignment;
    }
    let topics: BTreeSet<&String> = members.iter().flat_map(|m| m.topics.iter()).collect();
    let mut next = 0usize;
    for topic in topics {
        let count = partition_counts.get(topic.as_str()).copied().unwrap_or(0);
        for partition in 0..count.max(0) {
            for step in 0..members.len() {
                let member = members[(next + step) % members.len()];
                if member.topics.contains(topic) {
                    assignment
                        .entry(member.member_id.clone())
                        .or_default()
                        .push(TopicPartition::new(topic.as_str(), partition));
                    next = (next + step + 1) % members.len();
                    break;
                }
            }
        }
    }
    assignment
}

/// The sticky part of Java's `CooperativeStickyAssignor`: members keep what they own as far as balance allows,
/// the rest is dealt to the least loaded subscribed member, then partitions move one by one from the most to the
/// least loaded member until no two eligible members differ by more than one. Then the cooperative rule
/// (KIP-429): a partition still owned by another member is held back this round; its owner revokes it and
/// rejoins, and the next rebalance hands it over.
fn assign_cooperative_sticky(
    members: &[MemberSubscription],
    partition_counts: &BTreeMap<String, i32>,
) -> Assignment {
    let members = sorted_members(members);
    let mut assignment =
        empty_assignment(&members.iter().map(|m| (*m).clone()).collect::<Vec<_>>());
    let all_partitions: BTreeSet<TopicPartition> = members
        .iter()
        .flat_map(|m| m.topics.iter())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .flat_map(|topic| {
            let count = partition_counts.get(topic.as_str()).copied().unwrap_or(0);
            (0..count.max(0)).map(move |p| TopicPartition::new(topic.as_str(), p))
        })
        .collect();
    let total_subscribed = members.len().max(1);

    // Current owners: a partition claimed twice goes to the claim of the highest generation (the other claim is
    // from a member that missed a rebalance).
    let mut owner: BTreeMap<TopicPartition, (i32, &str)> = BTreeMap::new();
    for member in &members {
        for tp in &member.owned_partitions {
            if !all_partitions.contains(tp) || !member.topics.contains(&tp.topic) {
                continue;
            }
            let claim = (member.generation, member.member_id.as_str());
            match owner.get(tp) {
                Some((generation, _)) if *generation >= member.generation => {}
                _ => {
                    owner.insert(tp.clone(), claim);
                }
            }
        }
    }

    // Keep owned partitions up to the fair share (ceil), so a member that owned too many gives up the excess.
    let max_quota = all_partitions.len().div_ceil(total_subscribed);
    let mut unassigned: BTreeSet<TopicPartition> = all_partitions.clone();
    for member in &members {
        let kept: Vec<TopicPartition> = member
            .owned_partitions
            .iter()
            .filter(|tp| {
                owner
                    .get(*tp)
                    .is_some_and(|(_, id)| *id == member.member_id)
            })
            .take(max_quota)
            .cloned()
            .collect();
        for tp in &kept {
            unassigned.remove(tp);
        }
        assignment.insert(member.member_id.clone(), kept);
    }

    // Deal the rest to the least loaded subscribed member (ties: member order).
    for tp in unassigned {
        let target = members
            .iter()
            .filter(|m| m.topics.contains(&tp.topic))
            .min_by_key(|m| assignment.get(&m.member_id).map_or(0, Vec::len))
            .map(|m| m.member_id.clone());
        if let Some(target) = target {
            assignment.entry(target).or_default().push(tp);
        }
    }

    // Balance: move single partitions from the most to the least loaded eligible member.
    loop {
        let mut moved = false;
        let loads: Vec<(String, usize)> = members
            .iter()
            .map(|m| {
                (
                    m.member_id.clone(),
                    assignment.get(&m.member_id).map_or(0, Vec::len),
                )
            })
            .collect();
        let Some((from, from_load)) = loads.iter().max_by_key(|(_, l)| *l).cloned() else {
            break;
        };
        for (to, _) in loads.iter().filter(|(_, l)| *l + 1 < from_load) {
            let Some(to_member) = members.iter().find(|m| &m.member_id == to) else {
                continue;
            };
            let candidates = assignment.get(&from).cloned().unwrap_or_default();
            // Prefer moving a partition the donor did not own before (it has not started on it).
            let pick = candidates
                .iter()
                .filter(|tp| to_member.topics.contains(&tp.topic))
                .max_by_key(|tp| owner.get(*tp).is_none_or(|(_, id)| *id != from.as_str()))
                .cloned();
            if let Some(tp) = pick {
                if let Some(list) = assignment.get_mut(&from) {
                    list.retain(|p| p != &tp);
                }
                assignment.entry(to.clone()).or_default().push(tp);
                moved = true;
                break;
            }
        }
        if !moved {
            break;
        }
    }

    // KIP-429: nothing is handed to a new owner while its old owner still holds it.
    for (member_id, partitions) in assignment.iter_mut() {
        partitions.retain(|tp| {
            owner
                .get(tp)
                .is_none_or(|(_, current)| *current == member_id.as_str())
        });
    }
    assignment
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, topics: &[&str]) -> MemberSubscription {
        MemberSubscription {
            member_id: id.into(),
            group_instance_id: None,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            owned_partitions: Vec::new(),
            generation: -1,
        }
    }

    fn owning(
        mut m: MemberSubscription,
        owned: &[(&str, i32)],
        generation: i32,
    ) -> MemberSubscription {
        m.owned_partitions = owned
            .iter()
            .map(|(t, p)| TopicPartition::new(*t, *p))
            .collect();
        m.generation = generation;
        m
    }

    fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
        list.iter()
            .map(|(t, p)| TopicPartition::new(*t, *p))
            .collect()
    }

    fn counts(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
        list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    #[test]
    fn range_matches_the_java_docs_example() {
        // RangeAssignor javadoc: C0, C1 subscribed to t0 and t1, 3 partitions each.
        let members = [member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])];
        let got = assign(
            AssignmentStrategy::Range,
            &members,
            &counts(&[("t0", 3), ("t1", 3)]),
        );
        assert_eq!(
            got["C0"],
            tps(&[("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)])
        );
        assert_eq!(got["C1"], tps(&[("t0", 2), ("t1", 2)]));
    }

    #[test]
    fn range_orders_static_members_by_instance_id_first() {
        let mut b = member("b-dynamic", &["t"]);
        b.group_instance_id = Some("z-instance".into());
        let a = member("a-dynamic", &["t"]);
        let got = assign(AssignmentStrategy::Range, &[a, b], &counts(&[("t", 3)]));
        // Java's MemberInfo puts the static member first regardless of member id.
        assert_eq!(got["b-dynamic"], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(got["a-dynamic"], tps(&[("t", 2)]));
    }

    #[test]
    fn roundrobin_matches_the_java_docs_examples() {
        // Identical subscriptions: C0 [t0p0, t0p2, t1p1], C1 [t0p1, t1p0, t1p2].
        let members = [member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])];
        let got = assign(
            AssignmentStrategy::RoundRobin,
            &members,
            &counts(&[("t0", 3), ("t1", 3)]),
        );
        assert_eq!(got["C0"], tps(&[("t0", 0), ("t0", 2), ("t1", 1)]));
        assert_eq!(got["C1"], tps(&[("t0", 1), ("t1", 0), ("t1", 2)]));

        // Different subscriptions: t0 1 partition, t1 2, t2 3; C0 [t0], C1 [t0, t1], C2 [t0, t1, t2].
        // Javadoc: C0 [t0p0], C1 [t1p0], C2 [t1p1, t2p0, t2p1, t2p2].
        let members = [
            member("C0", &["t0"]),
            member("C1", &["t0", "t1"]),
            member("C2", &["t0", "t1", "t2"]),
        ];
        let got = assign(
            AssignmentStrategy::RoundRobin,
            &members,
            &counts(&[("t0", 1), ("t1", 2), ("t2", 3)]),
        );
        assert_eq!(got["C0"], tps(&[("t0", 0)]));
        assert_eq!(got["C1"], tps(&[("t1", 0)]));
        assert_eq!(
            got["C2"],
            tps(&[("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)])
        );
    }

    #[test]
    fn every_partition_has_exactly_one_owner() {
        let members = [
            member("a", &["t0", "t1"]),
            member("b", &["t1"]),
            member("c", &["t0", "t1", "t2"]),
        ];
        let partition_counts = counts(&[("t0", 5), ("t1", 7), ("t2", 2)]);
        for strategy in [
            AssignmentStrategy::Range,
            AssignmentStrategy::RoundRobin,
            AssignmentStrategy::CooperativeSticky,
        ] {
            let got = assign(strategy, &members, &partition_counts);
            let mut all: Vec<&TopicPartition> = got.values().flatten().collect();
            all.sort();
            let before = all.len();
            all.dedup();
            assert_eq!(before, all.len(), "{strategy:?} assigned a partition twice");
            assert_eq!(all.len(), 14, "{strategy:?} left partitions out");
            for (id, partitions) in &got {
                let m = members.iter().find(|m| &m.member_id == id).unwrap();
                assert!(partitions.iter().all(|tp| m.topics.contains(&tp.topic)));
            }
        }
    }

    #[test]
    fn cooperative_sticky_first_assignment_is_balanced() {
        let members = [
            member("A", &["t"]),
            member("B", &["t"]),
            member("C", &["t"]),
        ];
        let got = assign(
            AssignmentStrategy::CooperativeSticky,
            &members,
            &counts(&[("t", 6)]),
        );
        for id in ["A", "B", "C"] {
            assert_eq!(got[id].len(), 2, "{got:?}");
        }
    }

    #[test]
    fn cooperative_sticky_keeps_owned_partitions_and_holds_back_moving_ones() {
        // A and B own 3 partitions each; C joins. Java's sticky assignment keeps 2 on each and moves one from each
        // to C; the cooperative round gives C nothing yet (both moving partitions are still owned).
        let a = owning(member("A", &["t"]), &[("t", 0), ("t", 1), ("t", 2)], 5);
        let b = owning(member("B", &["t"]), &[("t", 3), ("t", 4), ("t", 5)], 5);
        let c = member("C", &["t"]);
        let got = assign(
            AssignmentStrategy::CooperativeSticky,
            &[a.clone(), b.clone(), c],
            &counts(&[("t", 6)]),
        );
        assert_eq!(got["A"].len(), 2);
        assert_eq!(got["B"].len(), 2);
        assert!(got["C"].is_empty(), "{got:?}");
        assert!(got["A"].iter().all(|tp| a.owned_partitions.contains(tp)));
        assert!(got["B"].iter().all(|tp| b.owned_partitions.contains(tp)));

        // Second round: A and B revoked one each and rejoined; C gets the two free partitions.
        let a2 = owning(
            member("A", &["t"]),
            &got["A"]
                .iter()
                .map(|tp| ("t", tp.partition))
                .collect::<Vec<_>>(),
            6,
        );
        let b2 = owning(
            member("B", &["t"]),
            &got["B"]
                .iter()
                .map(|tp| ("t", tp.partition))
                .collect::<Vec<_>>(),
            6,
        );
        let got2 = assign(
            AssignmentStrategy::CooperativeSticky,
            &[a2, b2, member("C", &["t"])],
            &counts(&[("t", 6)]),
        );
        assert_eq!(got2["A"], got["A"]);
        assert_eq!(got2["B"], got["B"]);
        assert_eq!(got2["C"].len(), 2);
    }

    #[test]
    fn cooperative_sticky_gives_a_leaving_members_partitions_to_the_rest() {
        let a = owning(member("A", &["t"]), &[("t", 0), ("t", 1)], 3);
        let b = owning(member("B", &["t"]), &[("t", 2), ("t", 3)], 3);
        let got = assign(
            AssignmentStrategy::CooperativeSticky,
            &[a, b],
            &counts(&[("t", 6)]),
        );
        assert_eq!(got["A"].len(), 3);
        assert_eq!(got["B"].len(), 3);
        assert!(got["A"].contains(&TopicPartition::new("t", 0)));
        assert!(got["B"].contains(&TopicPartition::new("t", 2)));
    }

    #[test]
    fn a_decoded_member_carries_its_member_and_instance_ids() {
        let bytes = crate::protocol::consumer_protocol::encode_subscription(
            &["orders".into()],
            &tps(&[("orders", 1)]),
            7,
        )
        .unwrap();
        let decoded = decode_member("m1", Some("i1"), bytes).unwrap();
        assert_eq!(decoded.member_id, "m1");
        assert_eq!(decoded.group_instance_id.as_deref(), Some("i1"));
        assert_eq!(decoded.topics, vec!["orders"]);
        assert_eq!(decoded.owned_partitions, tps(&[("orders", 1)]));
        assert_eq!(decoded.generation, 7);
    }
}
