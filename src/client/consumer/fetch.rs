//! Fetching: one Fetch in flight per leader with every ready partition it leads (rotating their order),
//! within what the fetch budget leaves, and the records of each partition's answer, delivered in order past
//! the position (read_committed filtering, end-of-partition, corrupt data).

use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{ApiKey, BrokerId as NodeId, FetchRequest, FetchResponse};

use super::{
    topic_name, AbortedTxnFilter, Consumer, ConsumerError, ConsumerEvent, FetchInFlight, Phase,
    QueuedEvent, TopicPartition,
};
use crate::client::config::IsolationLevel;
use crate::client::errors::response_error;
use crate::client::{BrokerId, RequestToken, Transmit, TransportError};
use crate::protocol::record_batch::RecordBatchIter;
use crate::protocol::ProtocolError;
use crate::protocol::Request;

/// What a fetch response holds besides record batches, at most: its header, topic and partition fields, and
/// aborted-transaction lists (librdkafka keeps 512 bytes; a response for many partitions needs more).
const FETCH_OVERHEAD_BYTES: usize = 64 * 1024;

impl Consumer {
    pub(super) fn next_fetch(&mut self, now: Instant) -> Option<Transmit> {
        // A response must fit in one frame (message.max.bytes): ask for no more than that, leaving room for the
        // response's own fields, as librdkafka requires receive.message.max.bytes >= fetch.max.bytes + 512.
        let frame_room = i32::try_from(
            self.config
                .common
                .max_frame_bytes
                .saturating_sub(FETCH_OVERHEAD_BYTES),
        )
        .unwrap_or(i32::MAX)
        .max(1);
        // What the response may bring: a caller that leaves its records untaken stops the fetching here.
        let max_bytes = i32::try_from(self.budget.available_bytes())
            .unwrap_or(i32::MAX)
            .min(self.config.fetch_max_bytes)
            .min(frame_room);
        if max_bytes <= 0 {
            return None;
        }
        let partition_max_bytes = self.config.max_partition_fetch_bytes.min(max_bytes);
        let ready: Vec<(TopicPartition, i64)> = self
            .partitions
            .iter()
            .filter(|(_, s)| s.phase == Phase::Fetching && s.fetch_in_flight.is_none())
            .filter(|(_, s)| s.queued_records == 0 && s.ready(now))
            .map(|(tp, s)| (tp.clone(), s.position))
            .collect();
        if ready.is_empty() {
            return None;
        }
        // A leader some of whose partitions still have records waiting to be taken gets its next fetch once
        // they are taken, so that fetch asks for them too. Fetching the others at once would leave those
        // partitions out until that fetch returns: a record arriving there meanwhile would wait up to
        // `fetch.max.wait.ms` (as Java's consumer, which sends fetches after handing out what it buffered).
        let waiting: Vec<TopicPartition> = self
            .partitions
            .iter()
            .filter(|(_, s)| {
                s.phase == Phase::Fetching
                    && !s.paused
                    && s.fetch_in_flight.is_none()
                    && s.queued_records > 0
            })
            .map(|(tp, _)| tp.clone())
            .collect();
        let waiting_leaders: Vec<BrokerId> = waiting
            .iter()
            .filter_map(|tp| Some(self.leader(tp)?.0))
            .collect();
        let ready: Vec<(TopicPartition, i64)> = if waiting_leaders.is_empty() {
            ready
        } else {
            ready
                .into_iter()
                .filter(|(tp, _)| {
                    self.leader(tp)
                        .is_none_or(|(leader, _)| !waiting_leaders.contains(&leader))
                })
                .collect()
        };
        if ready.is_empty() {
            return None;
        }
        let start = self.fetch_rotation % ready.len();
        let mut chosen: Option<BrokerId> = None;
        let mut topics: Vec<FetchTopic> = Vec::new();
        let mut partitions = Vec::new();
        for (tp, position) in ready[start..].iter().chain(&ready[..start]) {
            let Some((leader, leader_epoch)) = self.leader(tp) else {
                continue;
            };
            if self.fetches.values().any(|f| f.broker == leader)
                || self.throttled_until.get(&leader).is_some_and(|t| now < *t)
            {
                continue;
            }
            if *chosen.get_or_insert(leader) != leader {
                continue;
            }
            let partition = FetchPartition::default()
                .with_partition(tp.partition)
                .with_current_leader_epoch(leader_epoch)
                .with_fetch_offset(*position)
                .with_partition_max_bytes(partition_max_bytes);
            match topics.iter_mut().find(|t| t.topic.0.as_str() == tp.topic) {
                Some(topic) => topic.partitions.push(partition),
                None => topics.push(
                    FetchTopic::default()
                        .with_topic(topic_name(&tp.topic))
                        .with_partitions(vec![partition]),
                ),
            }
            partitions.push((tp.clone(), *position));
        }
        let broker = chosen?;
        self.fetch_rotation = self.fetch_rotation.wrapping_add(1);
        let token = self.tokens.next_token();
        for (tp, _) in &partitions {
            if let Some(state) = self.partitions.get_mut(tp) {
                state.fetch_in_flight = Some(token);
            }
        }
        let reserved_bytes = usize::try_from(max_bytes).unwrap_or(0).min(
            usize::try_from(partition_max_bytes)
                .unwrap_or(0)
                .saturating_mul(partitions.len()),
        );
        self.budget.reserve(reserved_bytes);
        self.fetches.insert(
            token,
            FetchInFlight {
                broker,
                partitions,
                reserved_bytes,
            },
        );
        let max_wait_ms = i32::try_from(self.config.fetch_max_wait.as_millis()).unwrap_or(i32::MAX);
        let request = FetchRequest::default()
            .with_replica_id(NodeId(-1))
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(self.config.fetch_min_bytes)
            .with_max_bytes(max_bytes)
            .with_isolation_level(self.config.isolation_level.as_i8())
            .with_topics(topics);
        Some(Transmit {
            broker,
            token,
            request: Request::Fetch(request),
            expects_response: true,
        })
    }

