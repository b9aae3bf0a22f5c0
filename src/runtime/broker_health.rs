//! What a driver knows of each broker's connections: when it may try again after a failed attempt (exponential
//! backoff with jitter, `reconnect.backoff.ms` doubling up to `reconnect.backoff.max.ms`, as the Java client and
//! librdkafka do), and which failure it last told the user of, so a failure is logged when it starts or
//! changes, never once per retry.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::client::{BrokerId, TransportError};

use super::connection::ConnectionConfig;

/// Spread of the jitter around each backoff: ±20 %, as the Java client's.
const JITTER: f64 = 0.2;

#[derive(Default)]
struct BrokerHealth {
    /// Attempts in a row that failed before the handshake completed.
    failures: u32,
    /// No new attempt before this.
    retry_at: Option<Instant>,
    /// Why the last attempt failed: requests that arrive during the backoff fail with it.
    last_failure: Option<TransportError>,
    /// The failure last logged, if it still lasts.
    logged: Option<String>,
    /// The connection generation whose handshake completed.
    handshaken: Option<u64>,
}

/// The connection failures a client's driver is telling of now (one per broker, while it lasts), for another
/// thread to show: the REST API puts them in a running task's `trace`. Cheap to clone; the driver writes it
/// only when a failure starts, changes or ends.
///
/// A broker refusing our credentials is kept apart too ([`ConnectionProblems::authentication_refused`]): the
/// driver goes on retrying with backoff (a pipeline's task recovers once the credentials are fixed), but a
/// one-off CLI command ends at once with it, as the Java client fails a call with an authentication error.
#[derive(Debug, Clone, Default)]
pub struct ConnectionProblems {
    current: Arc<Mutex<ProblemState>>,
    refused: Arc<tokio::sync::Notify>,
}

#[derive(Debug, Default)]
struct ProblemState {
    by_broker: BTreeMap<BrokerId, String>,
    /// The first authentication failure, kept once seen.
    authentication: Option<String>,
}

impl ConnectionProblems {
    /// The failures that last now, one line each ("could not connect to broker -1 (127.0.0.1:1): …").
    pub fn current(&self) -> Vec<String> {
        match self.current.lock() {
            Ok(problems) => problems.by_broker.values().cloned().collect(),
            Err(_) => Vec::new(),
        }
    }

    fn set(&self, broker: BrokerId, problem: Option<String>) {
        if let Ok(mut problems) = self.current.lock() {
            match problem {
                Some(problem) => problems.by_broker.insert(broker, problem),
                None => problems.by_broker.remove(&broker),
            };
        }
    }

    fn note_authentication_failure(&self, failure: &TransportError) {
        if let Ok(mut problems) = self.current.lock() {
            problems
                .authentication
                .get_or_insert_with(|| failure.to_string());
        }
        self.refused.notify_waiters();
    }

    /// The first authentication failure of any broker, once there is one.
    pub fn authentication_failure(&self) -> Option<String> {
        self.current
            .lock()
            .ok()
            .and_then(|problems| problems.authentication.clone())
    }

    /// Waits until a broker refuses to authenticate us (or we refuse it); returns the one-line failure.
    pub async fn authentication_refused(&self) -> String {
        loop {
            let notified = std::pin::pin!(self.refused.notified());
            let mut notified = notified;
            notified.as_mut().enable();
            if let Some(failure) = self.authentication_failure() {
                return failure;
            }
            notified.await;
        }
    }
}

pub struct BrokerHealthTable {
    brokers: HashMap<BrokerId, BrokerHealth>,
    problems: ConnectionProblems,
    backoff: Duration,
    backoff_max: Duration,
    rng: fastrand::Rng,
}

impl BrokerHealthTable {
    pub fn new(config: &ConnectionConfig, problems: ConnectionProblems) -> Self {
        Self {
            brokers: HashMap::new(),
            problems,
            backoff: config.reconnect_backoff,
            backoff_max: config.reconnect_backoff_max.max(config.reconnect_backoff),
            rng: fastrand::Rng::new(),
        }
    }

    /// While `broker`'s backoff lasts, the failure a request to it fails with instead of a new attempt.
    pub fn backing_off(&self, broker: BrokerId, now: Instant) -> Option<TransportError> {
        let health = self.brokers.get(&broker)?;
        match health.retry_at {
            Some(at) if now < at => health.last_failure.clone(),
            _ => None,
        }
    }

    /// The handshake of connection `generation` to `broker` completed: the broker is reachable again.
    pub fn handshake_done(&mut self, broker: BrokerId, generation: u64, address: &str) {
        let health = self.brokers.entry(broker).or_default();
        if health.failures > 0 && health.logged.take().is_some() {
            tracing::info!(
                broker,
                %address,
                failed_attempts = health.failures,
                "connected to the broker again"
            );
            self.problems.set(broker, None);
        }
        // A protocol failure stays logged: it comes back on the next connection, and is told once.
        health.failures = 0;
        health.retry_at = None;
        health.last_failure = None;
        health.handshaken = Some(generation);
    }

