//! A Fetch response frame (version from the first byte, within `client_range`) decoded, then every partition's
//! records read as the consumer reads them: the aborted-transaction filter, every batch, record and header.
//! Never panics; allocation stays near the frame size plus the decompression bound.
#![no_main]

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use libfuzzer_sys::fuzz_target;
use pipewright::client::consumer::AbortedTxnFilter;
use pipewright::protocol::frame::decode_response;
use pipewright::protocol::record_batch::{ControlRecordType, RecordBatchIter};
use pipewright::protocol::versions::client_range;
use pipewright::protocol::Response;

const MAX_DECOMPRESSED_BATCH_BYTES: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let [version_byte, frame @ ..] = data else {
        return;
    };
    let (min, max) = client_range(ApiKey::Fetch).expect("the client fetches");
    let version = min + i16::from(version_byte % (max - min + 1) as u8);
    let Ok((_, Response::Fetch(response))) =
        decode_response(ApiKey::Fetch, version, Bytes::copy_from_slice(frame))
    else {
        return;
    };
    for topic in &response.responses {
        for partition in &topic.partitions {
            let mut filter = AbortedTxnFilter::new(
                partition
                    .aborted_transactions
                    .as_deref()
                    .unwrap_or_default(),
            );
            let records = partition.records.clone().unwrap_or_default();
            let mut batches = RecordBatchIter::new(records)
                .with_max_decompressed_batch_bytes(MAX_DECOMPRESSED_BATCH_BYTES);
            for batch in &mut batches {
                let Ok(batch) = batch else { break };
                let _ = (
                    batch.next_offset(),
                    batch.last_offset(),
                    batch.record_count(),
                );
                let skipped = filter.skip_batch(&batch);
                let Ok(records) = batch.records() else {
                    continue;
                };
                for record in records {
                    let Ok(record) = record else { break };
                    if batch.is_control() {
                        if let Some(key) = &record.key {
                            let _ = ControlRecordType::from_control_record_key(key);
                        }
                    }
                    if skipped {
                        continue;
                    }
                    for header in record.headers.iter() {
                        let Ok(header) = header else { break };
                        let _ = (header.key, header.value);
                    }
                }
            }
            let _ = batches.unread_bytes();
        }
    }
});
