use std::collections::BTreeMap;
use std::io::Write;

use bytes::Bytes;

use super::*;
use crate::connect::config_def::ParsedConfig;
use crate::connect::connector::{Converters, PollLimit, SinkTask, SourcePoll, SourceTask, TaskId};
use crate::connect::converters::{Converter, JsonConverter, StringConverter};
use crate::connect::data::{Schema, Struct, Type, Value};
use crate::connect::record::{ConnectRecord, Data, SourcePosition};

const TASK: TaskId = TaskId { index: 0, count: 1 };

fn config(def: crate::connect::config_def::ConfigDef, pairs: &[(&str, &str)]) -> ParsedConfig {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    def.parse(&map, &[]).expect("valid config")
}

fn sink_config(path: &std::path::Path) -> FileSinkConfig {
    FileSinkConfig::new(&config(SINK_CONFIG, &[("file", path.to_str().unwrap())])).unwrap()
}

fn append(path: &std::path::Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// A source resuming at a byte offset stored without its file, as older versions stored it.
async fn source_at(path: &std::path::Path, start: Option<i64>) -> FileSource {
    source_from(path, start.map(SourcePosition::Offset)).await
}

async fn source_from(path: &std::path::Path, start: Option<SourcePosition>) -> FileSource {
    let cfg = config(
        SOURCE_CONFIG,
        &[("file", path.to_str().unwrap()), ("topic", "lines")],
    );
    let cfg = FileSourceConfig::new(&cfg).unwrap();
    FileSource::open(&cfg, TASK, start).await.unwrap()
}

/// The text of a line record: a required string, as Kafka's FileStreamSource gives it.
fn line_text(record: &ConnectRecord) -> String {
    let Some(sv) = record.value.converted() else {
        panic!("a typed value expected, got {:?}", record.value)
    };
    assert_eq!(sv.schema.as_deref(), Some(&Schema::new(Type::String)));
    match &sv.value {
        Value::String(s) => s.to_string(),
        other => panic!("a string expected, got {other:?}"),
    }
}

/// (line, the position handed out with it) of every record of one poll; empty when idle.
async fn poll_positions(source: &mut FileSource, max: usize) -> Vec<(String, SourcePosition)> {
    match source.poll(PollLimit::records(max)).await.unwrap() {
        SourcePoll::Records(records) => records
            .into_iter()
            .map(|r| {
                assert_eq!(r.key, Data::Raw(None));
                assert_eq!(r.topic, "lines");
                let position = r
                    .source_offset
                    .clone()
                    .expect("every line carries its position");
                (line_text(&r), position)
            })
            .collect(),
        SourcePoll::Idle => Vec::new(),
        SourcePoll::Finished => panic!("a file source never finishes"),
    }
}

/// The byte offset of a position the file source handed out.
fn offset_of(position: &SourcePosition) -> i64 {
    let SourcePosition::FileOffset { offset, .. } = position else {
        panic!("a file offset expected, got {position:?}")
    };
    *offset as i64
}

/// (line, byte position after it) of every record of one poll; empty when idle.
async fn poll_lines(source: &mut FileSource, max: usize) -> Vec<(String, i64)> {
    poll_positions(source, max)
        .await
        .into_iter()
        .map(|(line, position)| (line, offset_of(&position)))
        .collect()
}

/// Polls until `n` lines came or a few idle polls passed; with their positions.
async fn read_positions(source: &mut FileSource, n: usize) -> Vec<(String, SourcePosition)> {
    let mut lines = Vec::new();
    let mut idle = 0;
    while lines.len() < n && idle < 5 {
        let got = poll_positions(source, 100).await;
        if got.is_empty() {
            idle += 1;
        }
        lines.extend(got);
    }
    lines
}

/// Polls until `n` lines came or a few idle polls passed.
async fn read_lines(source: &mut FileSource, n: usize) -> Vec<(String, i64)> {
    let mut lines = Vec::new();
    let mut idle = 0;
    while lines.len() < n && idle < 5 {
        let got = poll_lines(source, 100).await;
        if got.is_empty() {
            idle += 1;
        }
        lines.extend(got);
    }
    lines
}

fn texts(lines: &[(String, i64)]) -> Vec<&str> {
    lines.iter().map(|(l, _)| l.as_str()).collect()
}

#[tokio::test]
async fn lines_carry_the_byte_position_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.txt");
    append(&path, "a\nbb\r\nccc\n");
    let mut source = source_at(&path, None).await;
    let lines = read_lines(&mut source, 3).await;
    assert_eq!(
        lines,
        vec![("a".into(), 2), ("bb".into(), 6), ("ccc".into(), 10)]
    );
    assert!(poll_lines(&mut source, 100).await.is_empty());
}

