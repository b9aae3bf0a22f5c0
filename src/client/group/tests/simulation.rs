//! Several members against a simulated coordinator that follows Kafka's classic group protocol closely
//! enough to run members against each other.

use super::*;

/// A coordinator that follows Kafka's classic group protocol closely enough to run members against each other:
/// a join round completes once every known member has (re)joined, the first to join leads, followers' SyncGroups
/// wait for the leader's, heartbeats during a round answer REBALANCE_IN_PROGRESS.
#[derive(Default)]
struct SimulatedCoordinator {
    generation: i32,
    rebalancing: bool,
    next_member: u32,
    /// Known members and, during a join round, the metadata each sent.
    members: BTreeMap<String, Option<Bytes>>,
    parked_joins: Vec<(usize, Transmit, String)>,
    parked_syncs: Vec<(usize, Transmit, String)>,
    leader: Option<String>,
    join_order: Vec<String>,
    assignments: BTreeMap<String, Bytes>,
    offsets: BTreeMap<TopicPartition, i64>,
}

impl SimulatedCoordinator {
    /// Handles one request from member `from`; answers now or parks it. Returns the answers to deliver.
    fn handle(
        &mut self,
        from: usize,
        tx: Transmit,
        partitions: i32,
    ) -> Vec<(usize, Transmit, Response)> {
        let mut out = Vec::new();
        match tx.request.clone() {
            Request::Metadata(_) => {
                out.push((from, tx, Response::Metadata(metadata_response(partitions))))
            }
            Request::FindCoordinator(_) => out.push((from, tx, find_coordinator_ok())),
            Request::JoinGroup(join) => {
                if join.member_id.is_empty() {
                    self.next_member += 1;
                    let id = format!("member-{}", self.next_member);
                    out.push((from, tx, join_error(ResponseError::MemberIdRequired, &id)));
                    return out;
                }
                let id = join.member_id.to_string();
                if !self.rebalancing {
                    self.start_round();
                }
                let protocol = &join.protocols[0];
                self.members
                    .insert(id.clone(), Some(protocol.metadata.clone()));
                self.join_order.push(id.clone());
                self.parked_joins.push((from, tx, id));
                out.extend(self.maybe_complete_join(&protocol.name.to_string()));
            }
            Request::SyncGroup(sync) => {
                let id = sync.member_id.to_string();
                if self.rebalancing || sync.generation_id != self.generation {
                    out.push((from, tx, sync_error(ResponseError::RebalanceInProgress)));
                    return out;
                }
                if self.leader.as_deref() == Some(id.as_str()) {
                    self.assignments = sync
                        .assignments
                        .iter()
                        .map(|a| (a.member_id.to_string(), a.assignment.clone()))
                        .collect();
                    out.push((
                        from,
                        tx,
                        sync_ok(self.assignments.get(&id).cloned().unwrap_or_default()),
                    ));
                    for (member, parked, parked_id) in std::mem::take(&mut self.parked_syncs) {
                        let assignment = self
                            .assignments
                            .get(&parked_id)
                            .cloned()
                            .unwrap_or_default();
                        out.push((member, parked, sync_ok(assignment)));
                    }
                } else {
                    self.parked_syncs.push((from, tx, id));
                }
            }
            Request::Heartbeat(heartbeat_request) => {
                let id = heartbeat_request.member_id.to_string();
                let error = if !self.members.contains_key(&id) {
                    Some(ResponseError::UnknownMemberId)
                } else if self.rebalancing {
                    Some(ResponseError::RebalanceInProgress)
                } else if heartbeat_request.generation_id != self.generation {
                    Some(ResponseError::IllegalGeneration)
                } else {
                    None
                };
                out.push((from, tx, heartbeat(error)));
            }
            Request::LeaveGroup(leave) => {
                for member in &leave.members {
                    self.members.remove(member.member_id.as_str());
                }
                out.push((from, tx, Response::LeaveGroup(Default::default())));
                if !self.members.is_empty() {
                    if !self.rebalancing {
                        self.start_round();
                    }
                    out.extend(self.maybe_complete_join("range"));
                }
            }
            Request::OffsetCommit(commit) => {
                for (tp, offset) in committed_offsets(&commit) {
                    self.offsets.insert(tp, offset);
                }
                let response = commit_response(&commit, None);
                out.push((from, tx, response));
            }
            Request::OffsetFetch(fetch) => {
                let offsets: Vec<(i32, i64)> = fetch
                    .topics
                    .iter()
                    .flatten()
                    .flat_map(|t| {
                        t.partition_indexes
                            .iter()
                            .map(|p| (*p, self.offsets.get(&tp(*p)).copied().unwrap_or(-1)))
                    })
                    .collect();
                out.push((from, tx, offset_fetch_ok(&offsets)));
            }
            other => panic!(
                "the simulated coordinator does not speak {:?}",
                other.api_key()
            ),
        }
        out
    }

    fn start_round(&mut self) {
        self.rebalancing = true;
        self.join_order.clear();
        for metadata in self.members.values_mut() {
            *metadata = None;
        }
        // Followers waiting for a sync of the old generation are told to rejoin.
        self.parked_syncs.clear();
    }

