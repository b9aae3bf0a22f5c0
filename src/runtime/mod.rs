//! The only layer with sockets, threads and clocks: it drives the sans-IO `client` state machines.
//!
//! Single-threaded: a state machine, its driver task and its connections share one thread (a tokio
//! current-thread runtime with a `LocalSet`), so handles reach their state machine without locks.

pub mod admin;
pub mod backend;
mod broker_health;
pub mod connection;
pub mod consumer;
pub mod driver;
pub mod group_consumer;
pub mod producer;
pub mod tls;
pub mod worker_group;

pub use admin::Admin;
pub use broker_health::ConnectionProblems;
pub use consumer::Consumer;
pub use producer::{Delivery, DeliveryFuture, DeliveryStats, Producer};