#[tokio::test]
async fn a_restart_at_a_committed_position_neither_resends_nor_skips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.txt");
    append(&path, "one\ntwo\nthree\nfour\n");
    let mut first = source_at(&path, None).await;
    let got = poll_lines(&mut first, 2).await;
    assert_eq!(texts(&got), ["one", "two"]);
    let committed = got[1].1;
    first.close().await;

    append(&path, "five\n");
    let mut second = source_at(&path, Some(committed)).await;
    let rest = read_lines(&mut second, 3).await;
    assert_eq!(texts(&rest), ["three", "four", "five"]);
    assert_eq!(rest[2].1, "one\ntwo\nthree\nfour\nfive\n".len() as i64);
}

#[tokio::test]
async fn batch_size_bounds_a_poll() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.txt");
    append(&path, "1\n2\n3\n4\n5\n");
    let cfg = config(
        SOURCE_CONFIG,
        &[("file", path.to_str().unwrap()), ("batch.size", "2")],
    );
    let cfg = FileSourceConfig::new(&cfg).unwrap();
    let mut source = FileSource::open(&cfg, TASK, None).await.unwrap();
    let SourcePoll::Records(records) = source.poll(PollLimit::records(100)).await.unwrap() else {
        panic!("records expected")
    };
    assert_eq!(records.len(), 2);
}

#[tokio::test]
async fn queue_max_bytes_bounds_a_poll_but_a_long_line_goes_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.txt");
    append(
        &path,
        "aaaa\nbbbb\ncccc\nthis line is longer than the limit\nd\n",
    );
    let mut source = source_at(&path, None).await;
    let limit = PollLimit {
        records: 100,
        bytes: 10,
    };
    let lines = |poll: SourcePoll| -> Vec<String> {
        let SourcePoll::Records(records) = poll else {
            panic!("records expected")
        };
        records.iter().map(line_text).collect()
    };
    let poll = source.poll(limit).await.unwrap();
    assert_eq!(
        lines(poll),
        ["aaaa", "bbbb", "cccc"],
        "stops at 12 bytes ≥ 10"
    );
    let poll = source.poll(limit).await.unwrap();
    assert_eq!(lines(poll), ["this line is longer than the limit"]);
    let poll = source.poll(limit).await.unwrap();
    assert_eq!(lines(poll), ["d"]);
}

#[tokio::test]
async fn a_partial_last_line_waits_for_its_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.txt");
    append(&path, "done\nhal");
    let mut source = source_at(&path, None).await;
    assert_eq!(texts(&read_lines(&mut source, 2).await), ["done"]);
    assert!(poll_lines(&mut source, 100).await.is_empty());
    append(&path, "f\n");
    assert_eq!(read_lines(&mut source, 1).await, vec![("half".into(), 10)]);
}

#[tokio::test]
async fn a_truncated_file_is_read_again_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.txt");
    append(&path, "old line one\nold line two\n");
    let mut source = source_at(&path, None).await;
    assert_eq!(read_lines(&mut source, 2).await.len(), 2);
    std::fs::write(&path, "new\n").unwrap();
    assert_eq!(read_lines(&mut source, 1).await, vec![("new".into(), 4)]);
}

#[tokio::test]
async fn a_stored_position_past_the_end_starts_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.txt");
    append(&path, "x\n");
    let mut source = source_at(&path, Some(1000)).await;
    assert_eq!(read_lines(&mut source, 1).await, vec![("x".into(), 2)]);
}

