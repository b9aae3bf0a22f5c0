//! The REST API of `engine standalone`, driven by clients no one here wrote: the `kc` CLI of kafka-connect-py and
//! plain Python `requests`, `/metrics` read by prometheus_client's parser, schemathesis against docs/openapi.yaml.
//! What each answer must be is what Kafka Connect 4.x answers:
//! - every endpoint, with kc where kc has the command and requests elsewhere;
//! - errors: 400, 404 and 409 where Kafka Connect gives them, always `{"error_code": N, "message": "..."}`;
//! - connectors created, paused, stopped and deleted through REST are so again after a restart, and resume from
//!   their positions (nothing re-sent, nothing skipped);
//! - 50 requests at once are answered while another client holds a half-sent request;
//! - a secret a connector config reads through a config provider appears in no answer;
//! - schemathesis, for a bounded time, finds no 5xx and no answer unlike the description; the engine lives on.
//!
//! - a stopped connector's offsets, read, altered and reset through REST (KIP-875), are where it starts again:
//!   a file source from the byte position set, a Kafka-reading one from its topic's start after a reset or from
//!   the offset set; its active topics (KIP-558) with kc's `list-topics` / `reset-topics`;
//! - `GET /health` (KIP-1017) answers healthy;
//! - Kafka's quickstart files run as they are.
//!
//! A PASSWORD-type value (the http sink's `connection.password`) shown as `[hidden]` in every answer is tested on
//! the REST router itself (src/admin/tests.rs), since no connector here needs a running worker for it.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use support::broker::{create_topic, unique_topic, TestBroker};
use support::engine_process::{committed_file_position, TaskPositions};
use support::peers::{ck_consume, ck_produce, PeerRecord};
use support::rest::{
    concurrent_requests, get_json, kc, kc_json, prometheus_metrics, request, requests,
    schemathesis, Call, StandaloneEngine,
};
use support::waiting::wait_for;

/// Records travel as the lines' text (the worker's default converters are JSON).
const STRING_CONVERTERS: &str = "key.converter=org.apache.kafka.connect.storage.StringConverter\n\
     value.converter=org.apache.kafka.connect.storage.StringConverter";
/// A bootstrap no broker listens on: for tests whose connectors never run.
const NO_BROKER: &str = "127.0.0.1:1";
const WAIT: Duration = Duration::from_secs(30);

fn file_source(file: &Path, topic: &str) -> Value {
    json!({
        "connector.class": "FileStreamSource",
        "file": file.display().to_string(),
        "topic": topic,
        "tasks.max": "1",
    })
}

fn append_lines(file: &Path, lines: &[&str]) {
    use std::io::Write;
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .expect("open the source file");
    for line in lines {
        writeln!(out, "{line}").expect("append a line");
    }
}

/// Waits until connector `name`'s task 0 has committed the whole of `file`.
fn wait_until_read(dir: &Path, name: &str, file: &Path) {
    let positions = TaskPositions {
        file: dir.join("connect.offsets"),
        pipeline: name.to_owned(),
        task: 0,
    };
    let length = std::fs::metadata(file).expect("the source file").len();
    wait_for(&format!("{name} to commit {length} bytes"), WAIT, || {
        committed_file_position(&positions) == Some(length)
    });
}

/// Waits until `GET /connectors/{name}/status` shows the connector in `state` and every task in `task_state`.
fn wait_for_state(engine: &StandaloneEngine, name: &str, state: &str, task_state: &str) {
    let path = format!("/connectors/{name}/status");
    wait_for(&format!("{name} {state}, tasks {task_state}"), WAIT, || {
        let (_, status) = get_json(engine.port(), &path);
        status["connector"]["state"] == state
            && status["tasks"]
                .as_array()
                .is_some_and(|tasks| tasks.iter().all(|t| t["state"] == task_state))
    });
}

fn topic_values(bootstrap: &str, topic: &str) -> Vec<String> {
    ck_consume(bootstrap, topic, None)
        .iter()
        .map(|r| r.value_text())
        .collect()
}

