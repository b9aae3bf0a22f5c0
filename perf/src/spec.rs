//! What one child process measures, passed on its command line as `key=value` words.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Pipewright,
    Librdkafka,
}

impl Client {
    pub fn name(self) -> &'static str {
        match self {
            Client::Pipewright => "pipewright",
            Client::Librdkafka => "librdkafka",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// As fast as possible: records/s and CPU per record.
    Produce,
    /// At a fixed rate: send → acknowledgement latency.
    Latency,
    Consume,
    /// Untimed: fills a topic for the consume scenario.
    Fill,
    /// Untimed: fills the pipeline scenario's source topic with JSON records keyed by their number.
    FillJson,
    /// End-to-end latency: sends stamped records at a fixed rate to `topic` and reads them back both from
    /// `topic` (the direct produce → consume baseline) and from `sink_topic`, where a relay under test copies
    /// them (an engine pipeline, or librdkafka's consume → produce loop).
    Probe,
    /// librdkafka's consume → produce loop from `topic` to `sink_topic`, until `records` measured records went
    /// through (or the parent stops it).
    Relay,
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub client: Client,
    pub kind: Kind,
    pub broker: String,
    pub topic: String,
    pub partitions: i32,
    pub records: u64,
    pub record_bytes: usize,
    pub linger_ms: u64,
    pub compression: String,
    pub rate_per_s: u64,
    /// Where a latency child writes its histogram (V2 serialised); a probe writes `….direct` and `….through`.
    pub histogram_path: String,
    /// Where a relay or probe copies to / reads back from.
    pub sink_topic: String,
    /// Each tool at its own defaults: no linger.ms, batch.size or compression set.
    pub defaults: bool,
}

impl Spec {
    pub fn to_args(&self) -> Vec<String> {
        let mut words = vec![
            format!("client={}", self.client.name()),
            format!(
                "kind={}",
                match self.kind {
                    Kind::Produce => "produce",
                    Kind::Latency => "latency",
                    Kind::Consume => "consume",
                    Kind::Fill => "fill",
                    Kind::FillJson => "fill-json",
                    Kind::Probe => "probe",
                    Kind::Relay => "relay",
                }
            ),
            format!("broker={}", self.broker),
            format!("topic={}", self.topic),
            format!("partitions={}", self.partitions),
            format!("records={}", self.records),
            format!("record_bytes={}", self.record_bytes),
            format!("linger_ms={}", self.linger_ms),
            format!("compression={}", self.compression),
            format!("rate_per_s={}", self.rate_per_s),
        ];
        words.push(format!("histogram_path={}", self.histogram_path));
        words.push(format!("sink_topic={}", self.sink_topic));
        words.push(format!("defaults={}", self.defaults));
        words
    }

    pub fn from_args(args: &[String]) -> anyhow::Result<Self> {
        let map: BTreeMap<&str, &str> = args.iter().filter_map(|a| a.split_once('=')).collect();
        let get = |k: &str| -> anyhow::Result<&str> {
            map.get(k)
                .copied()
                .ok_or_else(|| anyhow::anyhow!("child spec lacks {k}"))
        };
        Ok(Self {
            client: match get("client")? {
                "pipewright" => Client::Pipewright,
                "librdkafka" => Client::Librdkafka,
                other => anyhow::bail!("unknown client {other}"),
            },
            kind: match get("kind")? {
                "produce" => Kind::Produce,
                "latency" => Kind::Latency,
                "consume" => Kind::Consume,
                "fill" => Kind::Fill,
                "fill-json" => Kind::FillJson,
                "probe" => Kind::Probe,
                "relay" => Kind::Relay,
                other => anyhow::bail!("unknown kind {other}"),
            },
            broker: get("broker")?.to_owned(),
            topic: get("topic")?.to_owned(),
            partitions: get("partitions")?.parse()?,
            records: get("records")?.parse()?,
            record_bytes: get("record_bytes")?.parse()?,
            linger_ms: get("linger_ms")?.parse()?,
            compression: get("compression")?.to_owned(),
            rate_per_s: get("rate_per_s")?.parse()?,
            histogram_path: get("histogram_path")?.to_owned(),
            sink_topic: get("sink_topic")?.to_owned(),
            defaults: get("defaults")?.parse()?,
        })
    }
}

/// What a child reports on stdout, one `RESULT` line.
#[derive(Debug, Clone, Default)]
pub struct ChildResult {
    pub records: u64,
    pub failed: u64,
    /// Wall time of the measured window.
    pub elapsed_ns: u64,
    /// user+sys of the whole child process (every thread) during the measured window, from getrusage.
    pub cpu_window_ns: u64,
}

impl ChildResult {
    pub fn to_line(&self) -> String {
        format!(
            "RESULT records={} failed={} elapsed_ns={} cpu_window_ns={}",
            self.records, self.failed, self.elapsed_ns, self.cpu_window_ns
        )
    }

    pub fn parse(stdout: &str) -> anyhow::Result<Self> {
        let line = stdout
            .lines()
            .find(|l| l.starts_with("RESULT "))
            .ok_or_else(|| anyhow::anyhow!("child printed no RESULT line"))?;
        let mut result = Self::default();
        for word in line.split_whitespace().skip(1) {
            let (k, v) = word.split_once('=').unwrap_or((word, "0"));
            let v: u64 = v.parse()?;
            match k {
                "records" => result.records = v,
                "failed" => result.failed = v,
                "elapsed_ns" => result.elapsed_ns = v,
                "cpu_window_ns" => result.cpu_window_ns = v,
                _ => {}
            }
        }
        Ok(result)
    }
}

/// user+sys CPU of this whole process so far (all threads).
pub fn process_cpu_ns() -> u64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    timeval_ns(usage.ru_utime) + timeval_ns(usage.ru_stime)
}

pub fn timeval_ns(t: libc::timeval) -> u64 {
    t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000
}

/// A record value of `size` bytes: JSON-ish text (compressible like real data) with the record number in front.
pub fn payload_template(size: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "\"order\":",
        "\"customer\":",
        "alice",
        "bob",
        "carol",
        "12.50",
        "EUR",
        "\"items\":[",
        "widget",
        "gadget",
        "true",
        "false",
        "\"ts\":",
        "1712345678",
        "},{",
        "\"status\":\"paid\"",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(size + 32);
    while out.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(WORDS[(state % WORDS.len() as u64) as usize].as_bytes());
        out.push(b' ');
    }
    out.truncate(size);
    out
}

/// Writes the record number into the first bytes of `value` so no two records are identical.
#[inline]
pub fn stamp(value: &mut [u8], n: u64) {
    let digits = n.to_le_bytes();
    let len = value.len().min(8);
    value[..len].copy_from_slice(&digits[..len]);
}
