//! The Connect group leader's incremental cooperative assignment (KIP-415, simplified): who runs which
//! connector and task after a rebalance.
//!
//! A pure function of what the members report, what the config says should run, and what the leader remembers
//! from its previous round; time is an argument. No I/O, no clock, no threads. The bytes it reads and writes are
//! `protocol::connect_protocol`'s.
//!
//! The rules, applied to connectors and to tasks independently:
//! 1. A unit no longer in the config is revoked from whoever runs it.
//! 2. A unit two members run is revoked from all but one: the member the leader gave it to last round if it
//!    is one of them, else the one with the smallest member id.
//! 3. Otherwise a member keeps what it runs: only what moves is stopped.
//! 4. Work of a member that left the group is *lost*. With `scheduled_rebalance_max_delay` zero (our default)
//!    it is reassigned at once. Otherwise it is held, unassigned, for that long after it was first seen lost,
//!    so a restarting worker can take it back: a member with the same REST URL (a restarted worker gets a new
//!    member id but keeps its URL) gets it back at once; when the time is up it goes to whoever is least
//!    loaded. While work is held every member is told the remaining delay, after which it rejoins, and no
//!    work is moved for balance (the returning worker would be counted short).
//! 5. Unowned units go one at a time, in order, to the least-loaded member: for tasks the fewest tasks, then
//!    the fewest connectors, then the smallest member id; for connectors the fewest connectors, then the fewest
//!    tasks, then the smallest member id.
//! 6. If the counts then differ by more than one, the excess is revoked from the most-loaded members this round
//!    (they stop it and rejoin) and assigned in the next: the two rounds of incremental cooperative
//!    rebalancing. The members with the most keep one more than the rest where the total does not divide.
//!
//! Unlike Java's `IncrementalCooperativeAssignor` there is no back-off between consecutive revoking rounds and
//! no config-offset check (the herder compares offsets before it calls this). A new leader starts from an
//! empty [`LeaderMemory`]: it cannot tell lost work from new work, so it assigns everything unowned at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::protocol::connect_protocol::{
    ConnectProtocolVersion, ConnectorTaskId, WorkUnits, WorkerAssignment, WorkerMetadata, NO_ERROR,
};

/// What the leader carries from one round to the next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderMemory {
    /// Per member id: its URL and what it was told to run after the round.
    assigned: BTreeMap<String, RememberedMember>,
    /// Per URL of a member that left: its work, held for its return.
    held: BTreeMap<String, HeldWork>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct RememberedMember {
    url: String,
    units: WorkUnits,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct HeldWork {
    units: WorkUnits,
    /// When the leader first saw this work lost; the hold ends `scheduled_rebalance_max_delay` later.
    since: Instant,
}

impl LeaderMemory {
    /// What the leader told `member_id` to run after the last round.
    pub fn assigned_to(&self, member_id: &str) -> Option<&WorkUnits> {
        self.assigned.get(member_id).map(|m| &m.units)
    }

    /// Work of members that left, held for their return: (their URL, the work, when it was first seen lost).
    pub fn held(&self) -> impl Iterator<Item = (&str, &WorkUnits, Instant)> {
        self.held
            .iter()
            .map(|(url, held)| (url.as_str(), &held.units, held.since))
    }
}

/// One member's result of a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAssignment {
    pub url: String,
    /// Everything the member runs after this round: what it keeps plus `added`.
    pub assigned: WorkUnits,
    /// What it starts this round (`assigned` minus what it reported running).
    pub added: WorkUnits,
    /// What it stops now, before it rejoins.
    pub revoked: WorkUnits,
    /// When non-zero, the member rejoins after this long: held work is released then.
    pub delay: Duration,
}

