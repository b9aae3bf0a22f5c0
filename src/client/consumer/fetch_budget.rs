//! How much fetched data the consumer holds, so that it never holds more than `fetch.max.bytes` however
//! long the application leaves its records untaken.
//!
//! A fetch response arrives as one buffer and the records handed out are slices of it (or of a compressed
//! batch's decompressed buffer), so a response's memory lives as long as any record made from it: a
//! response is counted whole until the last event made from it is taken, and each queued event's
//! decompressed buffers on top. A fetch in flight counts what its response may bring (its `max_bytes`, and no
//! more than `max.partition.fetch.bytes` per partition it asks for). A fetch is sent only while the sum is
//! below the limit, and asks for no more than what is left. A broker returns the first batch of a partition
//! whole even when it is larger than the request allows (KIP-74), so the limit can be passed by one batch
//! and no further. What the application holds of the records it took is bounded by the application (the
//! engine's `queue.max.bytes`).

use std::collections::BTreeMap;

use crate::client::RequestToken;

/// The bytes of fetched data the consumer holds and expects, against its limit.
#[derive(Debug)]
pub(super) struct FetchBudget {
    limit_bytes: usize,
    /// Responses some queued event was made from.
    responses: BTreeMap<RequestToken, HeldResponse>,
    /// Bytes of those responses and of their queued events' decompressed buffers.
    held_bytes: usize,
    /// What the fetches in flight may bring.
    reserved_bytes: usize,
}

#[derive(Debug)]
struct HeldResponse {
    bytes: usize,
    queued_events: usize,
}

/// What one queued event holds: a share of its response and its own decompressed buffers.
#[derive(Debug)]
pub(super) struct EventHold {
    response: RequestToken,
    decompressed_bytes: usize,
}

impl FetchBudget {
    pub(super) fn new(limit_bytes: usize) -> Self {
        Self {
            limit_bytes,
            responses: BTreeMap::new(),
            held_bytes: 0,
            reserved_bytes: 0,
        }
    }

    /// The most the next fetch may bring; 0 when nothing may be fetched now.
    pub(super) fn available_bytes(&self) -> usize {
        self.limit_bytes
            .saturating_sub(self.held_bytes.saturating_add(self.reserved_bytes))
    }

    /// A fetch that may bring `bytes` was sent.
    pub(super) fn reserve(&mut self, bytes: usize) {
        self.reserved_bytes = self.reserved_bytes.saturating_add(bytes);
    }

    /// A fetch that reserved `bytes` was answered or failed.
    pub(super) fn end_reservation(&mut self, bytes: usize) {
        self.reserved_bytes = self.reserved_bytes.saturating_sub(bytes);
    }

    /// An event made from the response to `response` (whose records take `response_bytes`), with
    /// `decompressed_bytes` of its own, is queued.
    pub(super) fn hold(
        &mut self,
        response: RequestToken,
        response_bytes: usize,
        decompressed_bytes: usize,
    ) -> EventHold {
        let held = self.responses.entry(response).or_insert_with(|| {
            self.held_bytes = self.held_bytes.saturating_add(response_bytes);
            HeldResponse {
                bytes: response_bytes,
                queued_events: 0,
            }
        });
        held.queued_events += 1;
        self.held_bytes = self.held_bytes.saturating_add(decompressed_bytes);
        EventHold {
            response,
            decompressed_bytes,
        }
    }

    /// The event that held `hold` was taken: its records are the application's now.
    pub(super) fn release(&mut self, hold: EventHold) {
        self.held_bytes = self.held_bytes.saturating_sub(hold.decompressed_bytes);
        if let Some(held) = self.responses.get_mut(&hold.response) {
            held.queued_events = held.queued_events.saturating_sub(1);
            if held.queued_events == 0 {
                self.held_bytes = self.held_bytes.saturating_sub(held.bytes);
                self.responses.remove(&hold.response);
            }
        }
    }

    /// Bytes of fetched data in queued events.
    pub(super) fn held_bytes(&self) -> usize {
        self.held_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_counts_until_its_last_event_is_taken() {
        let mut budget = FetchBudget::new(1000);
        budget.reserve(600);
        assert_eq!(budget.available_bytes(), 400);
        budget.end_reservation(600);
        let first = budget.hold(RequestToken(7), 500, 0);
        let second = budget.hold(RequestToken(7), 500, 100);
        assert_eq!(
            budget.held_bytes(),
            600,
            "the response once, the decompressed buffer on top"
        );
        budget.release(first);
        assert_eq!(
            budget.held_bytes(),
            600,
            "the second event still holds the response"
        );
        budget.release(second);
        assert_eq!(budget.held_bytes(), 0);
        assert_eq!(budget.available_bytes(), 1000);
    }

    #[test]
    fn nothing_is_available_past_the_limit() {
        let mut budget = FetchBudget::new(1000);
        let hold = budget.hold(RequestToken(1), 1500, 0);
        assert_eq!(
            budget.available_bytes(),
            0,
            "one batch larger than the limit"
        );
        budget.release(hold);
        assert_eq!(budget.available_bytes(), 1000);
    }
}
