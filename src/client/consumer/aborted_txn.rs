//! read_committed filtering of one fetched partition: which transactional batches belong to aborted
//! transactions and must not reach the user.
//!
//! The broker's fetch response lists, for the fetched range, each aborted transaction as (producer id, first
//! offset). A producer's transaction is aborted from its first offset until that producer's abort marker (a
//! control batch); batches of that producer in between are dropped. This mirrors the Java consumer: walking
//! batches in offset order, every aborted transaction whose first offset is at or before the batch's last
//! offset opens an aborted range for its producer, and an abort marker closes it. Control batches themselves are
//! never delivered, in either isolation level; that is the caller's rule, not this filter's.

use std::collections::HashSet;

use kafka_protocol::messages::fetch_response::AbortedTransaction;

use crate::protocol::record_batch::{ControlRecordType, RecordBatch};

/// Tracks aborted transactions across the batches of one partition's fetch response.
#[derive(Debug, Default, Clone)]
pub struct AbortedTxnFilter {
    /// Aborted transactions not yet reached, as (first offset, producer id), sorted so the lowest first offset
    /// is at the end (popped first).
    upcoming: Vec<(i64, i64)>,
    /// Producers whose aborted range the walk is inside.
    aborted_producers: HashSet<i64>,
}

impl AbortedTxnFilter {
    /// A filter for one partition of a fetch response (its `aborted_transactions`, absent = none).
    pub fn new(aborted: &[AbortedTransaction]) -> Self {
        Self::from_ranges(aborted.iter().map(|t| (t.producer_id.0, t.first_offset)))
    }

    /// A filter from (producer id, first offset) pairs.
    pub fn from_ranges(aborted: impl IntoIterator<Item = (i64, i64)>) -> Self {
        let mut upcoming: Vec<(i64, i64)> = aborted
            .into_iter()
            .map(|(producer_id, first_offset)| (first_offset, producer_id))
            .collect();
        upcoming.sort_unstable_by(|a, b| b.cmp(a));
        Self {
            upcoming,
            aborted_producers: HashSet::new(),
        }
    }

    /// Whether the records of `batch` must be skipped: true for a batch of an aborted transaction and for
    /// every control batch (after noting an abort marker). Batches must be given in offset order.
    pub fn skip_batch(&mut self, batch: &RecordBatch) -> bool {
        let marker = if batch.is_control() {
            Some(control_marker(batch))
        } else {
            None
        };
        self.skip(
            batch.last_offset(),
            batch.producer_id(),
            batch.is_transactional(),
            marker,
        )
    }

    /// The decision of [`skip_batch`](Self::skip_batch) from a batch's header fields; `control` is the marker
    /// type of a control batch, `None` for a data batch.
    pub fn skip(
        &mut self,
        last_offset: i64,
        producer_id: i64,
        is_transactional: bool,
        control: Option<ControlRecordType>,
    ) -> bool {
        if producer_id >= 0 {
            while let Some(&(first_offset, aborted_producer)) = self.upcoming.last() {
                if first_offset > last_offset {
                    break;
                }
                self.aborted_producers.insert(aborted_producer);
                self.upcoming.pop();
            }
        }
        match control {
            Some(marker) => {
                if marker == ControlRecordType::Abort {
                    self.aborted_producers.remove(&producer_id);
                }
                true
            }
            None => is_transactional && self.aborted_producers.contains(&producer_id),
        }
    }
}

/// The marker type of a control batch, read from its first record's key. A control batch that cannot be read is
/// treated as an unknown kind: it is skipped but does not close an aborted range.
fn control_marker(batch: &RecordBatch) -> ControlRecordType {
    batch
        .record_refs()
        .ok()
        .and_then(|mut records| records.next())
        .and_then(Result::ok)
        .and_then(|record| record.key)
        .and_then(|key| ControlRecordType::from_control_record_key(key).ok())
        .unwrap_or(ControlRecordType::Other(-1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABORT: Option<ControlRecordType> = Some(ControlRecordType::Abort);
    const COMMIT: Option<ControlRecordType> = Some(ControlRecordType::Commit);

    #[test]
    fn batches_of_an_aborted_producer_are_skipped_until_its_abort_marker() {
        let mut filter = AbortedTxnFilter::from_ranges([(7, 10)]);
        assert!(!filter.skip(9, 7, true, None), "before the aborted range");
        assert!(filter.skip(12, 7, true, None), "inside the aborted range");
        assert!(!filter.skip(13, 8, true, None), "another producer");
        assert!(!filter.skip(14, 9, false, None), "not transactional");
        assert!(filter.skip(15, 7, true, ABORT), "the marker itself");
        assert!(!filter.skip(20, 7, true, None), "a later transaction");
    }

    #[test]
    fn a_range_opens_when_a_batch_reaches_its_first_offset() {
        // The aborted transaction starts inside a batch of another producer.
        let mut filter = AbortedTxnFilter::from_ranges([(7, 5), (8, 30)]);
        assert!(!filter.skip(6, 1, false, None));
        assert!(filter.skip(9, 7, true, None));
        assert!(
            !filter.skip(12, 8, true, None),
            "producer 8 aborts only from 30"
        );
        assert!(filter.skip(31, 8, true, None));
    }

    #[test]
    fn control_batches_are_always_skipped_and_commit_keeps_ranges() {
        let mut filter = AbortedTxnFilter::from_ranges([(7, 0)]);
        assert!(filter.skip(1, 7, true, COMMIT));
        assert!(
            filter.skip(2, 7, true, None),
            "a commit marker does not end an abort range"
        );
        assert!(filter.skip(3, 7, true, Some(ControlRecordType::Other(4))));
    }
}
