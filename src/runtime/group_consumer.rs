//! The async group consumer: a [`client::group::GroupMember`](crate::client::group::GroupMember) for membership
//! and a [`client::consumer::Consumer`](crate::client::consumer::Consumer) for fetching, each with its own driver
//! on the current thread's `LocalSet`, glued together here.
//!
//! The glue is the whole contract between the two: an assignment becomes `assign(.., Committed)` and the fetched
//! committed offsets become `set_committed_offset`; a revocation stops fetching, commits what the application
//! consumed (with enable.auto.commit) and only then lets the member rejoin; lost partitions stop fetching
//! without a commit. Records of a partition this member no longer owns are dropped, never handed out. An
//! application that keeps its consumed offsets elsewhere ([`GroupConsumer::start_where_told`]) says where each
//! assigned partition starts instead of the group's committed offsets.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::backend::current_backend;
use super::broker_health::ConnectionProblems;
use super::driver::{drive, Shared};
use super::producer::connection_config;
use crate::client::config::ConsumerConfig;
use crate::client::consumer::{
    self as sm, ConsumerError, ConsumerEvent, StartPosition, TopicPartition,
};
use crate::client::group::{CommitId, GroupError, GroupEvent, GroupMember};
use crate::protocol::record_batch::Record;

/// What [`GroupConsumer::recv`] hands out.
#[derive(Debug)]
pub enum GroupConsumerEvent {
    Records {
        topic: String,
        partition: i32,
        records: Vec<Record>,
    },
    /// The position of an owned partition reached its end.
    PartitionEof {
        topic: String,
        partition: i32,
        offset: i64,
    },
    /// New partitions for this member (under eager protocols: its whole new assignment).
    Assigned(Vec<TopicPartition>),
    /// Partitions handed to another member. With enable.auto.commit their consumed positions are committed
    /// already; without it, commit now ([`GroupConsumer::commit`]): the member rejoins at the next `recv`.
    Revoked(Vec<TopicPartition>),
    /// Partitions taken away without a commit (session expired, fenced, poll timeout).
    Lost(Vec<TopicPartition>),
    /// A partition stopped being fetched.
    PartitionError {
        topic: String,
        partition: Option<i32>,
        error: ConsumerError,
    },
    /// The member cannot go on.
    Fatal(GroupError),
}

/// A consumer in a consumer group, bound to the current thread's `LocalSet`.
pub struct GroupConsumer {
    consumer: Rc<Shared<sm::Consumer>>,
    member: Rc<Shared<GroupMember>>,
    drivers: Vec<JoinHandle<()>>,
    pending: RefCell<VecDeque<GroupConsumerEvent>>,
    commit_results: RefCell<HashMap<CommitId, Result<(), GroupError>>>,
    auto_commit: bool,
    /// The position after the last records handed out; counted as consumed at the next `recv` (or `commit`), when
    /// the application has had them, as Java's auto-commit counts a poll's records at the next poll.
    delivered: RefCell<Option<(TopicPartition, i64)>>,
    /// Without auto-commit, a revocation is handed to the application, which may commit in answer; the member
    /// rejoins at the next `recv` (as Java's onPartitionsRevoked runs inside poll).
    revoke_pending: Cell<bool>,
    closed: Cell<bool>,
    /// recv wakes at least this often to tell the member the application is still polling.
    poll_heartbeat: Duration,
    /// How long `commit` and `close` wait for the coordinator (request.timeout.ms).
    close_timeout: Duration,
    /// Set by [`GroupConsumer::start_where_told`]: assigned partitions wait for
    /// [`GroupConsumer::start_partitions_at`] before they are fetched.
    start_told: Cell<bool>,
    /// Start told: the group's committed offsets of assigned partitions the caller has not answered for yet.
    group_committed: RefCell<HashMap<TopicPartition, Option<i64>>>,
    /// Start told: assigned partitions the caller has no offset for, waiting for the group's committed one.
    start_at_group: RefCell<HashSet<TopicPartition>>,
}

impl GroupConsumer {
    /// The connection failures the consumer's and the group member's drivers are telling of now.
    pub fn connection_problems(&self) -> [ConnectionProblems; 2] {
        [self.consumer.problems.clone(), self.member.problems.clone()]
    }

