//! Building Produce requests: one batch per partition, grouped by leader, within max.request.size and
//! max.in.flight.requests.per.connection, and only for partitions the transaction already added.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName, TransactionalId};
use kafka_protocol::protocol::StrBytes;

use super::{InFlightProduce, Producer, ProducerIdState};
use crate::client::config::Acks;
use crate::client::{BrokerId, Transmit};
use crate::protocol::Request;

impl Producer {
    pub(super) fn poll_produce(&mut self, now: Instant) -> Option<Transmit> {
        let max_in_flight = self.config.max_in_flight_per_connection;
        let producer_state = match self.pid {
            ProducerIdState::Ready { producer_id, epoch } => Some((producer_id, epoch)),
            _ => None,
        };
        // Group sendable batches by leader: one batch per partition per request, as the Java client does.
        let mut chosen_broker: Option<BrokerId> = None;
        let mut request_bytes = 0usize;
        let mut batches: Vec<(Arc<str>, i32, u64, Bytes)> = Vec::new();
        let flushing = self.outstanding.flushing;
        let transactional = self.txn.is_some();
        for topic in self.topics.values_mut() {
            for queue in topic.partitions.iter_mut() {
                let Some(leader) = self.metadata.leader(&topic.name, queue.partition()) else {
                    continue;
                };
                if let Some(b) = chosen_broker {
                    if b != leader {
                        continue;
                    }
                } else if self.in_flight_per_broker.get(&leader).copied().unwrap_or(0)
                    >= max_in_flight
                {
                    continue;
                }
                if let Some(txn) = &self.txn {
                    // AddPartitionsToTxn first: the broker rejects transactional batches of other partitions.
                    if !txn.is_partition_added(&topic.name, queue.partition()) {
                        continue;
                    }
                }
                if !queue.has_sendable(&self.config, now, flushing) {
                    continue;
                }
                let size = queue.next_sendable_size();
                if !batches.is_empty() && request_bytes + size > self.config.max_request_size_bytes
                {
                    continue;
                }
                let Some((batch_id, bytes)) =
                    queue.take_sendable(&self.config, producer_state, transactional, now)
                else {
                    continue;
                };
                chosen_broker = Some(leader);
                request_bytes += bytes.len();
                batches.push((topic.name.clone(), queue.partition(), batch_id, bytes));
            }
        }
        let broker = chosen_broker?;
        let token = self.tokens.next_token();
        let mut topic_data: Vec<TopicProduceData> = Vec::new();
        for (topic, partition, _, bytes) in &batches {
            let data = PartitionProduceData::default()
                .with_index(*partition)
                .with_records(Some(bytes.clone()));
            match topic_data
                .iter_mut()
                .find(|t| t.name.0.as_str() == &**topic)
            {
                Some(t) => t.partition_data.push(data),
                None => topic_data.push(
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                        .with_partition_data(vec![data]),
                ),
            }
        }
        let timeout_ms = self
            .config
            .common
            .request_timeout
            .as_millis()
            .min(i32::MAX as u128) as i32;
        let request = ProduceRequest::default()
            .with_transactional_id(self.txn.as_ref().map(|txn| {
                TransactionalId(StrBytes::from_string(txn.transactional_id().to_owned()))
            }))
            .with_acks(self.config.acks.as_i16())
            .with_timeout_ms(timeout_ms)
            .with_topic_data(topic_data);
        let expects_response = self.config.acks != Acks::None;
        let batch_refs: Vec<(Arc<str>, i32, u64)> = batches
            .into_iter()
            .map(|(t, p, id, _)| (t, p, id))
            .collect();
        if expects_response {
            *self.in_flight_per_broker.entry(broker).or_default() += 1;
            self.in_flight.insert(
                token,
                InFlightProduce {
                    broker,
                    batches: batch_refs,
                },
            );
        } else {
            // acks=0: the broker never answers; the batches count as delivered once handed to the connection.
            for (topic, partition, batch_id) in batch_refs {
                self.complete_batch(&topic, partition, batch_id, -1, -1);
            }
        }
        Some(Transmit {
            broker,
            token,
            request: Request::Produce(request),
            expects_response,
        })
    }
}
