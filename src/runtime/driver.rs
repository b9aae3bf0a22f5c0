//! Drives a sans-IO client state machine: sends what it asks for, hands back what brokers answer, and wakes
//! it at the deadlines it names. One driver task per state machine, on a single-threaded executor.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use tokio::sync::{mpsc, Notify};

use super::backend::IoBackend;
use super::broker_health::{BrokerHealthTable, ConnectionProblems};
use super::connection::{run_connection, ConnectionConfig, ConnectionEvent, Outbound};
use crate::client::{BrokerId, RequestToken, ResponseResult, Transmit, TransportError};
use crate::protocol::versions::ApiVersionTable;

/// What the driver needs from a state machine. `client::Producer`, `client::Consumer` and
/// `client::admin::AdminClient` implement it.
pub trait SansIoClient {
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit>;
    fn handle_response(
        &mut self,
        broker: BrokerId,
        token: RequestToken,
        result: ResponseResult,
        now: Instant,
    );
    fn handle_timeout(&mut self, now: Instant);
    fn poll_timeout(&self) -> Option<Instant>;
    fn broker_address(&self, broker: BrokerId) -> Option<String>;
    fn handle_broker_versions(&mut self, _broker: BrokerId, _versions: ApiVersionTable) {}
}

/// Implements [`SansIoClient`] for a state machine by calling its inherent methods of the same names (every
/// `client` state machine has them). With `versions`, ApiVersions tables are passed on too.
macro_rules! impl_sans_io_client {
    ($ty:ty) => {
        impl_sans_io_client!(@impl $ty, {});
    };
    ($ty:ty, versions) => {
        impl_sans_io_client!(@impl $ty, {
            fn handle_broker_versions(
                &mut self,
                broker: $crate::client::BrokerId,
                versions: $crate::protocol::versions::ApiVersionTable,
            ) {
                <$ty>::handle_broker_versions(self, broker, versions)
            }
        });
    };
    (@impl $ty:ty, { $($extra:tt)* }) => {
        impl $crate::runtime::driver::SansIoClient for $ty {
            fn poll_transmit(&mut self, now: std::time::Instant) -> Option<$crate::client::Transmit> {
                <$ty>::poll_transmit(self, now)
            }
            fn handle_response(
                &mut self,
                broker: $crate::client::BrokerId,
                token: $crate::client::RequestToken,
                result: $crate::client::ResponseResult,
                now: std::time::Instant,
            ) {
                <$ty>::handle_response(self, broker, token, result, now)
            }
            fn handle_timeout(&mut self, now: std::time::Instant) {
                <$ty>::handle_timeout(self, now)
            }
            fn poll_timeout(&self) -> Option<std::time::Instant> {
                <$ty>::poll_timeout(self)
            }
            fn broker_address(&self, broker: $crate::client::BrokerId) -> Option<String> {
                <$ty>::broker_address(self, broker).map(str::to_owned)
            }
            $($extra)*
        }
    };
}

impl_sans_io_client!(crate::client::producer::Producer, versions);
impl_sans_io_client!(crate::client::consumer::Consumer);
impl_sans_io_client!(crate::client::admin::AdminClient);
impl_sans_io_client!(crate::client::group::GroupMember, versions);
impl_sans_io_client!(
    crate::client::worker_group::member::WorkerGroupMember,
    versions
);

/// A state machine shared between its driver task and the user-facing handle, on one thread.
pub struct Shared<S> {
    pub state: RefCell<S>,
    /// Wakes the driver: the handle added work (a record, a flush, an assignment).
    pub wake_driver: Notify,
    /// Wakes the handle: the driver made progress (events, freed buffer space).
    pub wake_user: Notify,
    /// Set when the handle is dropped or closed; the driver exits.
    pub stopped: std::cell::Cell<bool>,
    /// A wake-up is pending that the driver has not started a round for yet: further per-record wake-ups
    /// can skip `Notify` (an atomic read-modify-write each, 5 % of a 100 B send).
    driver_wake_pending: std::cell::Cell<bool>,
    /// The connection failures the driver is telling of now, for other threads (the REST API) to show.
    pub problems: ConnectionProblems,
}

impl<S> Shared<S> {
    pub fn new(state: S) -> Rc<Self> {
        Rc::new(Self {
            state: RefCell::new(state),
            wake_driver: Notify::new(),
            wake_user: Notify::new(),
            stopped: std::cell::Cell::new(false),
            driver_wake_pending: std::cell::Cell::new(false),
            problems: ConnectionProblems::default(),
        })
    }

    /// Wakes the driver unless a wake-up is already pending: for the per-record path, where the driver's next
    /// round sees every record added before it.
    pub fn wake_driver_coalesced(&self) {
        if !self.driver_wake_pending.replace(true) {
            self.wake_driver.notify_one();
        }
    }
}

/// The shortest sleep of a driver round that has a deadline.
const MIN_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

struct ConnectionHandle {
    sender: mpsc::UnboundedSender<Outbound>,
    generation: u64,
    address: String,
    task: tokio::task::JoinHandle<()>,
}

