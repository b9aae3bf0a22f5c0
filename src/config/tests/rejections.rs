//! Configs that could never run are refused by validation, each problem naming file, line and key (checked
//! against the real connector registry, whose connectors build the typed configs).

use crate::config::{parse, ConfigErrors, EngineConfig, Format, Registry};

fn parse_toml(text: &str) -> Result<EngineConfig, ConfigErrors> {
    parse(text, "pipelines.toml", Format::Toml, &Registry)
}

/// The one problem of `text`, as `validate` prints it.
fn only_problem(text: &str) -> String {
    match parse_toml(text) {
        Ok(_) => panic!("expected a problem in:\n{text}"),
        Err(errors) => {
            assert_eq!(errors.problems.len(), 1, "{:?}", errors.problems);
            errors.problems[0].to_string()
        }
    }
}

fn pipeline(source: &str, sink: &str, extra: &str) -> String {
    format!("[[pipeline]]\nname = \"p\"\n{extra}source = {source}\nsink = {sink}\n")
}

#[test]
fn a_kafka_sink_must_know_where_records_go() {
    let file = r#"{ type = "file", file = "/tmp/in.txt" }"#;
    let problem = only_problem(&pipeline(file, r#"{ type = "kafka" }"#, ""));
    assert!(
        problem.starts_with("pipelines.toml:4: pipeline \"p\": key \"sink.topic\": names no topic, and the file source gives its records none"),
        "{problem}"
    );
    let kafka = r#"{ type = "kafka", topics = "orders", "group.id" = "g" }"#;
    let problem = only_problem(&pipeline(kafka, r#"{ type = "kafka" }"#, ""));
    assert!(
        problem.contains("key \"sink.topic\": names no topic, so every record would be written back to the topic it was read from"),
        "{problem}"
    );
    // Each of these says where records go: the sink's topic, the source's, or a router.
    let named_by_source = r#"{ type = "file", file = "/tmp/in.txt", topic = "lines" }"#;
    parse_toml(&pipeline(named_by_source, r#"{ type = "kafka" }"#, "")).unwrap();
    parse_toml(&pipeline(
        file,
        r#"{ type = "kafka", topic = "lines" }"#,
        "",
    ))
    .unwrap();
    let routed = format!(
        "{}[[pipeline.transforms]]\ntype = \"RegexRouter\"\nregex = \"(.*)\"\nreplacement = \"$1-copy\"\n",
        pipeline(kafka, r#"{ type = "kafka" }"#, "")
    );
    parse_toml(&routed).unwrap();
}

#[test]
fn topic_names_follow_kafkas_rule() {
    let file = r#"{ type = "file", file = "/tmp/in.txt" }"#;
    let problem = only_problem(&pipeline(
        file,
        r#"{ type = "kafka", topic = "bad topic/name" }"#,
        "",
    ));
    assert!(
        problem.contains("key \"sink.topic\": `bad topic/name` is not a valid topic name: it holds ' ', '/'; Kafka allows only"),
        "{problem}"
    );
    let kafka = r#"{ type = "kafka", topics = "ok,has space", "group.id" = "g" }"#;
    let problem = only_problem(&pipeline(kafka, r#"{ type = "stdout" }"#, ""));
    assert!(
        problem.contains("key \"source.topics\": `has space`"),
        "{problem}"
    );
    let named = r#"{ type = "file", file = "/tmp/in.txt", topic = "x:y" }"#;
    let problem = only_problem(&pipeline(named, r#"{ type = "stdout" }"#, ""));
    assert!(problem.contains("key \"source.topic\": `x:y`"), "{problem}");
    let problem = only_problem(&pipeline(
        file,
        r#"{ type = "stdout" }"#,
        "\"errors.tolerance\" = \"all\"\n\"errors.deadletterqueue.topic.name\" = \"d l q\"\n",
    ));
    assert!(
        problem.starts_with(
            "pipelines.toml:4: pipeline \"p\": key \"errors.deadletterqueue.topic.name\": `d l q`"
        ),
        "{problem}"
    );
}

#[test]
fn absurd_task_counts_are_refused_and_useless_tasks_not_started() {
    let datagen = r#"{ type = "datagen" }"#;
    let problem = only_problem(&pipeline(
        datagen,
        r#"{ type = "stdout" }"#,
        "tasks = 1000000\n",
    ));
    assert!(
        problem.starts_with("pipelines.toml:3: pipeline \"p\": key \"tasks\": 1000000 tasks is too many: at most 1024"),
        "{problem}"
    );
    let config = parse_toml(&pipeline(
        datagen,
        r#"{ type = "stdout" }"#,
        "tasks = 1024\n",
    ))
    .unwrap();
    assert_eq!(config.pipelines[0].tasks, 1024);
    // A second task of a file source would read the same file again: as Kafka Connect's FileStreamSource,
    // it runs one task whatever tasks.max says.
    let file = r#"{ type = "file", file = "/tmp/in.txt" }"#;
    let config = parse_toml(&pipeline(file, r#"{ type = "stdout" }"#, "tasks = 4\n")).unwrap();
    assert_eq!(
        (
            config.pipelines[0].tasks,
            config.pipelines[0].requested_tasks
        ),
        (1, 4)
    );
}

#[test]
fn credentials_are_refused_where_they_would_be_shown() {
    let file = r#"{ type = "file", file = "/tmp/in.txt" }"#;
    let problem = only_problem(&pipeline(
        file,
        r#"{ type = "http", url = "http://user:secret@localhost:9999/x" }"#,
        "",
    ));
    assert!(
        problem.contains("key \"sink.url\"")
            && problem.contains("credentials in the URL are not supported"),
        "{problem}"
    );
    let text = format!(
        "[kafka]\n\"bootstrap.servers\" = \"user:secret@broker:9092\"\n\n{}",
        pipeline(file, r#"{ type = "kafka", topic = "t" }"#, "")
    );
    let problem = only_problem(&text);
    assert!(
        problem.contains("key \"bootstrap.servers\"")
            && problem.contains("credentials go in the SASL settings"),
        "{problem}"
    );
    assert!(!problem.contains("secret"), "{problem}");
}

#[test]
fn an_empty_file_path_is_refused() {
    let problem = only_problem(&pipeline(
        r#"{ type = "file", file = "" }"#,
        r#"{ type = "stdout" }"#,
        "",
    ));
    assert!(
        problem.contains("key \"source.file\": the file source needs `file`"),
        "{problem}"
    );
    let problem = only_problem(&pipeline(
        r#"{ type = "datagen" }"#,
        r#"{ type = "file", file = "" }"#,
        "",
    ));
    assert!(problem.contains("key \"sink.file\""), "{problem}");
}

#[test]
fn settings_every_client_shares_reach_the_admin_client_too() {
    let text = format!(
        "[kafka]\n\"reconnect.backoff.max.ms\" = \"7000\"\n\"socket.connection.setup.timeout.ms\" = \"3000\"\n\n{}",
        pipeline(
            r#"{ type = "file", file = "/tmp/in.txt" }"#,
            r#"{ type = "kafka", topic = "t" }"#,
            ""
        )
    );
    let config = parse_toml(&text).unwrap();
    let admin = &config.pipelines[0].run.admin;
    assert_eq!(
        admin.reconnect_backoff_max,
        std::time::Duration::from_secs(7)
    );
    assert_eq!(
        admin.socket_connection_setup_timeout,
        std::time::Duration::from_secs(3)
    );
}

#[test]
fn the_header_converter_is_built_and_simple_header_converter_is_only_a_header_converter() {
    let file = r#"{ type = "file", file = "/tmp/in.txt", topic = "lines" }"#;
    let kafka = r#"{ type = "kafka", topic = "out" }"#;
    let header_converter = |extra: &str| {
        let config = parse_toml(&pipeline(file, kafka, extra)).expect("valid");
        config.pipelines[0].run.converters.instance().header
    };
    assert!(
        header_converter("").is_none(),
        "Kafka's default: SimpleHeaderConverter"
    );
    assert!(header_converter(
        "\"header.converter\" = \"org.apache.kafka.connect.storage.SimpleHeaderConverter\"\n"
    )
    .is_none());
    assert!(matches!(
        header_converter(
            "\"header.converter\" = \"json\"\n\"header.converter.schemas.enable\" = false\n"
        ),
        Some(crate::connect::converters::Converter::Json(_))
    ));
    let problem = only_problem(&pipeline(
        file,
        kafka,
        "\"value.converter\" = \"SimpleHeaderConverter\"\n",
    ));
    assert!(
        problem.contains("key \"value.converter\"")
            && problem.contains("set it as header.converter"),
        "{problem}"
    );
}

#[test]
fn a_jdbc_url_holding_a_password_is_refused_for_connection_password() {
    let kafka = r#"{ type = "kafka", topic = "out" }"#;
    for url in [
        "jdbc:postgresql://127.0.0.1:5432/test?user=app&password=s3cret",
        "mysql://app:s3cret@127.0.0.1:3306/test",
    ] {
        let source = format!(
            r#"{{ type = "jdbc", "connection.url" = "{url}", "table.whitelist" = "t", mode = "bulk" }}"#
        );
        let problem = only_problem(&pipeline(&source, kafka, ""));
        assert!(
            problem.contains("key \"source.connection.url\": holds a password")
                && problem.contains("connection.password"),
            "{problem}"
        );
        assert!(!problem.contains("s3cret"), "{problem}");
    }
}

#[test]
fn exactly_once_into_a_jdbc_sink_needs_a_kafka_source_and_other_sinks_a_kafka_transaction() {
    let jdbc = r#"{ type = "jdbc", "connection.url" = "postgres://app@127.0.0.1:5432/test" }"#;
    let kafka = r#"{ type = "kafka", topics = "orders", "group.id" = "g" }"#;
    let file = r#"{ type = "file", file = "/tmp/in.txt", topic = "lines" }"#;
    let eos = "delivery = \"exactly-once\"\n";
    // The sink keeps the consumed offsets in its own transaction.
    parse_toml(&pipeline(kafka, jdbc, eos)).unwrap();
    let problem = only_problem(&pipeline(file, jdbc, eos));
    assert!(
        problem.contains("key \"delivery\"") && problem.contains("needs a Kafka source"),
        "{problem}"
    );
    let problem = only_problem(&pipeline(
        kafka,
        r#"{ type = "file", file = "/tmp/out.txt" }"#,
        eos,
    ));
    assert!(
        problem.contains("key \"delivery\"") && problem.contains("needs a Kafka sink"),
        "{problem}"
    );
}