    fn maybe_complete_join(&mut self, protocol: &str) -> Vec<(usize, Transmit, Response)> {
        if self.members.values().any(Option::is_none) || self.parked_joins.is_empty() {
            return Vec::new();
        }
        self.rebalancing = false;
        self.generation += 1;
        let leader = self.join_order[0].clone();
        self.leader = Some(leader.clone());
        let members: Vec<(String, Bytes)> = self
            .members
            .iter()
            .map(|(id, metadata)| (id.clone(), metadata.clone().unwrap_or_default()))
            .collect();
        std::mem::take(&mut self.parked_joins)
            .into_iter()
            .map(|(member, tx, id)| {
                let listed: Vec<(&str, Bytes)> = if id == leader {
                    members
                        .iter()
                        .map(|(i, m)| (i.as_str(), m.clone()))
                        .collect()
                } else {
                    Vec::new()
                };
                let mut response = join_ok(&id, self.generation, &leader, &listed);
                if let Response::JoinGroup(r) = &mut response {
                    r.protocol_name = Some(StrBytes::from_string(protocol.to_owned()));
                }
                (member, tx, response)
            })
            .collect()
    }
}

/// Members and the simulated coordinator stepping through simulated time; the application part commits on
/// revocation and acknowledges it at once, as `GroupConsumer` does with auto-commit.
struct Simulation {
    members: Vec<Option<GroupMember>>,
    coordinator: SimulatedCoordinator,
    now: Instant,
    partitions: i32,
}

impl Simulation {
    fn new(partitions: i32) -> Self {
        Self {
            members: Vec::new(),
            coordinator: SimulatedCoordinator::default(),
            now: Instant::now(),
            partitions,
        }
    }

    fn add_member(&mut self, strategy: &str) -> usize {
        let config = config(&[("partition.assignment.strategy", strategy)]);
        let member = GroupMember::new(&config, vec![TOPIC.into()], self.now).expect("member");
        self.members.push(Some(member));
        self.members.len() - 1
    }

    /// Runs `duration` in 50 ms steps, checking after each that no partition has two owners.
    fn run(&mut self, duration: Duration) {
        let steps = duration.as_millis() / 50;
        for _ in 0..steps {
            self.now += Duration::from_millis(50);
            for index in 0..self.members.len() {
                let now = self.now;
                let Some(member) = self.members[index].as_mut() else {
                    continue;
                };
                member.poll(now);
                if member.poll_timeout().is_some_and(|t| t <= now) {
                    member.handle_timeout(now);
                }
                let mut transmits = Vec::new();
                while let Some(tx) = member.poll_transmit(now) {
                    transmits.push(tx);
                }
                for tx in transmits {
                    for (to, tx, response) in self.coordinator.handle(index, tx, self.partitions) {
                        if let Some(member) = self.members[to].as_mut() {
                            member.handle_response(tx.broker, tx.token, Ok(response), now);
                        }
                    }
                }
                if let Some(member) = self.members[index].as_mut() {
                    while let Some(event) = member.poll_event() {
                        if let GroupEvent::PartitionsRevoked { partitions } = event {
                            member.commit_consumed(Some(&partitions));
                            member.revoke_done();
                        }
                    }
                }
            }
            self.assert_no_partition_owned_twice();
        }
    }

    fn assert_no_partition_owned_twice(&self) {
        let mut owners: BTreeMap<&TopicPartition, usize> = BTreeMap::new();
        for (index, member) in self.members.iter().enumerate() {
            for tp in member.iter().flat_map(|m| m.assignment()) {
                if let Some(other) = owners.insert(tp, index) {
                    panic!("{tp} owned by members {other} and {index} at once");
                }
            }
        }
    }

    fn owned(&self, index: usize) -> Vec<TopicPartition> {
        self.members[index]
            .as_ref()
            .map(|m| m.assignment().cloned().collect())
            .unwrap_or_default()
    }

    fn close(&mut self, index: usize) {
        if let Some(member) = self.members[index].as_mut() {
            member.close();
        }
    }
}

fn simulate_join_and_leave(strategy: &str) {
    let mut sim = Simulation::new(6);
    let a = sim.add_member(strategy);
    sim.run(Duration::from_secs(2));
    assert_eq!(sim.owned(a).len(), 6);
    let b = sim.add_member(strategy);
    sim.run(Duration::from_secs(5));
    assert_eq!(
        (sim.owned(a).len(), sim.owned(b).len()),
        (3, 3),
        "{strategy}"
    );
    let c = sim.add_member(strategy);
    sim.run(Duration::from_secs(5));
    assert_eq!(
        (sim.owned(a).len(), sim.owned(b).len(), sim.owned(c).len()),
        (2, 2, 2),
        "{strategy}"
    );
    sim.close(b);
    sim.run(Duration::from_secs(5));
    assert!(sim.owned(b).is_empty());
    assert_eq!(
        (sim.owned(a).len(), sim.owned(c).len()),
        (3, 3),
        "{strategy}"
    );
}

#[test]
fn simulated_group_rebalances_eagerly_as_members_join_and_leave() {
    simulate_join_and_leave("range");
    simulate_join_and_leave("roundrobin");
}

#[test]
fn simulated_cooperative_group_hands_partitions_over_in_two_rounds() {
    simulate_join_and_leave("cooperative-sticky");
    // Stickiness: when a second member joins, the first keeps half of what it had.
    let mut sim = Simulation::new(4);
    let a = sim.add_member("cooperative-sticky");
    sim.run(Duration::from_secs(2));
    let before = sim.owned(a);
    sim.add_member("cooperative-sticky");
    sim.run(Duration::from_secs(5));
    let after = sim.owned(a);
    assert_eq!(after.len(), 2);
    assert!(after.iter().all(|tp| before.contains(tp)));
}
