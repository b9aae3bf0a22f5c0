//! Data-loss and silent-hang defects found by running the engine as a user would (issue 12): each test failed
//! on the engine before its fix.

mod support;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use support::broker::{unique_topic, TestBroker};
use support::engine_cli::{engine_consume, engine_produce};
use support::engine_process::{
    committed_file_position, positions_file, start_engine, start_engine_capturing_stderr,
    terminate, write_config,
};
use support::waiting::{file_lines, wait_for};

fn append(path: &Path, lines: std::ops::Range<usize>, tag: &str) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for i in lines {
        writeln!(file, "{tag}-{i}").unwrap();
    }
}

/// Two pipelines whose names differ only in punctuation (`orders.v1`, `orders_v1`) once shared one positions
/// file: after a restart one resumed at the other's offset and skipped or repeated lines.
#[test]
fn pipelines_named_alike_keep_their_own_positions_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (a_in, b_in) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
    let (a_out, b_out) = (dir.path().join("a.out"), dir.path().join("b.out"));
    // Different line counts, so each file's committed byte position differs from the other's.
    append(&a_in, 0..50, "alpha");
    append(&b_in, 0..5, "b");
    let config = write_config(
        dir.path(),
        &format!(
            r#"[[pipeline]]
name = "orders.v1"
source = {{ type = "file", file = "{}" }}
sink = {{ type = "file", file = "{}" }}
"value.converter" = "string"

[[pipeline]]
name = "orders_v1"
source = {{ type = "file", file = "{}" }}
sink = {{ type = "file", file = "{}" }}
"value.converter" = "string"
"#,
            a_in.display(),
            a_out.display(),
            b_in.display(),
            b_out.display()
        ),
    );
    let state = dir.path().join("state");
    for round in 0..2 {
        let mut engine = start_engine(&config, &state, 1);
        let (a_total, b_total) = (50 + round * 10, 5 + round * 10);
        wait_for("both copies complete", Duration::from_secs(30), || {
            file_lines(&a_out).len() >= a_total && file_lines(&b_out).len() >= b_total
        });
        // Give the positions a commit after the last line.
        std::thread::sleep(Duration::from_millis(1500));
        assert!(terminate(&mut engine, Duration::from_secs(20)).success());
        append(&a_in, 50 + round * 10..60 + round * 10, "alpha");
        append(&b_in, 5 + round * 10..15 + round * 10, "b");
    }
    let mut engine = start_engine(&config, &state, 1);
    wait_for("the last lines copied", Duration::from_secs(30), || {
        file_lines(&a_out).len() >= 70 && file_lines(&b_out).len() >= 25
    });
    std::thread::sleep(Duration::from_millis(500));
    terminate(&mut engine, Duration::from_secs(20));
    let expected =
        |tag: &str, n: usize| -> Vec<String> { (0..n).map(|i| format!("{tag}-{i}")).collect() };
    assert_eq!(
        file_lines(&a_out),
        expected("alpha", 70),
        "orders.v1: each line once, in order"
    );
    assert_eq!(
        file_lines(&b_out),
        expected("b", 25),
        "orders_v1: each line once, in order"
    );
}

/// A pipeline whose sink cannot reach its broker drains forever on SIGTERM; a second signal must end the
/// process at once.
/// A pipeline `name` from `input` to a Kafka sink whose broker (127.0.0.1:1) refuses every connection.
fn file_to_refusing_broker(dir: &Path, input: &Path, name: &str) -> std::path::PathBuf {
    write_config(
        dir,
        &format!(
            r#"[kafka]
"bootstrap.servers" = "127.0.0.1:1"

[[pipeline]]
name = "{name}"
source = {{ type = "file", file = "{}" }}
sink = {{ type = "kafka", topic = "t" }}
"#,
            input.display()
        ),
    )
}

