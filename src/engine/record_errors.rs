//! What happens to one record that fails a stage (Kafka Connect's `RetryWithToleranceOperator` and
//! `LogReporter`): a retriable failure is tried again with backoff for `errors.retry.timeout`; every failure
//! is logged as Kafka logs it when `errors.log.enable` is set (with the record's key and value only under
//! `errors.log.include.messages`); `errors.tolerance` then decides between skipping it and failing the task.

use std::time::{Duration, Instant};

use crate::config::ErrorHandling;
use crate::connect::converters::{ConvertError, Converter};
use crate::connect::record::{ConnectRecord, Data};
use crate::connect::transforms::Needs;
#[cfg(doc)]
use crate::connect::transforms::TransformChain;

/// Kafka's first retry delay (`RetryWithToleranceOperator.RETRIES_DELAY_MIN_MS`); each retry doubles it, up to
/// `errors.retry.delay.max.ms`.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(300);

/// How long and how often a retriable failure is tried again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// `None`: for ever (`errors.retry.timeout=-1`); zero: no retry (the default).
    timeout: Option<Duration>,
    delay_max: Duration,
}

impl RetryPolicy {
    pub(crate) fn new(errors: &ErrorHandling) -> Self {
        Self {
            timeout: errors.retry_timeout,
            delay_max: errors.retry_delay_max,
        }
    }

    /// Retries of one operation that started failing at `started`.
    pub(crate) fn start(&self, started: Instant) -> Retries {
        Retries {
            policy: *self,
            started,
            next_delay: FIRST_RETRY_DELAY,
        }
    }
}

/// The retries of one failing operation.
#[derive(Debug)]
pub(crate) struct Retries {
    policy: RetryPolicy,
    started: Instant,
    next_delay: Duration,
}

impl Retries {
    /// How long to wait before the next attempt, or `None` when `errors.retry.timeout` is spent.
    pub(crate) fn next_wait(&mut self, now: Instant) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(self.started);
        let wait = match self.policy.timeout {
            None => self.next_delay.min(self.policy.delay_max),
            Some(timeout) => {
                let left = timeout.checked_sub(elapsed).filter(|d| !d.is_zero())?;
                self.next_delay.min(self.policy.delay_max).min(left)
            }
        };
        self.next_delay = self.next_delay.saturating_mul(2);
        Some(wait)
    }
}

/// A record that failed: at which of Kafka Connect's stages, and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StageFailure {
    pub stage: &'static str,
    pub message: String,
}

/// Converts what the transforms read of `record` (`needs`: its key, its value; the chain's
/// [`TransformChain::needs`], found once per task) before they run, retrying a
/// retriable failure (a schema registry that does not answer) as `retry` allows. Kafka Connect converts a
/// record read from Kafka before its transforms, so a failure here is at stage `KEY_CONVERTER` or
/// `VALUE_CONVERTER`, not `TRANSFORMATION`.
pub(crate) async fn convert_for_chain(
    record: &mut ConnectRecord,
    needs: Needs,
    key_converter: &mut Converter,
    value_converter: &mut Converter,
    retry: RetryPolicy,
) -> Result<(), StageFailure> {
    if needs.key {
        convert_with_retries(&mut record.key, key_converter, &record.topic, retry)
            .await
            .map_err(|e| StageFailure {
                stage: "KEY_CONVERTER",
                message: format!("converting the record's key: {e}"),
            })?;
    }
    if needs.value {
        convert_with_retries(&mut record.value, value_converter, &record.topic, retry)
            .await
            .map_err(|e| StageFailure {
                stage: "VALUE_CONVERTER",
                message: format!("converting the record's value: {e}"),
            })?;
    }
    Ok(())
}

