//! How other threads reach the worker: a call is a closure run on the control thread with the worker, its
//! result sent back (Kafka Connect's herder requests). Nothing outside the control thread holds the worker.

use tokio::sync::{mpsc, oneshot};

use super::Worker;

/// A call waiting for the worker.
pub type WorkerCall = Box<dyn FnOnce(&mut Worker) + Send>;

/// The worker has stopped; nothing answers any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the worker is shutting down")]
pub struct WorkerGone;

/// Sends calls to the worker; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct WorkerHandle {
    calls: mpsc::UnboundedSender<WorkerCall>,
}

impl WorkerHandle {
    /// A handle and the receiving end the worker's loop reads calls from.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<WorkerCall>) {
        let (calls, receiver) = mpsc::unbounded_channel();
        (Self { calls }, receiver)
    }

    fn send<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Worker) -> T + Send + 'static,
    ) -> Result<oneshot::Receiver<T>, WorkerGone> {
        let (reply, answer) = oneshot::channel();
        let call: WorkerCall = Box::new(move |worker| {
            let _ = reply.send(f(worker));
        });
        self.calls.send(call).map_err(|_| WorkerGone)?;
        Ok(answer)
    }

    /// Runs `f` on the worker and returns what it returned.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Worker) -> T + Send + 'static,
    ) -> Result<T, WorkerGone> {
        self.send(f)?.await.map_err(|_| WorkerGone)
    }

    /// [`WorkerHandle::call`] for a thread outside any async runtime.
    pub fn blocking_call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Worker) -> T + Send + 'static,
    ) -> Result<T, WorkerGone> {
        self.send(f)?.blocking_recv().map_err(|_| WorkerGone)
    }
}