impl MemberAssignment {
    /// The SyncGroup assignment for this member under `protocol`. Incremental protocols carry only the
    /// additions (the member keeps the rest, as Java's workers expect); the eager one, whose members stop
    /// everything before they rejoin, carries the whole set and no revocations or delay.
    pub fn to_wire(
        &self,
        protocol: ConnectProtocolVersion,
        leader: &str,
        leader_url: &str,
        config_offset: i64,
    ) -> WorkerAssignment {
        let (assigned, revoked, delay_ms) = if protocol.is_incremental() {
            (
                self.added.clone(),
                self.revoked.clone(),
                delay_ms(self.delay),
            )
        } else {
            (self.assigned.clone(), WorkUnits::default(), 0)
        };
        WorkerAssignment {
            error: NO_ERROR,
            leader: leader.to_owned(),
            leader_url: leader_url.to_owned(),
            config_offset,
            assigned,
            revoked,
            delay_ms,
        }
    }
}

/// A delay in whole milliseconds, rounded up so a member never rejoins before the hold ends.
fn delay_ms(delay: Duration) -> i32 {
    let millis = delay.as_nanos().div_ceil(1_000_000);
    i32::try_from(millis).unwrap_or(i32::MAX)
}

/// The result of one round: every member's assignment and what the leader remembers for the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentRound {
    pub members: BTreeMap<String, MemberAssignment>,
    pub memory: LeaderMemory,
}

/// One round of assignment.
///
/// `members` maps member id to its decoded JoinGroup metadata (`owned: None`, as from a v0 member or one
/// that never had an assignment, runs nothing); `configured` is every connector and task the config says
/// should run; `memory` is the previous round's [`AssignmentRound::memory`] (default for a new leader).
pub fn assign(
    members: &BTreeMap<String, WorkerMetadata>,
    configured: &WorkUnits,
    memory: &LeaderMemory,
    now: Instant,
    scheduled_rebalance_max_delay: Duration,
) -> AssignmentRound {
    let empty = WorkUnits::default();
    let owned: BTreeMap<&str, &WorkUnits> = members
        .iter()
        .map(|(id, m)| (id.as_str(), m.owned.as_ref().unwrap_or(&empty)))
        .collect();
    let running = owned
        .values()
        .fold(WorkUnits::default(), |all, units| all.union(units))
        .intersection(configured);

    let (held, returned) = hold_lost_work(
        members,
        configured,
        &running,
        memory,
        now,
        scheduled_rebalance_max_delay,
    );
    let still_held = held
        .values()
        .fold(WorkUnits::default(), |all, h| all.union(&h.units));
    let delay = held
        .values()
        .map(|h| {
            scheduled_rebalance_max_delay.saturating_sub(now.saturating_duration_since(h.since))
        })
        .min()
        .unwrap_or(Duration::ZERO);
    let balance = held.is_empty();

    let ids: Vec<&str> = owned.keys().copied().collect();
    let kept_connectors: BTreeMap<&str, usize> = owned
        .iter()
        .map(|(id, units)| {
            (
                *id,
                units
                    .connectors
                    .intersection(&configured.connectors)
                    .count(),
            )
        })
        .collect();
    let owned_tasks = owned.iter().map(|(id, u)| (*id, &u.tasks)).collect();
    let returned_tasks = returned.iter().map(|(id, u)| (*id, &u.tasks)).collect();
    let tasks = assign_kind(KindInput {
        ids: &ids,
        owned: &owned_tasks,
        configured: &configured.tasks,
        previous_owner: &|task: &ConnectorTaskId| {
            previous_owner(memory, |u| u.tasks.contains(task))
        },
        returned: &returned_tasks,
        held: &still_held.tasks,
        other_load: &kept_connectors,
        balance,
    });
    let task_counts: BTreeMap<&str, usize> = tasks
        .iter()
        .map(|(id, k)| (*id, k.assigned.len()))
        .collect();
    let owned_connectors = owned.iter().map(|(id, u)| (*id, &u.connectors)).collect();
    let returned_connectors = returned
        .iter()
        .map(|(id, u)| (*id, &u.connectors))
        .collect();
    let connectors = assign_kind(KindInput {
        ids: &ids,
        owned: &owned_connectors,
        configured: &configured.connectors,
        previous_owner: &|connector: &String| {
            previous_owner(memory, |u| u.connectors.contains(connector))
        },
        returned: &returned_connectors,
        held: &still_held.connectors,
        other_load: &task_counts,
        balance,
    });

    let mut round = AssignmentRound {
        members: BTreeMap::new(),
        memory: LeaderMemory {
            assigned: BTreeMap::new(),
            held,
        },
    };
    for (id, metadata) in members {
        let (Some(t), Some(c)) = (tasks.get(id.as_str()), connectors.get(id.as_str())) else {
            continue;
        };
        let assignment = MemberAssignment {
            url: metadata.url.clone(),
            assigned: WorkUnits {
                connectors: c.assigned.clone(),
                tasks: t.assigned.clone(),
            },
            added: WorkUnits {
                connectors: c.added.clone(),
                tasks: t.added.clone(),
            },
            revoked: WorkUnits {
                connectors: c.revoked.clone(),
                tasks: t.revoked.clone(),
            },
            delay,
        };
        round.memory.assigned.insert(
            id.clone(),
            RememberedMember {
                url: metadata.url.clone(),
                units: assignment.assigned.clone(),
            },
        );
        round.members.insert(id.clone(), assignment);
    }
    round
}

