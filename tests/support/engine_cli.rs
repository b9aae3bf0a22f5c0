//! Our `engine` binary's client commands (`produce`, `consume`, `topic`, `group` ...) run by the tests, and
//! what `engine produce` reports. Pipelines (`engine --config`) are `engine_process`.

use std::process::Command;

use super::process::{run, RunOutput, RunningProcess, PROCESS_TIMEOUT};
use super::tools::engine;

/// `engine produce -b BOOTSTRAP -t TOPIC <args>`, left running with stdin open.
pub fn spawn_engine_produce(bootstrap: &str, topic: &str, args: &[&str]) -> RunningProcess {
    RunningProcess::spawn(
        Command::new(engine())
            .args(["produce", "-b", bootstrap, "-t", topic])
            .args(args),
    )
}

/// `engine <args>` with no input. Does not check the exit status.
pub fn run_engine(args: &[&str]) -> RunOutput {
    run(Command::new(engine()).args(args), None, PROCESS_TIMEOUT)
}

/// `engine produce -b BOOTSTRAP -t TOPIC <args>` with `input` on stdin. Does not check the exit status.
pub fn engine_produce(bootstrap: &str, topic: &str, args: &[&str], input: &[u8]) -> RunOutput {
    run(
        Command::new(engine())
            .args(["produce", "-b", bootstrap, "-t", topic])
            .args(args),
        Some(input),
        PROCESS_TIMEOUT,
    )
}

/// Asserts `engine produce` exited 0 and reported on stderr, in the sentence it ends with
/// (`% delivered N records to TOPIC`), that it delivered all `records` to `topic` with none failed.
pub fn assert_delivered(output: &RunOutput, topic: &str, records: usize) {
    output.assert_success("engine produce");
    let expected = format!("% delivered {records} records to {topic}");
    assert!(
        output.stderr.lines().any(|line| line == expected),
        "engine produce should report `{expected}` on stderr; it said:\n{}",
        output.stderr
    );
}

/// `engine consume -b BOOTSTRAP -t TOPIC <args>`, stdout captured. Does not check the exit status.
pub fn engine_consume(bootstrap: &str, topic: &str, args: &[&str]) -> RunOutput {
    run(
        Command::new(engine())
            .args(["consume", "-b", bootstrap, "-t", topic])
            .args(args),
        None,
        PROCESS_TIMEOUT,
    )
}