#[test]
fn every_endpoint_answers_kc_and_requests_as_kafka_connect_does() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();
    let mut engine = StandaloneEngine::start(dir.path(), &broker.bootstrap(), STRING_CONVERTERS);
    let url = engine.url();
    let worker_id = format!("127.0.0.1:{}", engine.port());

    // The worker reads the cluster's id from the broker after it starts, as Kafka Connect shows it.
    wait_for("GET / to show the Kafka cluster id", WAIT, || {
        get_json(engine.port(), "/").1["kafka_cluster_id"].is_string()
    });
    let info = kc_json(&url, &["info"]);
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"), "{info}");
    assert!(
        info.get("commit").is_some()
            && info["kafka_cluster_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
        "{info}"
    );

    // KIP-1017's probe endpoint, with plain requests.
    let health = request(&url, Call::get("/health"));
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(health.json["status"], "healthy", "{}", health.text);

    let plugins = kc_json(&url, &["list-plugins"]);
    assert!(
        plugins.as_array().unwrap().iter().any(|p| p["class"]
            == "org.apache.kafka.connect.file.FileStreamSourceConnector"
            && p["type"] == "source"),
        "{plugins}"
    );

    let topic = unique_topic("rest-lines");
    create_topic(&broker.bootstrap(), &topic, 1);
    let file = dir.path().join("lines.txt");
    append_lines(&file, &["one", "two", "three"]);
    let created = kc_json(
        &url,
        &[
            "create",
            "-d",
            &json!({"name": "lines", "config": file_source(&file, &topic)}).to_string(),
        ],
    );
    assert_eq!(created["name"], "lines", "{created}");
    assert_eq!(created["type"], "source");
    assert_eq!(created["tasks"], json!([{"connector": "lines", "task": 0}]));
    assert_eq!(
        created["config"]["name"], "lines",
        "Kafka Connect puts the name into the config"
    );
    assert_eq!(kc_json(&url, &["list"]), json!(["lines"]));
    assert_eq!(kc_json(&url, &["get", "lines"]), created);
    assert_eq!(kc_json(&url, &["config", "lines"]), created["config"]);

    wait_for_state(&engine, "lines", "RUNNING", "RUNNING");
    let status = kc_json(&url, &["status", "lines"]);
    assert_eq!(
        status,
        json!({"name": "lines", "connector": {"state": "RUNNING", "worker_id": worker_id},
               "tasks": [{"id": 0, "state": "RUNNING", "worker_id": worker_id}], "type": "source"})
    );
    wait_until_read(dir.path(), "lines", &file);
    assert_eq!(
        topic_values(&broker.bootstrap(), &topic),
        ["one", "two", "three"]
    );

    let expanded = kc_json(&url, &["list", "--expand", "status"]);
    assert_eq!(expanded, json!({"lines": {"status": status}}));
    let expanded = kc_json(&url, &["list", "--expand", "info"]);
    assert_eq!(expanded, json!({"lines": {"info": created}}));
    let tasks = kc_json(&url, &["list-tasks", "lines"]);
    assert_eq!(
        tasks[0]["id"],
        json!({"connector": "lines", "task": 0}),
        "{tasks}"
    );
    assert_eq!(tasks[0]["config"]["file"], file.display().to_string());
    assert_eq!(
        kc_json(&url, &["task-status", "lines", "0"]),
        json!({"id": 0, "state": "RUNNING", "worker_id": worker_id})
    );

    // kc prints the status after a restart; a restart of the connector alone is 204 (kc accepts 200, 202, 204).
    assert_eq!(kc_json(&url, &["restart", "lines"])["name"], "lines");
    let restarted = kc_json(&url, &["restart", "lines", "--include-tasks"]);
    assert_eq!(restarted["name"], "lines", "{restarted}");
    assert_eq!(
        kc(&url, &["restart-task", "lines", "0"])
            .stdout_str()
            .trim(),
        "null"
    );
    wait_for_state(&engine, "lines", "RUNNING", "RUNNING");

    assert_eq!(kc(&url, &["pause", "lines"]).stdout_str(), "");
    wait_for_state(&engine, "lines", "PAUSED", "PAUSED");
    assert_eq!(kc(&url, &["resume", "lines"]).stdout_str(), "");
    wait_for_state(&engine, "lines", "RUNNING", "RUNNING");

    // Stopped (KIP-875): no tasks at all until it runs again.
    let replies = requests(
        &url,
        &[
            Call::put("/connectors/lines/stop"),
            Call::get("/connectors/lines/status"),
            Call::get("/connectors/lines/tasks"),
            Call::get("/connectors/lines"),
            Call::put("/connectors/lines/resume"),
        ],
    );
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [204, 200, 200, 200, 202]);
    assert_eq!(replies[1].json["connector"]["state"], "STOPPED");
    assert_eq!(replies[1].json["tasks"], json!([]), "{}", replies[1].text);
    assert_eq!(replies[2].json, json!([]));
    assert_eq!(replies[3].json["tasks"], json!([]));
    wait_for_state(&engine, "lines", "RUNNING", "RUNNING");

    let mut changed = file_source(&file, &topic);
    changed["batch.size"] = json!("100");
    let updated = kc_json(&url, &["update", "lines", "-d", &changed.to_string()]);
    assert_eq!(updated["config"]["batch.size"], "100", "{updated}");
    let replies = requests(
        &url,
        &[
            Call::patch("/connectors/lines/config").json(json!({"batch.size": "50", "tasks.max": null})),
            Call::put("/connectors/other/config")
                .json(file_source(&dir.path().join("other.txt"), &topic)),
            Call::put("/connectors/other/config")
                .json(file_source(&dir.path().join("other.txt"), &topic)),
            Call::put("/connectors/other/stop"),
            Call::delete("/connectors/other"),
            Call::get("/connector-plugins").params(json!({"connectorsOnly": "false"})),
            Call::get("/connector-plugins/FileStreamSource/config"),
            Call::put("/connector-plugins/FileStreamSource/config/validate")
                .json(file_source(&file, &topic)),
            Call::put("/connector-plugins/FileStreamSourceConnector/config/validate")
                .json(json!({"connector.class": "FileStreamSource", "topic": topic, "batch.size": "many"})),
            Call::get("/admin/loggers"),
            Call::put("/admin/loggers/pipewright::worker").json(json!({"level": "DEBUG"})),
            Call::get("/admin/loggers/pipewright::worker"),
            Call::get("/admin/loggers/pipewright::worker::requests"),
            Call::put("/admin/loggers/pipewright::worker").json(json!({"level": "WARN"})),
        ],
    );
    let [patched, created, replaced, stopped, deleted, all_plugins, keys, clean, dirty, loggers, set, level, child, reset] =
        <[_; 14]>::try_from(replies).unwrap();
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.json["config"]["batch.size"], "50");
    assert!(
        patched.json["config"].get("tasks.max").is_none(),
        "a null removes the key"
    );
    assert_eq!(
        (created.status, replaced.status),
        (201, 200),
        "{}",
        created.text
    );
    assert_eq!(
        created.location,
        Some(format!("{url}/connectors/other")),
        "201 names where it is"
    );
    assert_eq!((stopped.status, deleted.status), (204, 204));
    let types: std::collections::BTreeSet<&str> = all_plugins
        .json
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["type"].as_str())
        .collect();
    assert_eq!(
        types,
        ["converter", "predicate", "sink", "source", "transformation"].into(),
        "{}",
        all_plugins.text
    );
    assert!(
        keys.json
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["name"] == "file"),
        "{}",
        keys.text
    );
    assert_eq!(clean.json["error_count"], 0, "{}", clean.text);
    assert_eq!(
        clean.json["name"], "FileStreamSource",
        "the report names the connector.class it validated"
    );
    assert!(
        dirty.json["error_count"].as_u64().unwrap() >= 2,
        "{}",
        dirty.text
    );
    let batch = dirty.json["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["definition"]["name"] == "batch.size")
        .expect("batch.size in the report");
    assert!(
        !batch["value"]["errors"].as_array().unwrap().is_empty(),
        "{batch}"
    );
    assert!(
        loggers.json["root"]["level"].is_string(),
        "{}",
        loggers.text
    );
    assert_eq!(set.json, json!(["pipewright::worker"]), "{}", set.text);
    assert_eq!(level.json, json!({"level": "DEBUG"}));
    assert_eq!(
        child.json,
        json!({"level": "DEBUG"}),
        "a logger follows its parent"
    );
    assert_eq!(reset.status, 200);

    assert_eq!(kc(&url, &["delete", "lines"]).stdout_str(), "");
    assert_eq!(kc_json(&url, &["list"]), json!([]));
    engine.stop();
}