#[test]
fn a_second_signal_ends_the_engine_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    append(&input, 0..100, "line");
    let config = file_to_refusing_broker(dir.path(), &input, "nowhere");
    let mut engine = start_engine(&config, &dir.path().join("state"), 1);
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(engine.id() as i32, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        engine.try_wait().unwrap().is_none(),
        "the first signal drains, which cannot finish here"
    );
    let second = Instant::now();
    // SAFETY: as above.
    unsafe { libc::kill(engine.id() as i32, libc::SIGTERM) };
    let status = loop {
        if let Some(status) = engine.try_wait().unwrap() {
            break status;
        }
        assert!(
            second.elapsed() < Duration::from_secs(3),
            "still running 3 s after the second signal"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "an interrupted stop exits non-zero");
    eprintln!("exited {:?} after the second signal", second.elapsed());
}

/// A failing task's error was printed twice (once coloured): once, and no colour codes in a pipe or file.
/// (A record that fails a transform fails the task for good, so it is printed exactly once.)
#[test]
fn a_task_failure_is_logged_once_without_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.jsonl");
    std::fs::write(&input, "not json\n").unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            r#"[[pipeline]]
name = "strict"
source = {{ type = "file", file = "{}" }}
sink = {{ type = "stdout" }}
"value.converter" = "json"
"value.converter.schemas.enable" = false

[[pipeline.transforms]]
type = "InsertField"
"static.field" = "source"
"static.value" = "demo"
"#,
            input.display()
        ),
    );
    let mut engine = start_engine_capturing_stderr(&config, &dir.path().join("state"), 1);
    // Time for a restart after the 1 s backoff, had the task restarted (a record failure does not restart it).
    std::thread::sleep(Duration::from_millis(2500));
    terminate(&mut engine, Duration::from_secs(20));
    let stderr = engine.stderr_after_exit();
    assert!(
        !stderr.contains('\u{1b}'),
        "no ANSI escape codes when stderr is not a terminal:\n{stderr}"
    );
    let failures = stderr
        .lines()
        .filter(|l| l.contains("strict#0") && l.contains("fail"))
        .count();
    assert_eq!(failures, 1, "the failure is printed once:\n{stderr}");
    assert!(
        stderr.contains("% task strict#0 failed and will not restart on its own"),
        "{stderr}"
    );
}

/// Copies `input` (holding `old` lines `old-N`) to a file with a file → file pipeline, stops the engine once
/// the last position is committed, lets `change` do to the input what happens while the engine is down (it
/// leaves more bytes at the path than were read), starts the engine again, and returns what was copied and
/// what the second run logged.
fn copy_across_a_stop(old: usize, change: impl FnOnce(&Path)) -> (Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("app.log"), dir.path().join("copy.out"));
    append(&input, 0..old, "old");
    let config = write_config(
        dir.path(),
        &format!(
            r#"[[pipeline]]
name = "copy"
source = {{ type = "file", file = "{}" }}
sink = {{ type = "file", file = "{}" }}
"value.converter" = "string"
"#,
            input.display(),
            output.display()
        ),
    );
    let state = dir.path().join("state");
    let positions = positions_file(&state, "copy", 0);
    let read = std::fs::metadata(&input).unwrap().len();
    let mut engine = start_engine(&config, &state, 1);
    engine.wait_while_running(
        "the old lines copied and their position committed",
        Duration::from_secs(30),
        || file_lines(&output).len() >= old && committed_file_position(&positions) == Some(read),
    );
    assert!(terminate(&mut engine, Duration::from_secs(20)).success());

    change(&input);
    assert!(
        std::fs::metadata(&input).unwrap().len() > read,
        "the new file is longer than the stored position"
    );

    let mut engine = start_engine_capturing_stderr(&config, &state, 1);
    let written = std::fs::metadata(&input).unwrap().len();
    engine.wait_while_running(
        "the new lines copied and their position committed",
        Duration::from_secs(30),
        || committed_file_position(&positions) == Some(written),
    );
    assert!(terminate(&mut engine, Duration::from_secs(20)).success());
    (file_lines(&output), engine.stderr_after_exit())
}

fn tagged(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{tag}-{i}")).collect()
}

#[cfg(unix)]
fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

