//! The next coordinator request, by state: FindCoordinator (through `client::coordinator`), InitProducerId
//! (through `client::producer_id`), AddPartitionsToTxn, AddOffsetsToTxn and TxnOffsetCommit, EndTxn.

use std::collections::BTreeMap;
use std::time::Instant;

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, GroupId, ProducerId,
    TopicName, TransactionalId, TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::{
    InFlight, ProducerProgress, TopicPartition, TransactionManager, TxnEvent, TxnRequest, TxnState,
};
use crate::client::coordinator::CoordinatorKey;
use crate::client::producer_id::{init_producer_id_request, supports_epoch_bump};
use crate::client::{BrokerId, TokenSource, Transmit};
use crate::protocol::Request;

impl TransactionManager {
    pub(super) fn transactional_id_field(&self) -> TransactionalId {
        TransactionalId(StrBytes::from_string(self.transactional_id.clone()))
    }

    pub(super) fn producer_fields(&self) -> (ProducerId, i16) {
        let (producer_id, epoch) = self.producer.unwrap_or((-1, -1));
        (ProducerId(producer_id), epoch)
    }

    pub(super) fn send(
        &mut self,
        tokens: &mut TokenSource,
        broker: BrokerId,
        request: Request,
        kind: TxnRequest,
    ) -> Option<Transmit> {
        let token = tokens.next_token();
        self.in_flight = Some(InFlight {
            token,
            request: kind,
        });
        Some(Transmit {
            broker,
            token,
            request,
            expects_response: true,
        })
    }

    pub(super) fn transaction_key(&self) -> CoordinatorKey {
        CoordinatorKey::Transaction(self.transactional_id.clone())
    }

    pub(super) fn find_coordinator(
        &mut self,
        key: CoordinatorKey,
        tokens: &mut TokenSource,
        progress: &ProducerProgress<'_>,
    ) -> Option<Transmit> {
        let (broker, version) = progress.lookup_broker?;
        let request = key.request(Some(version));
        self.send(
            tokens,
            broker,
            Request::FindCoordinator(request),
            TxnRequest::FindCoordinator(key),
        )
    }