/// The member the leader gave a unit to last round, if any.
fn previous_owner(memory: &LeaderMemory, has: impl Fn(&WorkUnits) -> bool) -> Option<&str> {
    memory
        .assigned
        .iter()
        .find(|(_, m)| has(&m.units))
        .map(|(id, _)| id.as_str())
}

/// Rule 4: the work held for members that left (by URL), and the held work that goes back to a member with
/// the same URL this round (by member id).
fn hold_lost_work<'m>(
    members: &'m BTreeMap<String, WorkerMetadata>,
    configured: &WorkUnits,
    running: &WorkUnits,
    memory: &LeaderMemory,
    now: Instant,
    max_delay: Duration,
) -> (BTreeMap<String, HeldWork>, BTreeMap<&'m str, WorkUnits>) {
    let mut held: BTreeMap<String, HeldWork> = BTreeMap::new();
    let mut returned: BTreeMap<&str, WorkUnits> = BTreeMap::new();
    if max_delay.is_zero() {
        return (held, returned);
    }
    // Work that is still wanted and that no member runs now.
    let lost = |units: &WorkUnits| units.intersection(configured).difference(running);
    for (url, work) in &memory.held {
        held.insert(
            url.clone(),
            HeldWork {
                units: lost(&work.units),
                since: work.since,
            },
        );
    }
    for (id, member) in &memory.assigned {
        if members.contains_key(id) {
            continue;
        }
        let work = held.entry(member.url.clone()).or_insert(HeldWork {
            units: WorkUnits::default(),
            since: now,
        });
        work.units = work.units.union(&lost(&member.units));
    }
    held.retain(|url, work| {
        if work.units.is_empty() || now.saturating_duration_since(work.since) >= max_delay {
            return false;
        }
        // Members iterate in id order: with two members on one URL (a misconfiguration) the first gets it.
        match members.iter().find(|(_, m)| &m.url == url) {
            Some((id, _)) => {
                let back = returned.entry(id.as_str()).or_default();
                *back = back.union(&work.units);
                false
            }
            None => true,
        }
    });
    (held, returned)
}

/// One kind of unit (connectors or tasks) for [`assign_kind`].
struct KindInput<'b, 'id, T> {
    /// Every member id, ascending.
    ids: &'b [&'id str],
    owned: &'b BTreeMap<&'id str, &'b BTreeSet<T>>,
    configured: &'b BTreeSet<T>,
    previous_owner: &'b dyn Fn(&T) -> Option<&'b str>,
    /// Held work going back to its returning member.
    returned: &'b BTreeMap<&'id str, &'b BTreeSet<T>>,
    /// Work held for a member that may return: assigned to no one.
    held: &'b BTreeSet<T>,
    /// The count of the other kind per member, the second key of "least loaded".
    other_load: &'b BTreeMap<&'id str, usize>,
    /// Whether to revoke excess for balance (rule 6).
    balance: bool,
}

