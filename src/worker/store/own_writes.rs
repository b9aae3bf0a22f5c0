//! Which keys of a topic this store wrote and has not read back yet, so a store that updates its local view
//! at once does not let the read-back of an older write of its own undo a newer one.
//!
//! Each write is counted when sent and uncounted when read back (or when it failed, as it will never be read).
//! A record read while later writes of the same key are still on their way is not applied: one of those
//! comes after it. Once none is on its way, every record read is applied, so the view ends as the topic does.

use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(super) struct OwnWrites {
    pending: BTreeMap<Vec<u8>, u32>,
}

impl OwnWrites {
    pub(super) fn sent(&mut self, key: &[u8]) {
        *self.pending.entry(key.to_vec()).or_default() += 1;
    }

    /// A sent record of `key` will never be read back.
    pub(super) fn failed(&mut self, key: &[u8]) {
        self.uncount(key);
    }

    /// Whether a record of `key` just read is to be applied to the view.
    pub(super) fn read_back(&mut self, key: &[u8]) -> bool {
        self.uncount(key) == 0
    }

    /// The writes of `key` still on their way after one less.
    fn uncount(&mut self, key: &[u8]) -> u32 {
        let Some(count) = self.pending.get_mut(key) else {
            return 0;
        };
        *count = count.saturating_sub(1);
        let left = *count;
        if left == 0 {
            self.pending.remove(key);
        }
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_write_of_a_key_is_applied_when_read_back() {
        let mut own = OwnWrites::default();
        own.sent(b"k");
        own.sent(b"k");
        assert!(
            !own.read_back(b"k"),
            "the first of two is older than the view"
        );
        assert!(own.read_back(b"k"));
        assert!(
            own.read_back(b"k"),
            "another worker's record, none of ours on its way"
        );
        own.sent(b"k");
        own.sent(b"k");
        own.failed(b"k");
        assert!(own.read_back(b"k"));
        assert!(own.read_back(b"other"));
    }
}