#[tokio::test]
async fn a_rotated_file_is_finished_then_the_new_one_read_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let rotated = dir.path().join("app.log.1");
    append(&path, "first\n");
    let mut source = source_at(&path, None).await;
    assert_eq!(texts(&read_lines(&mut source, 1).await), ["first"]);

    // Written to the old file after the source saw its end, then the file is moved away and replaced.
    append(&path, "late\ntail-without-newline");
    std::fs::rename(&path, &rotated).unwrap();
    append(&path, "fresh\n");

    let lines = read_lines(&mut source, 3).await;
    assert_eq!(texts(&lines), ["late", "tail-without-newline", "fresh"]);
    assert_eq!(lines[2].1, 6, "the new file is read from byte 0");
}

#[tokio::test]
async fn a_deleted_and_recreated_file_is_read_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "before\n");
    let mut source = source_at(&path, None).await;
    assert_eq!(texts(&read_lines(&mut source, 1).await), ["before"]);
    std::fs::remove_file(&path).unwrap();
    assert!(
        poll_lines(&mut source, 10).await.is_empty(),
        "waits while the path is missing"
    );
    append(&path, "after deletion, a longer first line\n");
    assert_eq!(
        read_lines(&mut source, 1).await,
        vec![("after deletion, a longer first line".into(), 36)]
    );
}

#[tokio::test]
async fn a_missing_file_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later.txt");
    let mut source = source_at(&path, None).await;
    assert!(poll_lines(&mut source, 10).await.is_empty());
    append(&path, "here\n");
    assert_eq!(texts(&read_lines(&mut source, 1).await), ["here"]);
}

#[cfg(unix)]
fn inode(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

/// `count` lines `tag-0`, `tag-1`, …
fn numbered(tag: &str, count: usize) -> String {
    (0..count).map(|i| format!("{tag}-{i}\n")).collect()
}

/// Reads all of `path`'s `lines` lines and stops: the position the engine would have stored.
async fn run_until_stopped(path: &std::path::Path, lines: usize) -> SourcePosition {
    let mut source = source_from(path, None).await;
    let got = read_positions(&mut source, lines).await;
    assert_eq!(got.len(), lines);
    source.close().await;
    got[lines - 1].1.clone()
}

#[tokio::test]
async fn a_position_names_its_file_and_the_first_bytes_handed_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.txt");
    // Past 1 KiB, so later positions' checksums stop growing.
    let text = numbered("line", 200);
    append(&path, &text);
    let mut source = source_from(&path, None).await;
    let got = read_positions(&mut source, 200).await;
    assert_eq!(got.len(), 200);
    for (line, position) in &got {
        let SourcePosition::FileOffset { offset, file, head } = position else {
            panic!("{line}: a file offset expected, got {position:?}")
        };
        let covered = (*offset as usize).min(1024);
        assert_eq!(head.bytes as usize, covered, "{line}");
        assert_eq!(
            head.crc32c,
            crc32c::crc32c(&text.as_bytes()[..covered]),
            "{line}"
        );
        #[cfg(unix)]
        assert_eq!(file.inode, inode(&path), "{line}");
        let _ = file;
    }
}

