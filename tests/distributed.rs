//! `engine distributed WORKER.properties`: Kafka Connect's distributed mode, several workers of one group
//! against a real broker (one shared by the tests of this binary, or `PIPEWRIGHT_TEST_BROKER`):
//! - a connector of 6 tasks created through one worker runs 2/2/2 on three workers, every worker's
//!   `GET /connectors/NAME/status` shows the same placement, and the internal topics hold Kafka Connect's
//!   records (read with confluent-kafka): `connector-NAME` `{"properties"}`, `target-state-NAME`,
//!   `task-NAME-i`, `commit-NAME` `{"tasks": 6}`, `status-task-NAME-i` with its `worker_id`; a worker killed -9
//!   has its tasks moved to the two others (3/3) once its session times out (the time is printed);
//! - a rolling restart (SIGTERM, start again, next worker) of a file source → Kafka and a Kafka → file sink
//!   connector loses no line (at least once), and the statuses then name where the tasks run;
//! - a config change of one connector restarts its tasks only: the other's tasks stay where they ran and write
//!   no new status;
//! - a worker cut off from the broker (the fault proxy blackholing its connections) gives up its tasks (its
//!   `/metrics` shows none on its cores), which run on the others, and gets 2 again once the proxy heals;
//!
//! Where the group has settled is read from each worker's own count of the tasks on its cores (`/metrics`)
//! as well as from the statuses, so a wrong status fails as such rather than as a group that never settles.
//! - a worker file without `config.storage.topic` or `group.id` is refused within seconds, naming file and key.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use support::broker::{create_topic, free_port, unique_topic, TestBroker};
use support::distributed::{
    append_lines, http_get, running_placement, tasks_per_worker, worker_properties, GroupNames,
    WorkerGroup, SESSION_TIMEOUT_MS,
};
use support::fault_proxy::FaultProxy;
use support::peers::ck_consume;
use support::process::run;
use support::tools::engine;
use support::waiting::file_lines;

/// How long a group may take to form and run what it was given (tansu answers a new group's first JoinGroup
/// after half the session timeout; each rebalance after that waits for every member).
const SETTLE: Duration = Duration::from_secs(40);
/// How long after a worker's session ends its tasks may take to run elsewhere.
const MOVE_MARGIN: Duration = Duration::from_secs(20);

fn session_timeout() -> Duration {
    Duration::from_millis(SESSION_TIMEOUT_MS)
}

/// A datagen source of `tasks` tasks writing to `topic`, slowly: the tests watch where its tasks run.
fn datagen(topic: &str, tasks: usize, rate: u32) -> Value {
    json!({
        "connector.class": "datagen",
        "topic": topic,
        "tasks.max": tasks.to_string(),
        "rate": rate.to_string(),
    })
}

/// Waits until connector `name`'s `tasks` tasks are all RUNNING, spread as `expected` says (worker id → task
/// count), and every running worker's status shows that same placement; returns it and how long that took.
fn wait_for_placement(
    group: &mut WorkerGroup,
    name: &str,
    tasks: usize,
    expected: impl Fn(&BTreeMap<String, usize>) -> bool,
    what: &str,
    timeout: Duration,
) -> (BTreeMap<u64, String>, Duration) {
    group.wait_until(what, timeout, |group| {
        let mut agreed: Option<BTreeMap<u64, String>> = None;
        for i in (0..group.len()).filter(|&i| group.worker(i).is_running()) {
            let placement = running_placement(&group.status(i, name)?, tasks)
                .map_err(|seen| format!("worker {}: {seen}", group.worker(i).id()))?;
            let counts = tasks_per_worker(&placement);
            if !expected(&counts) {
                return Err(format!("worker {} shows {counts:?}", group.worker(i).id()));
            }
            match &agreed {
                Some(first) if *first != placement => {
                    return Err(format!(
                        "workers disagree: {first:?} against {}'s {placement:?}",
                        group.worker(i).id()
                    ))
                }
                _ => agreed = Some(placement),
            }
        }
        agreed.ok_or_else(|| "no worker running".to_owned())
    })
}

