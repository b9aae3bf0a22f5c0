//! Async one-off cluster requests over [`client::admin::AdminClient`].

use std::pin::pin;
use std::rc::Rc;

use tokio::task::JoinHandle;

use super::backend::current_backend;
use super::driver::{drive, Shared};
use super::producer::connection_config;
use crate::client::admin::{AdminClient, AdminTarget};
use crate::client::config::CommonConfig;
use crate::client::metadata::MetadataState;
use crate::client::{RequestToken, ResponseResult};
use crate::protocol::Request;

/// An admin connection bound to the current thread's `LocalSet`.
pub struct Admin {
    shared: Rc<Shared<AdminClient>>,
    driver: JoinHandle<()>,
}

impl Admin {
    pub fn new(config: CommonConfig) -> Self {
        let connection = connection_config(&config);
        let shared = Shared::new(AdminClient::new(config));
        let driver = tokio::task::spawn_local(drive(
            shared.clone(),
            current_backend(),
            connection,
            |_: &mut AdminClient| {},
        ));
        Self { shared, driver }
    }

    /// Sends `request` and waits for its response (transport failures are retried a few times first).
    pub async fn call(&self, request: Request, target: AdminTarget) -> ResponseResult {
        let token = self.shared.state.borrow_mut().request(request, target);
        self.shared.wake_driver.notify_one();
        self.wait_for(token).await
    }

    async fn wait_for(&self, token: RequestToken) -> ResponseResult {
        loop {
            let notified = pin!(self.shared.wake_user.notified());
            let mut notified = notified;
            notified.as_mut().enable();
            if let Some(result) = self.shared.state.borrow_mut().take_response(token) {
                return result;
            }
            notified.await;
        }
    }

    /// Refreshes metadata for every topic and returns a snapshot.
    pub async fn metadata(&self) -> ResponseResult {
        self.call(
            Request::Metadata(
                kafka_protocol::messages::MetadataRequest::default().with_topics(None),
            ),
            AdminTarget::AnyBroker,
        )
        .await
    }

    /// Runs `f` on the client's current metadata state.
    pub fn with_metadata<R>(&self, f: impl FnOnce(&MetadataState) -> R) -> R {
        f(self.shared.state.borrow().metadata())
    }

    pub async fn close(self) {
        self.shared.stopped.set(true);
        self.shared.wake_driver.notify_one();
        let _ = self.driver.await;
    }
}