#[test]
fn errors_are_the_codes_and_bodies_kafka_connect_answers() {
    let dir = tempfile::tempdir().unwrap();
    let engine = StandaloneEngine::start(dir.path(), NO_BROKER, "");
    let url = engine.url();
    let stopped = |name: &str| json!({"name": name, "config": file_source(&dir.path().join("x"), "t"), "initial_state": "STOPPED"});
    let cases: Vec<(Call, u16, &str)> = vec![
        (Call::post("/connectors").json(stopped("taken")), 201, ""),
        (
            Call::post("/connectors").json(stopped("taken")),
            409,
            "Connector taken already exists",
        ),
        (Call::post("/connectors").data("{not json"), 400, ""),
        (
            Call::post("/connectors")
                .json(json!({"name": "x", "config": {"connector.class": "FileStreamSourc"}})),
            400,
            "Connector configuration is invalid and contains the following 1 error(s)",
        ),
        (
            Call::post("/connectors").json(json!({"config": {}})),
            400,
            "",
        ),
        (
            Call::post("/connectors")
                .json(json!({"name": "x", "config": {}, "initial_state": "SLEEPING"})),
            400,
            "",
        ),
        (
            Call::put("/connectors/x/config")
                .json(json!({"name": "y", "connector.class": "FileStreamSource"})),
            400,
            "Connector name configuration (y) doesn't match connector name in the URL (x)",
        ),
        (
            Call::put("/connectors/x/config").json(json!(["not", "a", "map"])),
            400,
            "",
        ),
        (
            Call::get("/connectors/nope"),
            404,
            "Connector nope not found",
        ),
        (
            Call::get("/connectors/nope/config"),
            404,
            "Connector nope not found",
        ),
        (
            Call::get("/connectors/nope/status"),
            404,
            "No status found for connector nope",
        ),
        (
            Call::get("/connectors/nope/tasks"),
            404,
            "Connector nope not found",
        ),
        (Call::get("/connectors/taken/tasks/0/status"), 404, ""),
        (Call::get("/connectors/taken/tasks/zero/status"), 404, ""),
        (
            Call::patch("/connectors/nope/config").json(json!({"a": "b"})),
            404,
            "",
        ),
        (Call::post("/connectors/nope/restart"), 404, ""),
        (Call::post("/connectors/nope/tasks/0/restart"), 404, ""),
        (Call::put("/connectors/nope/pause"), 404, ""),
        (Call::put("/connectors/nope/resume"), 404, ""),
        (Call::put("/connectors/nope/stop"), 404, ""),
        (
            Call::delete("/connectors/nope"),
            404,
            "Connector nope not found",
        ),
        (Call::get("/connector-plugins/Nope/config"), 404, ""),
        (
            Call::put("/connector-plugins/Nope/config/validate").json(json!({})),
            404,
            "",
        ),
        (
            Call::put("/connector-plugins/FileStreamSink/config/validate")
                .json(json!({"connector.class": "FileStreamSource"})),
            400,
            "Included connector type FileStreamSource does not match request type FileStreamSink",
        ),
        (
            Call::put("/admin/loggers/root").json(json!({})),
            400,
            "Desired 'level' parameter was not specified",
        ),
        (
            Call::put("/admin/loggers/root").json(json!({"level": "LOUD"})),
            404,
            "invalid log level 'LOUD'",
        ),
        (
            Call::get("/admin/loggers/org.example.NoSuchLogger"),
            404,
            "Logger org.example.NoSuchLogger not found.",
        ),
        (Call::get("/no/such/path"), 404, ""),
        (Call::delete("/connector-plugins"), 405, ""),
        (Call::post("/connectors").json(stopped(" padded ")), 201, ""),
        (Call::get("/connectors/padded"), 200, ""),
        (Call::delete("/connectors/taken"), 204, ""),
        (Call::get("/connectors/taken"), 404, ""),
    ];
    let calls: Vec<Call> = cases.iter().map(|(call, ..)| call.clone()).collect();
    for ((call, status, message), reply) in cases.iter().zip(requests(&url, &calls)) {
        let what = call.describe();
        assert_eq!(reply.status, *status, "{what}: {}", reply.text);
        if *status < 400 {
            continue;
        }
        assert_eq!(
            reply.json["error_code"], *status,
            "{what}: the body is Kafka Connect's error message: {:?}",
            reply.text
        );
        let text = reply.json["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: {}", reply.text));
        assert!(
            text.starts_with(message),
            "{what}: {text:?} should start with {message:?}"
        );
        assert!(
            reply
                .content_type
                .as_deref()
                .is_some_and(|t| t.starts_with("application/json")),
            "{what}: {:?}",
            reply.content_type
        );
    }
}