#[tokio::test]
async fn a_restart_in_the_same_file_resumes_at_its_position() {
    // Shorter than the checksummed first KiB, and longer.
    for lines in [3, 200] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        append(&path, &numbered("old", lines));
        let stored = run_until_stopped(&path, lines).await;
        append(&path, "appended while stopped\n");
        let mut source = source_from(&path, Some(stored)).await;
        assert_eq!(
            texts(&read_lines(&mut source, 2).await),
            ["appended while stopped"],
            "{lines} lines before the stop"
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_file_truncated_and_refilled_past_the_position_while_stopped_is_read_from_the_start() {
    // Shorter than the checksummed first KiB, and longer.
    for lines in [3, 200] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        append(&path, &numbered("old", lines));
        let before = inode(&path);
        let stored = run_until_stopped(&path, lines).await;
        // Truncated in place (the inode stays) and written again beyond the stored position.
        let refill = numbered("new", lines + 5);
        std::fs::write(&path, &refill).unwrap();
        assert_eq!(inode(&path), before, "truncated in place, not replaced");
        assert!(refill.len() as i64 > offset_of(&stored));
        let mut source = source_from(&path, Some(stored)).await;
        let got = read_lines(&mut source, lines + 5).await;
        let expected: Vec<String> = (0..lines + 5).map(|i| format!("new-{i}")).collect();
        assert_eq!(texts(&got), expected, "{lines} lines before the stop");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_file_truncated_below_the_position_while_stopped_is_read_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.txt");
    append(&path, &numbered("old", 10));
    let stored = run_until_stopped(&path, 10).await;
    std::fs::write(&path, "short\n").unwrap();
    let mut source = source_from(&path, Some(stored)).await;
    assert_eq!(read_lines(&mut source, 1).await, vec![("short".into(), 6)]);
}

#[cfg(unix)]
#[tokio::test]
async fn a_file_replaced_or_rotated_while_stopped_is_read_from_the_start() {
    for rotated in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        append(&path, &numbered("old", 3));
        let before = inode(&path);
        let stored = run_until_stopped(&path, 3).await;
        // The new file begins with the old one's bytes: only its inode tells it is another file.
        let replacement = format!("{}{}", numbered("old", 3), numbered("new", 3));
        if rotated {
            std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
            append(&path, &replacement);
        } else {
            let written = dir.path().join("app.log.tmp");
            append(&written, &replacement);
            std::fs::rename(&written, &path).unwrap();
        }
        assert_ne!(inode(&path), before, "another file at the path");
        let mut source = source_from(&path, Some(stored)).await;
        let got = read_lines(&mut source, 6).await;
        assert_eq!(
            texts(&got),
            ["old-0", "old-1", "old-2", "new-0", "new-1", "new-2"],
            "rotated: {rotated}"
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_file_missing_at_start_and_created_again_is_read_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    append(&path, &numbered("old", 3));
    let stored = run_until_stopped(&path, 3).await;
    std::fs::remove_file(&path).unwrap();
    let mut source = source_from(&path, Some(stored)).await;
    assert!(
        poll_lines(&mut source, 10).await.is_empty(),
        "waits for the file"
    );
    append(&path, &numbered("new", 5));
    let got = read_lines(&mut source, 5).await;
    assert_eq!(texts(&got), ["new-0", "new-1", "new-2", "new-3", "new-4"]);
}

#[tokio::test]
async fn an_offset_stored_without_its_file_resumes_at_that_offset() {
    // Older versions stored only the byte offset: there is nothing to compare, so the file at the path is
    // resumed at that offset, as they did.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.txt");
    std::fs::write(&path, "new-0\nnew-1\nnew-2\n").unwrap();
    let mut source = source_at(&path, Some(6)).await;
    let got = read_positions(&mut source, 2).await;
    let lines: Vec<&str> = got.iter().map(|(line, _)| line.as_str()).collect();
    assert_eq!(lines, ["new-1", "new-2"]);
    // From then on its positions name the file, with a checksum of all the bytes before them.
    let SourcePosition::FileOffset { head, .. } = got[0].1 else {
        panic!("a file offset expected, got {:?}", got[0].1)
    };
    assert_eq!(head.bytes, 12);
    assert_eq!(head.crc32c, crc32c::crc32c(b"new-0\nnew-1\n"));
}

#[tokio::test]
async fn the_source_needs_a_file() {
    assert!(SOURCE_CONFIG.parse(&BTreeMap::new(), &[]).is_err());
    let problems = match FileSourceConfig::new(&ParsedConfig::default()) {
        Err(problems) => problems,
        Ok(_) => panic!("a file source without `file` must not open"),
    };
    assert_eq!(problems[0].key, "file");
    assert!(problems[0].message.contains("stdin"), "{problems:?}");
}

fn string_converters() -> Converters {
    Converters::new(
        Converter::String(StringConverter::default()),
        Converter::String(StringConverter::default()),
    )
}

#[tokio::test]
async fn the_sink_appends_one_line_per_record_and_null_as_null() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.txt");
    append(&path, "existing\n");
    let cfg = sink_config(&path);
    let mut sink = FileSink::open(&cfg, TASK).await.unwrap();
    let mut converters = string_converters();
    let mut records = vec![
        ConnectRecord::raw("t", None, Some(Bytes::from_static(b"raw line"))),
        ConnectRecord::raw("t", None, None),
        ConnectRecord::new(
            "t",
            Data::Raw(None),
            Data::new(None, Value::String("converted".into())),
        ),
    ];
    sink.put(&mut records, &mut converters).await.unwrap();
    assert!(records.is_empty(), "put drains the records");
    // Written at once (a reader need not wait for the next commit); flush only syncs.
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "existing\nraw line\nnull\nconverted\n"
    );
    sink.flush().await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "existing\nraw line\nnull\nconverted\n"
    );
    sink.close().await;
}