    /// Clears the in-flight mark of `tp`, returning whether the fetched data still applies to it (same fetch,
    /// same position, still fetching, not paused).
    pub(super) fn take_fetched(
        &mut self,
        tp: &TopicPartition,
        token: RequestToken,
        fetch_offset: i64,
    ) -> bool {
        let Some(state) = self.partitions.get_mut(tp) else {
            return false;
        };
        if state.fetch_in_flight != Some(token) {
            return false;
        }
        state.fetch_in_flight = None;
        state.phase == Phase::Fetching && state.position == fetch_offset && !state.paused
    }

    pub(super) fn fetch_failed(
        &mut self,
        token: RequestToken,
        in_flight: FetchInFlight,
        error: Option<&TransportError>,
        now: Instant,
    ) {
        for (tp, offset) in &in_flight.partitions {
            if !self.take_fetched(tp, token, *offset) {
                continue;
            }
            match error {
                // The requests ask for less than the limit, so one record batch there is larger than it: the
                // same fetch would fail the same way forever.
                Some(TransportError::Protocol {
                    error:
                        ProtocolError::FrameTooLarge {
                            claimed_bytes,
                            max_bytes,
                        },
                    ..
                }) => self.fail_partition(
                    tp,
                    ConsumerError::ResponseTooLarge {
                        offset: *offset,
                        bytes: *claimed_bytes,
                        max_bytes: *max_bytes,
                    },
                ),
                _ => self.retry_later(tp, true, now),
            }
        }
    }