#[test]
fn connectors_changed_through_rest_survive_a_restart_and_resume_from_their_positions() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();
    let mut engine = StandaloneEngine::start(dir.path(), &broker.bootstrap(), STRING_CONVERTERS);
    let url = engine.url();
    let names = ["kept", "paused", "stopped", "deleted"];
    let mut topics = Vec::new();
    for name in names {
        let topic = unique_topic(&format!("rest-{name}"));
        create_topic(&broker.bootstrap(), &topic, 1);
        let file = dir.path().join(format!("{name}.txt"));
        append_lines(&file, &["1", "2", "3"]);
        let reply = request(
            &url,
            Call::post("/connectors")
                .json(json!({"name": name, "config": file_source(&file, &topic)})),
        );
        assert_eq!(reply.status, 201, "{}", reply.text);
        topics.push((name, file, topic));
    }
    for (name, file, _) in &topics {
        wait_until_read(dir.path(), name, file);
    }
    let replies = requests(
        &url,
        &[
            Call::put("/connectors/paused/pause"),
            Call::put("/connectors/stopped/stop"),
            Call::delete("/connectors/deleted"),
        ],
    );
    assert_eq!(
        replies.iter().map(|r| r.status).collect::<Vec<_>>(),
        [202, 204, 204]
    );
    wait_for_state(&engine, "paused", "PAUSED", "PAUSED");
    // Lines arriving meanwhile are for after the restart: a paused or stopped connector reads none of them.
    for (name, file, _) in &topics[1..] {
        append_lines(file, &[&format!("{name} 4"), &format!("{name} 5")]);
    }

    engine.restart();
    let replies = requests(
        &url,
        &[
            Call::get("/connectors"),
            Call::get("/connectors/kept/status"),
            Call::get("/connectors/paused/status"),
            Call::get("/connectors/stopped/status"),
            Call::get("/connectors/deleted"),
        ],
    );
    assert_eq!(
        replies[0].json,
        json!(["kept", "paused", "stopped"]),
        "{}",
        replies[0].text
    );
    assert_eq!(
        replies[1].json["connector"]["state"], "RUNNING",
        "{}",
        replies[1].text
    );
    assert_eq!(
        replies[2].json["connector"]["state"], "PAUSED",
        "{}",
        replies[2].text
    );
    assert_eq!(
        replies[3].json["connector"]["state"], "STOPPED",
        "{}",
        replies[3].text
    );
    assert_eq!(replies[4].status, 404, "a deleted connector stays deleted");
    wait_for_state(&engine, "paused", "PAUSED", "PAUSED");
    for (_, _, topic) in &topics[1..3] {
        assert_eq!(
            topic_values(&broker.bootstrap(), topic),
            ["1", "2", "3"],
            "{topic}: nothing read while paused or stopped"
        );
    }

    append_lines(&topics[0].1, &["kept 4", "kept 5"]);
    let replies = requests(
        &url,
        &[
            Call::put("/connectors/paused/resume"),
            Call::put("/connectors/stopped/resume"),
        ],
    );
    assert_eq!(
        replies.iter().map(|r| r.status).collect::<Vec<_>>(),
        [202, 202]
    );
    for (name, file, topic) in &topics[..3] {
        wait_until_read(dir.path(), name, file);
        assert_eq!(
            topic_values(&broker.bootstrap(), topic),
            ["1", "2", "3", &format!("{name} 4"), &format!("{name} 5")],
            "{name}: each line once, in order, across the restart"
        );
    }
    assert_eq!(
        topic_values(&broker.bootstrap(), &topics[3].2),
        ["1", "2", "3"],
        "the deleted connector did not come back"
    );
    engine.stop();
}

