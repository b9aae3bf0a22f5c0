//! Async admin operations over [`client::admin::AdminClient`](crate::client::admin::AdminClient).

use std::pin::pin;
use std::rc::Rc;

use tokio::task::JoinHandle;

use super::backend::current_backend;
use super::driver::{drive, Shared};
use super::producer::connection_config;
use crate::client::admin::{AdminClient, AdminError, AdminOperation, Answer};
use crate::client::config::CommonConfig;
use crate::client::{BrokerId, RequestToken, ResponseResult};

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

    /// Runs `operation` and reads its answer (the admin client retries what may be retried first).
    pub async fn run<O: AdminOperation>(&self, operation: O) -> Result<O::Output, AdminError> {
        let token = self.shared.state.borrow_mut().submit(&operation);
        self.shared.wake_driver.notify_one();
        let (broker, result) = self.wait_for(token).await;
        match result {
            Ok(response) => operation.read(Answer { broker, response }),
            Err(error) => Err(AdminError::Transport { api: O::API, error }),
        }
    }

    async fn wait_for(&self, token: RequestToken) -> (BrokerId, ResponseResult) {
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

    pub async fn close(self) {
        self.shared.stopped.set(true);
        self.shared.wake_driver.notify_one();
        let _ = self.driver.await;
    }
}
