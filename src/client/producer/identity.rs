//! The idempotent producer's identity: InitProducerId (built by `client::producer_id`), its retries, and
//! the epoch bump (KIP-360) that renumbers every unacknowledged batch.

use std::time::Instant;

use kafka_protocol::messages::InitProducerIdResponse;

use super::{ProduceError, Producer, ProducerIdState};
use crate::client::errors::{response_error, ResponseError};
use crate::client::producer_id::{init_producer_id_request, supports_epoch_bump};
use crate::client::Transmit;
use crate::protocol::record_batch::NO_PRODUCER_ID;
use crate::protocol::Request;

impl Producer {
    pub(super) fn poll_init_producer_id(&mut self, now: Instant) -> Option<Transmit> {
        if self.txn.is_some() {
            return None; // the transaction layer asks the coordinator, with the transactional id
        }
        let (bump_from, not_before) = match self.pid {
            ProducerIdState::Uninitialized { not_before } => (None, not_before),
            ProducerIdState::BumpNeeded {
                producer_id,
                epoch,
                not_before,
            } => {
                if !self.in_flight.is_empty() {
                    return None; // wait for every in-flight batch's outcome before renumbering
                }
                (Some((producer_id, epoch)), not_before)
            }
            _ => return None,
        };
        if not_before.is_some_and(|t| now < t) {
            return None;
        }
        let bumping = bump_from.is_some();
        let broker = self.metadata.any_broker();
        let bump_from =
            bump_from.filter(|_| supports_epoch_bump(self.broker_versions.get(&broker)));
        let request = init_producer_id_request(None, i32::MAX, bump_from);
        let token = self.tokens.next_token();
        self.pid = ProducerIdState::Requesting { token, bumping };
        Some(Transmit {
            broker,
            token,
            request: Request::InitProducerId(request),
            expects_response: true,
        })
    }

    pub(super) fn handle_init_producer_id(
        &mut self,
        response: &InitProducerIdResponse,
        bumping: bool,
        now: Instant,
    ) {
        match response_error(response.error_code) {
            None => {
                self.init_pid_attempts = 0;
                self.pid = ProducerIdState::Ready {
                    producer_id: response.producer_id.0,
                    epoch: response.producer_epoch,
                };
                for topic in self.topics.values_mut() {
                    for queue in topic.partitions.iter_mut() {
                        queue.reset_sequences();
                    }
                }
            }
            Some(error)
                if error.is_retriable()
                    || matches!(error, ResponseError::ConcurrentTransactions) =>
            {
                self.retry_init_producer_id(bumping, now)
            }
            Some(error) => {
                if bumping
                    && matches!(
                        error,
                        ResponseError::InvalidProducerEpoch | ResponseError::ProducerFenced
                    )
                {
                    // Our epoch is no longer known: start over with a fresh producer id.
                    self.pid = ProducerIdState::Uninitialized {
                        not_before: Some(now + self.config.common.retry_backoff),
                    };
                    return;
                }
                self.pid = ProducerIdState::Fatal;
                let reason = format!("InitProducerId failed: {error} (code {})", error.code());
                self.pid_failure = Some(reason.clone());
                self.fail_everything(ProduceError::Fatal { reason });
            }
        }
    }

    pub(super) fn retry_init_producer_id(&mut self, bumping: bool, now: Instant) {
        self.init_pid_attempts += 1;
        let not_before = Some(now + self.backoff(self.init_pid_attempts));
        self.pid = match (bumping, self.pid) {
            (true, _) => match self.last_ready_identity() {
                Some((producer_id, epoch)) => ProducerIdState::BumpNeeded {
                    producer_id,
                    epoch,
                    not_before,
                },
                None => ProducerIdState::Uninitialized { not_before },
            },
            _ => ProducerIdState::Uninitialized { not_before },
        };
    }

    /// The identity a bump starts from: sequences in batches record it.
    pub(super) fn last_ready_identity(&self) -> Option<(i64, i16)> {
        self.topics
            .values()
            .flat_map(|t| t.partitions.iter())
            .find_map(|q| q.last_identity())
            .filter(|(pid, _)| *pid != NO_PRODUCER_ID)
    }

    pub(super) fn request_epoch_bump(&mut self, not_before: Option<Instant>) {
        if let Some(txn) = &mut self.txn {
            // A transaction cannot renumber in place: its abort bumps the epoch (KIP-360).
            txn.require_epoch_bump();
            return;
        }
        match self.pid {
            ProducerIdState::Ready { producer_id, epoch } => {
                self.pid = ProducerIdState::BumpNeeded {
                    producer_id,
                    epoch,
                    not_before,
                };
            }
            ProducerIdState::Disabled
            | ProducerIdState::BumpNeeded { .. }
            | ProducerIdState::Requesting { bumping: true, .. }
            | ProducerIdState::Uninitialized { .. }
            | ProducerIdState::Requesting { .. }
            | ProducerIdState::Fatal => {}
        }
    }
}
