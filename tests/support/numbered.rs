//! Numbered records: what the fault tests send, so that what comes back can be checked record by record.

use std::collections::BTreeMap;
use std::ops::Range;

use super::peers::{ConsumedRecord, PeerRecord};

/// How many distinct keys numbered records cycle through.
pub const NUMBERED_KEYS: usize = 64;

/// Record `i`: key `k<i % NUMBERED_KEYS>`, value the zero-padded record number.
pub fn numbered_record(i: usize) -> (String, String) {
    (format!("k{}", i % NUMBERED_KEYS), format!("{i:08}"))
}

/// Records `range` as `engine produce -K :` reads them: `key:value` lines.
pub fn numbered_key_value_lines(range: Range<usize>) -> String {
    let mut lines = String::new();
    for i in range {
        let (key, value) = numbered_record(i);
        lines.push_str(&key);
        lines.push(':');
        lines.push_str(&value);
        lines.push('\n');
    }
    lines
}

/// Records `range` as a peer producer (`spawn_ck_produce`) reads them: `PeerRecord` JSON lines.
pub fn numbered_json_lines(range: Range<usize>) -> String {
    let mut lines = String::new();
    for i in range {
        let (key, value) = numbered_record(i);
        lines.push_str(
            &PeerRecord::new(Some(key.as_bytes()), Some(value.as_bytes())).to_json_line(),
        );
        lines.push('\n');
    }
    lines
}

/// Every record 0..records exactly once; within each partition, record numbers rise with offsets (the
/// producer sent them in that order); every key stays in one partition.
pub fn assert_exactly_once_in_order(read: &[ConsumedRecord], records: usize) {
    let mut copies = vec![0u32; records];
    let mut last_in_partition: BTreeMap<i32, (i64, usize)> = BTreeMap::new();
    let mut partition_of_key: BTreeMap<String, i32> = BTreeMap::new();
    let mut order_violations = Vec::new();
    for r in read {
        let key = String::from_utf8(r.key.clone().expect("key")).unwrap();
        let value = String::from_utf8(r.value.clone().expect("value")).unwrap();
        let i: usize = value
            .parse()
            .unwrap_or_else(|_| panic!("value {value:?} is not a record number"));
        assert!(i < records, "record {i} was never sent");
        assert_eq!(numbered_record(i).0, key, "record {i} has the wrong key");
        copies[i] += 1;
        let partition = *partition_of_key.entry(key.clone()).or_insert(r.partition);
        assert_eq!(
            partition, r.partition,
            "key {key} in partitions {partition} and {}",
            r.partition
        );
        if let Some((offset, previous)) = last_in_partition.insert(r.partition, (r.offset, i)) {
            if previous >= i {
                order_violations.push(format!(
                    "partition {}: record {i} at offset {} after record {previous} at offset {offset}",
                    r.partition, r.offset
                ));
            }
        }
    }
    let missing: Vec<usize> = (0..records).filter(|&i| copies[i] == 0).collect();
    let duplicated: Vec<(usize, u32)> = (0..records)
        .filter(|&i| copies[i] > 1)
        .map(|i| (i, copies[i]))
        .collect();
    assert!(
        missing.is_empty() && duplicated.is_empty() && order_violations.is_empty(),
        "{} missing (first: {:?}), {} duplicated (first: {:?}), {} out of order (first: {:?})",
        missing.len(),
        &missing[..missing.len().min(10)],
        duplicated.len(),
        &duplicated[..duplicated.len().min(10)],
        order_violations.len(),
        &order_violations[..order_violations.len().min(5)],
    );
}