    /// The next coordinator request, if one is due. The producer drops unsent batches of an abort before.
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
        tokens: &mut TokenSource,
        progress: ProducerProgress<'_>,
    ) -> Option<Transmit> {
        if self.in_flight.is_some() || self.not_before.is_some_and(|t| now < t) {
            return None;
        }
        match self.state {
            TxnState::Initializing => self.poll_init_producer_id(false, tokens, &progress),
            TxnState::InTransaction | TxnState::Committing => {
                if !self.new_partitions.is_empty() {
                    return self.poll_add_partitions(tokens, &progress);
                }
                if self.pending_offsets.is_some() {
                    return self.poll_offsets(tokens, &progress);
                }
                if self.state == TxnState::Committing && progress.outstanding_records == 0 {
                    return self.poll_end_txn(true, tokens, &progress);
                }
                None
            }
            TxnState::Aborting => {
                if progress.outstanding_records > 0 {
                    return None; // in-flight batches first: the abort marker must come after them
                }
                if self.bumping_after_abort {
                    return self.poll_init_producer_id(true, tokens, &progress);
                }
                self.poll_end_txn(false, tokens, &progress)
            }
            TxnState::Uninitialized
            | TxnState::Ready
            | TxnState::AbortableError(_)
            | TxnState::Fatal(_) => None,
        }
    }

    pub(super) fn poll_init_producer_id(
        &mut self,
        bumping: bool,
        tokens: &mut TokenSource,
        progress: &ProducerProgress<'_>,
    ) -> Option<Transmit> {
        let Some(coordinator) = self.coordinator else {
            return self.find_coordinator(self.transaction_key(), tokens, progress);
        };
        // KIP-360: v3+ bumps the epoch of the producer id we name, and answers PRODUCER_FENCED if another
        // producer took over. Without v3, a plain InitProducerId for the transactional id bumps it too.
        let bump_from = self
            .producer
            .filter(|_| bumping && supports_epoch_bump(progress.versions.get(&coordinator)));
        let request = init_producer_id_request(
            Some(&self.transactional_id),
            self.transaction_timeout_ms,
            bump_from,
        );
        self.send(
            tokens,
            coordinator,
            Request::InitProducerId(request),
            TxnRequest::InitProducerId { bumping },
        )
    }

    pub(super) fn poll_add_partitions(
        &mut self,
        tokens: &mut TokenSource,
        progress: &ProducerProgress<'_>,
    ) -> Option<Transmit> {
        let Some(coordinator) = self.coordinator else {
            return self.find_coordinator(self.transaction_key(), tokens, progress);
        };
        let partitions: Vec<TopicPartition> = std::mem::take(&mut self.new_partitions)
            .into_iter()
            .collect();
        self.adding_partitions = partitions.iter().cloned().collect();
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (topic, partition) in &partitions {
            topics.entry(topic).or_default().push(*partition);
        }
        let topics: Vec<AddPartitionsToTxnTopic> = topics
            .into_iter()
            .map(|(topic, partitions)| {
                AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                    .with_partitions(partitions)
            })
            .collect();
        let (producer_id, epoch) = self.producer_fields();
        let request = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(self.transactional_id_field())
            .with_v3_and_below_producer_id(producer_id)
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(topics);
        self.send(
            tokens,
            coordinator,
            Request::AddPartitionsToTxn(request),
            TxnRequest::AddPartitions(partitions),
        )
    }

    pub(super) fn poll_offsets(
        &mut self,
        tokens: &mut TokenSource,
        progress: &ProducerProgress<'_>,
    ) -> Option<Transmit> {
        let pending = self.pending_offsets.as_ref()?;
        let group_id = pending.group.group_id.clone();
        let (producer_id, epoch) = self.producer_fields();
        if !pending.added_to_txn {
            let Some(coordinator) = self.coordinator else {
                return self.find_coordinator(self.transaction_key(), tokens, progress);
            };
            let request = AddOffsetsToTxnRequest::default()
                .with_transactional_id(self.transactional_id_field())
                .with_producer_id(producer_id)
                .with_producer_epoch(epoch)
                .with_group_id(GroupId(StrBytes::from_string(group_id)));
            return self.send(
                tokens,
                coordinator,
                Request::AddOffsetsToTxn(request),
                TxnRequest::AddOffsets,
            );
        }
        let group_coordinator = match &self.group_coordinator {
            Some((group, broker)) if *group == group_id => *broker,
            _ => {
                return self.find_coordinator(CoordinatorKey::Group(group_id), tokens, progress);
            }
        };
        let mut topics: BTreeMap<&str, Vec<TxnOffsetCommitRequestPartition>> = BTreeMap::new();
        for offset in &pending.offsets {
            topics.entry(&offset.topic).or_default().push(
                TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(offset.partition)
                    .with_committed_offset(offset.offset)
                    .with_committed_leader_epoch(offset.leader_epoch.unwrap_or(-1))
                    .with_committed_metadata(offset.metadata.clone().map(StrBytes::from_string)),
            );
        }
        let group = &pending.group;
        let request = TxnOffsetCommitRequest::default()
            .with_transactional_id(self.transactional_id_field())
            .with_group_id(GroupId(StrBytes::from_string(group_id)))
            .with_producer_id(producer_id)
            .with_producer_epoch(epoch)
            .with_generation_id(group.generation_id)
            .with_member_id(StrBytes::from_string(group.member_id.clone()))
            .with_group_instance_id(group.group_instance_id.clone().map(StrBytes::from_string))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        TxnOffsetCommitRequestTopic::default()
                            .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                            .with_partitions(partitions)
                    })
                    .collect(),
            );
        self.send(
            tokens,
            group_coordinator,
            Request::TxnOffsetCommit(request),
            TxnRequest::TxnOffsetCommit,
        )
    }

    pub(super) fn poll_end_txn(
        &mut self,
        commit: bool,
        tokens: &mut TokenSource,
        progress: &ProducerProgress<'_>,
    ) -> Option<Transmit> {
        let started = !self.added_partitions.is_empty() || self.offsets_added;
        if !started {
            // Nothing reached the coordinator: there is nothing to end (as in the Java client).
            self.end_txn_done(commit);
            return if self.bumping_after_abort {
                self.poll_init_producer_id(true, tokens, progress)
            } else {
                None
            };
        }
        let Some(coordinator) = self.coordinator else {
            return self.find_coordinator(self.transaction_key(), tokens, progress);
        };
        let (producer_id, epoch) = self.producer_fields();
        let request = EndTxnRequest::default()
            .with_transactional_id(self.transactional_id_field())
            .with_producer_id(producer_id)
            .with_producer_epoch(epoch)
            .with_committed(commit);
        self.send(
            tokens,
            coordinator,
            Request::EndTxn(request),
            TxnRequest::EndTxn { commit },
        )
    }

    /// EndTxn succeeded (or was not needed).
    pub(super) fn end_txn_done(&mut self, commit: bool) {
        self.added_partitions.clear();
        self.new_partitions.clear();
        self.offsets_added = false;
        self.pending_offsets = None;
        if commit {
            self.state = TxnState::Ready;
            self.operation = None;
            self.events.push_back(TxnEvent::TransactionCommitted);
        } else if self.epoch_bump_required {
            self.bumping_after_abort = true;
        } else {
            self.abort_done();
        }
    }

    pub(super) fn abort_done(&mut self) {
        self.state = TxnState::Ready;
        self.operation = None;
        self.bumping_after_abort = false;
        self.epoch_bump_required = false;
        self.events.push_back(TxnEvent::TransactionAborted);
    }
}