/// A file truncated in place and refilled past the stored position while the engine was down was resumed at
/// that position: the refill's first lines were lost.
#[cfg(unix)]
#[test]
fn a_file_truncated_and_refilled_while_the_engine_is_stopped_is_copied_from_its_first_line() {
    let (copied, log) = copy_across_a_stop(40, |input| {
        let before = inode(input);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(input)
            .unwrap();
        for i in 0..60 {
            writeln!(file, "new-{i}").unwrap();
        }
        assert_eq!(inode(input), before, "truncated in place");
    });
    assert_eq!(copied, [tagged("old", 40), tagged("new", 60)].concat());
    assert!(
        log.contains("truncated and written again while the engine was stopped")
            && log.contains("app.log"),
        "the restart says why it reads the file from the start:\n{log}"
    );
}

/// A file replaced (a new file renamed over it) while the engine was down was resumed at the old file's
/// position: the new file's first lines were lost.
#[cfg(unix)]
#[test]
fn a_file_replaced_while_the_engine_is_stopped_is_copied_from_its_first_line() {
    let (copied, log) = copy_across_a_stop(40, |input| {
        let before = inode(input);
        let written = input.with_extension("tmp");
        append(&written, 0..60, "new");
        std::fs::rename(&written, input).unwrap();
        assert_ne!(inode(input), before, "another file at the path");
    });
    assert_eq!(copied, [tagged("old", 40), tagged("new", 60)].concat());
    assert!(
        log.contains("replaced while the engine was stopped") && log.contains("app.log"),
        "the restart says why it reads the file from the start:\n{log}"
    );
}

/// An unreachable broker was silent until delivery.timeout.ms ended: its cause is logged at once, and once,
/// however many times the client retries meanwhile.
#[test]
fn an_unreachable_broker_is_reported_at_once_and_once() {
    let started = Instant::now();
    let output = engine_produce(
        "127.0.0.1:1",
        "nowhere",
        &["-X", "delivery.timeout.ms=4000"],
        b"one\ntwo\n",
    );
    let elapsed = started.elapsed();
    assert!(
        !output.status.success(),
        "nothing was delivered: {}",
        output.stderr
    );
    let refused: Vec<&str> = output
        .stderr
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("127.0.0.1:1") && l.contains("refused"))
        .collect();
    assert_eq!(
        refused.len(),
        1,
        "the refusal is logged once over {elapsed:?} of retries:\n{}",
        output.stderr
    );
    // The final error says why nothing was acknowledged, not only that it was not.
    let failure = output
        .stderr
        .lines()
        .find(|l| l.contains("not acknowledged within delivery.timeout.ms"))
        .unwrap_or_else(|| panic!("no delivery failure reported:\n{}", output.stderr));
    assert!(
        failure.contains("last error: could not connect") && failure.contains("refused"),
        "{failure}"
    );
}

