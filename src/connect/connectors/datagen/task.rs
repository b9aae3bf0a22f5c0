//! The `datagen` source loop: generates records at `rate`, stops after `count`.

use std::time::Duration;

use tokio::time::Instant;

use super::config::DatagenConfig;
use super::schemas::DatagenSchema;
use crate::connect::connector::{ConnectorError, PollLimit, SourcePoll, SourceTask, TaskId};
use crate::connect::data::{Str, Value};
use crate::connect::record::{ConnectRecord, Data, SourcePosition};

/// Longest a poll waits for the next record to be due before returning `Idle` (low rates).
const MAX_WAIT: Duration = Duration::from_millis(100);

pub struct DatagenSource {
    schema: DatagenSchema,
    seed: u64,
    topic: Str,
    /// Records per second; `None`: as fast as polled.
    rate: Option<f64>,
    /// Last id to generate; `None`: forever.
    last_id: Option<u64>,
    /// Ids generated so far (the position): the next record's id is `generated + 1`.
    generated: u64,
    /// When pacing started, and `generated` then.
    started: Instant,
    generated_at_start: u64,
}

impl DatagenSource {
    /// Generates records `start + 1 ..` (`start`: a `SourcePosition::Offset` committed earlier, the number of
    /// records already delivered). Task `index` of `count` seeds its own sequence.
    pub async fn open(
        config: &DatagenConfig,
        task: TaskId,
        start: Option<SourcePosition>,
    ) -> Result<Self, ConnectorError> {
        let generated = match start {
            None => 0,
            Some(SourcePosition::Offset(n)) => u64::try_from(n).unwrap_or(0),
            Some(other) => {
                return Err(ConnectorError::fatal(format!(
                    "datagen: stored position {other:?} is not a record number; delete the pipeline's stored offsets"
                )))
            }
        };
        // Each task of a multi-task pipeline gets its own sequence; task 0 keeps the configured seed's.
        let seed = config
            .seed
            .wrapping_add(u64::from(task.index).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        Ok(DatagenSource {
            schema: config.schema,
            seed,
            topic: config.topic.clone(),
            rate: config.rate,
            last_id: config.count,
            generated,
            started: Instant::now(),
            generated_at_start: generated,
        })
    }

    /// How many records are due now (0: the next one is not due yet), and when the next one is (`None`: not
    /// within any representable time, for absurdly low rates).
    fn due(&self, rate: f64) -> (u64, Option<Instant>) {
        let since_start = self.generated - self.generated_at_start;
        let elapsed = self.started.elapsed().as_secs_f64();
        // Record k (from 0) of this run is due at k / rate seconds: the first one at once.
        let allowed = ((elapsed * rate).floor() as u64).saturating_add(1);
        let next_at = Duration::try_from_secs_f64(since_start as f64 / rate)
            .ok()
            .and_then(|d| self.started.checked_add(d));
        (allowed.saturating_sub(since_start), next_at)
    }

    fn record(&mut self, id: u64) -> ConnectRecord {
        let (value, created_ms) = self.schema.build(self.seed, id);
        let key = Data::new(
            Some(DatagenSchema::key_schema()),
            Value::Int64(i64::try_from(id).unwrap_or(i64::MAX)),
        );
        let value = Data::new(Some(self.schema.value_schema()), Value::Struct(value));
        let mut record =
            ConnectRecord::new(self.topic.clone(), key, value).with_timestamp(created_ms);
        record.source_offset = Some(SourcePosition::Offset(id as i64));
        record
    }
}

impl SourceTask for DatagenSource {
    async fn poll(&mut self, limit: PollLimit) -> Result<SourcePoll, ConnectorError> {
        let mut n = limit.records.max(1) as u64;
        if let Some(last) = self.last_id {
            if self.generated >= last {
                return Ok(SourcePoll::Finished);
            }
            n = n.min(last - self.generated);
        }
        if let Some(rate) = self.rate {
            let (mut due, next_at) = self.due(rate);
            if due == 0 {
                let soon = Instant::now() + MAX_WAIT;
                match next_at {
                    Some(at) if at <= soon => tokio::time::sleep_until(at).await,
                    _ => {
                        tokio::time::sleep(MAX_WAIT).await;
                        return Ok(SourcePoll::Idle);
                    }
                }
                due = self.due(rate).0.max(1);
            }
            n = n.min(due);
        }
        let mut records = Vec::with_capacity((n as usize).min(4096));
        let mut bytes = 0usize;
        while (records.len() as u64) < n && !limit.is_reached(records.len(), bytes) {
            let record = self.record(self.generated + 1);
            bytes += record.byte_len();
            records.push(record);
            self.generated += 1;
        }
        Ok(SourcePoll::Records(records))
    }

    async fn commit(&mut self, position: &SourcePosition) -> Result<(), ConnectorError> {
        let _ = position;
        Ok(())
    }