/// Kafka Connect's answer to a change of a connector that is not stopped.
fn not_stopped(name: &str) -> String {
    format!(
        "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the \
         specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint"
    )
}

#[test]
fn a_stopped_file_source_copies_again_from_the_position_its_offsets_were_set_to() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();
    let engine = StandaloneEngine::start(dir.path(), &broker.bootstrap(), STRING_CONVERTERS);
    let url = engine.url();
    let topic = unique_topic("rest-offsets");
    create_topic(&broker.bootstrap(), &topic, 1);
    let file = dir.path().join("lines.txt");
    append_lines(&file, &["one", "two", "three"]);
    let created = request(
        &url,
        Call::post("/connectors")
            .json(json!({"name": "lines", "config": file_source(&file, &topic)})),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    wait_until_read(dir.path(), "lines", &file);

    // Active topics (KIP-558), through kc: the topic the records went to; a reset empties the list.
    assert_eq!(
        kc_json(&url, &["list-topics", "lines"]),
        json!({"lines": {"topics": [topic]}})
    );
    assert_eq!(
        kc(&url, &["reset-topics", "lines"]).stdout_str().trim(),
        "null"
    );
    assert_eq!(
        kc_json(&url, &["list-topics", "lines"]),
        json!({"lines": {"topics": []}})
    );

    let partition = json!({"filename": file.display().to_string()});
    let at = |position: u64| json!({"offsets": [{"partition": partition, "offset": {"position": position}}]});
    let replies = requests(
        &url,
        &[
            Call::get("/connectors/lines/offsets"),
            Call::patch("/connectors/lines/offsets").json(at(4)),
            Call::delete("/connectors/lines/offsets"),
            Call::put("/connectors/lines/stop"),
            Call::patch("/connectors/lines/offsets").json(at(4)),
            Call::get("/connectors/lines/offsets"),
        ],
    );
    let [read, refused, refused_reset, stopped, altered, reread] =
        <[_; 6]>::try_from(replies).unwrap();
    assert_eq!(
        (read.status, read.json.clone()),
        (200, at(14)),
        "{}",
        read.text
    );
    for refused in [&refused, &refused_reset] {
        assert_eq!(refused.status, 400, "{}", refused.text);
        assert_eq!(
            refused.json,
            json!({"error_code": 400, "message": not_stopped("lines")})
        );
    }
    assert_eq!(stopped.status, 204);
    assert_eq!(
        (altered.status, altered.json.clone()),
        (
            200,
            json!({"message": "The offsets for this connector have been altered successfully"})
        ),
        "{}",
        altered.text
    );
    assert_eq!(reread.json, at(4), "{}", reread.text);

    // Resumed, it copies again from byte 4: the line after "one".
    assert_eq!(
        request(&url, Call::put("/connectors/lines/resume")).status,
        202
    );
    wait_for_state(&engine, "lines", "RUNNING", "RUNNING");
    wait_until_read(dir.path(), "lines", &file);
    wait_for(
        &format!("{topic} to hold the lines copied again"),
        WAIT,
        || topic_values(&broker.bootstrap(), &topic).len() >= 5,
    );
    assert_eq!(
        topic_values(&broker.bootstrap(), &topic),
        ["one", "two", "three", "two", "three"]
    );
    assert_eq!(
        kc_json(&url, &["list-topics", "lines"]),
        json!({"lines": {"topics": [topic]}}),
        "listed again once used after the reset"
    );
}

