//! Arbitrary bytes as a fetch response's `records`: iterating every batch, record and header must never
//! panic, and never allocate more than the decompression bound.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pipewright::protocol::record_batch::{ControlRecordType, RecordBatchIter};

const MAX_DECOMPRESSED_BATCH_BYTES: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let batches = RecordBatchIter::new(Bytes::copy_from_slice(data))
        .with_max_decompressed_batch_bytes(MAX_DECOMPRESSED_BATCH_BYTES);
    for batch in batches {
        let Ok(batch) = batch else { break };
        let _ = (batch.last_offset(), batch.next_offset(), batch.attributes());
        if let Ok(records) = batch.records() {
            for record in records {
                let Ok(record) = record else { break };
                if batch.is_control() {
                    if let Some(key) = &record.key {
                        let _ = ControlRecordType::from_control_record_key(key);
                    }
                }
                for header in record.headers.iter() {
                    if header.is_err() {
                        break;
                    }
                }
            }
        }
        if let Ok(records) = batch.record_refs() {
            for record in records {
                let Ok(record) = record else { break };
                for header in record.headers {
                    if header.is_err() {
                        break;
                    }
                }
            }
        }
    }
});
