//! Arbitrary bytes as a request to the REST API: the head reader never reads past its bound, and whatever
//! target it yields, `respond` answers 200 or 404 with a body that is JSON. The first byte splits the rest into a
//! pipeline name and task error (so names and errors with quotes, control characters and any Unicode are
//! written back) and the request itself.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use pipewright::admin::{read_request_head, respond, MAX_REQUEST_HEAD_BYTES};
use pipewright::worker::status::{ConnectorStatus, TargetState, TaskStatus};

fuzz_target!(|data: &[u8]| {
    let [name_len, rest @ ..] = data else {
        return;
    };
    let (pipeline, request) = rest.split_at(usize::from(*name_len).min(rest.len()));
    let (name, trace) = pipeline.split_at(pipeline.len() / 2);
    let (name, trace) = (
        String::from_utf8_lossy(name),
        String::from_utf8_lossy(trace),
    );
    let table = table(&name, &trace);

    let mut reader = request;
    let Ok(head) = read_request_head(&mut reader) else {
        assert!(request.len() - reader.len() <= MAX_REQUEST_HEAD_BYTES);
        return;
    };
    assert!(request.len() - reader.len() <= MAX_REQUEST_HEAD_BYTES);
    let (status, body) = respond(&table, &head.path);
    assert!(status == 200 || status == 404, "{status}");
    if let Err(error) = serde_json::from_str::<serde_json::Value>(&body) {
        panic!("{:?} answered {body:?}, not JSON: {error}", head.path);
    }
});

fn table(name: &str, trace: &str) -> BTreeMap<String, ConnectorStatus> {
    let mut tasks = BTreeMap::new();
    tasks.insert(
        0,
        TaskStatus {
            state: "RUNNING",
            worker_id: "host:8083".into(),
            trace: None,
        },
    );
    tasks.insert(
        1,
        TaskStatus {
            state: "FAILED",
            worker_id: name.into(),
            trace: Some(trace.into()),
        },
    );
    let mut config = BTreeMap::new();
    config.insert(name.to_owned(), trace.to_owned());
    config.insert("connector.class".to_owned(), "file".to_owned());
    let mut table = BTreeMap::new();
    table.insert(
        name.to_owned(),
        ConnectorStatus {
            kind: "source",
            config,
            target: TargetState::Running,
            tasks,
        },
    );
    table
}
