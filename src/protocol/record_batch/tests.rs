//! Record batch codec specifications, with the `kafka-protocol` crate's codec as the oracle.

use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records as oracle;
use proptest::prelude::*;

use super::*;
use crate::protocol::compression::{Compression, CompressionError, ALL_COMPRESSIONS};

#[derive(Debug, Clone)]
struct TestRecord {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

#[derive(Debug, Clone)]
struct TestBatch {
    options: BatchOptions,
    records: Vec<TestRecord>,
}

fn oracle_compression(compression: Compression) -> oracle::Compression {
    match compression {
        Compression::None => oracle::Compression::None,
        Compression::Gzip => oracle::Compression::Gzip,
        Compression::Snappy => oracle::Compression::Snappy,
        Compression::Lz4 => oracle::Compression::Lz4,
        Compression::Zstd => oracle::Compression::Zstd,
    }
}

fn encode_ours(batch: &TestBatch) -> Bytes {
    let mut encoder = RecordBatchEncoder::new(batch.options);
    for record in &batch.records {
        let headers: Vec<HeaderRef<'_>> = record
            .headers
            .iter()
            .map(|(key, value)| HeaderRef::new(key.as_str(), value.as_deref()))
            .collect();
        encoder
            .append(
                record.timestamp,
                record.key.as_deref(),
                record.value.as_deref(),
                &headers,
            )
            .unwrap();
    }
    encoder.finish().unwrap()
}

fn encode_oracle(batch: &TestBatch) -> Bytes {
    let records: Vec<oracle::Record> = batch
        .records
        .iter()
        .enumerate()
        .map(|(index, record)| oracle::Record {
            transactional: batch.options.is_transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: batch.options.producer_id,
            producer_epoch: batch.options.producer_epoch,
            timestamp_type: oracle::TimestampType::Creation,
            offset: index as i64,
            sequence: batch.options.base_sequence.wrapping_add(index as i32),
            timestamp: record.timestamp,
            key: record.key.clone().map(Bytes::from),
            value: record.value.clone().map(Bytes::from),
            headers: record
                .headers
                .iter()
                .map(|(key, value)| {
                    (
                        StrBytes::from_string(key.clone()),
                        value.clone().map(Bytes::from),
                    )
                })
                .collect::<IndexMap<_, _>>(),
        })
        .collect();
    let mut out = BytesMut::new();
    oracle::RecordBatchEncoder::encode(
        &mut out,
        &records,
        &oracle::RecordEncodeOptions {
            version: 2,
            compression: oracle_compression(batch.options.compression),
        },
    )
    .unwrap();
    out.freeze()
}

/// Decodes with our decoder and checks every field against what was encoded.
fn assert_ours_decodes(bytes: Bytes, batch: &TestBatch) {
    let batches: Vec<RecordBatch> = RecordBatchIter::new(bytes)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(batches.len(), 1);
    let decoded = &batches[0];
    let options = &batch.options;
    assert_eq!(decoded.base_offset(), 0);
    assert_eq!(decoded.compression(), options.compression);
    assert_eq!(decoded.producer_id(), options.producer_id);
    assert_eq!(decoded.producer_epoch(), options.producer_epoch);
    assert_eq!(decoded.base_sequence(), options.base_sequence);
    assert_eq!(decoded.is_transactional(), options.is_transactional);
    assert!(!decoded.is_control());
    assert_eq!(decoded.record_count() as usize, batch.records.len());
    assert_eq!(
        decoded.last_offset_delta() as usize,
        batch.records.len() - 1
    );
    let max_timestamp = batch.records.iter().map(|r| r.timestamp).max().unwrap();
    assert_eq!(decoded.max_timestamp(), max_timestamp);

    let records: Vec<Record> = decoded
        .records()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let refs: Vec<RecordRef<'_>> = decoded
        .record_refs()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(records.len(), batch.records.len());
    for (index, ((record, record_ref), expected)) in
        records.iter().zip(&refs).zip(&batch.records).enumerate()
    {
        assert_eq!(record.offset, index as i64);
        assert_eq!(record_ref.offset, index as i64);
        let expected_timestamp = match options.timestamp_type {
            TimestampType::Create => expected.timestamp,
            TimestampType::LogAppend => max_timestamp,
        };
        assert_eq!(record.timestamp, expected_timestamp);
        assert_eq!(record.key.as_deref(), expected.key.as_deref());
        assert_eq!(record.value.as_deref(), expected.value.as_deref());
        assert_eq!(record_ref.key, expected.key.as_deref());
        assert_eq!(record_ref.value, expected.value.as_deref());
        let headers: Vec<RecordHeader> = record.headers.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(headers.len(), expected.headers.len());
        for (header, (key, value)) in headers.iter().zip(&expected.headers) {
            assert_eq!(header.key.as_ref(), key.as_bytes());
            assert_eq!(header.value.as_deref(), value.as_deref());
        }
        let header_refs: Vec<RecordHeaderRef<'_>> =
            record_ref.headers.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(header_refs.len(), expected.headers.len());
    }
}

/// Decodes with the oracle and checks it read what was encoded.
fn assert_oracle_decodes(bytes: Bytes, batch: &TestBatch) {
    let mut buf = bytes;
    let sets = oracle::RecordBatchDecoder::decode_all(&mut buf).unwrap();
    assert_eq!(sets.len(), 1);
    let records = &sets[0].records;
    assert_eq!(records.len(), batch.records.len());
    for (index, (record, expected)) in records.iter().zip(&batch.records).enumerate() {
        assert_eq!(record.offset, index as i64);
        assert_eq!(record.producer_id, batch.options.producer_id);
        assert_eq!(record.producer_epoch, batch.options.producer_epoch);
        assert_eq!(
            record.sequence,
            batch.options.base_sequence.wrapping_add(index as i32)
        );
        assert_eq!(record.transactional, batch.options.is_transactional);
        assert_eq!(record.timestamp, expected.timestamp);
        assert_eq!(record.key.as_deref(), expected.key.as_deref());
        assert_eq!(record.value.as_deref(), expected.value.as_deref());
        assert_eq!(record.headers.len(), expected.headers.len());
        for (key, value) in &expected.headers {
            let decoded = record.headers.get(&StrBytes::from_string(key.clone()));
            assert_eq!(decoded.map(|v| v.as_deref()), Some(value.as_deref()));
        }
    }
}

fn arb_bytes(max_len: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::weighted(0.8, proptest::collection::vec(any::<u8>(), 0..max_len))
}

fn arb_batch() -> impl Strategy<Value = TestBatch> {
    let options = (
        0u8..5,
        any::<i64>(),
        any::<i16>(),
        any::<i32>(),
        any::<bool>(),
    )
        .prop_map(
            |(code, producer_id, producer_epoch, base_sequence, is_transactional)| BatchOptions {
                compression: Compression::from_attribute_code(code).unwrap(),
                compression_level: None,
                producer_id,
                producer_epoch,
                base_sequence,
                is_transactional,
                timestamp_type: TimestampType::Create,
            },
        );
    let record = (
        0i64..(1 << 40),
        arb_bytes(40),
        arb_bytes(300),
        // Unique keys: the oracle keeps headers in a map.
        proptest::collection::btree_map("[a-z]{0,8}", arb_bytes(20), 0..4),
    )
        .prop_map(|(timestamp_delta, key, value, headers)| TestRecord {
            timestamp: timestamp_delta,
            key,
            value,
            headers: headers.into_iter().collect(),
        });
    (
        options,
        -(1i64 << 41)..(1i64 << 41),
        proptest::collection::vec(record, 1..40),
    )
        .prop_map(|(options, first_timestamp, mut records)| {
            // The oracle takes the smallest timestamp as the base; we (like the Java client) take the first
            // record's. They agree when the first record has the smallest timestamp.
            records[0].timestamp = 0;
            for record in &mut records {
                record.timestamp += first_timestamp;
            }
            TestBatch { options, records }
        })
}

fn simple_batch(compression: Compression, record_count: usize) -> TestBatch {
    TestBatch {
        options: BatchOptions {
            compression,
            compression_level: None,
            producer_id: 4242,
            producer_epoch: 3,
            base_sequence: 100,
            is_transactional: false,
            timestamp_type: TimestampType::Create,
        },
        records: (0..record_count)
            .map(|index| TestRecord {
                timestamp: 1_700_000_000_000 + index as i64,
                key: Some(format!("key-{index}").into_bytes()),
                value: Some(format!("value-{index}-{}", "x".repeat(index % 50)).into_bytes()),
                headers: vec![("trace".to_owned(), Some(b"abc".to_vec()))],
            })
            .collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn encoder_output_is_byte_identical_to_the_oracle(batch in arb_batch()) {
        // lz4 frames differ on purpose (fast mode, no content checksum, where the oracle uses LZ4HC with one);
        // the two decode each other's (below).
        prop_assume!(batch.options.compression != Compression::Lz4);
        let ours = encode_ours(&batch);
        let theirs = encode_oracle(&batch);
        prop_assert_eq!(&ours[..], &theirs[..], "codec {}", batch.options.compression);
    }

    #[test]
    fn decoder_reads_our_batches_and_the_oracles(batch in arb_batch()) {
        assert_ours_decodes(encode_ours(&batch), &batch);
        assert_ours_decodes(encode_oracle(&batch), &batch);
    }

    #[test]
    fn oracle_reads_our_batches(batch in arb_batch()) {
        assert_oracle_decodes(encode_ours(&batch), &batch);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(input in proptest::collection::vec(any::<u8>(), 0..400)) {
        decode_everything(Bytes::from(input));
    }

    #[test]
    fn mutated_batches_never_panic_the_decoder(
        batch in arb_batch(),
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        truncate in any::<prop::sample::Index>(),
        fix_crc in any::<bool>(),
    ) {
        let mut bytes = BytesMut::from(&encode_ours(&batch)[..]);
        for (index, byte) in mutations {
            let at = index.index(bytes.len());
            bytes[at] = byte;
        }
        if fix_crc && bytes.len() >= layout::RECORDS {
            // Reach the record parser instead of stopping at the CRC check.
            let crc = crc32c::crc32c(&bytes[layout::CRC_START..]);
            bytes[layout::CRC..layout::ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
        }
        let keep = truncate.index(bytes.len() + 1);
        bytes.truncate(keep);
        decode_everything(bytes.freeze());
    }
}

/// Walks every batch, record and header, as a consumer would; returns how many records it saw.
fn decode_everything(bytes: Bytes) -> usize {
    let mut records_seen = 0;
    for batch in RecordBatchIter::new(bytes).with_max_decompressed_batch_bytes(1 << 20) {
        let Ok(batch) = batch else { break };
        let Ok(records) = batch.records() else {
            continue;
        };
        for record in records {
            let Ok(record) = record else { break };
            records_seen += 1;
            for header in record.headers.iter() {
                if header.is_err() {
                    break;
                }
            }
        }
    }
    records_seen
}

#[test]
fn log_append_time_batches_give_every_record_the_max_timestamp() {
    let mut batch = simple_batch(Compression::None, 5);
    batch.options.timestamp_type = TimestampType::LogAppend;
    let bytes = encode_ours(&batch);
    let decoded = RecordBatchIter::new(bytes).next().unwrap().unwrap();
    assert_eq!(decoded.timestamp_type(), TimestampType::LogAppend);
    assert_ours_decodes(decoded.as_bytes().clone(), &batch);
}

#[test]
fn several_batches_are_read_in_order_and_a_trailing_partial_batch_is_ignored() {
    let first = encode_ours(&simple_batch(Compression::None, 3));
    let second = encode_ours(&simple_batch(Compression::Lz4, 4));
    for cut in 0..second.len() {
        let mut fetched = BytesMut::from(&first[..]);
        fetched.extend_from_slice(&second[..cut]);
        let mut iter = RecordBatchIter::new(fetched.freeze());
        let batch = iter.next().unwrap().unwrap();
        assert_eq!(batch.record_count(), 3);
        assert!(iter.next().is_none(), "cut at {cut}");
        assert_eq!(iter.unread_bytes(), cut);
    }
    let mut fetched = BytesMut::from(&first[..]);
    fetched.extend_from_slice(&second);
    let counts: Vec<i32> = RecordBatchIter::new(fetched.freeze())
        .map(|batch| batch.unwrap().record_count())
        .collect();
    assert_eq!(counts, [3, 4]);
}

#[test]
fn corrupted_crc_is_rejected_naming_the_base_offset() {
    let mut bytes = BytesMut::from(&encode_ours(&simple_batch(Compression::None, 3))[..]);
    bytes[..8].copy_from_slice(&77i64.to_be_bytes());
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let err = RecordBatchIter::new(bytes.freeze())
        .next()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err,
            RecordBatchError::CrcMismatch {
                base_offset: 77,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("offset 77"));
}

#[test]
fn legacy_message_sets_are_a_clear_error() {
    let mut bytes = BytesMut::from(&encode_ours(&simple_batch(Compression::None, 1))[..]);
    bytes[layout::MAGIC] = 1;
    let err = RecordBatchIter::new(bytes.freeze())
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err,
        RecordBatchError::UnsupportedMagic {
            base_offset: 0,
            magic: 1
        }
    );
}

#[test]
fn record_count_larger_than_the_data_is_rejected_before_parsing() {
    let mut bytes = BytesMut::from(&encode_ours(&simple_batch(Compression::None, 2))[..]);
    bytes[layout::RECORD_COUNT..layout::RECORDS].copy_from_slice(&1_000_000i32.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[layout::CRC_START..]);
    bytes[layout::CRC..layout::ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
    let err = RecordBatchIter::new(bytes.freeze())
        .next()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err,
            RecordBatchError::RecordCountExceedsData {
                record_count: 1_000_000,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn decompression_bomb_is_refused_with_the_batch_offset() {
    let zeros = vec![0u8; 4 << 20];
    for compression in ALL_COMPRESSIONS.into_iter().skip(1) {
        let mut encoder = RecordBatchEncoder::new(BatchOptions {
            compression,
            ..BatchOptions::default()
        });
        encoder.append(0, None, Some(&zeros), &[]).unwrap();
        let bytes = encoder.finish().unwrap();
        assert!(bytes.len() < 1 << 20, "{compression} compresses zeros well");
        let batch = RecordBatchIter::new(bytes)
            .with_max_decompressed_batch_bytes(1 << 20)
            .next()
            .unwrap()
            .unwrap();
        let err = batch.records().unwrap_err();
        assert!(
            matches!(
                err,
                RecordBatchError::Decompression {
                    base_offset: 0,
                    source: CompressionError::OutputTooLarge { .. }
                }
            ),
            "{compression}: {err}"
        );
    }
}

#[test]
fn rewriting_producer_state_keeps_records_and_fixes_the_crc() {
    for compression in ALL_COMPRESSIONS {
        let batch = simple_batch(compression, 10);
        let mut bytes = BytesMut::from(&encode_ours(&batch)[..]);
        rewrite_producer_state(&mut bytes, 999, 7, 5000, true).unwrap();
        let mut expected = batch.clone();
        expected.options.producer_id = 999;
        expected.options.producer_epoch = 7;
        expected.options.base_sequence = 5000;
        expected.options.is_transactional = true;
        let bytes = bytes.freeze();
        assert_ours_decodes(bytes.clone(), &expected);
        assert_oracle_decodes(bytes.clone(), &expected);
        if compression == Compression::None {
            assert_eq!(bytes, encode_oracle(&expected));
        }
    }
}

#[test]
fn rewriting_producer_state_refuses_what_is_not_one_batch() {
    assert_eq!(
        rewrite_producer_state(&mut [0u8; 10], 1, 1, 1, false),
        Err(RecordBatchError::NotARecordBatch { batch_len: 10 })
    );
    let mut two = BytesMut::from(&encode_ours(&simple_batch(Compression::None, 1))[..]);
    two.extend_from_slice(&two.clone());
    assert!(matches!(
        rewrite_producer_state(&mut two, 1, 1, 1, false),
        Err(RecordBatchError::BatchLengthMismatch { .. })
    ));
}

#[test]
fn commit_marker_is_a_transactional_control_batch() {
    let bytes = encode_control_batch(&ControlBatch {
        producer_id: 12,
        producer_epoch: 2,
        marker: ControlRecordType::Commit,
        coordinator_epoch: 9,
        timestamp_ms: 1_700_000_000_000,
    })
    .unwrap();
    let batch = RecordBatchIter::new(bytes.clone()).next().unwrap().unwrap();
    assert!(batch.is_control());
    assert!(batch.is_transactional());
    assert_eq!(batch.producer_id(), 12);
    assert_eq!(batch.producer_epoch(), 2);
    assert_eq!(batch.base_sequence(), NO_SEQUENCE);
    let record = batch.records().unwrap().next().unwrap().unwrap();
    let key = record.key.unwrap();
    assert_eq!(
        ControlRecordType::from_control_record_key(&key),
        Ok(ControlRecordType::Commit)
    );
    assert_eq!(record.value.as_deref(), Some(&[0, 0, 0, 0, 0, 9][..]));
    // The oracle sees the same marker.
    let sets = oracle::RecordBatchDecoder::decode_all(&mut bytes.clone()).unwrap();
    assert!(sets[0].records[0].control);
    assert!(sets[0].records[0].transactional);
}

#[test]
fn control_record_keys_are_checked() {
    assert_eq!(
        ControlRecordType::from_control_record_key(&[0, 0, 0, 0]),
        Ok(ControlRecordType::Abort)
    );
    assert_eq!(
        ControlRecordType::from_control_record_key(&[0, 0, 0, 5]),
        Ok(ControlRecordType::Other(5))
    );
    assert!(ControlRecordType::from_control_record_key(&[0, 0, 0]).is_err());
    assert!(ControlRecordType::from_control_record_key(&[0, 1, 0, 0]).is_err());
}

#[test]
fn size_estimates_match_the_encoded_size() {
    let mut encoder = RecordBatchEncoder::new(BatchOptions::default());
    assert_eq!(encoder.size_in_bytes(), layout::RECORDS);
    let headers = [HeaderRef::new("h", Some(b"v")), HeaderRef::new("n", None)];
    for index in 0..300i64 {
        let key = index.to_be_bytes();
        let value = vec![7u8; index as usize];
        let predicted = encoder.size_with_record(1000 - index, Some(&key), Some(&value), &headers);
        encoder
            .append(1000 - index, Some(&key), Some(&value), &headers)
            .unwrap();
        assert_eq!(encoder.size_in_bytes(), predicted);
    }
    assert_eq!(encoder.record_count(), 300);
    let size = encoder.size_in_bytes();
    assert_eq!(encoder.finish().unwrap().len(), size);
}

#[test]
fn empty_key_and_value_differ_from_null_ones() {
    let mut encoder = RecordBatchEncoder::new(BatchOptions::default());
    encoder.append(5, Some(b""), None, &[]).unwrap();
    encoder.append(5, None, Some(b""), &[]).unwrap();
    let batch = RecordBatchIter::new(encoder.finish().unwrap())
        .next()
        .unwrap()
        .unwrap();
    let records: Vec<Record> = batch.records().unwrap().map(Result::unwrap).collect();
    assert_eq!(records[0].key.as_deref(), Some(&b""[..]));
    assert_eq!(records[0].value, None);
    assert_eq!(records[1].key, None);
    assert_eq!(records[1].value.as_deref(), Some(&b""[..]));
}

#[test]
fn records_are_slices_of_the_fetched_buffer() {
    let bytes = encode_ours(&simple_batch(Compression::None, 3));
    let range = bytes.as_ptr_range();
    let batch = RecordBatchIter::new(bytes.clone()).next().unwrap().unwrap();
    for record in batch.records().unwrap() {
        let value = record.unwrap().value.unwrap();
        assert!(range.contains(&value.as_ptr()));
    }
}

#[test]
fn garbage_after_the_last_record_is_an_error() {
    let batch = simple_batch(Compression::None, 2);
    let bytes = encode_ours(&batch);
    let mut grown = BytesMut::from(&bytes[..]);
    grown.extend_from_slice(&[0u8; 9]);
    let batch_length = (grown.len() - layout::LOG_OVERHEAD) as i32;
    grown[layout::BATCH_LENGTH..layout::PARTITION_LEADER_EPOCH]
        .copy_from_slice(&batch_length.to_be_bytes());
    let crc = crc32c::crc32c(&grown[layout::CRC_START..]);
    grown[layout::CRC..layout::ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
    let decoded = RecordBatchIter::new(grown.freeze())
        .next()
        .unwrap()
        .unwrap();
    let results: Vec<_> = decoded.records().unwrap().collect();
    assert_eq!(results.len(), 3);
    assert!(matches!(
        results[2],
        Err(RecordBatchError::TrailingRecordBytes {
            unread_bytes: 9,
            ..
        })
    ));
}

#[test]
fn long_varints_take_the_careful_path_and_still_round_trip() {
    // Lengths, deltas and header counts of three bytes and more, which the inline fast path hands over.
    let batch = TestBatch {
        options: BatchOptions::default(),
        records: vec![
            TestRecord {
                timestamp: 0,
                key: Some(vec![1; 20_000]),
                value: Some(vec![2; 300_000]),
                headers: (0..100)
                    .map(|index| (format!("h{index:03}"), Some(vec![3; 200])))
                    .collect(),
            },
            TestRecord {
                timestamp: 1 << 50,
                key: None,
                value: Some(vec![4; 70_000]),
                headers: vec![],
            },
        ],
    };
    let ours = encode_ours(&batch);
    assert_eq!(ours, encode_oracle(&batch));
    assert_ours_decodes(ours, &batch);
}
