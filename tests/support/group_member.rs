//! Consumer-group member processes for the group tests: `engine consume -G` or a confluent-kafka peer, each
//! telling its assignment changes on stderr ("% group G: assigned t-0, t-1", "revoked …", "lost …") and its
//! records on stdout ("<partition> <offset> <value>"), both in files the test reads while the member runs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::ops::Range;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::engine_cli::{assert_delivered, engine_produce, run_engine};
use super::peers::peer_command;
use super::tools::engine;

/// How long a group may take to settle, or its members to print what was produced.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a complete, balanced assignment must hold before the group counts as settled.
const SETTLED_FOR: Duration = Duration::from_secs(1);

/// One group member process with stdout and stderr in files, so the test can read them while it runs.
pub struct Member {
    pub name: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    exited: bool,
}

impl Member {
    pub fn spawn(name: &str, dir: &tempfile::TempDir, command: &mut Command) -> Member {
        let stdout = dir.path().join(format!("{name}.out"));
        let stderr = dir.path().join(format!("{name}.err"));
        let child = command
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("stdout file"))
            .stderr(File::create(&stderr).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Member {
            name: name.into(),
            child,
            stdout,
            stderr,
            exited: false,
        }
    }

    pub fn engine(
        name: &str,
        dir: &tempfile::TempDir,
        bootstrap: &str,
        topic: &str,
        group: &str,
        extra: &[&str],
    ) -> Member {
        Member::spawn(
            name,
            dir,
            Command::new(engine())
                .args([
                    "consume",
                    "-b",
                    bootstrap,
                    "-t",
                    topic,
                    "-G",
                    group,
                    "-o",
                    "beginning",
                ])
                .args(["-f", "%p %o %s\\n"])
                .args([
                    "-X",
                    "heartbeat.interval.ms=300",
                    "-X",
                    "session.timeout.ms=6000",
                ])
                .args(extra),
        )
    }

    pub fn python(
        name: &str,
        dir: &tempfile::TempDir,
        bootstrap: &str,
        topic: &str,
        group: &str,
        strategy: &str,
    ) -> Member {
        Member::spawn(
            name,
            dir,
            peer_command("ck_group_consume.py").args([
                "--bootstrap",
                bootstrap,
                "--topic",
                topic,
                "--group",
                group,
                "-X",
                &format!("partition.assignment.strategy={strategy}"),
                "-X",
                "heartbeat.interval.ms=300",
                "-X",
                "session.timeout.ms=6000",
            ]),
        )
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Values printed so far ("<partition> <offset> <value>" lines).
    pub fn values(&self) -> Vec<String> {
        std::fs::read_to_string(&self.stdout)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(2).map(str::to_owned))
            .collect()
    }

    /// Partitions this member owns now, replaying its assigned / revoked / lost lines.
    pub fn owned(&self) -> BTreeSet<i32> {
        let mut owned = BTreeSet::new();
        for line in self.stderr().lines() {
            let Some(rest) = line.strip_prefix("% group ") else {
                continue;
            };
            let Some((_, change)) = rest.split_once(": ") else {
                continue;
            };
            let Some((verb, list)) = change.split_once(' ') else {
                continue;
            };
            let partitions = list.split(", ").filter_map(|tp| {
                tp.rsplit_once('-')
                    .and_then(|(_, p)| p.trim().parse::<i32>().ok())
            });
            match verb {
                "assigned" => owned.extend(partitions),
                "revoked" | "lost" => {
                    for p in partitions {
                        owned.remove(&p);
                    }
                }
                _ => {}
            }
        }
        owned
    }

