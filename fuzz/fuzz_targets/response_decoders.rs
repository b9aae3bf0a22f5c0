//! A response frame of every API the client uses, at every version in `client_range`: the first byte picks the
//! API, the second the version; the rest is the frame after its size prefix. `decode_response` never panics
//! and never allocates far beyond the frame (run with `-malloc_limit_mb`).
#![no_main]

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use libfuzzer_sys::fuzz_target;
use pipewright::protocol::frame::decode_response;
use pipewright::protocol::versions::client_range;

/// Every API the client sends, in `ApiKey` order; the seed files name their API by index in this list.
const CLIENT_APIS: [ApiKey; 21] = [
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::Metadata,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::SyncGroup,
    ApiKey::DescribeGroups,
    ApiKey::ListGroups,
    ApiKey::ApiVersions,
    ApiKey::CreateTopics,
    ApiKey::DeleteGroups,
    ApiKey::InitProducerId,
    ApiKey::AddPartitionsToTxn,
    ApiKey::AddOffsetsToTxn,
    ApiKey::EndTxn,
    ApiKey::TxnOffsetCommit,
];

fuzz_target!(|data: &[u8]| {
    let [api_byte, version_byte, frame @ ..] = data else {
        return;
    };
    let api = CLIENT_APIS[usize::from(*api_byte) % CLIENT_APIS.len()];
    let (min, max) = client_range(api).expect("every listed API has a client range");
    let span = (max - min + 1) as u8;
    let version = min + i16::from(version_byte % span);
    if let Ok((_correlation_id, response)) =
        decode_response(api, version, Bytes::copy_from_slice(frame))
    {
        assert_eq!(response.api_key(), api);
    }
});