    /// Joins `config.group_id` subscribed to `topics`.
    pub fn new(config: ConsumerConfig, topics: Vec<String>) -> Result<Self, GroupError> {
        let member = GroupMember::new(&config, topics, Instant::now())?;
        let consumer_connection = connection_config(&config.common);
        let mut member_connection = connection_config(&config.common);
        // JoinGroup is answered only when the rebalance completes, up to the rebalance timeout; SyncGroup,
        // heartbeats and commits get request.timeout.ms, so a coordinator that stops answering them is noticed
        // in seconds, not after the five minutes a JoinGroup may take.
        member_connection.join_group_timeout =
            Some(config.max_poll_interval + Duration::from_secs(5));
        let auto_commit = config.enable_auto_commit;
        let poll_heartbeat = (config.max_poll_interval / 3).max(Duration::from_millis(10));
        let close_timeout = config.common.request_timeout;
        let consumer = Shared::new(sm::Consumer::new(config));
        let member = Shared::new(member);
        let drivers = vec![
            tokio::task::spawn_local(drive(
                consumer.clone(),
                current_backend(),
                consumer_connection,
                |_: &mut sm::Consumer| {},
            )),
            tokio::task::spawn_local(drive(
                member.clone(),
                current_backend(),
                member_connection,
                |_: &mut GroupMember| {},
            )),
        ];
        Ok(Self {
            consumer,
            member,
            drivers,
            pending: RefCell::new(VecDeque::new()),
            commit_results: RefCell::new(HashMap::new()),
            auto_commit,
            delivered: RefCell::new(None),
            revoke_pending: Cell::new(false),
            closed: Cell::new(false),
            poll_heartbeat,
            close_timeout,
            start_told: Cell::new(false),
            group_committed: RefCell::new(HashMap::new()),
            start_at_group: RefCell::new(HashSet::new()),
        })
    }

    /// From now on an assigned partition is not fetched until [`start_partitions_at`](Self::start_partitions_at)
    /// says where it starts: for an application that keeps the consumed offsets elsewhere (a database written in
    /// the same transaction as the records). Call it before the first `recv`.
    pub fn start_where_told(&self) {
        self.start_told.set(true);
    }

    /// Where assigned partitions start (see [`start_where_told`](Self::start_where_told)): at `Some(offset)`, or
    /// with `None` at the group's committed offset (`auto.offset.reset` when there is none). Partitions this
    /// member no longer owns are ignored.
    pub fn start_partitions_at(&self, starts: Vec<(TopicPartition, Option<i64>)>) {
        let member = self.member.state.borrow();
        let mut consumer = self.consumer.state.borrow_mut();
        let mut group_committed = self.group_committed.borrow_mut();
        let mut start_at_group = self.start_at_group.borrow_mut();
        for (tp, start) in starts {
            if !member.owns(&tp) {
                continue;
            }
            match start {
                Some(offset) => {
                    group_committed.remove(&tp);
                    consumer.set_committed_offset(&tp.topic, tp.partition, Some(offset));
                }
                None => match group_committed.remove(&tp) {
                    Some(committed) => {
                        consumer.set_committed_offset(&tp.topic, tp.partition, committed)
                    }
                    None => {
                        start_at_group.insert(tp);
                    }
                },
            }
        }
        drop(consumer);
        self.consumer.wake_driver.notify_one();
    }

    /// Forgets what start-told partitions waited for, when they are assigned afresh or taken away.
    fn forget_starts(&self, partitions: &[TopicPartition]) {
        if self.start_told.get() {
            let mut group_committed = self.group_committed.borrow_mut();
            let mut start_at_group = self.start_at_group.borrow_mut();
            for tp in partitions {
                group_committed.remove(tp);
                start_at_group.remove(tp);
            }
        }
    }

