//! The coordinators' answers: each read per partition where it has one, the worst outcome deciding what
//! happens (fencing over fatal over abortable over retry).

use std::time::Instant;

use kafka_protocol::messages::{
    AddPartitionsToTxnResponse, ApiKey, FindCoordinatorResponse, TxnOffsetCommitResponse,
};

use super::{
    classify_txn_error, TopicPartition, TransactionManager, TxnEffect, TxnError, TxnErrorAction,
    TxnEvent, TxnRequest, TxnState,
};
use crate::client::coordinator::{read_find_coordinator, CoordinatorKey, Lookup};
use crate::client::errors::{response_error, ResponseError};
use crate::client::{RequestToken, ResponseResult, TransportError};
use crate::protocol::Response;

impl TransactionManager {
    /// Handles the answer to the request in flight (the caller checked [`TransactionManager::owns`]).
    pub fn handle_response(&mut self, token: RequestToken, result: ResponseResult, now: Instant) {
        let Some(in_flight) = self.in_flight.take().filter(|f| f.token == token) else {
            return;
        };
        self.adding_partitions.clear();
        let response = match result {
            Ok(response) => response,
            Err(TransportError::Protocol { broker, error }) => {
                // The coordinator cannot be spoken to (no common version, undecodable answer): retrying
                // would give the same answer.
                self.become_fatal(TxnError::Protocol {
                    reason: format!("broker {broker}: {error}"),
                });
                return;
            }
            Err(_) => {
                self.transport_failed(&in_flight.request, now);
                return;
            }
        };
        match (in_flight.request, response) {
            (TxnRequest::FindCoordinator(key), Response::FindCoordinator(response)) => {
                self.handle_find_coordinator(key, &response, now)
            }
            (TxnRequest::InitProducerId { bumping }, Response::InitProducerId(response)) => {
                match response_error(response.error_code) {
                    None => {
                        self.attempts = 0;
                        let (producer_id, epoch) =
                            (response.producer_id.0, response.producer_epoch);
                        self.producer = Some((producer_id, epoch));
                        self.effects
                            .push_back(TxnEffect::ProducerId { producer_id, epoch });
                        if bumping {
                            self.abort_done();
                        } else {
                            self.state = TxnState::Ready;
                            self.operation = None;
                            self.events
                                .push_back(TxnEvent::Initialized { producer_id, epoch });
                        }
                    }
                    Some(error) => self.handle_error(ApiKey::InitProducerId, error, now),
                }
            }
            (TxnRequest::AddPartitions(partitions), Response::AddPartitionsToTxn(response)) => {
                self.handle_add_partitions(partitions, &response, now)
            }
            (TxnRequest::AddOffsets, Response::AddOffsetsToTxn(response)) => {
                match response_error(response.error_code) {
                    None => {
                        self.attempts = 0;
                        self.offsets_added = true;
                        if let Some(pending) = &mut self.pending_offsets {
                            pending.added_to_txn = true;
                        }
                    }
                    Some(error) => self.handle_error(ApiKey::AddOffsetsToTxn, error, now),
                }
            }
            (TxnRequest::TxnOffsetCommit, Response::TxnOffsetCommit(response)) => {
                self.handle_txn_offset_commit(&response, now)
            }
            (TxnRequest::EndTxn { commit }, Response::EndTxn(response)) => {
                match response_error(response.error_code) {
                    None => {
                        self.attempts = 0;
                        self.end_txn_done(commit);
                    }
                    Some(error) => self.handle_error(ApiKey::EndTxn, error, now),
                }
            }
            (request, _) => self.transport_failed(&request, now),
        }
    }

    pub(super) fn transport_failed(&mut self, request: &TxnRequest, now: Instant) {
        match request {
            TxnRequest::FindCoordinator(_) => {}
            TxnRequest::TxnOffsetCommit => self.group_coordinator = None,
            TxnRequest::AddPartitions(partitions) => {
                self.coordinator = None;
                self.requeue_partitions(partitions);
            }
            _ => self.coordinator = None,
        }
        self.back_off(now, false);
    }

    pub(super) fn requeue_partitions(&mut self, partitions: &[TopicPartition]) {
        if matches!(self.state, TxnState::InTransaction | TxnState::Committing) {
            self.new_partitions.extend(partitions.iter().cloned());
        }
    }