/// How long a stopping driver lets its connections end in order (a TLS connection sends close_notify): a
/// process that exits right after closing its client would otherwise cut them.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs until `shared.stopped` is set. `after_round` runs after every round with the state borrowed, to turn
/// events into deliveries.
pub async fn drive<S, B, F>(
    shared: Rc<Shared<S>>,
    backend: B,
    config: ConnectionConfig,
    mut after_round: F,
) where
    S: SansIoClient + 'static,
    B: IoBackend,
    F: FnMut(&mut S),
{
    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<ConnectionEvent>();
    let mut connections: HashMap<BrokerId, ConnectionHandle> = HashMap::new();
    let mut health = BrokerHealthTable::new(&config, shared.problems.clone());
    let mut generation: u64 = 0;
    loop {
        if shared.stopped.get() {
            break;
        }
        // This round reads the state as it is now; anything added later must wake the driver again.
        shared.driver_wake_pending.set(false);
        let now = Instant::now();
        let deadline = {
            let mut state = shared.state.borrow_mut();
            if state.poll_timeout().is_some_and(|t| t <= now) {
                state.handle_timeout(now);
            }
            while let Some(transmit) = state.poll_transmit(now) {
                let broker = transmit.broker;
                let outbound = Outbound {
                    token: transmit.token,
                    request: transmit.request,
                    expects_response: transmit.expects_response,
                };
                let handle = match connections.get(&broker) {
                    Some(handle) => handle,
                    None => {
                        let Some(address) = state.broker_address(broker) else {
                            if outbound.expects_response {
                                state.handle_response(
                                    broker,
                                    outbound.token,
                                    Err(TransportError::UnknownBroker { broker }),
                                    now,
                                );
                            }
                            continue;
                        };
                        // Within the backoff after a failed attempt: fail at once with its cause (the state
                        // machine retries on its own schedule) instead of hammering the broker.
                        if let Some(failure) = health.backing_off(broker, now) {
                            if outbound.expects_response {
                                state.handle_response(broker, outbound.token, Err(failure), now);
                            }
                            continue;
                        }
                        generation += 1;
                        let (sender, receiver) = mpsc::unbounded_channel();
                        let task = tokio::task::spawn_local(run_connection(
                            backend.clone(),
                            broker,
                            generation,
                            address,
                            config.clone(),
                            receiver,
                            events_tx.clone(),
                        ));
                        connections.entry(broker).or_insert(ConnectionHandle {
                            sender,
                            generation,
                            address: state.broker_address(broker).unwrap_or_default(),
                            task,
                        })
                    }
                };
                if let Err(mpsc::error::SendError(outbound)) = handle.sender.send(outbound) {
                    connections.remove(&broker);
                    if outbound.expects_response {
                        state.handle_response(
                            broker,
                            outbound.token,
                            Err(TransportError::Disconnected { broker }),
                            now,
                        );
                    }
                }
            }
            after_round(&mut state);
            state.poll_timeout()
        };
        tracing::trace!(in_ms = ?deadline.map(|d| d.saturating_duration_since(now).as_millis()), "driver round done");
        shared.wake_user.notify_waiters();
        // A deadline the round just handled that is still not in the future would make this loop spin and
        // never park the thread (with io_uring, submissions happen when the thread parks): wait at least a
        // moment instead.
        let deadline = deadline.map(|d| {
            if d <= now {
                tracing::trace!("state machine named a deadline already handled; waiting 1 ms");
                now + MIN_WAIT
            } else {
                d
            }
        });
        let sleep = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = events_rx.recv() => {
                let Some(event) = event else { break };
                let now = Instant::now();
                let mut state = shared.state.borrow_mut();
                handle_event(&mut *state, &mut connections, &mut health, event, now);
                // Take everything already queued in one round.
                while let Ok(event) = events_rx.try_recv() {
                    handle_event(&mut *state, &mut connections, &mut health, event, now);
                }
            }
            _ = shared.wake_driver.notified() => {}
            _ = sleep => {}
        }
    }
    // Dropping each sender tells its connection to end; wait (a moment at most) until they have.
    let tasks: Vec<_> = connections.into_values().map(|c| c.task).collect();
    let _ = tokio::time::timeout(CLOSE_WAIT, futures_util::future::join_all(tasks)).await;
}

fn handle_event<S: SansIoClient>(
    state: &mut S,
    connections: &mut HashMap<BrokerId, ConnectionHandle>,
    health: &mut BrokerHealthTable,
    event: ConnectionEvent,
    now: Instant,
) {
    match event {
        ConnectionEvent::Versions { broker, versions } => {
            if let Some(c) = connections.get(&broker) {
                health.handshake_done(broker, c.generation, &c.address);
            }
            state.handle_broker_versions(broker, versions)
        }
        ConnectionEvent::Response {
            broker,
            token,
            result,
        } => state.handle_response(broker, token, result, now),
        ConnectionEvent::Closed {
            broker,
            generation,
            address,
            failure,
        } => {
            health.closed(broker, generation, &address, &failure, now);
            if connections
                .get(&broker)
                .is_some_and(|c| c.generation == generation)
            {
                connections.remove(&broker);
            }
        }
    }
}
