//! The cluster scenario: 1, 2 and 3 `engine distributed` workers (one core each, so on this 2-core machine they
//! share the cores with each other and the broker) form one Connect cluster; a FileStreamSink connector with
//! six tasks, created through the first worker's REST API at its defaults, reads a filled topic of six
//! partitions into /dev/null. The rate is from the first record written until the sum of every worker's
//! `pipewright_records_written_total` reaches the topic's record count. It measures the cluster (the group
//! forming, the leader spreading the tasks, sink tasks as consumer group members on several workers), not a
//! comparison with anyone: no Kafka Connect runs here.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// The workers of one run, killed if the run fails before they are stopped.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One run's outcome.
#[derive(Debug, Clone)]
pub struct ClusterRun {
    pub workers: usize,
    pub records: u64,
    /// Connector created → every task RUNNING somewhere.
    pub tasks_running_after: Duration,
    /// First record written → the last.
    pub elapsed: Duration,
}

impl ClusterRun {
    pub fn records_per_s(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn worker_properties(broker: &str, run: &str, port: u16) -> String {
    format!(
        "bootstrap.servers={broker}
group.id=perf-cluster-{run}
config.storage.topic=perf-cluster-{run}-configs
offset.storage.topic=perf-cluster-{run}-offsets
status.storage.topic=perf-cluster-{run}-status
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
listeners=http://127.0.0.1:{port}
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.storage.StringConverter
"
    )
}

/// One HTTP/1.1 request to 127.0.0.1:`port`; the status code and body, `None` while nothing listens.
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

fn written_total(ports: &[u16]) -> u64 {
    ports
        .iter()
        .filter_map(|port| http(*port, "GET", "/metrics", ""))
        .map(|(_, body)| {
            body.lines()
                .filter(|l| {
                    l.strip_prefix("pipewright_records_written_total")
                        .is_some_and(|r| r.starts_with('{'))
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

/// Runs `workers` workers against `broker`, whose `topic` holds `records` records in `tasks` partitions.
pub fn run(
    engine: &Path,
    broker: &str,
    topic: &str,
    records: u64,
    workers: usize,
    tasks: usize,
) -> anyhow::Result<ClusterRun> {
    let run = format!("{}-{workers}", std::process::id());
    let dir = std::env::temp_dir().join(format!("perf-cluster-{run}"));
    std::fs::create_dir_all(&dir)?;
    let mut ports = Vec::new();
    let mut children = Workers(Vec::new());
    for index in 0..workers {
        let port = crate::broker::free_port()?;
        let file = dir.join(format!("worker-{index}.properties"));
        std::fs::write(&file, worker_properties(broker, &run, port))?;
        children.0.push(
            Command::new(engine)
                .arg("distributed")
                .arg("--cores")
                .arg("1")
                .arg(&file)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .with_context(|| format!("starting {}", engine.display()))?,
        );
        ports.push(port);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while ports
        .iter()
        .any(|p| http(*p, "GET", "/connectors", "").is_none_or(|(s, _)| s != 200))
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the workers' REST APIs did not answer within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let connector = format!(
        r#"{{"name":"perf-sink-{run}","config":{{"connector.class":"FileStreamSink","tasks.max":"{tasks}","topics":"{topic}","file":"/dev/null","consumer.override.auto.offset.reset":"earliest"}}}}"#
    );
    let created = Instant::now();
    loop {
        match http(ports[0], "POST", "/connectors", &connector) {
            Some((201, _)) => break,
            // 409 while the cluster forms; try again.
            Some((409, _)) | None => {}
            Some((status, body)) => anyhow::bail!("POST /connectors: {status} {body}"),
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the connector could not be created within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let timeout = Duration::from_secs(90) + Duration::from_secs(records / 10_000);
    let mut tasks_running_after = None;
    let mut first_written = None;
    let finished = loop {
        anyhow::ensure!(
            created.elapsed() < timeout,
            "the cluster did not write {records} records within {timeout:?}"
        );
        if tasks_running_after.is_none() {
            if let Some((200, body)) = http(ports[0], "GET", &format!("/connectors/perf-sink-{run}/status"), "") {
                if body.matches("\"RUNNING\"").count() > tasks {
                    tasks_running_after = Some(created.elapsed());
                }
            }
        }
        let written = written_total(&ports);
        if written > 0 && first_written.is_none() {
            first_written = Some(Instant::now());
        }
        if written >= records {
            break Instant::now();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for child in &children.0 {
        // SAFETY: kill(2) on our own children, which have not been waited for.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    }
    for child in &mut children.0 {
        let _ = child.wait();
    }
    children.0.clear();
    let _ = std::fs::remove_dir_all(&dir);
    let first = first_written.unwrap_or(finished);
    Ok(ClusterRun {
        workers,
        records,
        tasks_running_after: tasks_running_after.unwrap_or_default(),
        elapsed: finished.duration_since(first),
    })
}
