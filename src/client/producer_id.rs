//! InitProducerId, the one request that hands out a producer id and epoch: for the idempotent producer (no
//! transactional id) and for the transaction layer (its transactional id, to the transaction coordinator).

use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, ProducerId, TransactionalId};
use kafka_protocol::protocol::StrBytes;

use crate::protocol::versions::ApiVersionTable;

/// KIP-360: with InitProducerId v3+, the broker bumps the epoch of a producer id we name (and answers
/// PRODUCER_FENCED if another producer took over); an older broker cannot, and a fresh producer id (sequences
/// from 0) does the same job.
pub fn supports_epoch_bump(versions: Option<&ApiVersionTable>) -> bool {
    versions.is_some_and(|v| v.supports_at_least(ApiKey::InitProducerId, 3))
}

/// The request for `transactional_id` (`None`: an idempotent producer), bumping the epoch of `bump_from` when
/// given (only where [`supports_epoch_bump`]).
pub fn init_producer_id_request(
    transactional_id: Option<&str>,
    transaction_timeout_ms: i32,
    bump_from: Option<(i64, i16)>,
) -> InitProducerIdRequest {
    // kafka-protocol defaults the transactional id to "" (not null); the broker answers an empty one with
    // INVALID_REQUEST. An idempotent, non-transactional producer sends null.
    let transactional_id =
        transactional_id.map(|id| TransactionalId(StrBytes::from_string(id.to_owned())));
    let (producer_id, epoch) = bump_from.unwrap_or((-1, -1));
    InitProducerIdRequest::default()
        .with_transactional_id(transactional_id)
        .with_transaction_timeout_ms(transaction_timeout_ms)
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idempotent_producer_sends_a_null_transactional_id() {
        let request = init_producer_id_request(None, i32::MAX, None);
        assert_eq!(request.transactional_id, None);
        assert_eq!(
            (request.producer_id, request.producer_epoch),
            (ProducerId(-1), -1)
        );
        let bump = init_producer_id_request(Some("tx"), 60_000, Some((7, 3)));
        assert_eq!(
            bump.transactional_id.as_ref().map(|id| id.0.as_str()),
            Some("tx")
        );
        assert_eq!((bump.producer_id, bump.producer_epoch), (ProducerId(7), 3));
        assert_eq!(bump.transaction_timeout_ms, 60_000);
    }
}