    async fn close(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::connectors::datagen::CONFIG;
    use crate::connect::converters::{Converter, JsonConverter};
    use std::collections::BTreeMap;

    const TASK: TaskId = TaskId { index: 0, count: 1 };

    fn config(pairs: &[(&str, &str)]) -> DatagenConfig {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DatagenConfig::new(&CONFIG.parse(&map, &[]).expect("valid keys")).expect("valid config")
    }

    async fn take(source: &mut DatagenSource, n: usize) -> Vec<ConnectRecord> {
        let mut out = Vec::new();
        while out.len() < n {
            match source
                .poll(PollLimit::records(n - out.len()))
                .await
                .unwrap()
            {
                SourcePoll::Records(r) => out.extend(r),
                SourcePoll::Idle => {}
                SourcePoll::Finished => break,
            }
        }
        out
    }

    /// The value as plain JSON (what the `json` converter with `schemas.enable=false` writes).
    fn value(record: &ConnectRecord) -> Vec<u8> {
        let mut json = Converter::Json(JsonConverter::schemaless());
        let mut out = bytes::BytesMut::new();
        assert!(record.value.write_to(&mut json, "t", &mut out).unwrap());
        out.to_vec()
    }

    #[tokio::test]
    async fn orders_are_json_objects_with_eight_fields_keyed_by_id() {
        let mut source = DatagenSource::open(&config(&[("rate", "0")]), TASK, None)
            .await
            .unwrap();
        let records = take(&mut source, 50).await;
        let mut total = 0;
        for (i, record) in records.iter().enumerate() {
            let json: serde_json::Value = serde_json::from_slice(&value(record)).unwrap();
            let object = json.as_object().unwrap();
            assert_eq!(object.len(), 8, "{json}");
            for field in [
                "id",
                "customer",
                "product",
                "quantity",
                "price",
                "currency",
                "status",
                "created_at",
            ] {
                assert!(object.contains_key(field), "{field} missing in {json}");
            }
            let id = (i + 1) as u64;
            assert_eq!(object["id"].as_u64(), Some(id));
            assert_eq!(
                record.key.converted().map(|k| &k.value),
                Some(&Value::Int64(id as i64))
            );
            assert_eq!(
                record.source_offset,
                Some(SourcePosition::Offset(id as i64))
            );
            total += value(record).len();
        }
        let average = total / records.len();
        assert!((150..=250).contains(&average), "average {average} bytes");
    }

    #[tokio::test]
    async fn users_and_pageviews_are_json_too() {
        for schema in ["users", "pageviews"] {
            let mut source =
                DatagenSource::open(&config(&[("rate", "0"), ("schema", schema)]), TASK, None)
                    .await
                    .unwrap();
            for record in take(&mut source, 10).await {
                let json: serde_json::Value = serde_json::from_slice(&value(&record)).unwrap();
                assert!(json.is_object(), "{schema}: {json}");
            }
        }
    }

    #[tokio::test]
    async fn a_seed_gives_the_same_records_and_a_restart_resumes_the_sequence() {
        let cfg = config(&[("rate", "0"), ("seed", "7")]);
        let mut a = DatagenSource::open(&cfg, TASK, None).await.unwrap();
        let mut b = DatagenSource::open(&cfg, TASK, None).await.unwrap();
        let first = take(&mut a, 20).await;
        assert_eq!(first, take(&mut b, 20).await);

        let mut resumed = DatagenSource::open(&cfg, TASK, Some(SourcePosition::Offset(12)))
            .await
            .unwrap();
        assert_eq!(take(&mut resumed, 8).await, first[12..]);

        let mut other_seed =
            DatagenSource::open(&config(&[("rate", "0"), ("seed", "8")]), TASK, None)
                .await
                .unwrap();
        assert_ne!(take(&mut other_seed, 20).await, first);
    }

    #[tokio::test]
    async fn count_stops_the_run() {
        let mut source = DatagenSource::open(&config(&[("rate", "0"), ("count", "5")]), TASK, None)
            .await
            .unwrap();
        assert_eq!(take(&mut source, 100).await.len(), 5);
        assert!(matches!(
            source.poll(PollLimit::records(10)).await.unwrap(),
            SourcePoll::Finished
        ));

        let mut resumed = DatagenSource::open(
            &config(&[("rate", "0"), ("count", "5")]),
            TASK,
            Some(SourcePosition::Offset(5)),
        )
        .await
        .unwrap();
        assert!(matches!(
            resumed.poll(PollLimit::records(10)).await.unwrap(),
            SourcePoll::Finished
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn records_come_at_the_configured_rate() {
        let mut source =
            DatagenSource::open(&config(&[("rate", "200"), ("count", "1000")]), TASK, None)
                .await
                .unwrap();
        let started = Instant::now();
        let mut received = 0;
        let mut after_one_second = None;
        loop {
            match source.poll(PollLimit::records(64)).await.unwrap() {
                SourcePoll::Records(r) => received += r.len(),
                SourcePoll::Idle => {}
                SourcePoll::Finished => break,
            }
            if after_one_second.is_none() && started.elapsed() >= Duration::from_secs(1) {
                after_one_second = Some(received);
            }
        }
        assert_eq!(received, 1000);
        // Record k is due at k / 200 s: the 1000th at 4.995 s.
        let elapsed = started.elapsed().as_secs_f64();
        assert!((4.9..=5.1).contains(&elapsed), "took {elapsed} s");
        let first_second = after_one_second.unwrap_or(0);
        assert!(
            (195..=210).contains(&first_second),
            "{first_second} in the first second"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_low_rate_polls_idle_instead_of_blocking() {
        let mut source = DatagenSource::open(&config(&[("rate", "0.5")]), TASK, None)
            .await
            .unwrap();
        assert!(
            matches!(source.poll(PollLimit::records(10)).await.unwrap(), SourcePoll::Records(r) if r.len() == 1)
        );
        let started = Instant::now();
        assert!(matches!(
            source.poll(PollLimit::records(10)).await.unwrap(),
            SourcePoll::Idle
        ));
        assert!(started.elapsed() <= MAX_WAIT);

        let mut glacial = DatagenSource::open(&config(&[("rate", "1e-300")]), TASK, None)
            .await
            .unwrap();
        assert!(matches!(
            glacial.poll(PollLimit::records(10)).await.unwrap(),
            SourcePoll::Records(_)
        ));
        assert!(matches!(
            glacial.poll(PollLimit::records(10)).await.unwrap(),
            SourcePoll::Idle
        ));
    }
}
