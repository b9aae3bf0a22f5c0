//! What a core and each of its tasks share, and what the control thread hears of a task: the task's stop and
//! pause requests, and its state reports.

use std::cell::Cell;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};

use super::positions::TaskKey;

/// What a task's state is, as the control thread sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    Running,
    /// Paused on request: its positions are committed and its source is not polled.
    Paused,
    /// Failed; restarting after `retry_in`, or (`None`) not on its own: a restart would meet the same record.
    Failed {
        error: String,
        restarts: u32,
        retry_in: Option<Duration>,
    },
    Finished,
    Stopped,
}

/// A task's state change, sent by a core.
#[derive(Debug, Clone)]
pub struct TaskReport {
    pub core: usize,
    pub task: TaskKey,
    pub state: TaskState,
}

/// Where cores send their reports (any thread may send; the control thread receives).
pub type ReportSender = mpsc::UnboundedSender<TaskReport>;

/// What a core and one of its tasks share: the task's stop and pause requests, and its report channel.
pub(crate) struct TaskControl {
    core: usize,
    key: TaskKey,
    stop: Cell<bool>,
    paused: Cell<bool>,
    /// Woken on every stop, pause or resume request.
    changed: Notify,
    reports: ReportSender,
}

impl TaskControl {
    pub(crate) fn new(core: usize, key: TaskKey, reports: ReportSender) -> Self {
        Self {
            core,
            key,
            stop: Cell::new(false),
            paused: Cell::new(false),
            changed: Notify::new(),
            reports,
        }
    }

    pub(crate) fn key(&self) -> &TaskKey {
        &self.key
    }

    pub(crate) fn stop_requested(&self) -> bool {
        self.stop.get()
    }

    pub(crate) fn pause_requested(&self) -> bool {
        self.paused.get() && !self.stop.get()
    }

    pub(crate) fn report(&self, state: TaskState) {
        let _ = self.reports.send(TaskReport {
            core: self.core,
            task: self.key.clone(),
            state,
        });
    }

    pub(crate) fn request_stop(&self) {
        self.stop.set(true);
        self.changed.notify_waiters();
    }

    pub(crate) fn set_paused(&self, paused: bool) {
        self.paused.set(paused);
        self.changed.notify_waiters();
    }

    /// Waits until a stop, pause or resume request arrives, or `timeout` passes.
    pub(crate) async fn wait_for_request(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.changed.notified()).await;
    }

    /// Waits while paused; returns at once when not paused, and as soon as a resume or stop arrives.
    pub(crate) async fn wait_while_paused(&self) {
        while self.pause_requested() {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.pause_requested() {
                break;
            }
            notified.await;
        }
    }
}
