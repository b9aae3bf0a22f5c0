//! Record batch v2 codec throughput: encoding and decoding batches of 1000 records with 16-byte keys and
//! 100-byte values, uncompressed and lz4. Throughput is in records (elements) per second.
//!
//! Decoding walks every record of every batch and touches its key and value, as a consumer would.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pipewright::protocol::compression::Compression;
use pipewright::protocol::record_batch::{BatchOptions, RecordBatchEncoder, RecordBatchIter};

const RECORDS_PER_BATCH: usize = 1000;
const KEY_BYTES: usize = 16;
const VALUE_BYTES: usize = 100;

/// Keys and values that look like real payloads (some repetition, not all zeros) so lz4 does real work.
fn payloads() -> Vec<([u8; KEY_BYTES], [u8; VALUE_BYTES])> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..RECORDS_PER_BATCH)
        .map(|index| {
            let mut key = [0u8; KEY_BYTES];
            key.copy_from_slice(format!("user-{index:011}").as_bytes());
            let mut value = [0u8; VALUE_BYTES];
            let prefix = br#"{"event":"click","page":"/products/"#;
            value[..prefix.len()].copy_from_slice(prefix);
            for byte in &mut value[prefix.len()..] {
                *byte = b'a' + (next() % 26) as u8;
            }
            (key, value)
        })
        .collect()
}

fn encode_batch(
    compression: Compression,
    compression_level: Option<i32>,
    payloads: &[([u8; KEY_BYTES], [u8; VALUE_BYTES])],
) -> Bytes {
    let options = BatchOptions {
        compression,
        compression_level,
        producer_id: 1000,
        producer_epoch: 0,
        base_sequence: 0,
        ..BatchOptions::default()
    };
    let mut encoder = RecordBatchEncoder::with_capacity(
        options,
        RECORDS_PER_BATCH * (KEY_BYTES + VALUE_BYTES + 16),
    );
    let base_timestamp_ms = 1_700_000_000_000i64;
    for (index, (key, value)) in payloads.iter().enumerate() {
        encoder
            .append(
                base_timestamp_ms + index as i64,
                Some(key),
                Some(value),
                &[],
            )
            .expect("bench records are small");
    }
    encoder.finish().expect("bench batch encodes")
}

fn bench_encode(c: &mut Criterion) {
    let payloads = payloads();
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(RECORDS_PER_BATCH as u64));
    // lz4's default level (4, as the kafka-protocol crate writes) is its slower high-compression mode;
    // level 0 is the fast compressor librdkafka uses.
    for (name, compression, level) in [
        ("none", Compression::None, None),
        ("lz4", Compression::Lz4, None),
        ("lz4-level0", Compression::Lz4, Some(0)),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| black_box(encode_batch(compression, level, black_box(&payloads))))
        });
    }
    group.finish();
}

fn bench_decode(c: &mut Criterion) {
    let payloads = payloads();
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(RECORDS_PER_BATCH as u64));
    for compression in [Compression::None, Compression::Lz4] {
        let fetched = encode_batch(compression, None, &payloads);
        // Borrowed records: the consumer's fast path (no reference counting per record).
        group.bench_function(format!("{}/refs", compression.name()), |b| {
            b.iter_batched(
                || fetched.clone(),
                |fetched| {
                    let mut touched = 0usize;
                    for batch in RecordBatchIter::new(fetched) {
                        let batch = batch.expect("valid batch");
                        for record in batch.record_refs().expect("records") {
                            let record = record.expect("valid record");
                            touched += record.key.map_or(0, |key| key[0] as usize);
                            touched += record.value.map_or(0, |value| value[0] as usize);
                        }
                    }
                    black_box(touched)
                },
                BatchSize::SmallInput,
            )
        });
        // Owned records: key and value are `Bytes` slices of the fetched buffer.
        group.bench_function(format!("{}/bytes", compression.name()), |b| {
            b.iter_batched(
                || fetched.clone(),
                |fetched| {
                    let mut touched = 0usize;
                    for batch in RecordBatchIter::new(fetched) {
                        let batch = batch.expect("valid batch");
                        for record in batch.records().expect("records") {
                            let record = record.expect("valid record");
                            touched += record.key.map_or(0, |key| key[0] as usize);
                            touched += record.value.map_or(0, |value| value[0] as usize);
                        }
                    }
                    black_box(touched)
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_encode, bench_decode);
criterion_main!(benches);