/// A pipeline whose broker refuses connections said nothing for the 120 s of delivery.timeout.ms: the cause is
/// logged within seconds of the start, and not again while it lasts.
#[test]
fn a_pipeline_reports_a_refusing_broker_within_seconds_and_once_and_in_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    append(&input, 0..10, "line");
    let config = file_to_refusing_broker(dir.path(), &input, "refused");
    let started = Instant::now();
    let mut engine = start_engine_capturing_stderr(&config, &dir.path().join("state"), 1);
    let stderr = engine.stderr.take().expect("stderr is piped");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<(Duration, String)>();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send((started.elapsed(), line)).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_secs(4));
    // The task runs on (it fails only when delivery.timeout.ms runs out), and its status says why nothing moves.
    let status = support::engine_process::try_rest_get(engine.1, "/connectors/refused/status")
        .unwrap_or_default();
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(engine.id() as i32, libc::SIGKILL) };
    let _ = engine.wait();
    reader.join().unwrap();
    let task = status
        .split(r#""tasks":"#)
        .nth(1)
        .unwrap_or_else(|| panic!("no tasks in {status}"));
    assert!(
        task.contains(r#""state":"RUNNING""#)
            && task.contains(r#""trace":"could not connect to broker -1 (127.0.0.1:1)"#)
            && task.contains("refused"),
        "the running task's trace names the cause: {status}"
    );
    let lines: Vec<(Duration, String)> = lines_rx.try_iter().collect();
    let refused: Vec<&(Duration, String)> = lines
        .iter()
        .filter(|(_, l)| l.contains("127.0.0.1:1") && l.contains("refused"))
        .collect();
    let all: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(
        refused.len(),
        1,
        "logged once in 6 s of retries:\n{}",
        all.join("\n")
    );
    eprintln!("first refused line {:?} after the start", refused[0].0);
    assert!(
        refused[0].0 < Duration::from_secs(3),
        "logged {:?} after the start",
        refused[0].0
    );
}

/// `engine consume -e` of a topic that does not exist printed nothing until request.timeout.ms (30 s) ended:
/// it names the topic and exits non-zero within seconds.
#[test]
fn consuming_a_missing_topic_fails_within_seconds_naming_it() {
    let broker = TestBroker::start();
    let topic = unique_topic("no-such-topic");
    let output = engine_consume(&broker.bootstrap(), &topic, &["-e", "-o", "beginning"]);
    assert!(
        !output.status.success(),
        "a missing topic is an error: {}",
        output.stderr
    );
    assert!(
        output.stderr.contains(&format!("{topic}: topic not found")),
        "{}",
        output.stderr
    );
    assert!(
        output.elapsed < Duration::from_secs(10),
        "reported after {:?}",
        output.elapsed
    );
}

/// Lines `line-0` … `line-{n-1}`, except line `big`, which is 300 KB: more than the 100 KB `max.request.size`
/// the pipelines below give the Kafka sink.
fn lines_with_one_too_large(n: usize, big: usize) -> String {
    (0..n)
        .map(|i| {
            if i == big {
                format!("line-{i}-{}\n", "x".repeat(300_000))
            } else {
                format!("line-{i}\n")
            }
        })
        .collect()
}

fn file_to_kafka_with_small_requests(
    dir: &Path,
    bootstrap: &str,
    input: &Path,
    topic: &str,
    errors: &str,
) -> std::path::PathBuf {
    support::engine_process::write_pipelines(
        dir,
        bootstrap,
        &format!(
            r#"[[pipeline]]
name = "big"
source = {{ type = "file", file = "{}" }}
sink = {{ type = "kafka", topic = "{topic}" }}
"value.converter" = "string"
"producer.override.max.request.size" = 100000
{errors}
"#,
            input.display()
        ),
    )
}

fn read_values(bootstrap: &str, topic: &str) -> Vec<String> {
    engine_consume(bootstrap, topic, &["-o", "beginning", "-e", "-f", "%s\n"])
        .stdout_str()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A record larger than `max.request.size` failed the task, which restarted and sent the records before it
/// again, each time. With errors.tolerance=none: the records before it are delivered once, the task fails once
/// and stays failed (a restart would meet the same record), and a restarted engine re-sends nothing.
#[test]
fn a_record_too_large_fails_the_task_once_without_sending_anything_twice() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let topic = unique_topic("too-large-none");
    support::broker::create_topic(&bootstrap, &topic, 1);
    let input = dir.path().join("in.txt");
    std::fs::write(&input, lines_with_one_too_large(30, 10)).unwrap();
    let config = file_to_kafka_with_small_requests(dir.path(), &bootstrap, &input, &topic, "");
    let state = dir.path().join("state");
    let before: Vec<String> = (0..10).map(|i| format!("line-{i}")).collect();
    for run in 0..2 {
        let mut engine = start_engine_capturing_stderr(&config, &state, 1);
        let started = Instant::now();
        let port = engine.1;
        engine.wait_while_running("the task to fail", Duration::from_secs(30), || {
            support::engine_process::try_rest_get(port, "/connectors/big/status")
                .is_some_and(|status| status.contains(r#""state":"FAILED""#))
        });
        eprintln!("run {run}: failed after {:?}", started.elapsed());
        let status = support::engine_process::rest_get(engine.1, "/connectors/big/status");
        assert!(
            status.contains("max.request.size") && status.contains("errors.tolerance=none"),
            "the trace names the cause: {status}"
        );
        // A restarting task would have failed again after its 1 s and 2 s backoffs by now.
        std::thread::sleep(Duration::from_millis(3500));
        assert_eq!(
            read_values(&bootstrap, &topic),
            before,
            "run {run}: the records before the large one, once each"
        );
        assert!(terminate(&mut engine, Duration::from_secs(20)).success());
        let stderr = engine.stderr_after_exit();
        let failures: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("% task big#0 failed"))
            .collect();
        assert_eq!(failures.len(), 1, "one failure, no restarts:\n{stderr}");
        assert!(
            failures[0].contains("will not restart")
                && failures[0].contains("larger than max.request.size"),
            "{stderr}"
        );
    }
}

/// With errors.tolerance=all the record too large goes to the dead-letter topic (without its value, which is
/// too large there too, but with the headers saying where it came from and why) and the rest flows.
#[test]
fn a_record_too_large_goes_to_the_dead_letter_topic_and_the_rest_flows() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let topic = unique_topic("too-large-all");
    let dlq = unique_topic("too-large-dlq");
    support::broker::create_topic(&bootstrap, &topic, 1);
    support::broker::create_topic(&bootstrap, &dlq, 1);
    let input = dir.path().join("in.txt");
    std::fs::write(&input, lines_with_one_too_large(30, 10)).unwrap();
    let errors = format!(
        "\"errors.tolerance\" = \"all\"\n\"errors.deadletterqueue.topic.name\" = \"{dlq}\"\n\
         \"errors.deadletterqueue.context.headers.enable\" = true"
    );
    let config = file_to_kafka_with_small_requests(dir.path(), &bootstrap, &input, &topic, &errors);
    let mut engine = start_engine(&config, &dir.path().join("state"), 1);
    let port = engine.1;
    let expected: Vec<String> = (0..30)
        .filter(|i| *i != 10)
        .map(|i| format!("line-{i}"))
        .collect();
    engine.wait_while_running("the other records", Duration::from_secs(30), || {
        read_values(&bootstrap, &topic).len() >= expected.len()
    });
    let dead =
        engine_consume(&bootstrap, &dlq, &["-o", "beginning", "-e", "-f", "%h\n"]).stdout_str();
    let status = support::engine_process::rest_get(port, "/connectors/big/status");
    assert!(terminate(&mut engine, Duration::from_secs(20)).success());
    assert_eq!(read_values(&bootstrap, &topic), expected);
    assert!(status.contains(r#""state":"RUNNING""#), "{status}");
    let dead: Vec<&str> = dead.lines().collect();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(
        dead[0].contains("__connect.errors.stage=KAFKA_PRODUCE")
            && dead[0].contains("larger than max.request.size")
            && dead[0].contains("__connect.errors.connector.name=big"),
        "{}",
        dead[0]
    );
}

/// A record larger than the consumer's message.max.bytes (receive.message.max.bytes) made `engine consume`
/// reconnect and fetch it again forever, silently: it fails at once, naming the limit.
#[test]
fn consuming_a_record_larger_than_message_max_bytes_fails_within_seconds_naming_the_limit() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("larger-than-frame");
    support::broker::create_topic(&bootstrap, &topic, 1);
    // Under the 1 MB a broker takes by default (Kafka's message.max.bytes), over the consumer's 500 kB.
    let mut input = "y".repeat(900_000);
    input.push_str("\nsmall\n");
    let produced = engine_produce(&bootstrap, &topic, &[], input.as_bytes());
    support::engine_cli::assert_delivered(&produced, &topic, 2);
    let output = engine_consume(
        &bootstrap,
        &topic,
        &["-e", "-o", "beginning", "-X", "message.max.bytes=500000"],
    );
    assert!(!output.status.success(), "{}", output.stderr);
    assert!(
        output.stderr.contains("more than message.max.bytes")
            && output.stderr.contains("raise message.max.bytes"),
        "{}",
        output.stderr
    );
    assert!(
        output.elapsed < Duration::from_secs(10),
        "reported after {:?}",
        output.elapsed
    );
    // With room for it, the same record is read.
    let output = engine_consume(&bootstrap, &topic, &["-e", "-o", "beginning", "-f", "%S\n"]);
    assert!(output.status.success(), "{}", output.stderr);
    assert_eq!(output.stdout_str(), "900000\n5\n");
}

/// Lines `line-0` … `line-29`; line 10 is 10 KB, over the 2 000 bytes of `max.message.bytes` the topics of the
/// two tests below have, the others far under it (the 30 of them in one batch are over it too).
fn lines_with_one_over_max_message_bytes() -> String {
    (0..30)
        .map(|i| {
            if i == 10 {
                format!("line-{i}-{}\n", "z".repeat(10_000))
            } else {
                format!("line-{i}\n")
            }
        })
        .collect()
}

/// A topic whose max.message.bytes refuses line 10 of [`lines_with_one_over_max_message_bytes`]. `None` when
/// the broker takes it anyway (tansu does not apply max.message.bytes), after saying so.
fn topic_refusing_large_records(bootstrap: &str, name: &str) -> Option<String> {
    let topic = unique_topic(name);
    support::broker::create_topic_with_config(
        bootstrap,
        &topic,
        1,
        &[("max.message.bytes", "2000")],
    );
    let probe = engine_produce(bootstrap, &topic, &[], "z".repeat(10_000).as_bytes());
    if probe.status.success() {
        eprintln!("this broker takes a record over the topic's max.message.bytes: nothing to refuse (tansu)");
        return None;
    }
    Some(topic)
}

/// A record the producer accepts but the broker refuses (over the topic's max.message.bytes), with
/// errors.tolerance=all: it goes to the dead-letter topic as it was sent (stage KAFKA_PRODUCE) and every other
/// line reaches the topic once. Before, the task failed for good. The broker refuses the whole batch first:
/// the producer sends it again record by record, as Java's producer does.
#[test]
fn a_record_the_broker_refuses_as_too_large_goes_to_the_dead_letter_topic_and_the_rest_flows_once()
{
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let Some(topic) = topic_refusing_large_records(&bootstrap, "broker-too-large-all") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dlq = unique_topic("broker-too-large-dlq");
    support::broker::create_topic(&bootstrap, &dlq, 1);
    let input = dir.path().join("in.txt");
    std::fs::write(&input, lines_with_one_over_max_message_bytes()).unwrap();
    let errors = format!(
        "\"errors.tolerance\" = \"all\"\n\"errors.deadletterqueue.topic.name\" = \"{dlq}\"\n\
         \"errors.deadletterqueue.context.headers.enable\" = true"
    );
    let config = file_to_kafka_with_small_requests(dir.path(), &bootstrap, &input, &topic, &errors);
    let mut engine = start_engine(&config, &dir.path().join("state"), 1);
    let port = engine.1;
    let expected: Vec<String> = (0..30)
        .filter(|i| *i != 10)
        .map(|i| format!("line-{i}"))
        .collect();
    let read_dead = || {
        engine_consume(
            &bootstrap,
            &dlq,
            &["-o", "beginning", "-e", "-f", "%h %s\n"],
        )
        .stdout_str()
    };
    engine.wait_while_running(
        "the other records and the dead letter",
        Duration::from_secs(30),
        || read_values(&bootstrap, &topic).len() >= expected.len() && !read_dead().is_empty(),
    );
    // Time for anything sent twice to arrive.
    std::thread::sleep(Duration::from_secs(2));
    let status = support::engine_process::rest_get(port, "/connectors/big/status");
    assert!(terminate(&mut engine, Duration::from_secs(20)).success());
    assert_eq!(
        read_values(&bootstrap, &topic),
        expected,
        "each other line once"
    );
    assert!(status.contains(r#""state":"RUNNING""#), "{status}");
    let dead = read_dead();
    let dead: Vec<&str> = dead.lines().collect();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(
        dead[0].contains("__connect.errors.stage=KAFKA_PRODUCE")
            && dead[0].contains("MessageTooLarge")
            && dead[0].contains("__connect.errors.connector.name=big")
            && dead[0].ends_with(&format!("line-10-{}", "z".repeat(10_000))),
        "{}",
        &dead[0][..dead[0].len().min(2000)]
    );
}

/// The same refused record with errors.tolerance=none: the task failed, and the records acknowledged in its
/// flush window were sent again by the restart an operator makes. It fails once, naming the limit, does not
/// restart by itself, and a restarted engine sends nothing twice: the positions of the lines before it are
/// committed, and nothing after it was written.
#[test]
fn a_record_the_broker_refuses_as_too_large_fails_the_task_once_and_a_restart_sends_nothing_twice()
{
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let Some(topic) = topic_refusing_large_records(&bootstrap, "broker-too-large-none") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, lines_with_one_over_max_message_bytes()).unwrap();
    let config = file_to_kafka_with_small_requests(dir.path(), &bootstrap, &input, &topic, "");
    let state = dir.path().join("state");
    let before: Vec<String> = (0..10).map(|i| format!("line-{i}")).collect();
    for run in 0..2 {
        let mut engine = start_engine_capturing_stderr(&config, &state, 1);
        let port = engine.1;
        engine.wait_while_running("the task to fail", Duration::from_secs(30), || {
            support::engine_process::try_rest_get(port, "/connectors/big/status")
                .is_some_and(|status| status.contains(r#""state":"FAILED""#))
        });
        let status = support::engine_process::rest_get(port, "/connectors/big/status");
        assert!(
            status.contains("max.message.bytes") && status.contains("errors.tolerance=none"),
            "the trace names the cause: {status}"
        );
        // A restarting task would have failed again after its 1 s and 2 s backoffs by now.
        std::thread::sleep(Duration::from_millis(3500));
        assert_eq!(
            read_values(&bootstrap, &topic),
            before,
            "run {run}: the lines before the refused one, once each"
        );
        assert!(terminate(&mut engine, Duration::from_secs(20)).success());
        let stderr = engine.stderr_after_exit();
        let failures: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("% task big#0 failed"))
            .collect();
        assert_eq!(failures.len(), 1, "one failure, no restarts:\n{stderr}");
        assert!(
            failures[0].contains("will not restart") && failures[0].contains("max.message.bytes"),
            "{stderr}"
        );
    }
}

/// The same refused record under exactly-once: the transaction cannot commit without it, so it aborted and the
/// task restarted into the same refusal, again and again. It fails once, saying why, and stays failed.
#[test]
fn under_exactly_once_a_record_the_broker_refuses_fails_the_task_once() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let Some(topic) = topic_refusing_large_records(&bootstrap, "broker-too-large-eos") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, lines_with_one_over_max_message_bytes()).unwrap();
    let config = file_to_kafka_with_small_requests(
        dir.path(),
        &bootstrap,
        &input,
        &topic,
        r#"delivery = "exactly-once""#,
    );
    let mut engine = start_engine_capturing_stderr(&config, &dir.path().join("state"), 1);
    let port = engine.1;
    engine.wait_while_running("the task to fail", Duration::from_secs(30), || {
        support::engine_process::try_rest_get(port, "/connectors/big/status")
            .is_some_and(|status| status.contains(r#""state":"FAILED""#))
    });
    // A restarting task would have failed again after its 1 s and 2 s backoffs by now.
    std::thread::sleep(Duration::from_millis(3500));
    assert!(terminate(&mut engine, Duration::from_secs(20)).success());
    let stderr = engine.stderr_after_exit();
    let failures: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("% task big#0 failed"))
        .collect();
    assert_eq!(failures.len(), 1, "one failure, no restarts:\n{stderr}");
    assert!(
        failures[0].contains("will not restart")
            && failures[0].contains("exactly-once cannot skip it"),
        "{stderr}"
    );
}