/// `GET /connectors/{name}/offsets` until it answers `expected`: polled over a plain socket (a Python process a
/// look would make each look take most of a second), then asserted through `requests`.
fn wait_for_offsets(engine: &StandaloneEngine, name: &str, expected: &Value) {
    let path = format!("/connectors/{name}/offsets");
    let mut last = Value::Null;
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        let (status, body) = get_json(engine.port(), &path);
        if status == 200 && &body == expected {
            break;
        }
        last = body;
        std::thread::sleep(Duration::from_millis(100));
    }
    let reply = request(&engine.url(), Call::get(&path));
    assert!(
        reply.status == 200 && &reply.json == expected,
        "{path}: {} (last polled: {last}), not {expected}",
        reply.text
    );
}

/// A change of a just-stopped Kafka-reading connector's offsets. Its task was a static member of the group
/// (KIP-345), which a broker keeps until the session times out unless the member is removed by its instance id;
/// the worker removes it first, but tansu finds no member by instance id, so there the change is refused with
/// Kafka Connect's "retry" message until the session (6 s here) is over: it is tried again meanwhile.
fn change_offsets(url: &str, call: Call) -> support::rest::Reply {
    let mut reply = request(url, call.clone());
    for _ in 0..40 {
        if reply.status != 500 || !reply.text.contains("haven't stopped completely") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
        reply = request(url, call.clone());
    }
    reply
}

#[test]
fn a_kafka_reading_connector_reads_again_from_its_offsets_reset_or_set_while_stopped() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();
    let engine = StandaloneEngine::start(dir.path(), &broker.bootstrap(), STRING_CONVERTERS);
    let url = engine.url();
    let topic = unique_topic("rest-sink-offsets");
    // Its own group (connect-<name>) on every run, so a broker that outlives the test has no old offsets in it.
    let name = unique_topic("sink");
    create_topic(&broker.bootstrap(), &topic, 1);
    let records: Vec<PeerRecord> = ["a", "b", "c"]
        .iter()
        .map(|v| PeerRecord::new(None, Some(v.as_bytes())))
        .collect();
    ck_produce(&broker.bootstrap(), &topic, "none", &[], &records);
    let out = dir.path().join("out.txt");
    let config = json!({"connector.class": "FileStreamSink", "topics": topic, "file": out.display().to_string(),
                        "tasks.max": "1", "consumer.override.session.timeout.ms": "6000"});
    let created = request(
        &url,
        Call::post("/connectors").json(json!({"name": name, "config": config})),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["type"], "sink");
    let lines = || std::fs::read_to_string(&out).unwrap_or_default();
    let partition = json!({"kafka_topic": topic, "kafka_partition": 0});
    let committed = |offset: i64| json!({"offsets": [{"partition": partition, "offset": {"kafka_offset": offset}}]});
    wait_for_offsets(&engine, &name, &committed(3));
    assert_eq!(lines(), "a\nb\nc\n");
    assert_eq!(
        kc_json(&url, &["list-topics", &name]),
        json!({ name.clone(): {"topics": [topic]} }),
        "the topic it consumed"
    );
    let refused = request(&url, Call::delete(&format!("/connectors/{name}/offsets")));
    assert_eq!(
        (refused.status, refused.json["message"].clone()),
        (400, json!(not_stopped(&name)))
    );

    // Reset: the group is gone, so the resumed connector reads the topic from its start (earliest).
    assert_eq!(
        request(&url, Call::put(&format!("/connectors/{name}/stop"))).status,
        204
    );
    let reset = change_offsets(&url, Call::delete(&format!("/connectors/{name}/offsets")));
    assert_eq!(
        (reset.status, reset.json.clone()),
        (
            200,
            json!({"message": "The offsets for this connector have been reset successfully"})
        ),
        "{}",
        reset.text
    );
    wait_for_offsets(&engine, &name, &json!({"offsets": []}));
    assert_eq!(
        request(&url, Call::put(&format!("/connectors/{name}/resume"))).status,
        202
    );
    wait_for_offsets(&engine, &name, &committed(3));
    assert_eq!(lines(), "a\nb\nc\na\nb\nc\n", "read again from the start");

    // Altered to offset 2: only the last record again.
    assert_eq!(
        request(&url, Call::put(&format!("/connectors/{name}/stop"))).status,
        204
    );
    let altered = change_offsets(
        &url,
        Call::patch(&format!("/connectors/{name}/offsets")).json(committed(2)),
    );
    assert_eq!(altered.status, 200, "{}", altered.text);
    wait_for_offsets(&engine, &name, &committed(2));
    assert_eq!(
        request(&url, Call::put(&format!("/connectors/{name}/resume"))).status,
        202
    );
    wait_for_offsets(&engine, &name, &committed(3));
    assert_eq!(lines(), "a\nb\nc\na\nb\nc\nc\n", "read again from offset 2");
}

