//! ApiVersions negotiation: for each API, the highest version both the broker and this client speak.
//!
//! The client's ranges are what our request builders fill in correctly, not everything `kafka-protocol` can
//! encode: e.g. Produce and Fetch stop at the last version that names topics (later ones switch to topic ids).

use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

use super::error::ProtocolError;

/// The ApiVersions version we ask with first; a broker that does not know it answers in v0 with its own list.
pub const API_VERSIONS_REQUEST_VERSION: i16 = 3;

/// Versions of each API this client can build and read, inclusive.
pub fn client_range(api: ApiKey) -> Option<(i16, i16)> {
    use ApiKey::*;
    Some(match api {
        Produce => (3, 11),
        Fetch => (4, 12),
        ListOffsets => (1, 7),
        // v4+ carries allow_auto_topic_creation (earlier versions always auto-create); Kafka 1.0 has it.
        Metadata => (4, 12),
        OffsetCommit => (2, 9),
        // v8 moves to a list of groups and FindCoordinator v4 to a list of keys; our builders fill the older
        // single-group / single-key shape, which every broker since 0.11 (and Kafka 4.0) still speaks.
        OffsetFetch => (1, 7),
        FindCoordinator => (1, 3),
        JoinGroup => (2, 9),
        Heartbeat => (1, 4),
        LeaveGroup => (1, 5),
        SyncGroup => (1, 5),
        DescribeGroups => (1, 5),
        ListGroups => (1, 4),
        ApiVersions => (0, 3),
        CreateTopics => (2, 7),
        DeleteGroups => (1, 2),
        // v6 names topics by id; by name up to v5.
        DeleteTopics => (1, 5),
        OffsetDelete => (0, 0),
        InitProducerId => (0, 4),
        AddPartitionsToTxn => (0, 3),
        AddOffsetsToTxn => (0, 3),
        EndTxn => (0, 3),
        // v3 carries the generation and member id (KIP-447); Kafka 2.5+ has it.
        TxnOffsetCommit => (3, 3),
        // v0 is the old unframed exchange (raw SASL bytes after the handshake); v1 (Kafka 1.0) frames every
        // token in a SaslAuthenticate request.
        SaslHandshake => (1, 1),
        // v1 adds session_lifetime_ms (KIP-368 re-authentication); v2 is its flexible form.
        SaslAuthenticate => (0, 2),
        // v1 (Kafka 1.1) adds synonyms; v4 is the flexible form.
        DescribeConfigs => (1, 4),
        _ => return None,
    })
}

/// What one broker told us it supports, indexed by API key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiVersionTable {
    ranges: Vec<Option<(i16, i16)>>,
}

impl ApiVersionTable {
    pub fn from_response(response: &ApiVersionsResponse) -> Result<Self, ProtocolError> {
        if response.error_code != 0 {
            return Err(ProtocolError::ApiVersionsFailed {
                code: response.error_code,
            });
        }
        let mut table = Self::default();
        for api in &response.api_keys {
            if api.api_key < 0 || api.api_key > 1024 || api.min_version > api.max_version {
                continue; // nonsense entries are ignored rather than trusted
            }
            let index = api.api_key as usize;
            if table.ranges.len() <= index {
                table.ranges.resize(index + 1, None);
            }
            table.ranges[index] = Some((api.min_version, api.max_version));
        }
        Ok(table)
    }

    /// A table that claims every client range; for tests and brokers known to be current.
    pub fn all_client_versions() -> Self {
        let mut table = Self::default();
        for key in 0..100i16 {
            if let Ok(api) = ApiKey::try_from(key) {
                if let Some(range) = client_range(api) {
                    if table.ranges.len() <= key as usize {
                        table.ranges.resize(key as usize + 1, None);
                    }
                    table.ranges[key as usize] = Some(range);
                }
            }
        }
        table
    }

    pub fn broker_range(&self, api: ApiKey) -> Option<(i16, i16)> {
        self.ranges.get(api as usize).copied().flatten()
    }

    /// The highest version of `api` both sides speak.
    pub fn negotiate(&self, api: ApiKey) -> Result<i16, ProtocolError> {
        let (client_min, client_max) =
            client_range(api).ok_or(ProtocolError::UnsupportedApi { api })?;
        let (broker_min, broker_max) = self
            .broker_range(api)
            .ok_or(ProtocolError::ApiNotOffered { api })?;
        let version = client_max.min(broker_max);
        if version < client_min.max(broker_min) {
            return Err(ProtocolError::NoCommonVersion {
                api,
                broker_min,
                broker_max,
                client_min,
                client_max,
            });
        }
        Ok(version)
    }

    /// Whether the broker offers `api` at `version` or later (e.g. InitProducerId v3 for KIP-360 epoch bumps).
    pub fn supports_at_least(&self, api: ApiKey, version: i16) -> bool {
        self.negotiate(api).map(|v| v >= version).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::ApiVersion;

    fn table(entries: &[(ApiKey, i16, i16)]) -> ApiVersionTable {
        let response = ApiVersionsResponse::default().with_api_keys(
            entries
                .iter()
                .map(|(api, min, max)| {
                    ApiVersion::default()
                        .with_api_key(*api as i16)
                        .with_min_version(*min)
                        .with_max_version(*max)
                })
                .collect(),
        );
        ApiVersionTable::from_response(&response).unwrap()
    }

    #[test]
    fn picks_highest_common_version() {
        // Kafka 2.0 offers Produce 0..=6, Kafka 4.0 offers 3..=12.
        assert_eq!(
            table(&[(ApiKey::Produce, 0, 6)]).negotiate(ApiKey::Produce),
            Ok(6)
        );
        assert_eq!(
            table(&[(ApiKey::Produce, 3, 12)]).negotiate(ApiKey::Produce),
            Ok(11)
        );
    }

    #[test]
    fn no_overlap_is_a_named_error() {
        let err = table(&[(ApiKey::Fetch, 0, 3)])
            .negotiate(ApiKey::Fetch)
            .unwrap_err();
        assert!(matches!(
            err,
            ProtocolError::NoCommonVersion {
                api: ApiKey::Fetch,
                ..
            }
        ));
        assert!(err.to_string().contains("Fetch"));
    }

    #[test]
    fn missing_api_is_a_named_error() {
        assert_eq!(
            table(&[]).negotiate(ApiKey::InitProducerId),
            Err(ProtocolError::ApiNotOffered {
                api: ApiKey::InitProducerId
            })
        );
    }

    #[test]
    fn error_code_fails_the_table() {
        let response = ApiVersionsResponse::default().with_error_code(35);
        assert!(ApiVersionTable::from_response(&response).is_err());
    }
}