/// `counts` gives each of `ids` exactly `per_worker` tasks.
fn evenly(counts: &BTreeMap<String, usize>, ids: &[String], per_worker: usize) -> bool {
    counts.len() == ids.len()
        && ids
            .iter()
            .all(|id| counts.get(id).copied() == Some(per_worker))
}

/// The records of `topic` as confluent-kafka reads them from the start: (key, value) text, in partition and
/// offset order.
fn topic_records(bootstrap: &str, topic: &str) -> Vec<(String, String)> {
    ck_consume(bootstrap, topic, None)
        .iter()
        .map(|r| {
            let key = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned();
            (key, r.value_text())
        })
        .collect()
}

/// The last value of each key in `records`, parsed as JSON (null where it is not: a tombstone).
fn last_by_key(records: &[(String, String)]) -> HashMap<String, Value> {
    records
        .iter()
        .map(|(key, value)| {
            (
                key.clone(),
                serde_json::from_str(value).unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// The records of each `status-task-NAME-i` key in the status topic, in order: (state, worker id).
fn task_status_history(
    bootstrap: &str,
    status_topic: &str,
    name: &str,
) -> BTreeMap<String, Vec<(String, String)>> {
    let prefix = format!("status-task-{name}-");
    let mut history: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (key, value) in topic_records(bootstrap, status_topic) {
        if key.starts_with(&prefix) {
            let value: Value = serde_json::from_str(&value).unwrap_or(Value::Null);
            let field = |name: &str| value[name].as_str().unwrap_or("?").to_owned();
            history
                .entry(key)
                .or_default()
                .push((field("state"), field("worker_id")));
        }
    }
    history
}

/// The config and status topics hold Kafka Connect's records for connector `name` of `tasks` tasks placed as
/// `placement` (KafkaConfigBackingStore, KafkaStatusBackingStore).
fn assert_internal_topics_in_kafka_connect_formats(
    bootstrap: &str,
    names: &GroupNames,
    name: &str,
    tasks: usize,
    placement: &BTreeMap<u64, String>,
) {
    let configs = topic_records(bootstrap, &names.config_topic);
    let keys: Vec<&str> = configs.iter().map(|(key, _)| key.as_str()).collect();
    let latest = last_by_key(&configs);
    let connector = &latest
        .get(&format!("connector-{name}"))
        .unwrap_or_else(|| panic!("no connector-{name} in the config topic: {keys:?}"))
        ["properties"];
    assert_eq!(
        (&connector["connector.class"], &connector["tasks.max"]),
        (&json!("datagen"), &json!(tasks.to_string())),
        "connector-{name} is {{\"properties\": <the config as given>}}: {connector}"
    );
    let target = &latest
        .get(&format!("target-state-{name}"))
        .unwrap_or_else(|| panic!("no target-state-{name} in the config topic: {keys:?}"));
    assert_eq!(
        (&target["state"], &target["state.v2"]),
        (&json!("STARTED"), &json!("STARTED")),
        "target-state-{name}: {target}"
    );
    for task in 0..tasks {
        let key = format!("task-{name}-{task}");
        let record = latest
            .get(&key)
            .unwrap_or_else(|| panic!("no {key} in the config topic: {keys:?}"));
        assert!(
            record["properties"].is_object(),
            "{key} is {{\"properties\": {{...}}}}: {record}"
        );
    }
    let commit_key = format!("commit-{name}");
    assert_eq!(
        latest
            .get(&commit_key)
            .unwrap_or_else(|| panic!("no {commit_key} in the config topic: {keys:?}")),
        &json!({"tasks": tasks}),
        "{commit_key}"
    );
    // Task configs count once a commit record follows them: every task record comes before the last commit.
    let last_commit = keys.iter().rposition(|k| *k == commit_key).unwrap();
    let last_task = keys
        .iter()
        .rposition(|k| k.starts_with(&format!("task-{name}-")))
        .unwrap();
    assert!(
        last_task < last_commit,
        "task configs before their commit record: {keys:?}"
    );

    let statuses = last_by_key(&topic_records(bootstrap, &names.status_topic));
    for (task, worker) in placement {
        let key = format!("status-task-{name}-{task}");
        let status = statuses
            .get(&key)
            .unwrap_or_else(|| panic!("no {key} in the status topic: {:?}", statuses.keys()));
        assert_eq!(
            (&status["state"], &status["worker_id"]),
            (&json!("RUNNING"), &json!(worker)),
            "{key}: {status}"
        );
    }
    let connector_status = statuses
        .get(&format!("status-connector-{name}"))
        .unwrap_or_else(|| panic!("no status-connector-{name}: {:?}", statuses.keys()));
    assert_eq!(
        connector_status["state"], "RUNNING",
        "status-connector-{name}: {connector_status}"
    );
}

#[test]
fn six_tasks_run_two_per_worker_and_move_to_the_others_when_one_is_killed_9() {
    let broker = TestBroker::shared();
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let topic = unique_topic("dist-spread");
    create_topic(&bootstrap, &topic, 6);
    let names = GroupNames::unique("dist-spread");
    let mut group = WorkerGroup::start(dir.path(), names.clone(), &vec![bootstrap.clone(); 3]);
    group.wait_until_serving(SETTLE);
    let ids = group.running_ids();

    group.create_connector(0, "orders", datagen(&topic, 6, 5));
    let (placement, took) = wait_for_placement(
        &mut group,
        "orders",
        6,
        |counts| evenly(counts, &ids, 2),
        "6 tasks RUNNING, 2 on each worker, alike on every worker",
        SETTLE,
    );
    eprintln!(
        "orders: 6 tasks 2/2/2 on {ids:?} {:.1} s after the POST",
        took.as_secs_f64()
    );
    assert_internal_topics_in_kafka_connect_formats(&bootstrap, &names, "orders", 6, &placement);

    let killed = group.worker(0).id();
    group.worker_mut(0).kill();
    let survivors = group.running_ids();
    let (_, took) = wait_for_placement(
        &mut group,
        "orders",
        6,
        |counts| evenly(counts, &survivors, 3),
        &format!("the tasks of {killed} (killed -9) RUNNING on the others, 3/3"),
        session_timeout() + MOVE_MARGIN,
    );
    eprintln!(
        "kill -9 of {killed}: all 6 tasks RUNNING on {survivors:?} {:.1} s after the kill \
         (session.timeout.ms={SESSION_TIMEOUT_MS})",
        took.as_secs_f64()
    );
}

#[test]
fn a_rolling_restart_loses_no_line_of_a_file_to_kafka_to_file_copy() {
    let broker = TestBroker::shared();
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let topic = unique_topic("dist-rolling");
    create_topic(&bootstrap, &topic, 1);
    let input = dir.path().join("input.txt");
    let output = dir.path().join("output.txt");
    append_lines(&input, &[]);
    let names = GroupNames::unique("dist-rolling");
    let mut group = WorkerGroup::start(dir.path(), names, &vec![bootstrap.clone(); 3]);
    group.wait_until_serving(SETTLE);
    group.create_connector(
        0,
        "lines-in",
        json!({"connector.class": "FileStreamSource", "file": input.display().to_string(),
               "topic": topic, "tasks.max": "1"}),
    );
    group.create_connector(
        1,
        "lines-out",
        json!({"connector.class": "FileStreamSink", "file": output.display().to_string(),
               "topics": topic, "tasks.max": "1"}),
    );
    // Settled: the two tasks run, once each, between the running workers (their own count, from /metrics),
    // and every worker lists both connectors. Statuses are checked at the end, beside the lines.
    let settled = |group: &mut WorkerGroup, what: &str| {
        group.wait_until(
            &format!("both tasks running, once each ({what})"),
            SETTLE,
            |group| {
                let (total, each) = group.tasks_running()?;
                if total != 2 {
                    return Err(format!("tasks on the workers' cores: {each:?}"));
                }
                for i in 0..group.len() {
                    match http_get(group.worker(i).port(), "/connectors") {
                        Some((200, list))
                            if list == json!(["lines-in", "lines-out"])
                                || list == json!(["lines-out", "lines-in"]) => {}
                        other => return Err(format!("{}: {other:?}", group.worker(i).id())),
                    }
                }
                Ok(())
            },
        );
    };
    settled(&mut group, "before the restarts");

    // Lines keep arriving through the whole rolling restart, 100 a second.
    let stop = Arc::new(AtomicBool::new(false));
    let appender = {
        let (stop, input) = (Arc::clone(&stop), input.clone());
        thread::spawn(move || {
            let mut written = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let lines: Vec<String> = (written..written + 5)
                    .map(|n| format!("line-{n:06}"))
                    .collect();
                append_lines(&input, &lines);
                written += lines.len();
                thread::sleep(Duration::from_millis(50));
            }
            written
        })
    };
    for i in 0..group.len() {
        let id = group.worker(i).id();
        let started = Instant::now();
        group.worker_mut(i).terminate();
        group.worker_mut(i).spawn();
        settled(&mut group, &format!("after restarting {id}"));
        eprintln!(
            "rolling restart: {id} stopped, started and the group settled in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    stop.store(true, Ordering::SeqCst);
    let written = appender.join().expect("the appender");
    let expected: BTreeSet<String> = file_lines(&input).into_iter().collect();
    assert_eq!(expected.len(), written, "the input holds every line once");

    let (missing, _) = group.wait_until(
        &format!("all {written} lines in the sink's output"),
        SETTLE,
        |_| {
            let seen: BTreeSet<String> = file_lines(&output).into_iter().collect();
            let missing: Vec<&String> = expected.difference(&seen).collect();
            if missing.is_empty() {
                Ok(missing.len())
            } else {
                Err(format!(
                    "{} of {written} missing, first {:?}",
                    missing.len(),
                    &missing[..missing.len().min(5)]
                ))
            }
        },
    );
    assert_eq!(missing, 0);
    let lines = file_lines(&output);
    let unknown: Vec<&String> = lines.iter().filter(|l| !expected.contains(*l)).collect();
    assert!(
        unknown.is_empty(),
        "lines no one wrote in the output: {:?}",
        &unknown[..unknown.len().min(5)]
    );
    eprintln!(
        "rolling restart of 3 workers: {written} lines in, {} out ({} written again)",
        lines.len(),
        lines.len() - written
    );
    // The source's position is in the offsets topic as Kafka Connect's FileStreamSource keeps it:
    // ["CONNECTOR", {"filename": path}] → {"position": bytes}, at the input's end once all is copied.
    let input_length = std::fs::metadata(&input).unwrap().len();
    let position_key = json!(["lines-in", {"filename": input.display().to_string()}]);
    let offset_topic = group.names.offset_topic.clone();
    group.wait_until(
        &format!("{position_key} at position {input_length} in the offsets topic"),
        SETTLE,
        |_| {
            let positions: Vec<Value> = topic_records(&bootstrap, &offset_topic)
                .iter()
                .filter(|(key, _)| {
                    serde_json::from_str::<Value>(key).ok() == Some(position_key.clone())
                })
                .map(|(_, value)| serde_json::from_str(value).unwrap_or(Value::Null))
                .collect();
            match positions.last() {
                Some(last) if last["position"] == input_length => Ok(()),
                _ => Err(format!(
                    "{} positions, the last {:?}",
                    positions.len(),
                    &positions[positions.len().saturating_sub(3)..]
                )),
            }
        },
    );
    for name in ["lines-in", "lines-out"] {
        let ids = group.running_ids();
        wait_for_placement(
            &mut group,
            name,
            1,
            |counts| counts.keys().all(|id| ids.contains(id)),
            &format!("every worker's status to show {name}'s task RUNNING on a running worker"),
            SETTLE,
        );
    }
}

#[test]
fn a_config_change_restarts_only_the_changed_connectors_tasks() {
    let broker = TestBroker::shared();
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let topic = unique_topic("dist-change");
    create_topic(&bootstrap, &topic, 3);
    let names = GroupNames::unique("dist-change");
    let mut group = WorkerGroup::start(dir.path(), names.clone(), &vec![bootstrap.clone(); 3]);
    group.wait_until_serving(SETTLE);
    let ids = group.running_ids();
    group.create_connector(0, "changed", datagen(&topic, 3, 5));
    group.create_connector(1, "kept", datagen(&topic, 3, 5));
    // Two connectors of 3 tasks on 3 workers: 2 tasks each (by task count); where each connector's go is the
    // leader's choice.
    for name in ["changed", "kept"] {
        wait_for_placement(
            &mut group,
            name,
            3,
            |counts| counts.keys().all(|id| ids.contains(id)),
            &format!("{name}'s 3 tasks RUNNING"),
            SETTLE,
        );
    }
    let ids_for_total = ids.clone();
    group.wait_until("6 tasks, 2 on each worker", SETTLE, |group| {
        let mut total = BTreeMap::new();
        for name in ["changed", "kept"] {
            for (worker, count) in tasks_per_worker(&running_placement(&group.status(0, name)?, 3)?)
            {
                *total.entry(worker).or_insert(0) += count;
            }
        }
        if evenly(&total, &ids_for_total, 2) {
            Ok(())
        } else {
            Err(format!("{total:?}"))
        }
    });
    let (kept_before, _) =
        wait_for_placement(&mut group, "kept", 3, |_| true, "kept RUNNING", SETTLE);
    let kept_statuses = task_status_history(&bootstrap, &names.status_topic, "kept");
    let changed_statuses = task_status_history(&bootstrap, &names.status_topic, "changed");
    assert_eq!(
        kept_statuses.len(),
        3,
        "a status record per task of kept: {kept_statuses:?}"
    );

    group.put_config(2, "changed", datagen(&topic, 3, 7));
    group.wait_until(
        "every worker to show changed's new config",
        SETTLE,
        |group| {
            for i in 0..group.len() {
                match http_get(group.worker(i).port(), "/connectors/changed/config") {
                    Some((200, config)) if config["rate"] == "7" => {}
                    other => return Err(format!("{}: {other:?}", group.worker(i).id())),
                }
            }
            Ok(())
        },
    );
    // The changed connector's tasks restart: each writes a RUNNING status after the change, and the six run.
    let status_topic = names.status_topic.clone();
    let bootstrap_for_wait = bootstrap.clone();
    group.wait_until(
        "changed's tasks to restart (a RUNNING status each, after the change; 6 tasks on the cores)",
        SETTLE,
        |group| {
            let history = task_status_history(&bootstrap_for_wait, &status_topic, "changed");
            let restarted = changed_statuses.iter().all(|(key, before)| {
                history.get(key).is_some_and(|now| {
                    now[before.len().min(now.len())..]
                        .iter()
                        .any(|(state, _)| state == "RUNNING")
                })
            });
            let (total, each) = group.tasks_running()?;
            if restarted && total == 6 {
                Ok(())
            } else {
                Err(format!(
                    "status records {history:?}, before the change {changed_statuses:?}; tasks on the \
                     cores {each:?}"
                ))
            }
        },
    );
    // Nothing more is coming that could be awaited: kept is watched for a few heartbeats past the change.
    let watch_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < watch_until {
        let (placement, _) =
            wait_for_placement(&mut group, "kept", 3, |_| true, "kept RUNNING", SETTLE);
        assert_eq!(
            placement,
            kept_before,
            "kept's tasks stayed where they ran\n{}",
            group.stderr_tails()
        );
        thread::sleep(Duration::from_millis(300));
    }
    let kept_after = task_status_history(&bootstrap, &names.status_topic, "kept");
    assert_eq!(
        kept_after,
        kept_statuses,
        "kept's tasks wrote no new status (none was stopped or started again)\n{}",
        group.stderr_tails()
    );
    // And the statuses of the changed tasks say where they run now.
    wait_for_placement(
        &mut group,
        "changed",
        3,
        |counts| counts.keys().all(|id| ids.contains(id)),
        "every worker's status to show changed's 3 tasks RUNNING after the change",
        SETTLE,
    );
}

#[test]
fn a_worker_cut_off_from_the_broker_gives_up_its_tasks_and_gets_work_again_once_back() {
    let broker = TestBroker::shared();
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let topic = unique_topic("dist-cutoff");
    create_topic(&bootstrap, &topic, 6);
    let proxy = FaultProxy::start(&bootstrap);
    let names = GroupNames::unique("dist-cutoff");
    let mut group = WorkerGroup::start(
        dir.path(),
        names,
        &[bootstrap.clone(), bootstrap.clone(), proxy.bootstrap()],
    );
    group.wait_until_serving(SETTLE);
    let ids = group.running_ids();
    let cut = ids[2].clone();
    let others = ids[..2].to_vec();
    group.create_connector(0, "orders", datagen(&topic, 6, 5));
    wait_for_placement(
        &mut group,
        "orders",
        6,
        |counts| evenly(counts, &ids, 2),
        "6 tasks RUNNING, 2 on each worker",
        SETTLE,
    );

    proxy.set_blackhole(true);
    let cut_at = Instant::now();
    // Asked of the two that still reach the broker; the cut-off worker's own view is stale by design.
    let status_from_others = |group: &WorkerGroup,
                              expected: &dyn Fn(&BTreeMap<String, usize>) -> bool|
     -> Result<(), String> {
        for i in 0..2 {
            let counts = tasks_per_worker(&running_placement(&group.status(i, "orders")?, 6)?);
            if !expected(&counts) {
                return Err(format!("worker {} shows {counts:?}", group.worker(i).id()));
            }
        }
        Ok(())
    };
    group.wait_until(
        &format!("the tasks of {cut} (cut off) RUNNING on the others, 3/3"),
        session_timeout() + MOVE_MARGIN,
        |group| status_from_others(group, &|counts| evenly(counts, &others, 3)),
    );
    eprintln!(
        "{cut} cut off from the broker: its tasks RUNNING on {others:?} {:.1} s later",
        cut_at.elapsed().as_secs_f64()
    );
    // Checked after the rest, so that one run shows both the cut-off worker's part and the group's.
    let gave_up = group.poll_until(
        &format!("{cut} (cut off) to stop its tasks (pipewright_core_tasks 0)"),
        session_timeout() + MOVE_MARGIN,
        |group| match group.tasks_running_on(2) {
            Some(0) => Ok(()),
            other => Err(format!("tasks on its cores: {other:?}")),
        },
    );
    match &gave_up {
        Ok(_) => eprintln!(
            "{cut} cut off from the broker: runs no task {:.1} s later",
            cut_at.elapsed().as_secs_f64()
        ),
        Err(_) => eprintln!(
            "{cut} cut off from the broker: still runs tasks {:.1} s later",
            cut_at.elapsed().as_secs_f64()
        ),
    }

    // The partition heals; connections that lived through it would wait out their request timeouts, as
    // after a real network partition they are reset.
    proxy.set_blackhole(false);
    proxy.drop_all_connections();
    let healed_at = Instant::now();
    group.wait_until(
        "2 tasks on each worker's cores",
        SETTLE,
        |group| match group.tasks_running()? {
            (6, each) if each.values().all(|&tasks| tasks == 2) => Ok(()),
            (_, each) => Err(format!("tasks on the workers' cores: {each:?}")),
        },
    );
    eprintln!(
        "{cut} reconnected: 2/2/2 on the workers' cores {:.1} s after the proxy healed",
        healed_at.elapsed().as_secs_f64()
    );
    group.wait_until(
        &format!("every status to show {cut} back in the group with 2 of the 6 tasks"),
        SETTLE,
        |group| status_from_others(group, &|counts| evenly(counts, &ids, 2)),
    );
    if let Err(failure) = gave_up {
        panic!("while cut off: {failure}");
    }
}

/// A worker file without `key`: `engine distributed` exits non-zero within 5 s, naming the file and the key.
fn assert_refused_without(dir: &Path, key: &str) {
    let names = GroupNames::unique("dist-bad");
    let full = worker_properties("127.0.0.1:1", &names, free_port(), "");
    let text: String = full
        .lines()
        .filter(|line| !line.starts_with(&format!("{key}=")))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_ne!(text.len(), full.len(), "the template has {key}");
    let file = dir.join(format!("without-{key}.properties"));
    std::fs::write(&file, text).unwrap();
    let output = run(
        std::process::Command::new(engine())
            .arg("distributed")
            .arg(&file)
            .current_dir(dir),
        None,
        Duration::from_secs(5),
    );
    assert!(
        !output.status.success(),
        "a worker file without {key} is refused; it exited {}",
        output.status
    );
    assert!(
        output.stderr.contains(&file.display().to_string()) && output.stderr.contains(key),
        "the error names {} and {key}:\n{}",
        file.display(),
        output.stderr
    );
}

#[test]
fn a_worker_file_without_a_storage_topic_or_group_id_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    assert_refused_without(dir.path(), "config.storage.topic");
    assert_refused_without(dir.path(), "group.id");
}
