//! Partition choice compatible with the Java client, so keyed records land where Kafka Connect would put them.
//!
//! Keyed records: `murmur2(key) & 0x7fffffff % partitions`, Java's `BuiltInPartitioner.partitionForKey`.
//! Unkeyed records: sticky partitioning (KIP-794): stay on one partition until about `batch.size` bytes went to
//! it, then move on, so batches fill up instead of every partition getting a sliver.

/// Kafka's murmur2 (the Java client's `Utils.murmur2`), bit for bit.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len() as u32;
    let mut h: u32 = SEED ^ length;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java client picks for `key` among `partitions` partitions.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// Sticky choice for records without a key.
#[derive(Debug)]
pub struct StickyPartitioner {
    current: Option<i32>,
    bytes_on_current: usize,
    switch_after_bytes: usize,
    rng_state: u64,
}

impl StickyPartitioner {
    pub fn new(switch_after_bytes: usize, seed: u64) -> Self {
        Self {
            current: None,
            bytes_on_current: 0,
            switch_after_bytes: switch_after_bytes.max(1),
            rng_state: seed | 1,
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: enough to spread partitions; no clock or OS entropy in the sans-IO layer.
        let mut x = self.rng_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng_state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The partition for an unkeyed record of `record_bytes` among `partitions`.
    pub fn partition(&mut self, partitions: i32, record_bytes: usize) -> i32 {
        let partitions = partitions.max(1);
        let current = match self.current {
            Some(p) if p < partitions && self.bytes_on_current < self.switch_after_bytes => p,
            previous => {
                let mut next = (self.next_random() % partitions as u64) as i32;
                if partitions > 1 && Some(next) == previous {
                    next = (next + 1) % partitions;
                }
                self.current = Some(next);
                self.bytes_on_current = 0;
                next
            }
        };
        self.bytes_on_current += record_bytes;
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // The vectors of the Java client's UtilsTest.testMurmur2.
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (input, expected) in cases {
            assert_eq!(
                murmur2(input),
                *expected,
                "murmur2({:?})",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn key_partition_is_positive_modulo() {
        for key in [&b"21"[..], b"foobar", b"", b"x"] {
            let p = partition_for_key(key, 7);
            assert!((0..7).contains(&p));
            assert_eq!(p, (murmur2(key) & 0x7fffffff) % 7);
        }
    }

    #[test]
    fn sticky_partitioner_stays_then_moves() {
        let mut sticky = StickyPartitioner::new(1000, 42);
        let first = sticky.partition(4, 100);
        for _ in 0..9 {
            assert_eq!(sticky.partition(4, 100), first);
        }
        let next = sticky.partition(4, 100);
        assert_ne!(
            next, first,
            "after batch.size bytes the sticky partition changes"
        );
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            seen.insert(sticky.partition(4, 1000));
        }
        assert_eq!(seen.len(), 4, "every partition gets records over time");
    }
}