    /// Connection `generation` to `broker` closed with `failure`. One that never completed its handshake was a
    /// failed attempt: the next waits out the backoff, and the failure is logged if it is new.
    pub fn closed(
        &mut self,
        broker: BrokerId,
        generation: u64,
        address: &str,
        failure: &TransportError,
        now: Instant,
    ) {
        let health = self.brokers.entry(broker).or_default();
        if health.handshaken == Some(generation) {
            // It worked, then closed: try again at once. A broker restart or an idle close is routine; a
            // protocol failure (a response larger than message.max.bytes, say) recurs on every connection and
            // is the user's to fix, so it is told, once while it lasts.
            health.handshaken = None;
            match failure {
                // A re-authentication the broker refused is the user's to fix as well.
                TransportError::Protocol { .. } | TransportError::Authentication { .. } => {
                    if matches!(failure, TransportError::Authentication { .. }) {
                        self.problems.note_authentication_failure(failure);
                    }
                    let message = failure.to_string();
                    if health.logged.as_deref() != Some(message.as_str()) {
                        tracing::warn!("connection to {address} failed: {message}");
                        self.problems.set(
                            broker,
                            Some(format!("connection to {address} failed: {message}")),
                        );
                        health.logged = Some(message);
                    }
                }
                _ => tracing::debug!(broker, %address, error = %failure, "connection closed"),
            }
            return;
        }
        if matches!(failure, TransportError::Authentication { .. }) {
            self.problems.note_authentication_failure(failure);
        }
        health.failures = health.failures.saturating_add(1);
        let wait = jittered(
            backoff_after(self.backoff, self.backoff_max, health.failures),
            &mut self.rng,
        )
        .min(self.backoff_max);
        health.retry_at = Some(now + wait);
        health.last_failure = Some(failure.clone());
        let message = failure.to_string();
        if health.logged.as_deref() != Some(message.as_str()) {
            tracing::warn!(
                "{message}; retrying, at most every {} ms (reconnect.backoff.max.ms)",
                self.backoff_max.as_millis()
            );
            self.problems.set(broker, Some(message.clone()));
            health.logged = Some(message);
        } else {
            tracing::debug!(broker, %address, error = %failure, retry_in_ms = wait.as_millis() as u64, "connection attempt failed");
        }
    }
}

/// The wait after the `failures`-th failed attempt in a row: `base` doubled per earlier failure, at most `max`.
fn backoff_after(base: Duration, max: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(31);
    base.saturating_mul(1u32 << doublings).min(max)
}

fn jittered(wait: Duration, rng: &mut fastrand::Rng) -> Duration {
    let factor = 1.0 + JITTER * (rng.f64() * 2.0 - 1.0);
    wait.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> BrokerHealthTable {
        BrokerHealthTable::new(
            &ConnectionConfig {
                client_id: "t".into(),
                request_timeout: Duration::from_secs(30),
                join_group_timeout: None,
                connect_timeout: Duration::from_secs(10),
                max_frame_bytes: 1 << 20,
                reconnect_backoff: Duration::from_millis(50),
                reconnect_backoff_max: Duration::from_millis(1000),
                tls: None,
                sasl: None,
            },
            ConnectionProblems::default(),
        )
    }

    fn refused() -> TransportError {
        TransportError::ConnectFailed {
            broker: 1,
            address: "127.0.0.1:1".into(),
            reason: "Connection refused (os error 111)".into(),
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_maximum() {
        let (base, max) = (Duration::from_millis(50), Duration::from_millis(1000));
        let waits: Vec<u128> = (1..=7)
            .map(|n| backoff_after(base, max, n).as_millis())
            .collect();
        assert_eq!(waits, [50, 100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff_after(base, max, u32::MAX), max);
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..1000 {
            let ms = jittered(Duration::from_millis(1000), &mut rng).as_millis();
            assert!((800..=1200).contains(&ms), "{ms}");
        }
    }

    #[test]
    fn a_failed_attempt_backs_off_and_a_handshake_ends_it() {
        let mut table = table();
        let now = Instant::now();
        assert!(table.backing_off(1, now).is_none());
        table.closed(1, 1, "127.0.0.1:1", &refused(), now);
        assert_eq!(table.backing_off(1, now), Some(refused()));
        assert!(table
            .backing_off(1, now + Duration::from_millis(61))
            .is_none());
        // Each failure in a row waits longer: the third at least 200 ms less a fifth.
        table.closed(1, 2, "127.0.0.1:1", &refused(), now);
        table.closed(1, 3, "127.0.0.1:1", &refused(), now);
        assert!(table
            .backing_off(1, now + Duration::from_millis(159))
            .is_some());
        table.handshake_done(1, 4, "127.0.0.1:1");
        assert!(table.backing_off(1, now).is_none());
        // A connection that worked and then closed is tried again at once.
        table.closed(
            1,
            4,
            "127.0.0.1:1",
            &TransportError::Disconnected { broker: 1 },
            now,
        );
        assert!(table.backing_off(1, now).is_none());
    }
}
