//! The async consumer (no groups yet): assign partitions, then `recv` events.

use std::pin::pin;
use std::rc::Rc;

use tokio::task::JoinHandle;

use super::backend::{current_backend, IoBackend};
use super::broker_health::ConnectionProblems;
use super::driver::{drive, Shared};
use super::producer::connection_config;
use crate::client::config::ConsumerConfig;
use crate::client::consumer::{self as sm, ConsumerEvent, StartPosition};

/// An async consumer bound to the current thread's `LocalSet`.
pub struct Consumer {
    shared: Rc<Shared<sm::Consumer>>,
    driver: JoinHandle<()>,
}

impl Consumer {
    pub fn new(config: ConsumerConfig) -> Self {
        Self::with_backend(config, current_backend())
    }

    pub fn with_backend<B: IoBackend>(config: ConsumerConfig, backend: B) -> Self {
        let connection = connection_config(&config.common);
        let shared = Shared::new(sm::Consumer::new(config));
        let driver = tokio::task::spawn_local(drive(
            shared.clone(),
            backend,
            connection,
            |_: &mut sm::Consumer| {},
        ));
        Self { shared, driver }
    }

    /// The connection failures this consumer's driver is telling of now.
    pub fn connection_problems(&self) -> ConnectionProblems {
        self.shared.problems.clone()
    }

    /// Runs `f` on the state machine (assign, pause, positions), then lets the driver act on it.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut sm::Consumer) -> R) -> R {
        let result = f(&mut self.shared.state.borrow_mut());
        self.shared.wake_driver.notify_one();
        result
    }

    pub fn assign(&self, assignments: Vec<(String, i32, StartPosition)>) {
        self.with_state(|c| c.assign(assignments));
    }

    pub fn assign_topic_all_partitions(&self, topic: &str, start: StartPosition) {
        self.with_state(|c| c.assign_topic_all_partitions(topic, start));
    }

    /// The next event: records, a partition's end, or an error.
    pub async fn recv(&self) -> ConsumerEvent {
        loop {
            let notified = pin!(self.shared.wake_user.notified());
            let mut notified = notified;
            notified.as_mut().enable();
            if let Some(event) = self.shared.state.borrow_mut().poll_event() {
                // Taking events may free room for more fetches.
                self.shared.wake_driver.notify_one();
                return event;
            }
            notified.await;
        }
    }

    pub async fn close(self) {
        self.shared.stopped.set(true);
        self.shared.wake_driver.notify_one();
        let _ = self.driver.await;
    }
}
