//! A minimal blocking Kafka client for tests that need to see the wire itself: one request at a time, no
//! retries, no pipelining. Used to poke the fault proxy frame by frame and to inspect record batches as
//! stored (e.g. which compression codec a producer really used).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, FetchRequest, FetchResponse, MetadataRequest,
    MetadataResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Compression codec as stored in a record batch's attributes (bits 0-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BatchCompression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl BatchCompression {
    /// The name producers use for it (`compression.type`, `-z`).
    pub fn from_name(name: &str) -> BatchCompression {
        match name {
            "none" => BatchCompression::None,
            "gzip" => BatchCompression::Gzip,
            "snappy" => BatchCompression::Snappy,
            "lz4" => BatchCompression::Lz4,
            "zstd" => BatchCompression::Zstd,
            other => panic!("unknown codec {other}"),
        }
    }

    fn from_attributes(attributes: i16) -> BatchCompression {
        match attributes & 0x7 {
            0 => BatchCompression::None,
            1 => BatchCompression::Gzip,
            2 => BatchCompression::Snappy,
            3 => BatchCompression::Lz4,
            4 => BatchCompression::Zstd,
            other => panic!(
                "record batch attributes {attributes:#x}: compression {other} does not exist"
            ),
        }
    }
}

pub struct RawKafka {
    pub stream: TcpStream,
    next_correlation_id: i32,
}

impl RawKafka {
    pub fn connect(addr: &str) -> RawKafka {
        let stream = TcpStream::connect(addr).unwrap_or_else(|err| panic!("connect {addr}: {err}"));
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        RawKafka {
            stream,
            next_correlation_id: 1,
        }
    }

    /// Sends one request; returns its correlation id.
    pub fn send<T: Encodable>(&mut self, api_key: ApiKey, version: i16, request: &T) -> i32 {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("fault-proxy-test")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, api_key.request_header_version(version))
            .unwrap();
        request.encode(&mut body, version).unwrap();
        let mut frame = BytesMut::new();
        frame.put_u32(body.len() as u32);
        frame.put_slice(&body);
        self.stream.write_all(&frame).expect("send request");
        correlation_id
    }

    /// Reads one frame's body; Err on EOF, reset or timeout.
    pub fn read_frame(&mut self) -> std::io::Result<Vec<u8>> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size)?;
        let mut body = vec![0u8; u32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut body)?;
        Ok(body)
    }

    pub fn receive<T: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        correlation_id: i32,
    ) -> T {
        let body = self.read_frame().expect("read response");
        let mut buf = Bytes::from(body);
        let header = ResponseHeader::decode(&mut buf, api_key.response_header_version(version))
            .expect("decode response header");
        assert_eq!(
            header.correlation_id, correlation_id,
            "response correlation id"
        );
        let response = T::decode(&mut buf, version).expect("decode response body");
        assert_eq!(buf.remaining(), 0, "{api_key:?} v{version}: trailing bytes");
        response
    }

    pub fn api_versions(&mut self) -> ApiVersionsResponse {
        // ApiVersions v0 is answered with response header v0 whatever the version.
        let correlation_id = self.send(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
        self.receive(ApiKey::ApiVersions, 0, correlation_id)
    }

    pub fn metadata(&mut self, version: i16) -> MetadataResponse {
        let request = MetadataRequest::default().with_topics(None);
        let correlation_id = self.send(ApiKey::Metadata, version, &request);
        self.receive(ApiKey::Metadata, version, correlation_id)
    }

    /// Asserts the peer closed the connection: a read sees EOF or a reset, not a timeout.
    pub fn assert_closed(&mut self, context: &str) {
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => {}
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
                ) => {}
            other => panic!("{context}: expected the connection to be closed, got {other:?}"),
        }
    }

    /// The compression codec of every record batch in `topic`/`partition`, in offset order (Fetch v11 from
    /// offset 0 up to the Fetch high watermark). Must be connected to the partition's leader.
    pub fn batch_compressions(&mut self, topic: &str, partition: i32) -> Vec<BatchCompression> {
        const FETCH_VERSION: i16 = 11;
        let mut compressions = Vec::new();
        let mut next_offset = 0i64;
        for _ in 0..10_000 {
            let request = FetchRequest::default()
                .with_replica_id((-1).into())
                // tansu answers max_wait_ms=0 with no partitions at all, so wait a little for >= 1 byte.
                .with_max_wait_ms(500)
                .with_min_bytes(1)
                .with_max_bytes(16 * 1024 * 1024)
                .with_topics(vec![FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partitions(vec![FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(next_offset)
                        .with_partition_max_bytes(8 * 1024 * 1024)])]);
            let correlation_id = self.send(ApiKey::Fetch, FETCH_VERSION, &request);
            let response: FetchResponse =
                self.receive(ApiKey::Fetch, FETCH_VERSION, correlation_id);
            let Some(data) = response
                .responses
                .first()
                .and_then(|topic| topic.partitions.first())
            else {
                continue;
            };
            assert_eq!(
                data.error_code, 0,
                "Fetch {topic}/{partition} at {next_offset}: {data:?}"
            );
            let mut records = data.records.clone().unwrap_or_default();
            while records.len() >= 27 {
                // Record batch v2: baseOffset i64, batchLength i32, partitionLeaderEpoch i32, magic i8,
                // crc u32, attributes i16, lastOffsetDelta i32, ...
                let base_offset = i64::from_be_bytes(records[0..8].try_into().unwrap());
                let batch_length = i32::from_be_bytes(records[8..12].try_into().unwrap()) as usize;
                if records.len() < 12 + batch_length {
                    break; // a partial batch at the end of the response
                }
                assert_eq!(records[16], 2, "record batch magic at offset {base_offset}");
                let attributes = i16::from_be_bytes(records[21..23].try_into().unwrap());
                let last_offset_delta = i32::from_be_bytes(records[23..27].try_into().unwrap());
                // A fetch may start inside a batch we already counted: count each batch once.
                if base_offset + i64::from(last_offset_delta) >= next_offset {
                    compressions.push(BatchCompression::from_attributes(attributes));
                }
                next_offset = next_offset.max(base_offset + i64::from(last_offset_delta) + 1);
                records.advance(12 + batch_length);
            }
            if next_offset >= data.high_watermark {
                return compressions;
            }
        }
        panic!("Fetch {topic}/{partition}: no end after 10000 requests");
    }
}
