//! The requests and responses pipewright speaks, as one enum each.
//!
//! Message structs come from the `kafka-protocol` crate; this module only names the subset of APIs the client
//! uses, so that framing can encode and decode them by API key without pulling in every message of the protocol.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, ApiKey, ApiVersionsRequest, ApiVersionsResponse,
    CreateTopicsRequest, CreateTopicsResponse, DeleteGroupsRequest, DeleteGroupsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    DescribeGroupsRequest, DescribeGroupsResponse, EndTxnRequest, EndTxnResponse, FetchRequest,
    FetchResponse, FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest,
    HeartbeatResponse, InitProducerIdRequest, InitProducerIdResponse, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest,
    ListGroupsResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, ProduceRequest, ProduceResponse,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
    SyncGroupRequest, SyncGroupResponse, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable};

use super::error::ProtocolError;

macro_rules! api_messages {
    ($($variant:ident => $req:ty, $resp:ty;)*) => {
        /// A request the client can send, one variant per API.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Request {
            $($variant($req),)*
        }

        /// A decoded response, one variant per API.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Response {
            $($variant($resp),)*
        }

        $(
            impl From<$req> for Request {
                fn from(request: $req) -> Self {
                    Request::$variant(request)
                }
            }
        )*

        impl Request {
            /// The API this request belongs to.
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $(Request::$variant(_) => ApiKey::$variant,)*
                }
            }

            /// Appends the request body (no header) at `version`.
            pub fn encode_body(&self, out: &mut BytesMut, version: i16) -> Result<(), ProtocolError> {
                let result = match self {
                    $(Request::$variant(body) => body.encode(out, version),)*
                };
                result.map_err(|e| ProtocolError::Encode {
                    api: self.api_key(),
                    version,
                    reason: e.to_string(),
                })
            }
        }

        impl Response {
            /// The API this response belongs to.
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $(Response::$variant(_) => ApiKey::$variant,)*
                }
            }

            /// Decodes a response body (header already consumed) of `api` at `version`.
            pub fn decode_body(api: ApiKey, body: &mut Bytes, version: i16) -> Result<Self, ProtocolError> {
                let decode_error = |e: anyhow::Error| ProtocolError::Decode {
                    api,
                    version,
                    reason: e.to_string(),
                };
                match api {
                    $(ApiKey::$variant => <$resp>::decode(body, version)
                        .map(Response::$variant)
                        .map_err(decode_error),)*
                    other => Err(ProtocolError::UnsupportedApi { api: other }),
                }
            }
        }
    };
}

api_messages! {
    Produce => ProduceRequest, ProduceResponse;
    Fetch => FetchRequest, FetchResponse;
    ListOffsets => ListOffsetsRequest, ListOffsetsResponse;
    Metadata => MetadataRequest, MetadataResponse;
    OffsetCommit => OffsetCommitRequest, OffsetCommitResponse;
    OffsetFetch => OffsetFetchRequest, OffsetFetchResponse;
    FindCoordinator => FindCoordinatorRequest, FindCoordinatorResponse;
    JoinGroup => JoinGroupRequest, JoinGroupResponse;
    Heartbeat => HeartbeatRequest, HeartbeatResponse;
    LeaveGroup => LeaveGroupRequest, LeaveGroupResponse;
    SyncGroup => SyncGroupRequest, SyncGroupResponse;
    DescribeGroups => DescribeGroupsRequest, DescribeGroupsResponse;
    ListGroups => ListGroupsRequest, ListGroupsResponse;
    ApiVersions => ApiVersionsRequest, ApiVersionsResponse;
    CreateTopics => CreateTopicsRequest, CreateTopicsResponse;
    DeleteGroups => DeleteGroupsRequest, DeleteGroupsResponse;
    InitProducerId => InitProducerIdRequest, InitProducerIdResponse;
    AddPartitionsToTxn => AddPartitionsToTxnRequest, AddPartitionsToTxnResponse;
    AddOffsetsToTxn => AddOffsetsToTxnRequest, AddOffsetsToTxnResponse;
    EndTxn => EndTxnRequest, EndTxnResponse;
    TxnOffsetCommit => TxnOffsetCommitRequest, TxnOffsetCommitResponse;
    DeleteTopics => DeleteTopicsRequest, DeleteTopicsResponse;
    OffsetDelete => OffsetDeleteRequest, OffsetDeleteResponse;
    SaslHandshake => SaslHandshakeRequest, SaslHandshakeResponse;
    SaslAuthenticate => SaslAuthenticateRequest, SaslAuthenticateResponse;
    DescribeConfigs => DescribeConfigsRequest, DescribeConfigsResponse;
}