#[derive(Debug)]
struct KindResult<T> {
    assigned: BTreeSet<T>,
    added: BTreeSet<T>,
    revoked: BTreeSet<T>,
}

fn assign_kind<'id, T: Ord + Clone>(
    input: KindInput<'_, 'id, T>,
) -> BTreeMap<&'id str, KindResult<T>> {
    let mut result: BTreeMap<&str, KindResult<T>> = input
        .ids
        .iter()
        .map(|id| {
            (
                *id,
                KindResult {
                    assigned: BTreeSet::new(),
                    added: BTreeSet::new(),
                    revoked: BTreeSet::new(),
                },
            )
        })
        .collect();

    // Rules 1-3: keep what is configured and not run twice.
    let mut owners: BTreeMap<&T, Vec<&str>> = BTreeMap::new();
    for (id, units) in input.owned {
        for unit in units.iter() {
            if input.configured.contains(unit) {
                owners.entry(unit).or_default().push(id);
            } else if let Some(r) = result.get_mut(id) {
                r.revoked.insert(unit.clone());
            }
        }
    }
    for (unit, running) in owners {
        // `running` is in member id order, so the fallback keeper is the smallest id.
        let keeper = (input.previous_owner)(unit)
            .filter(|previous| running.contains(previous))
            .unwrap_or(running[0]);
        for id in running {
            if let Some(r) = result.get_mut(id) {
                if id == keeper {
                    r.assigned.insert(unit.clone());
                } else {
                    r.revoked.insert(unit.clone());
                }
            }
        }
    }

    // Rule 4: held work back to its returning member.
    for (id, units) in input.returned {
        if let Some(r) = result.get_mut(id) {
            for unit in units.iter() {
                r.assigned.insert(unit.clone());
                r.added.insert(unit.clone());
            }
        }
    }

    // Rule 5: the rest of the configured units to the least loaded.
    let placed: BTreeSet<&T> = result.values().flat_map(|r| r.assigned.iter()).collect();
    let unowned: Vec<&T> = input
        .configured
        .iter()
        .filter(|u| !placed.contains(u) && !input.held.contains(u))
        .collect();
    let other_load = |id: &str| input.other_load.get(id).copied().unwrap_or(0);
    for unit in unowned {
        let least = result
            .iter()
            .map(|(id, r)| (r.assigned.len(), other_load(id), *id))
            .min()
            .map(|(_, _, id)| id);
        if let Some(r) = least.and_then(|id| result.get_mut(id)) {
            r.assigned.insert(unit.clone());
            r.added.insert(unit.clone());
        }
    }

    // Rule 6: revoke the excess of the most loaded; the next round places it.
    let members = result.len();
    let total: usize = result.values().map(|r| r.assigned.len()).sum();
    let spread = result
        .values()
        .map(|r| r.assigned.len())
        .max()
        .zip(result.values().map(|r| r.assigned.len()).min())
        .map_or(0, |(max, min)| max - min);
    if input.balance && members > 0 && spread > 1 {
        let mut by_load: Vec<(usize, &str)> = result
            .iter()
            .map(|(id, r)| (r.assigned.len(), *id))
            .collect();
        // Most loaded first; among equals the smallest id keeps the extra unit.
        by_load.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        for (rank, (count, id)) in by_load.into_iter().enumerate() {
            let quota = total / members + usize::from(rank < total % members);
            if count <= quota {
                continue;
            }
            let Some(r) = result.get_mut(id) else {
                continue;
            };
            // Give up kept units before new ones (new ones are not started yet), the last ones first.
            let mut excess = count - quota;
            let kept: Vec<T> = r
                .assigned
                .iter()
                .rev()
                .filter(|u| !r.added.contains(u))
                .take(excess)
                .cloned()
                .collect();
            for unit in kept {
                r.assigned.remove(&unit);
                r.revoked.insert(unit);
                excess -= 1;
            }
            let fresh: Vec<T> = r.added.iter().rev().take(excess).cloned().collect();
            for unit in fresh {
                r.assigned.remove(&unit);
                r.added.remove(&unit);
            }
        }
    }
    result
}

#[cfg(test)]
mod tests;
