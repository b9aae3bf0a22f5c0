//! The engine: runs tasks (source → converters → transforms → sink) on the cores, and tells whoever started
//! them how each is doing.
//!
//! It takes validated specs from `config` and never reads config text itself; it runs what the worker asks
//! and knows nothing of where a task's config came from, of REST, or of connectors as a whole.

pub mod build;
pub mod control;
pub mod cores;
pub mod dead_letter;
pub mod metrics;
pub mod offsets_topic;
pub mod positions;
pub(crate) mod record_errors;
pub mod task;

use std::collections::HashMap;

use crate::runtime::backend::IoChoice;
use control::ReportSender;
use cores::{CoreCommand, CoreSet};
use positions::TaskKey;
use task::TaskSpec;

/// The cores and which task runs on which.
pub struct Engine {
    cores: CoreSet,
    /// Round-robin placement: a connector's tasks, started one after another, land on different cores.
    next_core: usize,
    placed: HashMap<TaskKey, usize>,
}

impl Engine {
    /// Starts `cores` pinned core threads on `io`; every task state change is sent to `reports`.
    pub fn start(cores: usize, io: IoChoice, reports: ReportSender) -> Result<Self, String> {
        Ok(Self {
            cores: CoreSet::start(cores, io, reports)?,
            next_core: 0,
            placed: HashMap::new(),
        })
    }

    pub fn backend_name(&self) -> &'static str {
        self.cores.backend_name()
    }

    pub fn core_count(&self) -> usize {
        self.cores.len()
    }

    /// Each core's counters, by core index.
    pub fn core_metrics(&self) -> &[std::sync::Arc<metrics::CoreMetrics>] {
        self.cores.metrics()
    }

    /// Runs `spec`'s task; a task of the same key already running is stopped first (its positions commit
    /// before the new run reads them) and the new run stays on its core. Returns the core.
    pub fn start_task(&mut self, spec: TaskSpec) -> usize {
        let key = spec.key();
        let core = match self.placed.get(&key) {
            Some(core) => *core,
            None => {
                let core = self.next_core % self.cores.len().max(1);
                self.next_core += 1;
                self.placed.insert(key, core);
                core
            }
        };
        self.cores.send(core, CoreCommand::Start(spec));
        core
    }

    /// Stops a task: its sink drains and its positions commit; it reports `Stopped`.
    pub fn stop_task(&mut self, key: &TaskKey) {
        if let Some(core) = self.placed.remove(key) {
            self.cores.send(core, CoreCommand::Stop(key.clone()));
        }
    }

    /// Pauses a task after committing what its sink has; it reports `Paused`.
    pub fn pause_task(&self, key: &TaskKey) {
        if let Some(core) = self.placed.get(key) {
            self.cores.send(*core, CoreCommand::Pause(key.clone()));
        }
    }

    pub fn resume_task(&self, key: &TaskKey) {
        if let Some(core) = self.placed.get(key) {
            self.cores.send(*core, CoreCommand::Resume(key.clone()));
        }
    }

    /// Stops every task (sources stop, sinks drain, positions commit) and waits for the core threads.
    pub fn stop_and_join(self) {
        self.cores.stop_and_join();
    }
}
