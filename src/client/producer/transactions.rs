//! The producer's side of transactions: each operation checks the transaction layer's state at once and
//! finishes with a `ProducerEvent::Transaction`; the producer carries out what the layer decides (a new
//! producer id, dropped batches, a fatal error) and tells it about failed batches.

use std::sync::Arc;

use kafka_protocol::messages::ApiKey;

use super::{held_bytes, ProduceError, Producer, ProducerEvent, ProducerIdState};
use crate::client::errors::ResponseError;
use crate::client::txn::{
    ConsumerGroupMetadata, TransactionManager, TxnEffect, TxnError, TxnEvent, TxnOffset, TxnState,
};
use crate::client::BrokerId;

impl Producer {
    pub fn is_transactional(&self) -> bool {
        self.txn.is_some()
    }

    /// The transaction layer's state (`None` without `transactional.id`).
    pub fn transaction_state(&self) -> Option<&TxnState> {
        self.txn.as_ref().map(TransactionManager::state)
    }

    pub fn transaction_manager(&self) -> Option<&TransactionManager> {
        self.txn.as_ref()
    }

    pub(super) fn txn_operation(
        &mut self,
        operation: impl FnOnce(&mut TransactionManager) -> Result<(), TxnError>,
    ) -> Result<(), TxnError> {
        let txn = self.txn.as_mut().ok_or(TxnError::NotTransactional)?;
        operation(txn)?;
        self.apply_txn_effects();
        Ok(())
    }

    /// Finds the transaction coordinator and gets the producer id and epoch for `transactional.id`, fencing
    /// any older producer with the same id. Finishes with `TxnEvent::Initialized`.
    pub fn init_transactions(&mut self) -> Result<(), TxnError> {
        self.txn_operation(TransactionManager::init_transactions)
    }

    /// Opens a transaction (no request: the first record of each partition adds it).
    pub fn begin_transaction(&mut self) -> Result<(), TxnError> {
        self.txn_operation(TransactionManager::begin_transaction)
    }

    /// Commits consumed offsets as part of the transaction (KIP-447). Finishes with `TxnEvent::OffsetsSent`.
    pub fn send_offsets_to_transaction(
        &mut self,
        offsets: Vec<TxnOffset>,
        group: ConsumerGroupMetadata,
    ) -> Result<(), TxnError> {
        self.txn_operation(|txn| txn.send_offsets_to_transaction(offsets, group))
    }

    /// Sends every record of the transaction, then EndTxn(commit). Finishes with `TransactionCommitted`.
    pub fn commit_transaction(&mut self) -> Result<(), TxnError> {
        self.txn_operation(TransactionManager::commit_transaction)?;
        self.flush();
        Ok(())
    }

    /// Drops records not sent yet (they fail with `TxnError::Aborted`), waits for batches in flight, then
    /// EndTxn(abort). Finishes with `TransactionAborted`.
    pub fn abort_transaction(&mut self) -> Result<(), TxnError> {
        self.txn_operation(TransactionManager::abort_transaction)
    }

    /// Fails batches the transaction layer says will not be sent (abort, or a transaction that cannot commit).
    pub(super) fn drop_unsent_batches(&mut self) {
        let Some(error) = self.txn.as_ref().and_then(|t| t.unsent_batches_error()) else {
            return;
        };
        let error = ProduceError::Transaction(error);
        let mut unsent: Vec<(Arc<str>, i32, u64)> = Vec::new();
        for topic in self.topics.values_mut() {
            while let Some(p) = topic.pending.pop_front() {
                self.outstanding.settle(1, held_bytes(p.size_bytes));
                self.events.push_back(ProducerEvent::Failed {
                    record_ids: vec![p.id],
                    error: error.clone(),
                });
            }
            for queue in topic.partitions.iter_mut() {
                for id in queue.unsent_batch_ids() {
                    unsent.push((topic.name.clone(), queue.partition(), id));
                }
            }
        }
        for (topic, partition, id) in unsent {
            self.fail_batch(&topic, partition, id, error.clone());
        }
    }

    /// Carries out what the transaction layer decided and passes its events on.
    pub(super) fn apply_txn_effects(&mut self) {
        self.drop_unsent_batches();
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        let effects: Vec<TxnEffect> = std::iter::from_fn(|| txn.poll_effect()).collect();
        let events: Vec<TxnEvent> = std::iter::from_fn(|| txn.poll_event()).collect();
        for effect in effects {
            match effect {
                TxnEffect::ProducerId { producer_id, epoch } => {
                    self.pid = ProducerIdState::Ready { producer_id, epoch };
                    for topic in self.topics.values_mut() {
                        for queue in topic.partitions.iter_mut() {
                            queue.reset_sequences();
                        }
                    }
                }
                TxnEffect::Fatal(error) => {
                    self.pid = ProducerIdState::Fatal;
                    self.pid_failure = Some(error.to_string());
                    self.fail_everything(ProduceError::Transaction(error));
                }
            }
        }
        self.events
            .extend(events.into_iter().map(ProducerEvent::Transaction));
    }

    /// A broker to look coordinators up at: one whose FindCoordinator version is known (the request's
    /// shape depends on it), real brokers before bootstrap servers, rotating with the attempts.
    pub(super) fn coordinator_lookup_broker(&self) -> Option<(BrokerId, i16)> {
        let mut known: Vec<(BrokerId, i16)> = self
            .broker_versions
            .iter()
            .filter(|(b, _)| self.metadata.broker_address(**b).is_some())
            .filter_map(|(b, v)| v.negotiate(ApiKey::FindCoordinator).ok().map(|v| (*b, v)))
            .collect();
        known.sort_by_key(|(b, _)| (*b < 0, b.abs()));
        known.first().copied()
    }

    /// A batch of the transaction failed with `error`: the transaction layer classifies it (abortable, or
    /// fatal when fenced) before the batch's records fail.
    pub(super) fn fail_in_transaction(
        &mut self,
        topic: &Arc<str>,
        partition: i32,
        batch_id: u64,
        error: ResponseError,
    ) {
        if let Some(txn) = &mut self.txn {
            txn.on_produce_error(error);
        }
        let failure = ProduceError::Broker {
            topic: topic.to_string(),
            partition,
            error,
        };
        self.fail_batch(topic, partition, batch_id, failure);
    }
}