    pub(super) fn handle_fetch_response(
        &mut self,
        token: RequestToken,
        in_flight: FetchInFlight,
        response: &FetchResponse,
        now: Instant,
    ) {
        if let Ok(throttle_ms) = u64::try_from(response.throttle_time_ms) {
            if throttle_ms > 0 {
                let until = now + Duration::from_millis(throttle_ms);
                self.throttled_until.insert(in_flight.broker, until);
            }
        }
        let top_level_error = response_error(response.error_code);
        // The records are slices of one buffer, alive while any event made from it is queued.
        let response_bytes: usize = response
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter_map(|p| p.records.as_ref())
            .map(|records| records.len())
            .sum();
        for (tp, fetch_offset) in &in_flight.partitions {
            if !self.take_fetched(tp, token, *fetch_offset) {
                continue;
            }
            if let Some(error) = top_level_error {
                self.partition_error(tp, ApiKey::Fetch, error, now);
                continue;
            }
            let data = response
                .responses
                .iter()
                .filter(|t| t.topic.0.as_str() == tp.topic)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == tp.partition);
            // A partition missing from the response (e.g. the broker ran out of fetch.max.bytes) is fetched
            // again.
            if let Some(data) = data {
                self.handle_partition_data(tp, data, (token, response_bytes), now);
            }
        }
    }

    pub(super) fn handle_partition_data(
        &mut self,
        tp: &TopicPartition,
        data: &PartitionData,
        (response, response_bytes): (RequestToken, usize),
        now: Instant,
    ) {
        if let Some(error) = response_error(data.error_code) {
            return self.partition_error(tp, ApiKey::Fetch, error, now);
        }
        let read_committed = self.config.isolation_level == IsolationLevel::ReadCommitted;
        let max_partition_fetch_bytes = self.config.max_partition_fetch_bytes;
        let check_crcs = self.config.check_crcs;
        let Some(state) = self.partitions.get_mut(tp) else {
            return;
        };
        state.attempts = 0;
        state.fetch_answers += 1;
        if data.high_watermark >= 0 {
            state.high_watermark = Some(data.high_watermark);
        }
        if data.last_stable_offset >= 0 {
            state.last_stable_offset = Some(data.last_stable_offset);
        }
        if data.log_start_offset >= 0 {
            state.log_start_offset = Some(data.log_start_offset);
        }

        let records_bytes = data.records.clone().unwrap_or_default();
        let fetched_bytes = records_bytes.len();
        let mut filter = read_committed.then(|| {
            AbortedTxnFilter::new(data.aborted_transactions.as_deref().unwrap_or_default())
        });
        let mut position = state.position;
        let mut records = Vec::new();
        let mut whole_batches = 0usize;
        let mut decompressed_bytes = 0usize;
        let mut failure = None;
        let mut batches = RecordBatchIter::new(records_bytes).with_crc_check(check_crcs);
        'batches: for batch in &mut batches {
            let batch = match batch {
                Ok(batch) => batch,
                Err(source) => {
                    failure = Some(ConsumerError::Corrupt {
                        offset: position,
                        source,
                    });
                    break;
                }
            };
            whole_batches += 1;
            if batch.next_offset() <= position {
                continue; // entirely before the position (already delivered)
            }
            let skip = match filter.as_mut() {
                Some(filter) => filter.skip_batch(&batch),
                None => batch.is_control(),
            };
            if !skip {
                let batch_records = match batch.records() {
                    Ok(iter) => iter,
                    Err(source) => {
                        failure = Some(ConsumerError::Corrupt {
                            offset: position,
                            source,
                        });
                        break;
                    }
                };
                decompressed_bytes += batch.decompressed_bytes();
                for record in batch_records {
                    match record {
                        // A fetch returns the whole batch holding the fetch offset; a compressed batch starts
                        // before it: records below the position were delivered already.
                        Ok(record) if record.offset < position => {}
                        Ok(record) => {
                            position = record.offset.saturating_add(1);
                            records.push(record);
                        }
                        Err(source) => {
                            failure = Some(ConsumerError::Corrupt {
                                offset: position,
                                source,
                            });
                            break 'batches;
                        }
                    }
                }
            }
            // Compaction may have removed the batch's last records; its next offset still follows them.
            position = position.max(batch.next_offset());
        }
        if failure.is_none() && whole_batches == 0 && batches.unread_bytes() > 0 {
            failure = Some(ConsumerError::NoCompleteBatch {
                offset: position,
                bytes: fetched_bytes,
                max_partition_fetch_bytes,
            });
        }

        state.position = position;
        let end = if read_committed {
            state.last_stable_offset.or(state.high_watermark)
        } else {
            state.high_watermark
        };
        let eof = failure.is_none()
            && end.is_some_and(|end| position >= end)
            && state.eof_reported_at != Some(position);
        if eof {
            state.eof_reported_at = Some(position);
        }
        if !records.is_empty() {
            state.queued_records += 1;
            let hold = self
                .budget
                .hold(response, response_bytes, decompressed_bytes);
            self.events.push_back(QueuedEvent {
                event: ConsumerEvent::Records {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    records,
                },
                hold: Some((tp.clone(), hold)),
            });
        }
        if let Some(error) = failure {
            self.fail_partition(tp, error);
        } else if eof {
            self.queue_event(ConsumerEvent::PartitionEof {
                topic: tp.topic.clone(),
                partition: tp.partition,
                offset: position,
            });
        }
    }
}