    /// Partitions this member owns now.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.member.state.borrow().assignment().cloned().collect()
    }

    /// Each assigned partition's lag: the high watermark of its last fetch minus the consumer's position (the
    /// next offset it will deliver), where both are known.
    pub fn partition_lag(&self) -> Vec<(TopicPartition, i64)> {
        let consumer = self.consumer.state.borrow();
        consumer
            .assignment()
            .filter_map(|tp| {
                let position = consumer.position(&tp.topic, tp.partition)?;
                let high_watermark = consumer.high_watermark(&tp.topic, tp.partition)?;
                Some((tp.clone(), (high_watermark - position).max(0)))
            })
            .collect()
    }

    /// Runs `f` on the group member (member id, generation, protocol).
    pub fn with_member<R>(&self, f: impl FnOnce(&mut GroupMember) -> R) -> R {
        let result = f(&mut self.member.state.borrow_mut());
        self.member.wake_driver.notify_one();
        result
    }

    /// The next records or group change.
    pub async fn recv(&self) -> GroupConsumerEvent {
        self.mark_delivered_consumed();
        if self.revoke_pending.take() {
            self.with_member(|m| m.revoke_done());
        }
        loop {
            let member_notified = pin!(self.member.wake_user.notified());
            let consumer_notified = pin!(self.consumer.wake_user.notified());
            let mut member_notified = member_notified;
            let mut consumer_notified = consumer_notified;
            member_notified.as_mut().enable();
            consumer_notified.as_mut().enable();
            self.member.state.borrow_mut().poll(Instant::now());
            self.pump();
            if let Some(event) = self.pending.borrow_mut().pop_front() {
                return event;
            }
            if let Some(event) = self.next_consumer_event() {
                return event;
            }
            tokio::select! {
                _ = member_notified => {}
                _ = consumer_notified => {}
                _ = tokio::time::sleep(self.poll_heartbeat) => {}
            }
        }
    }

    fn next_consumer_event(&self) -> Option<GroupConsumerEvent> {
        loop {
            let event = self.consumer.state.borrow_mut().poll_event()?;
            // Taking events may free room for more fetches.
            self.consumer.wake_driver.notify_one();
            let member = self.member.state.borrow_mut();
            match event {
                ConsumerEvent::Records {
                    topic,
                    partition,
                    records,
                } => {
                    let tp = TopicPartition::new(topic, partition);
                    if !member.owns(&tp) {
                        continue; // fetched before the partition was revoked or lost
                    }
                    if let Some(last) = records.last() {
                        *self.delivered.borrow_mut() =
                            Some((tp.clone(), last.offset.saturating_add(1)));
                    }
                    return Some(GroupConsumerEvent::Records {
                        topic: tp.topic,
                        partition,
                        records,
                    });
                }
                ConsumerEvent::PartitionEof {
                    topic,
                    partition,
                    offset,
                } => {
                    if member.owns(&TopicPartition::new(topic.as_str(), partition)) {
                        return Some(GroupConsumerEvent::PartitionEof {
                            topic,
                            partition,
                            offset,
                        });
                    }
                }
                ConsumerEvent::Error {
                    topic,
                    partition,
                    error,
                } => {
                    return Some(GroupConsumerEvent::PartitionError {
                        topic,
                        partition,
                        error,
                    })
                }
            }
        }
    }

    fn mark_delivered_consumed(&self) {
        if let Some((tp, next_offset)) = self.delivered.borrow_mut().take() {
            self.member
                .state
                .borrow_mut()
                .record_consumed(&tp, next_offset);
        }
    }

    /// Forgets the records handed out last instead of counting them consumed at the next `recv`: the application
    /// stopped part-way and says how far it got with [`GroupMember::record_consumed`].
    pub fn forget_delivered(&self) {
        self.delivered.borrow_mut().take();
    }

    /// Applies the member's events to the fetching consumer.
    fn pump(&self) {
        let mut member = self.member.state.borrow_mut();
        let mut consumer = self.consumer.state.borrow_mut();
        let mut touched_member = false;
        let mut touched_consumer = false;
        while let Some(event) = member.poll_event() {
            match event {
                GroupEvent::PartitionsAssigned { partitions } => {
                    self.forget_starts(&partitions);
                    consumer.assign(
                        partitions
                            .iter()
                            .map(|tp| (tp.topic.clone(), tp.partition, StartPosition::Committed))
                            .collect(),
                    );
                    touched_consumer = true;
                    self.pending
                        .borrow_mut()
                        .push_back(GroupConsumerEvent::Assigned(partitions));
                }
                GroupEvent::CommittedOffsets { offsets } => {
                    for (tp, offset) in offsets {
                        if !self.start_told.get() || self.start_at_group.borrow_mut().remove(&tp) {
                            consumer.set_committed_offset(&tp.topic, tp.partition, offset);
                        } else {
                            // The caller decides (start_partitions_at), maybe for this offset.
                            self.group_committed.borrow_mut().insert(tp, offset);
                        }
                    }
                    touched_consumer = true;
                }
                GroupEvent::PartitionsRevoked { partitions } => {
                    self.forget_starts(&partitions);
                    for tp in &partitions {
                        consumer.unassign(&tp.topic, tp.partition);
                    }
                    if self.auto_commit {
                        // Queued before the rejoin, so the coordinator has it before the next owner asks.
                        member.commit_consumed(Some(&partitions));
                        member.revoke_done();
                        touched_member = true;
                    } else {
                        self.revoke_pending.set(true);
                    }
                    self.pending
                        .borrow_mut()
                        .push_back(GroupConsumerEvent::Revoked(partitions));
                }
                GroupEvent::PartitionsLost { partitions } => {
                    self.forget_starts(&partitions);
                    for tp in &partitions {
                        consumer.unassign(&tp.topic, tp.partition);
                    }
                    self.pending
                        .borrow_mut()
                        .push_back(GroupConsumerEvent::Lost(partitions));
                }
                GroupEvent::OffsetsCommitted { id, .. } => {
                    self.commit_results.borrow_mut().insert(id, Ok(()));
                }
                GroupEvent::CommitFailed { id, error } => {
                    tracing::warn!(%error, "offset commit failed");
                    self.commit_results.borrow_mut().insert(id, Err(error));
                }
                GroupEvent::Fatal { error } => {
                    self.pending
                        .borrow_mut()
                        .push_back(GroupConsumerEvent::Fatal(error));
                }
                GroupEvent::Closed => self.closed.set(true),
            }
        }
        // Results nobody waits for (auto-commits) must not pile up.
        let mut results = self.commit_results.borrow_mut();
        if results.len() > 1024 {
            results.clear();
        }
        if touched_member {
            self.member.wake_driver.notify_one();
        }
        if touched_consumer {
            self.consumer.wake_driver.notify_one();
        }
    }

    /// Commits the consumed positions of every owned partition and waits for the coordinator's answer.
    pub async fn commit(&self) -> Result<(), GroupError> {
        self.mark_delivered_consumed();
        let id = self.with_member(|m| m.commit_consumed(None));
        match id {
            Some(id) => self.wait_commit(id).await,
            None => Ok(()),
        }
    }

    /// Queues a commit of the consumed positions without waiting; its outcome is kept for
    /// [`commit_result`](Self::commit_result) (a failure is also logged). `None` if nothing changed.
    pub fn commit_async(&self) -> Option<CommitId> {
        self.mark_delivered_consumed();
        self.with_member(|m| m.commit_consumed(None))
    }

    /// The outcome of an asynchronous commit, once the coordinator answered.
    pub fn commit_result(&self, id: CommitId) -> Option<Result<(), GroupError>> {
        self.pump();
        self.commit_results.borrow_mut().remove(&id)
    }

    /// Commits these offsets (the next offset to read, per partition) and waits for the answer.
    pub async fn commit_offsets(
        &self,
        offsets: Vec<(TopicPartition, i64)>,
    ) -> Result<(), GroupError> {
        let id = self.with_member(|m| m.commit(offsets));
        self.wait_commit(id).await
    }

    async fn wait_commit(&self, id: CommitId) -> Result<(), GroupError> {
        let waited = self.close_timeout;
        tokio::time::timeout(waited, self.wait_commit_result(id))
            .await
            .unwrap_or(Err(GroupError::CommitTimedOut { waited }))
    }

    async fn wait_commit_result(&self, id: CommitId) -> Result<(), GroupError> {
        loop {
            let notified = pin!(self.member.wake_user.notified());
            let mut notified = notified;
            notified.as_mut().enable();
            self.pump();
            if let Some(result) = self.commit_results.borrow_mut().remove(&id) {
                return result;
            }
            notified.await;
        }
    }

    /// Commits what was consumed (with enable.auto.commit), leaves the group and stops both drivers. Gives up
    /// waiting after request.timeout.ms.
    pub async fn close(self) {
        self.mark_delivered_consumed();
        self.with_member(|m| {
            if self.auto_commit {
                m.commit_consumed(None);
            }
            m.close();
        });
        let finished = async {
            while !self.closed.get() {
                let notified = pin!(self.member.wake_user.notified());
                let mut notified = notified;
                notified.as_mut().enable();
                self.pump();
                if self.closed.get() {
                    break;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(self.close_timeout, finished)
            .await
            .is_err()
        {
            tracing::warn!(
                "leaving the group timed out; the coordinator drops us after session.timeout.ms"
            );
        }
        for shared in [&self.consumer.stopped, &self.member.stopped] {
            shared.set(true);
        }
        self.consumer.wake_driver.notify_one();
        self.member.wake_driver.notify_one();
        for driver in self.drivers {
            let _ = driver.await;
        }
    }
}