async fn convert_with_retries(
    data: &mut Data,
    converter: &mut Converter,
    topic: &str,
    retry: RetryPolicy,
) -> Result<(), ConvertError> {
    let mut retries: Option<Retries> = None;
    loop {
        match data.convert(converter, topic) {
            Ok(_) => return Ok(()),
            Err(e) if e.is_retriable() => {
                let now = Instant::now();
                let wait = retries
                    .get_or_insert_with(|| retry.start(now))
                    .next_wait(now);
                match wait {
                    Some(wait) => {
                        tracing::debug!(error = %e, ?wait, "conversion failed; retrying (errors.retry.timeout)");
                        tokio::time::sleep(wait).await;
                    }
                    None => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Logs a failed record as Kafka's `LogReporter` does when `errors.log.enable=true` (whatever
/// `errors.tolerance` says), at ERROR: the task, the stage, where the record came from, and its key and value
/// only when `errors.log.include.messages=true`.
pub(crate) fn log_failure(
    errors: &ErrorHandling,
    task_label: &str,
    failure: &StageFailure,
    record: &ConnectRecord,
) {
    if !errors.log_enable {
        return;
    }
    let text = failure_report(task_label, failure, record, errors.log_include_messages);
    tracing::error!("{text}");
}

/// The text [`log_failure`] logs.
pub(crate) fn failure_report(
    task_label: &str,
    failure: &StageFailure,
    record: &ConnectRecord,
    include_messages: bool,
) -> String {
    let mut text = format!(
        "Error encountered in task {task_label}. Executing stage '{}'",
        failure.stage
    );
    match (record.partition, record.kafka_offset) {
        (Some(partition), Some(offset)) if include_messages => text.push_str(&format!(
            ", where consumed record is ConsumerRecord(topic = {}, partition = {partition}, offset = {offset}, \
             timestamp = {}, key = {}, value = {})",
            record.topic,
            record.timestamp.unwrap_or(-1),
            data_text(&record.key),
            data_text(&record.value),
        )),
        (Some(partition), Some(offset)) => text.push_str(&format!(
            ", where consumed record is {{topic='{}', partition={partition}, offset={offset}, timestamp={}}}",
            record.topic,
            record.timestamp.unwrap_or(-1),
        )),
        _ if include_messages => text.push_str(&format!(
            ", where source record is = SourceRecord{{topic='{}', key={}, value={}, timestamp={}}}",
            record.topic,
            data_text(&record.key),
            data_text(&record.value),
            record
                .timestamp
                .map_or_else(|| "null".to_owned(), |t| t.to_string()),
        )),
        _ => {}
    }
    text.push_str(&format!(". Error: {}", failure.message));
    text
}

/// A key or value for the log: converted data as Java prints it, raw bytes as text where they are UTF-8 and
/// as their length otherwise.
fn data_text(data: &Data) -> String {
    match data {
        Data::Raw(None) => "null".to_owned(),
        Data::Raw(Some(bytes)) => match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => format!("({} bytes)", bytes.len()),
        },
        Data::Converted(sv) => sv.value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn policy(timeout_ms: i64, delay_max_ms: u64) -> RetryPolicy {
        RetryPolicy {
            timeout: u64::try_from(timeout_ms).ok().map(Duration::from_millis),
            delay_max: Duration::from_millis(delay_max_ms),
        }
    }

    #[test]
    fn no_retry_by_default_and_doubling_delays_capped_within_the_timeout() {
        let t0 = Instant::now();
        assert_eq!(policy(0, 60_000).start(t0).next_wait(t0), None);

        let mut retries = policy(2_000, 1_000).start(t0);
        assert_eq!(retries.next_wait(t0), Some(Duration::from_millis(300)));
        assert_eq!(
            retries.next_wait(t0 + Duration::from_millis(300)),
            Some(Duration::from_millis(600))
        );
        // Capped by errors.retry.delay.max.ms, then by what is left of the timeout.
        assert_eq!(
            retries.next_wait(t0 + Duration::from_millis(900)),
            Some(Duration::from_millis(1_000))
        );
        assert_eq!(
            retries.next_wait(t0 + Duration::from_millis(1_900)),
            Some(Duration::from_millis(100))
        );
        assert_eq!(retries.next_wait(t0 + Duration::from_millis(2_000)), None);

        let mut forever = policy(-1, 500).start(t0);
        for _ in 0..10 {
            assert!(
                forever.next_wait(t0 + Duration::from_secs(3600)).unwrap()
                    <= Duration::from_millis(500)
            );
        }
    }

    #[test]
    fn the_report_names_the_stage_and_the_record_and_its_contents_only_when_asked() {
        let failure = StageFailure {
            stage: "VALUE_CONVERTER",
            message: "invalid JSON".into(),
        };
        let mut consumed = ConnectRecord::raw("orders", None, Some(Bytes::from_static(b"{oops")))
            .with_partition(2)
            .with_timestamp(17);
        consumed.kafka_offset = Some(41);
        let short = failure_report("p-0", &failure, &consumed, false);
        assert_eq!(
            short,
            "Error encountered in task p-0. Executing stage 'VALUE_CONVERTER', where consumed record is \
             {topic='orders', partition=2, offset=41, timestamp=17}. Error: invalid JSON"
        );
        assert!(!short.contains("oops"));
        let full = failure_report("p-0", &failure, &consumed, true);
        assert!(full.contains("value = {oops"), "{full}");

        let polled = ConnectRecord::raw("lines", None, Some(Bytes::from_static(b"secret line")));
        let short = failure_report("p-1", &failure, &polled, false);
        assert!(!short.contains("secret"), "{short}");
        assert!(failure_report("p-1", &failure, &polled, true).contains("value=secret line"));
    }
}
