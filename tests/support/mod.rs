//! Integration-test harness shared by `tests/*.rs` (each declares `mod support;`).
//!
//! Owns, one concern a file:
//! - `tools`: where our `engine` binary, the venv's python and the tansu binary are found;
//! - `broker`: a real Kafka-compatible broker for one test (tansu, or `PIPEWRIGHT_TEST_BROKER=host:port`),
//!   unique topic names and topic creation; `restartable_broker`: one a test can kill -9 and start again
//!   with its data (tansu on a moto S3 store);
//! - `process`: running helper processes with timeouts, so a hung process fails its test instead of hanging CI;
//! - `engine_cli`: our `engine produce` / `consume` / `topic` / `group` commands; `engine_process`: pipelines
//!   (`engine --config`); `kill_restart`: a pipeline killed -9 mid-run and started again;
//! - `peers`: the clients no one here wrote (confluent-kafka and kafka-python scripts in `tests/peers/`,
//!   kcat via `scripts/kcat`); `group_member`: consumer-group member processes;
//! - `tab_format`: reading `-f` output; `numbered`: records the fault tests can check one by one;
//! - `waiting`: polling a condition, reading what a process wrote to a file; `local_runtime`: our library's
//!   async API run from a plain `#[test]`;
//! - `rest`: `engine standalone` with its REST API, restarted on the same files, and the REST clients no one
//!   here wrote (`requests`, the `kc` CLI, prometheus_client's parser, schemathesis);
//! - `distributed`: `engine distributed` workers of one group (killed -9, stopped, started again), writes
//!   through any of them retried while the group rebalances, where each task runs;
//! - `schema_registry`: a Schema Registry speaking Confluent's REST API for one test (or a real one at
//!   `PIPEWRIGHT_TEST_SCHEMA_REGISTRY`), for the Avro converter and confluent-kafka's Avro serde;
//! - `databases`: the local PostgreSQL and MariaDB/MySQL through their own clients (`psql`, `mariadb`), tables
//!   per test, dropped at its end;
//! - `elasticsearch`: a search cluster speaking Elasticsearch's `_bulk` API (or a proxy in front of a real one at
//!   `PIPEWRIGHT_TEST_ELASTICSEARCH`) with the faults the sink tests inject;
//! - `tls`: certificates made per run (rcgen) a TLS-terminating proxy in front of a plaintext broker, and the HTTPS tests' PEM files;
//! - `fault_proxy`: a proxy between a client and the cluster that injects faults; `raw_kafka`: a
//!   one-request-at-a-time client for looking at the wire.
//!
//! Must not: bind anything but 127.0.0.1, or sleep where a condition can be polled.
#![allow(dead_code)] // every test file uses a different part of the harness

pub mod broker;
pub mod databases;
pub mod distributed;
pub mod elasticsearch;
pub mod engine_cli;
pub mod engine_process;
pub mod fault_proxy;
pub mod group_member;
pub mod kill_restart;
pub mod local_runtime;
pub mod numbered;
pub mod peers;
pub mod process;
pub mod raw_kafka;
pub mod rest;
pub mod restartable_broker;
pub mod sasl_proxy;
pub mod schema_registry;
pub mod tab_format;
pub mod tls;
pub mod tools;
pub mod waiting;
