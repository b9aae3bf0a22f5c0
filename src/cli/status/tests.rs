use serde_json::json;

use super::*;

fn metrics(polled: u64, written: u64) -> TaskSamples {
    let text = format!(
        "pipewright_records_polled_total{{pipeline=\"orders\",task=\"0\"}} {polled}\n\
         pipewright_records_written_total{{pipeline=\"orders\",task=\"0\"}} {written}\n\
         pipewright_task_core{{pipeline=\"orders\",task=\"0\"}} 1\n\
         pipewright_consumer_lag_records{{pipeline=\"orders\",task=\"0\",topic=\"in\",partition=\"0\"}} 4\n\
         pipewright_consumer_lag_records{{pipeline=\"orders\",task=\"0\",topic=\"in\",partition=\"1\"}} 6\n\
         pipewright_end_to_end_latency_summary_seconds{{pipeline=\"orders\",task=\"0\",quantile=\"0.5\"}} 0.001\n\
         pipewright_end_to_end_latency_summary_seconds{{pipeline=\"orders\",task=\"0\",quantile=\"0.99\"}} 0.0125\n\
         pipewright_end_to_end_latency_summary_seconds{{pipeline=\"audit\",task=\"0\",quantile=\"0.99\"}} NaN\n"
    );
    task_samples(&prometheus_text::parse(&text).unwrap())
}

fn statuses() -> Value {
    json!({
        "orders": {"status": {"name": "orders", "connector": {"state": "RUNNING", "worker_id": "w1:8083"},
            "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "w1:8083"}], "type": "sink"}},
        "audit": {"status": {"name": "audit", "connector": {"state": "FAILED", "worker_id": "w1:8083"},
            "tasks": [{"id": 0, "state": "FAILED", "worker_id": "w1:8083",
                       "trace": "pipeline \"audit\": transform failed\n  at line 2"}], "type": "source"}}
    })
}

#[test]
fn samples_sum_lag_over_partitions_and_take_the_p99() {
    let tasks = metrics(10, 8);
    let orders = &tasks[&("orders".to_owned(), 0)];
    assert_eq!(orders.records_in, 10.0);
    assert_eq!(orders.records_out, 8.0);
    assert_eq!(orders.lag, Some(10.0));
    assert_eq!(orders.p99_seconds, Some(0.0125));
    assert_eq!(orders.core, Some(1));
    // NaN (nothing acknowledged yet) is no latency.
    assert_eq!(tasks[&("audit".to_owned(), 0)].p99_seconds, None);
}

#[test]
fn rates_come_from_two_scrapes_and_the_table_shows_every_task() {
    let rows = rows(&statuses(), &metrics(100, 90), &metrics(300, 250), 2.0);
    assert_eq!(rows.len(), 2);
    let orders = rows.iter().find(|r| r.connector == "orders").unwrap();
    assert_eq!(orders.in_per_second, Some(100.0));
    assert_eq!(orders.out_per_second, Some(80.0));
    let audit = rows.iter().find(|r| r.connector == "audit").unwrap();
    assert_eq!(audit.state, "FAILED");
    assert_eq!(audit.last_error, "pipeline \"audit\": transform failed");
    assert_eq!(audit.in_per_second, Some(0.0), "no counters move: 0/s");

    let table = render_table(&rows);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "CONNECTOR",
            "TASK",
            "WORKER",
            "CORE",
            "STATE",
            "IN/S",
            "OUT/S",
            "LAG",
            "P99",
            "LAST",
            "ERROR"
        ]
    );
    let orders_line: Vec<&str> = lines
        .iter()
        .find(|l| l.starts_with("orders"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        orders_line,
        ["orders", "0", "w1:8083", "1", "RUNNING", "100.0", "80.0", "10", "12.5ms", "-"]
    );
    // Columns line up: every line has its STATE column where the header has it.
    let state_at = lines[0].find("STATE").unwrap();
    for line in &lines[1..] {
        assert!(
            line[state_at..].starts_with("RUNNING") || line[state_at..].starts_with("FAILED"),
            "{table}"
        );
    }
}

#[test]
fn a_task_missing_from_a_scrape_has_no_rate() {
    let rows = rows(&statuses(), &TaskSamples::new(), &metrics(1, 1), 1.0);
    let orders = rows.iter().find(|r| r.connector == "orders").unwrap();
    assert_eq!(orders.in_per_second, None);
    assert!(render_table(&rows).lines().nth(1).is_some());
    assert!(render_table(&[]).contains("(no connectors)"));
}

#[test]
fn long_errors_are_cut_to_their_first_line() {
    let long = "x".repeat(200);
    let cut = first_line(&long, 60);
    assert_eq!(cut.chars().count(), 60);
    assert!(cut.ends_with('…'));
}
