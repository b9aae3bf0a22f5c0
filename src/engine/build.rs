//! What the engine does with a pipeline's built parts beyond running them: the exactly-once commit, which
//! goes to the source's consumer group or to the offsets topic depending on what the source can do.

use crate::connect::connector::ConnectorError;
use crate::connect::connectors::{AnySink, AnySource};
use crate::connect::record::SourcePosition;

/// Exactly-once: commits the open transaction with the consumed `positions` — as group offsets for a source
/// that keeps its positions in its consumer group, as a record in the offsets topic (under `position_key`) for
/// any other source.
pub async fn commit_exactly_once(
    source: &AnySource,
    sink: &mut AnySink,
    group_id: &str,
    position_key: &str,
    positions: &[SourcePosition],
) -> Result<(), ConnectorError> {
    let Some(sink) = sink.transactional() else {
        return Err(ConnectorError::fatal("exactly-once needs a Kafka sink"));
    };
    if !source.capabilities().keeps_own_positions {
        if positions.is_empty() {
            return sink.commit_transaction(Vec::new(), None).await;
        }
        let value = crate::engine::offsets_topic::position_value(positions);
        let topic = crate::engine::offsets_topic::DEFAULT_OFFSETS_TOPIC;
        return sink
            .commit_transaction_with(
                Vec::new(),
                None,
                Some((topic, position_key.as_bytes(), value.as_bytes())),
            )
            .await;
    }
    let offsets = positions
        .iter()
        .filter_map(|p| match p {
            SourcePosition::KafkaOffset {
                topic,
                partition,
                offset,
            } => Some(crate::client::txn::TxnOffset {
                topic: topic.as_str().to_owned(),
                partition: *partition,
                offset: *offset,
                leader_epoch: None,
                metadata: None,
            }),
            _ => None,
        })
        .collect();
    sink.commit_transaction(offsets, source.group_metadata(group_id))
        .await
}
