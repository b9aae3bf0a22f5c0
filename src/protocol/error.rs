//! Errors of the protocol layer: each names the API, version or field it is about.

use kafka_protocol::messages::ApiKey;

/// Something about bytes on the wire was wrong, or a request could not be encoded.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("frame of {claimed_bytes} bytes exceeds the maximum of {max_bytes} bytes (raise message.max.bytes / receive.message.max.bytes if this is expected)")]
    FrameTooLarge {
        claimed_bytes: u64,
        max_bytes: usize,
    },
    #[error("frame size {claimed_bytes} is negative")]
    NegativeFrameSize { claimed_bytes: i32 },
    #[error("response frame of {len} bytes is too short to hold a response header")]
    ShortResponseHeader { len: usize },
    #[error("could not encode {api:?} v{version} request: {reason}")]
    Encode {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("could not decode {api:?} v{version} response: {reason}")]
    Decode {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("{api:?} is not an API this client speaks")]
    UnsupportedApi { api: ApiKey },
    #[error("broker supports {api:?} versions {broker_min}..={broker_max}, this client {client_min}..={client_max}: no version in common")]
    NoCommonVersion {
        api: ApiKey,
        broker_min: i16,
        broker_max: i16,
        client_min: i16,
        client_max: i16,
    },
    #[error("broker does not offer {api:?} at all")]
    ApiNotOffered { api: ApiKey },
    #[error("ApiVersions failed with error code {code}")]
    ApiVersionsFailed { code: i16 },
}