#[tokio::test]
async fn the_sink_writes_what_java_to_string_prints_of_the_converted_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.txt");
    let cfg = sink_config(&path);
    let mut sink = FileSink::open(&cfg, TASK).await.unwrap();
    let mut converters = Converters::new(
        Converter::Json(JsonConverter::schemaless()),
        Converter::Json(JsonConverter::schemaless()),
    );
    let schema = Schema::structure()
        .field("a", Schema::new(Type::Int32))
        .field("b", Schema::new(Type::String).optional())
        .field("c", Schema::new(Type::String))
        .field("at", Schema::timestamp().optional())
        .build();
    let mut with_null = Struct::new(schema).unwrap();
    with_null.put("a", Value::Int32(1)).unwrap();
    with_null.put("c", Value::String("x".into())).unwrap();
    // A Timestamp is a java.util.Date to Kafka Connect, and prints as one.
    with_null.put("at", Value::Int64(864_000_000_000)).unwrap();
    let raw = |json: &'static str| {
        ConnectRecord::raw("t", None, Some(Bytes::from_static(json.as_bytes())))
    };
    let mut records = vec![
        ConnectRecord::new(
            "t",
            Data::Raw(None),
            Data::new(None, Value::String("text".into())),
        ),
        // Read from Kafka: converted first, as Kafka Connect converts before the sink sees it.
        raw(r#"{"k": 1, "k2": "w"}"#),
        raw("[1, 2.5, null]"),
        raw(r#""quoted""#),
        ConnectRecord::new(
            "t",
            Data::Raw(None),
            Data::new(None, Value::Struct(with_null)),
        ),
        raw("{not json"),
        raw("7"),
    ];
    let error = sink.put(&mut records, &mut converters).await.unwrap_err();
    assert_eq!(error.rejected_at, Some("VALUE_CONVERTER"), "{error}");
    assert_eq!(
        records.len(),
        2,
        "the rejected value and the one after it stay"
    );
    records.remove(0);
    sink.put(&mut records, &mut converters).await.unwrap();
    sink.flush().await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        // The map in the order Java's HashMap gives it (JsonConverter reads objects into one).
        "text\n{k2=w, k=1}\n[1, 2.5, null]\nquoted\nStruct{a=1,c=x,at=Mon May 19 00:00:00 UTC 1997}\n7\n"
    );
}

#[tokio::test]
async fn the_sink_needs_a_writable_file() {
    let problems = match FileSinkConfig::new(&ParsedConfig::default()) {
        Err(problems) => problems,
        Ok(_) => panic!("a file sink without `file` must not open"),
    };
    assert_eq!(problems[0].key, "file");
    assert!(problems[0].message.contains("stdout"), "{problems:?}");
    let cfg = sink_config(std::path::Path::new("/nonexistent-dir/x/out.txt"));
    assert!(FileSink::open(&cfg, TASK).await.is_err());
}

#[tokio::test]
async fn the_sink_writes_to_dev_null_and_its_flush_succeeds_though_a_device_cannot_be_synced() {
    let cfg = sink_config(std::path::Path::new("/dev/null"));
    let mut sink = FileSink::open(&cfg, TASK).await.unwrap();
    let mut converters = string_converters();
    let mut records = vec![ConnectRecord::raw(
        "t",
        None,
        Some(Bytes::from_static(b"gone")),
    )];
    sink.put(&mut records, &mut converters).await.unwrap();
    sink.flush().await.unwrap();
}