#[test]
fn fifty_requests_at_once_are_answered_while_a_client_holds_a_half_sent_request() {
    let dir = tempfile::tempdir().unwrap();
    let engine = StandaloneEngine::start(dir.path(), NO_BROKER, "");
    let outcome = concurrent_requests(&engine.url(), "/connectors", 50);
    let statuses = outcome["statuses"].as_array().unwrap();
    assert_eq!(statuses.len(), 50, "{outcome}");
    assert!(statuses.iter().all(|s| s == 200), "{outcome}");
    // The held request's head timeout is 10 s: a server answering one connection at a time would make the burst
    // wait for it, and then cut the held one off instead of answering it.
    assert!(
        outcome["burst_seconds"].as_f64().unwrap() < 8.0,
        "{outcome}"
    );
    assert_eq!(outcome["held_answer"], "HTTP/1.1 200 OK", "{outcome}");
}

#[test]
fn metrics_are_prometheus_text_that_prometheus_client_parses() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();
    let engine = StandaloneEngine::start(dir.path(), &broker.bootstrap(), STRING_CONVERTERS);
    let topic = unique_topic("rest-metrics");
    create_topic(&broker.bootstrap(), &topic, 1);
    let file = dir.path().join("counted.txt");
    append_lines(&file, &["a", "b", "c", "d", "e", "f", "g"]);
    let reply = request(
        &engine.url(),
        Call::post("/connectors")
            .json(json!({"name": "counted \"quoted\"", "config": file_source(&file, &topic)})),
    );
    assert_eq!(reply.status, 201, "{}", reply.text);
    wait_until_read(dir.path(), "counted \"quoted\"", &file);

    let metrics = prometheus_metrics(&engine.url());
    assert!(
        metrics["content_type"]
            .as_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{metrics}"
    );
    let sample = |family: &str| {
        metrics["families"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == family)
            .unwrap_or_else(|| panic!("no {family} in {metrics}"))["samples"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["labels"] == json!({"pipeline": "counted \"quoted\"", "task": "0"}))
            .unwrap_or_else(|| panic!("no sample of the connector's task in {family}: {metrics}"))
            .clone()
    };
    let polled = sample("pipewright_records_polled");
    assert_eq!(polled["name"], "pipewright_records_polled_total");
    assert_eq!(polled["value"], 7.0, "{polled}");
    assert_eq!(sample("pipewright_records_written")["value"], 7.0);
    assert!(sample("pipewright_commits")["value"].as_f64().unwrap() >= 1.0);
    assert_eq!(sample("pipewright_task_failures")["value"], 0.0);
}

#[test]
fn a_secret_read_through_a_config_provider_appears_in_no_answer() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.properties");
    let topic = unique_topic("rest-secret-topic");
    create_topic(&broker.bootstrap(), &topic, 1);
    std::fs::write(&secrets, format!("topic={topic}\n")).unwrap();
    let engine = StandaloneEngine::start(
        dir.path(),
        &broker.bootstrap(),
        &format!(
            "{STRING_CONVERTERS}\nconfig.providers=file\n\
             config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider"
        ),
    );
    let url = engine.url();
    let file = dir.path().join("guarded.txt");
    append_lines(&file, &["guarded line"]);
    let reference = format!("${{file:{}:topic}}", secrets.display());
    let mut config = file_source(&file, &reference);
    config["name"] = json!("guarded");
    let replies = requests(
        &url,
        &[
            Call::post("/connectors").json(json!({"name": "guarded", "config": config})),
            Call::get("/connectors/guarded"),
            Call::get("/connectors/guarded/config"),
            Call::get("/connectors/guarded/tasks"),
            Call::get("/connectors").params(json!({"expand": ["info", "status"]})),
            Call::put("/connector-plugins/FileStreamSource/config/validate").json(config.clone()),
        ],
    );
    assert_eq!(replies[0].status, 201, "{}", replies[0].text);
    wait_until_read(dir.path(), "guarded", &file);
    assert_eq!(
        topic_values(&broker.bootstrap(), &topic),
        ["guarded line"],
        "the connector wrote to the topic the provider resolved"
    );
    assert_eq!(replies[2].json["topic"], reference, "shown as written");
    let later = requests(
        &url,
        &[
            Call::get("/connectors/guarded/status"),
            Call::get("/metrics"),
        ],
    );
    for reply in replies.iter().chain(&later) {
        assert!(reply.status < 300, "{}", reply.text);
        assert!(
            !reply.text.contains(&topic),
            "the resolved value leaked: {}",
            reply.text
        );
    }
}