    pub(super) fn handle_find_coordinator(
        &mut self,
        key: CoordinatorKey,
        response: &FindCoordinatorResponse,
        now: Instant,
    ) {
        let coordinator = match read_find_coordinator(response, key.name()) {
            Lookup::Found(coordinator) => coordinator,
            Lookup::Failed(error) => {
                let api = match key {
                    CoordinatorKey::Transaction(_) => ApiKey::FindCoordinator,
                    // Group errors (authorization) belong to the offsets of the transaction.
                    CoordinatorKey::Group(_) => ApiKey::TxnOffsetCommit,
                };
                self.handle_error(api, error, now);
                return;
            }
            Lookup::NoNode => {
                self.back_off(now, false);
                return;
            }
        };
        let node_id = coordinator.broker;
        self.attempts = 0;
        self.not_before = None;
        self.coordinator_addresses
            .insert(node_id, coordinator.address);
        match key {
            CoordinatorKey::Transaction(_) => self.coordinator = Some(node_id),
            CoordinatorKey::Group(group) => self.group_coordinator = Some((group, node_id)),
        }
    }

    pub(super) fn handle_add_partitions(
        &mut self,
        partitions: Vec<TopicPartition>,
        response: &AddPartitionsToTxnResponse,
        now: Instant,
    ) {
        // v4+ (not used by us) has a top-level error; v0-3 one per partition.
        if let Some(error) = response_error(response.error_code) {
            self.requeue_partitions(&partitions);
            self.handle_error(ApiKey::AddPartitionsToTxn, error, now);
            return;
        }
        let mut retry: Vec<TopicPartition> = Vec::new();
        let mut worst: Option<(TxnErrorAction, ResponseError)> = None;
        for (topic, partition) in partitions {
            let code = response
                .results_by_topic_v3_and_below
                .iter()
                .filter(|t| t.name.0.as_str() == &*topic)
                .flat_map(|t| t.results_by_partition.iter())
                .find(|p| p.partition_index == partition)
                .map(|p| p.partition_error_code);
            match code.map(response_error) {
                Some(None) => {
                    self.added_partitions.insert((topic, partition));
                }
                Some(Some(ResponseError::OperationNotAttempted)) | None => {
                    retry.push((topic, partition))
                }
                Some(Some(error)) => {
                    let action = classify_txn_error(ApiKey::AddPartitionsToTxn, error);
                    retry.push((topic, partition));
                    if worst.is_none_or(|(w, _)| severity(action) > severity(w)) {
                        worst = Some((action, error));
                    }
                }
            }
        }
        match worst {
            None if retry.is_empty() => self.attempts = 0,
            None => {
                // Missing from the answer or not attempted without a reason: ask again.
                self.requeue_partitions(&retry);
                self.back_off(now, false);
            }
            Some((_, error)) => {
                self.requeue_partitions(&retry);
                self.handle_error(ApiKey::AddPartitionsToTxn, error, now);
            }
        }
    }

    pub(super) fn handle_txn_offset_commit(
        &mut self,
        response: &TxnOffsetCommitResponse,
        now: Instant,
    ) {
        let Some(pending) = &mut self.pending_offsets else {
            return;
        };
        let mut worst: Option<(TxnErrorAction, ResponseError)> = None;
        pending.offsets.retain(|offset| {
            let code = response
                .topics
                .iter()
                .filter(|t| t.name.0.as_str() == offset.topic)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == offset.partition)
                .map(|p| p.error_code);
            match code.map(response_error) {
                Some(None) => false,
                None => true,
                Some(Some(error)) => {
                    let action = classify_txn_error(ApiKey::TxnOffsetCommit, error);
                    if worst.is_none_or(|(w, _)| severity(action) > severity(w)) {
                        worst = Some((action, error));
                    }
                    true
                }
            }
        });
        if pending.offsets.is_empty() {
            let group_id = pending.group.group_id.clone();
            self.pending_offsets = None;
            self.attempts = 0;
            self.operation = None;
            self.events.push_back(TxnEvent::OffsetsSent { group_id });
            return;
        }
        match worst {
            Some((_, error)) => self.handle_error(ApiKey::TxnOffsetCommit, error, now),
            None => self.back_off(now, false),
        }
    }
}

/// Which of two outcomes of one response decides what happens: fencing over fatal over abortable over retry.
fn severity(action: TxnErrorAction) -> u8 {
    match action {
        TxnErrorAction::Retry => 0,
        TxnErrorAction::RetrySoon => 1,
        TxnErrorAction::RetryAfterRediscovery => 2,
        TxnErrorAction::Abortable { bump_epoch: false } => 3,
        TxnErrorAction::Abortable { bump_epoch: true } => 4,
        TxnErrorAction::Fatal => 5,
        TxnErrorAction::Fenced => 6,
    }
}