    pub fn signal(&mut self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {}", self.name);
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                self.exited = true;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {timeout:?}; stderr:\n{}",
                self.name,
                self.stderr()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until the live members own every partition of `0..partitions` between them, each exactly once (and each
/// member some, when there are enough partitions), and checks at every look that no partition has two owners. Returns who owns what.
pub fn wait_settled(members: &[&Member], partitions: i32) -> Vec<BTreeSet<i32>> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let all: BTreeSet<i32> = (0..partitions).collect();
    let mut stable_since: Option<(Instant, Vec<BTreeSet<i32>>)> = None;
    loop {
        let owned: Vec<BTreeSet<i32>> = members.iter().map(|m| m.owned()).collect();
        let mut seen = BTreeMap::new();
        for (member, set) in members.iter().zip(&owned) {
            for p in set {
                if let Some(other) = seen.insert(*p, member.name.clone()) {
                    panic!(
                        "partition {p} owned by both {other} and {} at once",
                        member.name
                    );
                }
            }
        }
        let union: BTreeSet<i32> = owned.iter().flatten().copied().collect();
        // With no more members than partitions, every balanced assignment gives each member something.
        let balanced = members.len() > partitions as usize || owned.iter().all(|o| !o.is_empty());
        if union == all && balanced {
            // Settled once the picture holds for a moment (a second rebalance may follow a first). A second
            // rebalance shows within the moment: a cooperative one follows a picture with revoked partitions
            // unowned (not complete), an eager one revokes at the member's next heartbeat (300 ms here).
            match &stable_since {
                Some((since, previous)) if *previous == owned => {
                    if since.elapsed() > SETTLED_FOR {
                        return owned;
                    }
                }
                _ => stable_since = Some((Instant::now(), owned.clone())),
            }
        } else {
            stable_since = None;
        }
        assert!(
            Instant::now() < deadline,
            "group did not settle within {SETTLE_TIMEOUT:?}: {owned:?}\n{}",
            members
                .iter()
                .map(|m| format!("--- {}:\n{}", m.name, m.stderr()))
                .collect::<Vec<_>>()
                .join("\n")
        );
        thread::sleep(Duration::from_millis(100));
    }
}

pub fn wait_all_printed(members: &[&Member], expected: &BTreeSet<String>) {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let printed: BTreeSet<String> = members.iter().flat_map(|m| m.values()).collect();
        let missing: Vec<&String> = expected.difference(&printed).collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} records never printed, e.g. {:?}\n{}",
            missing.len(),
            &missing[..missing.len().min(5)],
            members
                .iter()
                .map(|m| format!("--- {}:\n{}", m.name, m.stderr()))
                .collect::<Vec<_>>()
                .join("\n")
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// The group's committed offset and the end offset per partition (`engine group offsets`); a partition whose
/// end offset is not known is left out. The group reads one topic.
pub fn group_offsets(bootstrap: &str, group: &str) -> BTreeMap<i32, (i64, i64)> {
    offset_rows(bootstrap, group)
        .into_iter()
        .filter_map(|(partition, committed, end)| Some((partition, (committed, end?))))
        .collect()
}

/// The group's committed offset per partition (not the end offsets, which tansu's ListOffsets gets wrong).
/// The group reads one topic.
pub fn committed_offsets(bootstrap: &str, group: &str) -> BTreeMap<i32, i64> {
    offset_rows(bootstrap, group)
        .into_iter()
        .map(|(partition, committed, _)| (partition, committed))
        .collect()
}

/// `engine group offsets` rows: (partition, committed, end if known).
fn offset_rows(bootstrap: &str, group: &str) -> Vec<(i32, i64, Option<i64>)> {
    let output = run_engine(&["group", "offsets", group, "-b", bootstrap]);
    output.assert_success("engine group offsets");
    output
        .stdout_str()
        .lines()
        .skip(2)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Some((
                fields.get(1)?.parse().ok()?,
                fields.get(2)?.parse().ok()?,
                fields.get(3).and_then(|end| end.parse().ok()),
            ))
        })
        .collect()
}

/// Values `prefix-<i>` for i in `range`, and `engine produce -K :` input for them: `key-<value>:<value>`
/// lines (keyed, so they spread over partitions).
pub fn prefixed_values(prefix: &str, range: Range<u32>) -> (Vec<String>, String) {
    let values: Vec<String> = range.map(|i| format!("{prefix}-{i}")).collect();
    let input = values.iter().map(|v| format!("key-{v}:{v}\n")).collect();
    (values, input)
}

/// Produces `prefixed_values` with `engine produce -K : <args>`, checks every one was delivered, and returns
/// them: what the members should print between them.
pub fn produce_prefixed(
    bootstrap: &str,
    topic: &str,
    prefix: &str,
    range: Range<u32>,
    args: &[&str],
) -> BTreeSet<String> {
    let (values, input) = prefixed_values(prefix, range);
    let args = [&["-K", ":"], args].concat();
    assert_delivered(
        &engine_produce(bootstrap, topic, &args, input.as_bytes()),
        topic,
        values.len(),
    );
    values.into_iter().collect()
}