/// Named to sort among the first: libtest starts a binary's tests in name order, and this one, the longest
/// (40 s of schemathesis), started last made the binary wait for it alone.
#[test]
fn a_schemathesis_run_finds_no_server_error_in_any_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let engine = StandaloneEngine::start(dir.path(), NO_BROKER, "");
    let output = schemathesis(
        &engine.url(),
        Duration::from_secs(40),
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
    );
    let report = format!("{}\n{}", output.stdout_str(), output.stderr);
    assert!(
        output.status.success(),
        "schemathesis failed ({}):\n{report}",
        output.status
    );
    // "0 generated" as a count of its own, not the end of "120 generated".
    let none_generated = report
        .match_indices("0 generated")
        .any(|(at, _)| at == 0 || !report.as_bytes()[at - 1].is_ascii_digit());
    assert!(
        report.contains("Operations:") && report.contains("passed") && !none_generated,
        "schemathesis ran no test:\n{report}"
    );
    // No crash, no hang: the engine answers at once afterwards.
    let started = std::time::Instant::now();
    assert_eq!(get_json(engine.port(), "/").0, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// Kafka's own quickstart (docs "Step 7: Import/export your data as streams of events with Kafka Connect"):
/// config/connect-standalone.properties, config/connect-file-source.properties and
/// config/connect-file-sink.properties as Kafka ships them, run from the directory holding test.txt. Changed
/// only where this machine differs: the broker's address, the offsets file (kept in the test's directory), the
/// topic's name (unique, so an external test broker's old records cannot show up) and the sink's session timeout
/// (6 s, the least a Kafka broker accepts: tansu holds a group's first JoinGroup for half of it, 22 s at the
/// consumer's default of 45 s, where a Kafka broker waits group.initial.rebalance.delay.ms, 3 s).
#[test]
fn kafka_quickstart_files_run_as_they_are() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();
    let topic = unique_topic("connect-test");
    let offsets = dir.path().join("connect.offsets");
    let worker = format!(
        "bootstrap.servers={}\n\n\
         key.converter=org.apache.kafka.connect.json.JsonConverter\n\
         value.converter=org.apache.kafka.connect.json.JsonConverter\n\
         key.converter.schemas.enable=true\n\
         value.converter.schemas.enable=true\n\n\
         offset.storage.file.filename={}\n\
         offset.flush.interval.ms=10000\n\n\
         #listeners=HTTP://:8083\n\
         #plugin.path=\n\
         consumer.session.timeout.ms=6000\n",
        broker.bootstrap(),
        offsets.display()
    );
    let source = format!(
        "name=local-file-source\nconnector.class=FileStreamSource\ntasks.max=1\nfile=test.txt\ntopic={topic}\n"
    );
    let sink = format!(
        "name=local-file-sink\nconnector.class=FileStreamSink\ntasks.max=1\nfile=test.sink.txt\ntopics={topic}\n"
    );
    std::fs::write(dir.path().join("connect-standalone.properties"), worker).unwrap();
    std::fs::write(dir.path().join("connect-file-source.properties"), source).unwrap();
    std::fs::write(dir.path().join("connect-file-sink.properties"), sink).unwrap();
    std::fs::write(dir.path().join("test.txt"), "foo\nbar\n").unwrap();
    let child = std::process::Command::new(support::tools::engine())
        .current_dir(dir.path())
        .args([
            "standalone",
            "connect-standalone.properties",
            "connect-file-source.properties",
            "connect-file-sink.properties",
        ])
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("start engine standalone");
    let mut engine = support::engine_process::EngineProcess(child, 0);
    let sink_file = dir.path().join("test.sink.txt");
    engine.wait_while_running("foo and bar in test.sink.txt", WAIT, || {
        support::waiting::file_lines(&sink_file) == ["foo", "bar"]
    });
    // In the topic, each line is what Kafka Connect's JsonConverter writes of FileStreamSource's required string.
    assert_eq!(
        topic_values(&broker.bootstrap(), &topic),
        [
            r#"{"schema":{"type":"string","optional":false},"payload":"foo"}"#,
            r#"{"schema":{"type":"string","optional":false},"payload":"bar"}"#,
        ]
    );
    // "echo Another line>> test.txt": the line shows up in the sink file.
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("test.txt"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"Another line\n"))
        .unwrap();
    engine.wait_while_running("the appended line in test.sink.txt", WAIT, || {
        support::waiting::file_lines(&sink_file) == ["foo", "bar", "Another line"]
    });
    assert!(support::engine_process::terminate(&mut engine, Duration::from_secs(20)).success());
}
