//! The Kafka source (a consumer group member) and the Kafka sink (an idempotent producer).
