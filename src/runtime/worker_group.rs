//! The async worker-group member: a [`client::worker_group::member::WorkerGroupMember`] with its driver on the
//! current thread's `LocalSet`; the distributed worker's control loop awaits its events.
//!
//! [`client::worker_group::member::WorkerGroupMember`]: crate::client::worker_group::member::WorkerGroupMember

use std::pin::pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::backend::current_backend;
use super::driver::{drive, Shared};
use super::producer::connection_config;
use crate::client::config::CommonConfig;
use crate::client::group::GroupError;
use crate::client::worker_group::member::{WorkerGroupConfig, WorkerGroupEvent, WorkerGroupMember};

/// A member of a Connect worker group, bound to the current thread's `LocalSet`.
pub struct WorkerGroup {
    member: Rc<Shared<WorkerGroupMember>>,
    driver: JoinHandle<()>,
}

impl WorkerGroup {
    /// Starts the member; it joins once [`set_protocols`](Self::set_protocols) gave it something to offer.
    pub fn new(config: WorkerGroupConfig, common: &CommonConfig) -> Result<Self, GroupError> {
        let mut connection = connection_config(common);
        // JoinGroup is answered only when the rebalance completes, up to the rebalance timeout; everything else
        // gets request.timeout.ms, so a coordinator that stops answering is noticed in seconds.
        connection.join_group_timeout = Some(config.rebalance_timeout + Duration::from_secs(5));
        let member = Shared::new(WorkerGroupMember::new(config)?);
        let driver = tokio::task::spawn_local(drive(
            member.clone(),
            current_backend(),
            connection,
            |_: &mut WorkerGroupMember| {},
        ));
        Ok(Self { member, driver })
    }

    fn with_member<T>(&self, f: impl FnOnce(&mut WorkerGroupMember) -> T) -> T {
        let result = f(&mut self.member.state.borrow_mut());
        self.member.wake_driver.notify_one();
        result
    }

    pub fn set_protocols(&self, protocols: Vec<(String, Bytes)>) {
        self.with_member(|m| m.set_protocols(protocols));
    }

    pub fn assign(&self, generation: i32, assignments: Vec<(String, Bytes)>) {
        self.with_member(|m| m.assign(generation, assignments));
    }

    pub fn rejoin(&self) {
        self.with_member(|m| m.rejoin());
    }

    pub fn rejoin_at(&self, at: Instant) {
        self.with_member(|m| m.rejoin_at(at));
    }

    pub fn member_id(&self) -> String {
        self.member.state.borrow().member_id().to_owned()
    }

    /// The next event of the member.
    pub async fn recv(&self) -> WorkerGroupEvent {
        loop {
            let notified = pin!(self.member.wake_user.notified());
            let mut notified = notified;
            notified.as_mut().enable();
            if let Some(event) = self.member.state.borrow_mut().poll_event() {
                return event;
            }
            notified.await;
        }
    }

    /// Leaves the group (see [`WorkerGroupMember::close`]) and waits up to `timeout` for it to finish.
    pub async fn close(self, timeout: Duration) {
        self.with_member(|m| m.close());
        let closed = async {
            loop {
                if matches!(self.recv().await, WorkerGroupEvent::Closed) {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(timeout, closed).await;
        self.member.stopped.set(true);
        self.member.wake_driver.notify_one();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.driver).await;
    }
}
