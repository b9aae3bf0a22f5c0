//! The config layer against a small fixed catalog (the real registry is filled by the connector modules).

use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType};
use crate::connect::registry::{Capabilities, ComponentInfo, ComponentKind, KafkaClientRole};

use super::*;

mod distributed_worker;
mod rejections;

const fn info(
    kind: ComponentKind,
    name: &'static str,
    aliases: &'static [&'static str],
    keys: &'static [ConfigKey],
) -> ComponentInfo {
    ComponentInfo {
        kind,
        name,
        aliases,
        config: ConfigDef::new(keys),
        capabilities: Capabilities::NONE,
        doc: "",
    }
}

/// A connector that is a Kafka client of `role`: keys it does not declare may be its client's; a producer
/// writes in transactions, like the real Kafka sink.
const fn kafka_client(mut info: ComponentInfo, role: KafkaClientRole) -> ComponentInfo {
    info.capabilities.kafka_client = Some(role);
    if matches!(role, KafkaClientRole::Producer) {
        info.capabilities.joins_kafka_transaction = true;
    }
    info
}

static COMPONENTS: &[ComponentInfo] = &[
    info(
        ComponentKind::Source,
        "file",
        &[
            "FileStreamSource",
            "org.apache.kafka.connect.file.FileStreamSourceConnector",
        ],
        &[
            ConfigKey::required("file", ConfigType::String, "The file to read"),
            ConfigKey::optional(
                "batch.size",
                ConfigType::Int,
                Some("2000"),
                "Lines per batch",
            ),
        ],
    ),
    kafka_client(
        info(
            ComponentKind::Source,
            "kafka",
            &[],
            &[
                ConfigKey::optional("topics", ConfigType::List, None, "Topics to read"),
                ConfigKey::optional("topics.regex", ConfigType::String, None, "Topic pattern"),
            ],
        ),
        KafkaClientRole::Consumer,
    ),
    info(
        ComponentKind::Sink,
        "file",
        &[
            "FileStreamSink",
            "org.apache.kafka.connect.file.FileStreamSinkConnector",
        ],
        &[ConfigKey::required(
            "file",
            ConfigType::String,
            "The file to write",
        )],
    ),
    kafka_client(
        info(
            ComponentKind::Sink,
            "kafka",
            &[],
            &[ConfigKey::required(
                "topic",
                ConfigType::String,
                "The topic to write",
            )],
        ),
        KafkaClientRole::Producer,
    ),
    info(
        ComponentKind::Transform,
        "InsertField",
        &["org.apache.kafka.connect.transforms.InsertField"],
        &[
            ConfigKey::optional("static.field", ConfigType::String, None, "Field name"),
            ConfigKey::optional("static.value", ConfigType::String, None, "Field value"),
        ],
    ),
    info(ComponentKind::Transform, "Filter", &[], &[]),
    info(
        ComponentKind::Predicate,
        "TopicNameMatches",
        &[],
        &[ConfigKey::required(
            "pattern",
            ConfigType::String,
            "Topic regex",
        )],
    ),
    info(
        ComponentKind::Converter,
        "json",
        &["org.apache.kafka.connect.json.JsonConverter"],
        &[ConfigKey::optional(
            "schemas.enable",
            ConfigType::Boolean,
            Some("true"),
            "Envelope",
        )],
    ),
    info(ComponentKind::Converter, "string", &[], &[]),
];

const CATALOG: StaticCatalog = StaticCatalog(COMPONENTS);

const ISSUE_EXAMPLE: &str = r#"[kafka]                                   # client settings shared by all pipelines
"bootstrap.servers" = "127.0.0.1:9092"

[[pipeline]]
name = "orders-to-kafka"                  # lines of a file, as strings, into a topic
delivery = "at-least-once"                # or "exactly-once"
tasks = 1
source = { type = "file", file = "/tmp/orders.jsonl" }
sink = { type = "kafka", topic = "orders" }

[[pipeline]]
name = "orders-to-file"                   # the topic back into a file, one JSON object a line
source = { type = "kafka", topics = "orders", "group.id" = "copy" }
sink = { type = "file", file = "/tmp/orders-out.jsonl" }
"value.converter" = "json"
"value.converter.schemas.enable" = false

[[pipeline.transforms]]                   # applied in order
type = "InsertField"
"static.field" = "source"
"static.value" = "demo"
"#;

fn toml(text: &str) -> Result<EngineConfig, ConfigErrors> {
    parse(text, "pipelines.toml", Format::Toml, &CATALOG)
}

fn problems(result: Result<EngineConfig, ConfigErrors>) -> Vec<String> {
    match result {
        Ok(config) => panic!(
            "expected problems, got {} pipelines",
            config.pipelines.len()
        ),
        Err(errors) => errors.problems.iter().map(ToString::to_string).collect(),
    }
}

/// The issue's example with `old` replaced by `new`.
fn example_with(old: &str, new: &str) -> String {
    assert!(ISSUE_EXAMPLE.contains(old), "{old}");
    ISSUE_EXAMPLE.replacen(old, new, 1)
}

#[test]
fn issue_example_parses_to_the_expected_model() {
    let config = toml(ISSUE_EXAMPLE).unwrap();
    assert_eq!(
        config.kafka.get("bootstrap.servers"),
        Some("127.0.0.1:9092")
    );
    assert_eq!(
        config.kafka.location("bootstrap.servers").map(|l| l.line),
        Some(2)
    );
    assert_eq!(config.pipelines.len(), 2);

    let first = &config.pipelines[0];
    assert_eq!(first.name, "orders-to-kafka");
    assert_eq!(first.location.line, 4);
    assert_eq!(first.delivery, Delivery::AtLeastOnce);
    assert_eq!(first.tasks, 1);
    assert_eq!(first.profile, None);
    assert_eq!(
        (first.source.kind, first.source.name),
        (ComponentKind::Source, "file")
    );
    assert_eq!(first.source.config.get("file"), Some("/tmp/orders.jsonl"));
    assert_eq!(
        first.source.config.int("batch.size"),
        Some(2000),
        "defaults filled in"
    );
    assert_eq!(first.source.location.line, 8);
    assert_eq!(first.sink.name, "kafka");
    assert_eq!(first.sink.config.get("topic"), Some("orders"));
    assert!(first.transforms.is_empty());
    assert!(first.value_converter.is_none());
    assert_eq!(first.queue_max_records, DEFAULT_QUEUE_MAX_RECORDS);
    assert_eq!(first.queue_max_bytes, DEFAULT_QUEUE_MAX_BYTES);
    assert_eq!(
        first.producer.get("bootstrap.servers"),
        Some("127.0.0.1:9092")
    );
    assert_eq!(
        first.run.producer.common.bootstrap_servers,
        vec!["127.0.0.1:9092".to_owned()]
    );

    let second = &config.pipelines[1];
    assert_eq!(second.name, "orders-to-file");
    assert_eq!(second.source.name, "kafka");
    assert_eq!(second.source.config.get("topics"), Some("orders"));
    assert_eq!(second.consumer.get("group.id"), Some("copy"));
    assert!(matches!(
        second.consumer.setting("group.id").map(|s| &s.origin),
        Some(Origin::Component(l)) if l.line == 13
    ));
    let consumer = &second.run.consumer;
    assert_eq!(consumer.group_id.as_deref(), Some("copy"));
    assert_eq!(
        consumer.common.bootstrap_servers,
        vec!["127.0.0.1:9092".to_owned()]
    );
    assert_eq!(
        second.sink.config.get("file"),
        Some("/tmp/orders-out.jsonl")
    );
    let converter = second.value_converter.as_ref().unwrap();
    assert_eq!(converter.name, "json");
    assert_eq!(converter.config.boolean("schemas.enable"), Some(false));
    assert_eq!(
        converter
            .settings
            .location("schemas.enable")
            .map(|l| l.line),
        Some(16)
    );
    assert_eq!(second.transforms.len(), 1);
    let transform = &second.transforms[0];
    assert_eq!(transform.alias, "InsertField");
    assert_eq!(transform.component.name, "InsertField");
    assert_eq!(
        transform.component.config.get("static.field"),
        Some("source")
    );
    assert_eq!(transform.component.config.get("static.value"), Some("demo"));
    assert_eq!(transform.component.location.line, 18);
    assert_eq!(
        (transform.predicate.clone(), transform.negate),
        (None, false)
    );
}

#[test]
fn unknown_converter_key_is_reported_with_line_and_suggestion() {
    let text = example_with(
        "\"value.converter.schemas.enable\"",
        "\"value.converter.schemas.enabel\"",
    );
    assert_eq!(
        problems(toml(&text)),
        ["pipelines.toml:16: pipeline \"orders-to-file\": key \"value.converter.schemas.enabel\": \
          unknown key (did you mean \"value.converter.schemas.enable\"?)"]
    );
}

#[test]
fn unknown_pipeline_and_component_keys_suggest_the_closest() {
    let text = example_with("delivery = ", "delivey = ");
    let text = text.replacen(
        "file = \"/tmp/orders.jsonl\"",
        "fiel = \"/tmp/orders.jsonl\"",
        1,
    );
    assert_eq!(
        problems(toml(&text)),
        [
            "pipelines.toml:6: pipeline \"orders-to-kafka\": key \"delivey\": unknown key (did you mean \"delivery\"?)",
            "pipelines.toml:8: pipeline \"orders-to-kafka\": key \"source.fiel\": unknown key (did you mean \"source.file\"?)",
            "pipelines.toml:8: pipeline \"orders-to-kafka\": key \"source.file\": missing required key (The file to read)",
        ]
    );
}

#[test]
fn queue_max_bytes_is_read_and_must_be_positive() {
    let text = example_with("tasks = 1", "tasks = 1\n\"queue.max.bytes\" = 65536");
    assert_eq!(toml(&text).unwrap().pipelines[0].queue_max_bytes, 65_536);
    let text = example_with("tasks = 1", "tasks = 1\n\"queue.max.bytes\" = 0");
    assert_eq!(
        problems(toml(&text)),
        ["pipelines.toml:8: pipeline \"orders-to-kafka\": key \"queue.max.bytes\": must be at least 1, found 0"]
    );
}

#[test]
fn a_wrong_type_is_an_error() {
    let text = example_with("tasks = 1", "tasks = \"two\"");
    assert_eq!(
        problems(toml(&text)),
        ["pipelines.toml:7: pipeline \"orders-to-kafka\": key \"tasks\": expected an integer, found \"two\""]
    );
    let text = example_with("tasks = 1", "tasks = 0");
    assert_eq!(
        problems(toml(&text)),
        ["pipelines.toml:7: pipeline \"orders-to-kafka\": key \"tasks\": must be at least 1, found 0"]
    );
}

#[test]
fn an_unknown_component_type_suggests_the_closest() {
    let text = example_with("sink = { type = \"file\"", "sink = { type = \"fiel\"");
    assert_eq!(
        problems(toml(&text)),
        ["pipelines.toml:14: pipeline \"orders-to-file\": key \"sink.type\": unknown sink type \"fiel\" (did you mean \"file\"?)"]
    );
    let text = example_with("type = \"InsertField\"", "type = \"InsertFeild\"");
    assert_eq!(
        problems(toml(&text)),
        [
            "pipelines.toml:19: pipeline \"orders-to-file\": key \"transforms.InsertFeild.type\": \
          unknown transform type \"InsertFeild\" (did you mean \"InsertField\"?)"
        ]
    );
}

#[test]
fn a_missing_required_key_is_reported_where_its_table_starts() {
    let text = example_with(
        "sink = { type = \"file\", file = \"/tmp/orders-out.jsonl\" }",
        "sink = { type = \"file\" }",
    );
    assert_eq!(
        problems(toml(&text)),
        ["pipelines.toml:14: pipeline \"orders-to-file\": key \"sink.file\": missing required key (The file to write)"]
    );
    let text = example_with("sink = { type = \"kafka\", topic = \"orders\" }\n", "");
    assert_eq!(
        problems(toml(&text)),
        ["pipelines.toml:4: pipeline \"orders-to-kafka\": key \"sink\": missing required key"]
    );
}

#[test]
fn duplicate_pipeline_names_are_an_error() {
    let text = example_with("name = \"orders-to-file\"", "name = \"orders-to-kafka\"");
    assert_eq!(
        problems(toml(&text)),
        ["pipelines.toml:12: key \"name\": duplicate pipeline name \"orders-to-kafka\" (first defined at line 5)"]
    );
}

#[test]
fn a_bad_delivery_value_lists_the_valid_ones() {
    let text = example_with(
        "delivery = \"at-least-once\"",
        "delivery = \"at-most-once\"",
    );
    assert_eq!(
        problems(toml(&text)),
        [
            "pipelines.toml:6: pipeline \"orders-to-kafka\": key \"delivery\": \
          expected one of \"at-least-once\", \"exactly-once\", found \"at-most-once\""
        ]
    );
}

#[test]
fn every_problem_is_reported_in_file_order() {
    let text = example_with("tasks = 1", "tasks = \"two\"")
        .replacen("\"bootstrap.servers\"", "\"bootstrap.server\"", 1)
        .replacen("type = \"fiel", "", 0)
        .replacen("sink = { type = \"file\"", "sink = { type = \"fiel\"", 1)
        .replacen("\"static.value\"", "\"static.valeu\"", 1);
    let found = problems(toml(&text));
    assert_eq!(found.len(), 4, "{found:#?}");
    assert!(found[0].starts_with("pipelines.toml:2: key \"bootstrap.server\": unknown key (did you mean \"bootstrap.servers\"?)"));
    assert!(found[1].starts_with("pipelines.toml:7: "));
    assert!(found[2].starts_with("pipelines.toml:14: "));
    assert!(found[3].starts_with("pipelines.toml:21: pipeline \"orders-to-file\": key \"transforms.InsertField.static.valeu\": unknown key (did you mean \"transforms.InsertField.static.value\"?)"));
}

#[test]
fn invalid_toml_is_reported_with_its_line() {
    let found = problems(toml("[kafka]\n\"bootstrap.servers\" = \n"));
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("pipelines.toml:2: invalid TOML: "),
        "{found:?}"
    );
    let found = problems(toml("[[pipelines]]\nname = \"x\"\n"));
    assert_eq!(
        found,
        ["pipelines.toml:1: key \"pipelines\": unknown key (did you mean \"pipeline\"?)"]
    );
}

#[test]
fn predicates_and_negate_in_toml() {
    let text = format!(
        "{ISSUE_EXAMPLE}predicate = \"is-orders\"\nnegate = true\n\n\
         [[pipeline.transforms]]\ntype = \"Filter\"\npredicate = \"is-order\"\n\n\
         [[pipeline.predicates]]\nname = \"is-orders\"\ntype = \"TopicNameMatches\"\npattern = \"orders.*\"\n"
    );
    assert_eq!(
        problems(toml(&text)),
        [
            "pipelines.toml:27: pipeline \"orders-to-file\": key \"transforms.Filter.predicate\": \
          unknown predicate \"is-order\" (did you mean \"is-orders\"?)"
        ]
    );
    let config = toml(&text.replace("\"is-order\"", "\"is-orders\"")).unwrap();
    let pipeline = &config.pipelines[1];
    assert_eq!(pipeline.transforms.len(), 2);
    assert_eq!(
        pipeline.transforms[0].predicate.as_deref(),
        Some("is-orders")
    );
    assert!(pipeline.transforms[0].negate);
    assert_eq!(pipeline.transforms[1].alias, "Filter");
    assert_eq!(pipeline.predicates[0].alias, "is-orders");
    assert_eq!(
        pipeline.predicates[0].component.config.get("pattern"),
        Some("orders.*")
    );
}

#[test]
fn kafka_connect_flat_transform_keys_work_in_toml_too() {
    let text = example_with(
        "\n[[pipeline.transforms]]                   # applied in order\ntype = \"InsertField\"\n\"static.field\" = \"source\"\n\"static.value\" = \"demo\"\n",
        "transforms = \"tag\"\n\"transforms.tag.type\" = \"org.apache.kafka.connect.transforms.InsertField$Value\"\n\"transforms.tag.static.field\" = \"source\"\n\"transforms.tagg.static.value\" = \"demo\"\n",
    );
    assert_eq!(
        problems(toml(&text)),
        ["pipelines.toml:20: pipeline \"orders-to-file\": key \"transforms.tagg.static.value\": \
          alias \"tagg\" is not listed in \"transforms\" (did you mean \"tag\"?)"]
    );
    let config = toml(&text.replace("tagg", "tag")).unwrap();
    let transform = &config.pipelines[1].transforms[0];
    assert_eq!(transform.alias, "tag");
    assert_eq!(transform.component.name, "InsertField");
    assert_eq!(
        transform.component.type_name,
        "org.apache.kafka.connect.transforms.InsertField$Value"
    );
    assert_eq!(transform.component.config.get("static.value"), Some("demo"));
}

const FILE_SOURCE_PROPERTIES: &str = "\
# Kafka Connect's config/connect-file-source.properties
name=local-file-source
connector.class=FileStreamSource
tasks.max=1
file=test.txt
topic=connect-test
bootstrap.servers=127.0.0.1:9092
";

const FILE_SINK_PROPERTIES: &str = "\
name=local-file-sink
connector.class=org.apache.kafka.connect.file.FileStreamSinkConnector
tasks.max=2
file=test.sink.txt
topics=connect-test
value.converter=org.apache.kafka.connect.json.JsonConverter
value.converter.schemas.enable=false
errors.tolerance=all
errors.deadletterqueue.topic.name=dlq
consumer.override.auto.offset.reset=earliest
";

fn properties(text: &str) -> Result<EngineConfig, ConfigErrors> {
    parse(text, "connector.properties", Format::Properties, &CATALOG)
}

#[test]
fn file_stream_source_properties_become_file_to_kafka() {
    let config = properties(FILE_SOURCE_PROPERTIES).unwrap();
    assert_eq!(
        config.kafka.get("bootstrap.servers"),
        Some("127.0.0.1:9092")
    );
    let [pipeline] = &config.pipelines[..] else {
        panic!("one pipeline")
    };
    assert_eq!(pipeline.name, "local-file-source");
    assert_eq!(pipeline.tasks, 1);
    assert_eq!(pipeline.source.name, "file");
    assert_eq!(pipeline.source.type_name, "FileStreamSource");
    assert_eq!(pipeline.source.config.get("file"), Some("test.txt"));
    assert_eq!(
        pipeline.source.settings.location("file").map(|l| l.line),
        Some(5)
    );
    assert_eq!(pipeline.sink.name, "kafka");
    assert_eq!(pipeline.sink.config.get("topic"), Some("connect-test"));
    assert_eq!(
        pipeline.sink.settings.location("topic").map(|l| l.line),
        Some(6)
    );
    assert_eq!(
        pipeline.producer.get("bootstrap.servers"),
        Some("127.0.0.1:9092")
    );
}

#[test]
fn file_stream_sink_properties_become_kafka_to_file() {
    let config = properties(FILE_SINK_PROPERTIES).unwrap();
    let [pipeline] = &config.pipelines[..] else {
        panic!("one pipeline")
    };
    assert_eq!(pipeline.name, "local-file-sink");
    assert_eq!(pipeline.tasks, 2);
    assert_eq!(pipeline.source.name, "kafka");
    assert_eq!(pipeline.source.config.get("topics"), Some("connect-test"));
    assert_eq!(
        pipeline.consumer.get("group.id"),
        Some("connect-local-file-sink")
    );
    assert_eq!(pipeline.consumer.get("auto.offset.reset"), Some("earliest"));
    assert_eq!(
        pipeline.consumer.get("bootstrap.servers"),
        Some("localhost:9092")
    );
    assert_eq!(pipeline.sink.name, "file");
    assert_eq!(pipeline.sink.config.get("file"), Some("test.sink.txt"));
    let converter = pipeline.value_converter.as_ref().unwrap();
    assert_eq!(converter.name, "json");
    assert_eq!(converter.config.boolean("schemas.enable"), Some(false));
    assert_eq!(pipeline.errors.tolerance, Tolerance::All);
    assert_eq!(pipeline.errors.dead_letter_topic.as_deref(), Some("dlq"));
}

#[test]
fn properties_problems_have_lines() {
    let text = FILE_SOURCE_PROPERTIES
        .replace("FileStreamSource\n", "FileStreamSourc\n")
        .replace("tasks.max=1", "tasks.max=one");
    assert_eq!(
        problems(properties(&text)),
        [
            "connector.properties:3: pipeline \"local-file-source\": key \"connector.class\": \
             unknown source type \"FileStreamSourc\" (did you mean \"FileStreamSource\"?)",
            "connector.properties:4: pipeline \"local-file-source\": key \"tasks.max\": expected an integer, found \"one\"",
        ]
    );
    let text = FILE_SINK_PROPERTIES.replace(
        "value.converter.schemas.enable",
        "value.converter.schema.enable",
    );
    assert_eq!(
        problems(properties(&text)),
        ["connector.properties:7: pipeline \"local-file-sink\": key \"value.converter.schema.enable\": \
          unknown key (did you mean \"value.converter.schemas.enable\"?)"]
    );
}

#[test]
fn rest_json_forms_map_like_properties() {
    let source = r#"{
  "name": "local-file-source",
  "config": {
    "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
    "tasks.max": "1",
    "file": "test.txt",
    "topic": "connect-test"
  }
}"#;
    let config = parse(source, "source.json", Format::Json, &CATALOG).unwrap();
    let pipeline = &config.pipelines[0];
    assert_eq!(pipeline.name, "local-file-source");
    assert_eq!(
        (pipeline.source.name, pipeline.sink.name),
        ("file", "kafka")
    );
    assert_eq!(pipeline.sink.config.get("topic"), Some("connect-test"));
    assert_eq!(
        pipeline.source.settings.location("file").map(|l| l.line),
        Some(6)
    );

    let sink = r#"[{"name": "local-file-sink", "config": {"connector.class": "FileStreamSink", "file": "out.txt",
   "topics": "connect-test", "tasks.max": 1}},
 {"name": "second", "connector.class": "FileStreamSink", "file": "out2.txt", "topics": "a,b",
  "fiel": "typo"}]"#;
    assert_eq!(
        problems(parse(sink, "sinks.json", Format::Json, &CATALOG)),
        ["sinks.json:4: pipeline \"second\": key \"fiel\": unknown key (did you mean \"file\"?)"]
    );
    let config = parse(
        &sink.replace(",\n  \"fiel\": \"typo\"", ""),
        "sinks.json",
        Format::Json,
        &CATALOG,
    )
    .unwrap();
    assert_eq!(config.pipelines.len(), 2);
    assert_eq!(
        config.pipelines[0].consumer.get("group.id"),
        Some("connect-local-file-sink")
    );
    assert_eq!(config.pipelines[1].source.config.get("topics"), Some("a,b"));
    assert_eq!(
        config.pipelines[1].sink.config.get("file"),
        Some("out2.txt")
    );
}

#[test]
fn profiles_set_presets_and_explicit_keys_win() {
    let latency = toml(&example_with(
        "tasks = 1",
        "tasks = 1\nprofile = \"latency\"",
    ))
    .unwrap();
    let p = &latency.pipelines[0];
    assert_eq!(p.profile, Some(Profile::Latency));
    assert_eq!(p.producer.get("linger.ms"), Some("0"));
    assert_eq!(p.producer.get("batch.size"), Some("16384"));
    assert_eq!(
        p.producer.get("max.in.flight.requests.per.connection"),
        Some("5")
    );
    assert_eq!(p.consumer.get("fetch.min.bytes"), Some("1"));
    assert_eq!(p.consumer.get("fetch.max.wait.ms"), Some("10"));
    assert_eq!(p.queue_max_records, 128);
    assert_eq!(p.run.producer.linger, Duration::ZERO);

    let text = example_with(
        "\"bootstrap.servers\" = \"127.0.0.1:9092\"",
        "\"bootstrap.servers\" = \"127.0.0.1:9092\"\n\"linger.ms\" = 7",
    )
    .replacen(
        "tasks = 1",
        "tasks = 1\nprofile = \"throughput\"\n\"producer.override.compression.type\" = \"zstd\"\n\"consumer.override.fetch.max.wait.ms\" = 50\n\"queue.max.records\" = 100",
        1,
    );
    let throughput = toml(&text).unwrap();
    let p = &throughput.pipelines[0];
    assert_eq!(
        p.producer.get("linger.ms"),
        Some("7"),
        "[kafka] beats the profile"
    );
    assert_eq!(p.producer.get("batch.size"), Some("1048576"));
    assert_eq!(
        p.producer.get("compression.type"),
        Some("zstd"),
        "override beats the profile"
    );
    assert_eq!(p.consumer.get("fetch.min.bytes"), Some("65536"));
    assert_eq!(p.consumer.get("fetch.max.wait.ms"), Some("50"));
    assert_eq!(p.queue_max_records, 100);
    assert_eq!(p.producer_overrides.get("compression.type"), Some("zstd"));
    assert!(matches!(
        p.producer.setting("batch.size").map(|s| &s.origin),
        Some(Origin::Profile(Profile::Throughput, l)) if l.line == 9
    ));
    assert_eq!(p.run.producer.linger, Duration::from_millis(7));
    assert_eq!(p.run.consumer.fetch_max_wait, Duration::from_millis(50));
    // The second pipeline has no profile: client defaults.
    assert_eq!(throughput.pipelines[1].producer.get("batch.size"), None);
}

#[test]
fn exactly_once_turns_on_idempotence_and_read_committed() {
    let config = toml(&example_with("\"at-least-once\"", "\"exactly-once\"")).unwrap();
    let p = &config.pipelines[0];
    assert_eq!(p.delivery, Delivery::ExactlyOnce);
    assert_eq!(p.producer.get("enable.idempotence"), Some("true"));
    assert_eq!(p.consumer.get("isolation.level"), Some("read_committed"));
}

#[test]
fn client_key_typos_and_bad_values_are_caught_with_lines() {
    let text = example_with(
        "\"bootstrap.servers\" = \"127.0.0.1:9092\"",
        "\"bootstrap.servers\" = \"127.0.0.1:9092\"\n\"linger.sm\" = 5",
    )
    .replacen(
        "tasks = 1",
        "tasks = 1\n\"producer.override.batch.size\" = \"big\"\n\"consumer.override.fetch.min.byte\" = 1",
        1,
    );
    assert_eq!(
        problems(toml(&text)),
        [
            "pipelines.toml:3: key \"linger.sm\": unknown key (did you mean \"linger.ms\"?)",
            "pipelines.toml:9: pipeline \"orders-to-kafka\": key \"producer.override.batch.size\": \
             invalid value `big` for `batch.size`: expected a whole number of bytes",
            "pipelines.toml:10: pipeline \"orders-to-kafka\": key \"consumer.override.fetch.min.byte\": \
             unknown key (did you mean \"consumer.override.fetch.min.bytes\"?)",
        ]
    );
    // A bad value in [kafka] is reported once, not once per pipeline.
    let text = example_with(
        "\"bootstrap.servers\" = \"127.0.0.1:9092\"",
        "\"bootstrap.servers\" = \"127.0.0.1:9092\"\n\"linger.ms\" = \"soon\"",
    );
    assert_eq!(
        problems(toml(&text)),
        ["pipelines.toml:3: key \"linger.ms\": invalid value `soon` for `linger.ms`: expected a whole number of milliseconds"]
    );
}

#[test]
fn formats_follow_the_extension() {
    use std::path::Path;
    assert_eq!(Format::from_path(Path::new("p.toml")), Some(Format::Toml));
    assert_eq!(
        Format::from_path(Path::new("c.properties")),
        Some(Format::Properties)
    );
    assert_eq!(Format::from_path(Path::new("c.json")), Some(Format::Json));
    assert_eq!(Format::from_path(Path::new("c.yaml")), None);
    let missing = load_with(Path::new("/nonexistent/p.toml"), &CATALOG).unwrap_err();
    assert!(
        missing
            .to_string()
            .starts_with("/nonexistent/p.toml: cannot read"),
        "{missing}"
    );
}

#[test]
fn docs_describe_every_pipeline_key() {
    let docs = include_str!("../../../docs/pipelines.md");
    for key in PIPELINE_KEYS {
        assert!(
            docs.contains(&format!("`{}`", key.name)),
            "docs/pipelines.md lacks `{}`",
            key.name
        );
    }
}

#[test]
fn validate_command_prints_a_summary_or_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipelines.toml");
    std::fs::write(&path, ISSUE_EXAMPLE).unwrap();
    let report = crate::cli::validate::run(&path, &CATALOG);
    assert!(report.ok, "{}", report.text);
    assert!(report.text.ends_with(
        ": ok, 2 pipelines\n  orders-to-kafka: file file=/tmp/orders.jsonl → kafka topic=orders (at-least-once, 1 task)\n  \
         orders-to-file: kafka topics=orders → InsertField → file file=/tmp/orders-out.jsonl (at-least-once, 1 task)\n"
    ), "{}", report.text);

    std::fs::write(&path, example_with("tasks = 1", "tasks = \"two\"")).unwrap();
    let report = crate::cli::validate::run(&path, &CATALOG);
    assert!(!report.ok);
    let lines: Vec<&str> = report.text.lines().collect();
    assert_eq!(lines.len(), 2, "{}", report.text);
    assert!(lines[0].ends_with("pipelines.toml:7: pipeline \"orders-to-kafka\": key \"tasks\": expected an integer, found \"two\""));
    assert!(lines[1].starts_with("1 problem in "));
}

#[test]
fn truncated_and_mangled_inputs_never_panic() {
    let inputs = [
        ISSUE_EXAMPLE,
        FILE_SOURCE_PROPERTIES,
        FILE_SINK_PROPERTIES,
        "[{\"name\":\"x\",\"config\":{\"a\":[1,{}]}}]",
    ];
    for text in inputs {
        for end in (0..=text.len()).filter(|i| text.is_char_boundary(*i)) {
            let prefix = &text[..end];
            for format in [Format::Toml, Format::Properties, Format::Json] {
                let _ = parse(prefix, "f", format, &CATALOG);
                let _ = parse(&prefix.replace('"', "\\"), "f", format, &CATALOG);
            }
        }
    }
}

#[test]
fn unnamed_transforms_of_one_type_get_numbered_aliases() {
    let transform = "\n[[pipeline.transforms]]\ntype = \"InsertField\"\n\"static.field\" = \"source\"\n\"static.value\" = \"x\"\n";
    let text = format!("{ISSUE_EXAMPLE}{transform}{transform}");
    let config = toml(&text).unwrap();
    let aliases: Vec<&str> = config.pipelines[1]
        .transforms
        .iter()
        .map(|t| t.alias.as_str())
        .collect();
    assert_eq!(aliases, ["InsertField", "InsertField-2", "InsertField-3"]);
}

#[test]
fn a_problem_lists_a_bounded_number_of_aliases() {
    // A fuzzed .properties file listing hundreds of transforms and as many keys for aliases it did not list got
    // one problem per key, each listing every alias (and a did-you-mean against each): output and time grew
    // with the square of the file.
    let listed: Vec<String> = (0..2_000).map(|n| format!("t{n}")).collect();
    let mut text = format!(
        "name=many\nconnector.class=FileStreamSource\nfile=in.txt\ntopic=t\ntransforms={}\n",
        listed.join(",")
    );
    for n in 0..2_000 {
        text.push_str(&format!("transforms.u{n}.type=InsertField\n"));
    }
    let found = problems(properties(&text));
    assert_eq!(found.len(), 4_000, "{:?}", &found[..3]);
    for problem in &found {
        assert!(problem.len() < 400, "{problem}");
    }
    assert!(found
        .iter()
        .any(|p| p.contains("(listed: t0, t1, t2, ") && p.ends_with(" and 1984 more)")));
}

mod flat_form {
    use super::super::{parse, parse_connector, ConnectorDefaults, Format, Registry, HIDDEN};

    const TOML: &str = r#"
[kafka]
"bootstrap.servers" = "127.0.0.1:9092"

[[pipeline]]
name = "orders"
tasks = 2
"value.converter" = "json"
"value.converter.schemas.enable" = false
source = { type = "kafka", topics = "in", "group.id" = "g" }
sink = { type = "http", url = "http://127.0.0.1:1/x" }

[[pipeline.predicates]]
name = "is-orders"
type = "TopicNameMatches"
pattern = "orders.*"

[[pipeline.transforms]]
name = "stamp"
type = "InsertField$Value"
"static.field" = "source"
"static.value" = "demo"
predicate = "is-orders"

[[pipeline.transforms]]
type = "MaskField$Value"
fields = "secret"
"#;

    #[test]
    fn a_toml_pipeline_flattens_to_a_config_that_parses_back_the_same() {
        let config = parse(TOML, "pipelines.toml", Format::Toml, &Registry).unwrap();
        let pipeline = &config.pipelines[0];
        let flat = &pipeline.connector_config;
        assert_eq!(flat["source.type"], "kafka");
        assert_eq!(flat["sink.url"], "http://127.0.0.1:1/x");
        assert_eq!(flat["transforms"], "stamp,2");
        assert_eq!(flat["transforms.stamp.predicate"], "is-orders");
        assert_eq!(flat["predicates"], "is-orders");
        let again = parse_connector(
            "orders",
            flat,
            &config.defaults(),
            "REST request",
            &Registry,
        )
        .unwrap();
        assert_eq!(again.tasks, 2);
        assert_eq!(again.source.name, "kafka");
        assert_eq!(again.sink.name, "http");
        let aliases: Vec<&str> = again.transforms.iter().map(|t| t.alias.as_str()).collect();
        assert_eq!(aliases, ["stamp", "2"]);
        assert_eq!(again.transforms[0].predicate.as_deref(), Some("is-orders"));
        assert_eq!(
            again.consumer.get("bootstrap.servers"),
            Some("127.0.0.1:9092"),
            "the worker's client settings apply"
        );
        assert_eq!(again.connector_config, *flat);
    }

    #[test]
    fn a_kafka_connect_config_keeps_its_keys_and_hides_its_secrets() {
        let config: std::collections::BTreeMap<String, String> = [
            ("connector.class", "FileStreamSource"),
            ("file", "/tmp/in"),
            ("topic", "t"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let mut pipeline = parse_connector(
            "src",
            &config,
            &ConnectorDefaults::default(),
            "REST",
            &Registry,
        )
        .unwrap();
        assert_eq!(pipeline.connector_config["name"], "src");
        assert_eq!(pipeline.connector_config["file"], "/tmp/in");
        assert_eq!(pipeline.source.name, "file");
        assert_eq!(pipeline.sink.name, "kafka");
        assert!(pipeline.secret_keys.is_empty());
        pipeline.secret_keys.insert("file".into());
        let masked = pipeline.masked_connector_config();
        assert_eq!(masked["file"], HIDDEN);
        assert_eq!(masked["connector.class"], "FileStreamSource");
        for secret in [
            "sasl.password",
            "ssl.key.password",
            "producer.override.sasl.jaas.config",
            "basic.auth.user.info",
        ] {
            assert!(
                super::super::clients::is_secret_key(
                    super::super::client_resolution::client_key_of(secret)
                ),
                "{secret}"
            );
        }
        assert!(!super::super::clients::is_secret_key("bootstrap.servers"));
        let errors = parse_connector(
            "bad",
            &[("connector.class".to_owned(), "FileStreamSourc".to_owned())].into(),
            &ConnectorDefaults::default(),
            "REST request",
            &Registry,
        )
        .unwrap_err()
        .to_string();
        assert!(
            errors.contains("REST request") && errors.contains("did you mean"),
            "{errors}"
        );
    }
}

mod worker_keys {
    use std::time::Duration;

    use super::super::{parse, Format, OverridePolicy, Registry};

    fn toml(engine: &str, pipeline_extra: &str) -> String {
        format!(
            "[engine]\n{engine}\n[[pipeline]]\nname = \"p\"\nsource = {{ type = \"file\", file = \"/tmp/in.txt\" }}\nsink = {{ type = \"kafka\", topic = \"t\" }}\n{pipeline_extra}\n"
        )
    }

    #[test]
    fn worker_keys_set_what_they_name() {
        let text = toml(
            r#""bootstrap.servers" = "10.0.0.1:9092"
"producer.linger.ms" = 7
"consumer.fetch.min.bytes" = 3
"admin.request.timeout.ms" = 1234
"value.converter" = "string"
"offset.storage.file.filename" = "/var/lib/connect.offsets"
"offset.flush.interval.ms" = 250
listeners = "http://:9999"
"rest.advertised.host.name" = "worker-1"
"task.shutdown.graceful.timeout.ms" = 4000
"plugin.path" = "/usr/share/java"
"connector.client.config.override.policy" = "None"
"topic.tracking.allow.reset" = false"#,
            "",
        );
        let config = parse(&text, "pipelines.toml", Format::Toml, &Registry).unwrap();
        let worker = &config.worker;
        assert_eq!(
            worker.topic_tracking,
            crate::config::TopicTracking {
                enabled: true,
                allow_reset: false
            }
        );
        assert_eq!(
            worker.offset_file.as_deref(),
            Some(std::path::Path::new("/var/lib/connect.offsets"))
        );
        // An empty host binds loopback (Kafka Connect would bind every interface).
        assert_eq!(
            worker.rest.listeners,
            vec![crate::config::rest_server::RestListener::http(
                "127.0.0.1",
                9999
            )]
        );
        assert_eq!(worker.rest_advertised.as_deref(), Some("worker-1:9999"));
        assert_eq!(
            worker.task_shutdown_timeout,
            Some(Duration::from_millis(4000))
        );
        assert_eq!(worker.plugin_path.as_deref(), Some("/usr/share/java"));
        assert_eq!(worker.override_policy, OverridePolicy::None);
        let pipeline = &config.pipelines[0];
        assert_eq!(pipeline.offset_flush_interval, Duration::from_millis(250));
        assert_eq!(
            pipeline.producer.get("bootstrap.servers"),
            Some("10.0.0.1:9092")
        );
        assert_eq!(pipeline.producer.get("linger.ms"), Some("7"));
        assert_eq!(pipeline.consumer.get("fetch.min.bytes"), Some("3"));
        assert_eq!(pipeline.producer.get("fetch.min.bytes"), None);
        assert_eq!(
            pipeline.admin_overrides.get("request.timeout.ms"),
            Some("1234")
        );
        assert_eq!(
            pipeline.value_converter.as_ref().map(|c| c.name),
            Some("string")
        );
    }

    #[test]
    fn a_pipelines_own_keys_win_over_the_workers() {
        let text = toml(
            "\"producer.linger.ms\" = 7\n\"value.converter\" = \"string\"",
            "\"value.converter\" = \"bytearray\"\n\"producer.override.linger.ms\" = 9",
        );
        let config = parse(&text, "pipelines.toml", Format::Toml, &Registry).unwrap();
        let pipeline = &config.pipelines[0];
        assert_eq!(pipeline.producer.get("linger.ms"), Some("9"));
        assert_eq!(
            pipeline.value_converter.as_ref().map(|c| c.name),
            Some("bytearray")
        );
    }

    #[test]
    fn unknown_or_bad_worker_keys_are_errors_naming_file_line_and_key() {
        let text = toml(
            "\"offset.flush.interval.mss\" = 1\n\"producer.lingr.ms\" = 1\nlisteners = \"ftp://:8443\"\n\"rest.port\" = \"port\"",
            "",
        );
        let errors = parse(&text, "pipelines.toml", Format::Toml, &Registry)
            .unwrap_err()
            .to_string();
        assert!(errors.contains("pipelines.toml:2: key \"offset.flush.interval.mss\": unknown key (did you mean \"offset.flush.interval.ms\"?)"), "{errors}");
        assert!(
            errors.contains(
                "key \"producer.lingr.ms\": unknown key (did you mean \"producer.linger.ms\"?)"
            ),
            "{errors}"
        );
        assert!(
            errors.contains("the scheme must be http or https, not \"ftp\""),
            "{errors}"
        );
        assert!(errors.contains("expected a port number"), "{errors}");
    }

    #[test]
    fn the_override_policy_decides_what_a_connector_may_override() {
        for (policy, allowed) in [("None", false), ("Principal", false), ("All", true)] {
            let text = toml(
                &format!("\"connector.client.config.override.policy\" = \"{policy}\""),
                "\"producer.override.linger.ms\" = 9",
            );
            let result = parse(&text, "pipelines.toml", Format::Toml, &Registry);
            assert_eq!(result.is_ok(), allowed, "{policy}: {:?}", result.err());
            if let Err(errors) = result {
                assert!(errors.to_string().contains("override.policy"), "{errors}");
            }
        }
    }

    #[test]
    fn a_worker_properties_file_and_connector_files_load_together() {
        let dir = tempfile::tempdir().unwrap();
        let worker = dir.path().join("connect-standalone.properties");
        std::fs::write(
            &worker,
            "bootstrap.servers=127.0.0.1:1\nkey.converter=org.apache.kafka.connect.json.JsonConverter\nvalue.converter=org.apache.kafka.connect.json.JsonConverter\nkey.converter.schemas.enable=true\nvalue.converter.schemas.enable=true\noffset.storage.file.filename=/tmp/connect.offsets\noffset.flush.interval.ms=10000\n",
        )
        .unwrap();
        let source = dir.path().join("connect-file-source.properties");
        std::fs::write(&source, "name=local-file-source\nconnector.class=FileStreamSource\ntasks.max=1\nfile=test.txt\ntopic=connect-test\n").unwrap();
        let sink = dir.path().join("connect-file-sink.json");
        std::fs::write(&sink, r#"{"name": "local-file-sink", "config": {"connector.class": "FileStreamSink", "tasks.max": "1", "file": "test.sink.txt", "topics": "connect-test"}}"#).unwrap();
        let config = super::super::load_standalone(&worker, &[source, sink]).unwrap();
        let names: Vec<&str> = config.pipelines.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["local-file-source", "local-file-sink"]);
        for pipeline in &config.pipelines {
            assert_eq!(
                pipeline.value_converter.as_ref().map(|c| c.name),
                Some("json")
            );
            assert_eq!(
                pipeline
                    .value_converter
                    .as_ref()
                    .and_then(|c| c.config.boolean("schemas.enable")),
                Some(true)
            );
            assert_eq!(
                pipeline.offset_flush_interval,
                Duration::from_millis(10_000)
            );
            assert_eq!(
                pipeline.producer.get("bootstrap.servers"),
                Some("127.0.0.1:1")
            );
        }
        // A worker file alone is a worker with no connectors yet.
        assert!(super::super::load_standalone(&worker, &[])
            .unwrap()
            .pipelines
            .is_empty());
        std::fs::write(&worker, "bootstrap.servers=x\nofset.flush.interval.ms=1\n").unwrap();
        let errors = super::super::load_standalone(&worker, &[])
            .unwrap_err()
            .to_string();
        assert!(
            errors.contains("connect-standalone.properties:2: key \"ofset.flush.interval.ms\""),
            "{errors}"
        );
    }

    #[test]
    fn provider_references_resolve_and_their_keys_are_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("s.properties");
        std::fs::write(&secrets, "topic=from-provider\n").unwrap();
        let text = format!(
            "[engine]\n\"config.providers\" = \"file\"\n\"config.providers.file.class\" = \"org.apache.kafka.common.config.provider.FileConfigProvider\"\n[[pipeline]]\nname = \"p\"\nsource = {{ type = \"file\", file = \"/tmp/in.txt\" }}\nsink = {{ type = \"kafka\", topic = \"${{file:{}:topic}}\" }}\n",
            secrets.display()
        );
        let config = parse(&text, "pipelines.toml", Format::Toml, &Registry).unwrap();
        let pipeline = &config.pipelines[0];
        assert_eq!(pipeline.sink.config.get("topic"), Some("from-provider"));
        assert!(
            pipeline.connector_config["sink.topic"].starts_with("${file:"),
            "shown as written"
        );
        assert!(pipeline.resolved_keys.contains("sink.topic"));
        assert!(pipeline.masked_connector_config()["sink.topic"].starts_with("${file:"));
        // A message about the value does not repeat it.
        let line = format!(
            "[[pipeline]]\n\"queue.max.records\" = \"${{file:{}:topic}}\"",
            secrets.display()
        );
        let bad = text.replace("[[pipeline]]", &line);
        let errors = parse(&bad, "pipelines.toml", Format::Toml, &Registry)
            .unwrap_err()
            .to_string();
        assert!(
            errors.contains("queue.max.records") && !errors.contains("from-provider"),
            "{errors}"
        );
        // A connector created later (through REST) reads references through the same providers.
        let later: std::collections::BTreeMap<String, String> = [
            ("connector.class", "FileStreamSource"),
            ("file", "/tmp/in"),
            ("topic", &format!("${{file:{}:topic}}", secrets.display())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let created = super::super::parse_connector(
            "later",
            &later,
            &config.defaults(),
            "REST request",
            &Registry,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(created.sink.config.get("topic"), Some("from-provider"));
        assert!(created.masked_connector_config()["topic"].starts_with("${file:"));
    }
}

#[test]
fn every_worker_key_is_documented() {
    let docs = include_str!("../../../docs/pipelines.md");
    for (key, _) in super::WORKER_KEYS
        .iter()
        .chain(super::distributed::DISTRIBUTED_KEYS)
    {
        assert!(
            docs.contains(&format!("`{key}`")),
            "worker key `{key}` is not in docs/pipelines.md"
        );
    }
}

#[test]
fn passwords_in_urls_are_hidden_in_messages() {
    use super::redact_url_credentials as redact;
    assert_eq!(
        redact("connect to postgres://app:s3cret@db:5432/x failed"),
        "connect to postgres://app:[hidden]@db:5432/x failed"
    );
    assert_eq!(
        redact("http://user@host/ and https://a:b@c/d"),
        "http://user@host/ and https://a:[hidden]@c/d"
    );
    assert_eq!(redact("no url: a:b@c"), "no url: a:b@c");
}

mod client_tls {
    use super::{problems, toml};

    fn pipelines(kafka: &str) -> String {
        format!(
            "[kafka]\n\"bootstrap.servers\" = \"127.0.0.1:9093\"\n{kafka}\n[[pipeline]]\nname = \"p\"\nsource = {{ type = \"file\", file = \"/tmp/in.txt\" }}\nsink = {{ type = \"kafka\", topic = \"t\" }}\n"
        )
    }

    /// A key read and then ignored would hide the mistake: each ssl.* key under PLAINTEXT (the default) or
    /// SASL_PLAINTEXT is a problem at its line, saying why and what to set.
    #[test]
    fn ssl_keys_without_tls_are_problems_at_their_line() {
        let found = problems(toml(&pipelines(
            "\"ssl.ca.location\" = \"/etc/ca.pem\"\n\"ssl.key.password\" = \"hunter2\"",
        )));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with("pipelines.toml:3: key \"ssl.ca.location\": ")
                && found[0].contains(
                    "`ssl.ca.location` has no effect: security.protocol=PLAINTEXT does not use TLS: set security.protocol=SSL (or SASL_SSL)"
                ),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("pipelines.toml:4: key \"ssl.key.password\": "),
            "{found:?}"
        );
        assert!(!found.iter().any(|p| p.contains("hunter2")), "{found:?}");
        let found = problems(toml(&pipelines(
            "\"security.protocol\" = \"SASL_PLAINTEXT\"\n\"sasl.mechanism\" = \"PLAIN\"\n\"sasl.username\" = \"u\"\n\"sasl.password\" = \"p\"\n\"ssl.truststore.location\" = \"/etc/ca.pem\"",
        )));
        assert_eq!(
            found,
            ["pipelines.toml:7: key \"ssl.truststore.location\": `ssl.truststore.location` has no effect: security.protocol=SASL_PLAINTEXT does not use TLS: set security.protocol=SASL_SSL"]
        );
    }

    /// The files are read as the config is: a missing one, or one without certificates, is a problem at the
    /// key that names it; good ones make a valid config.
    #[test]
    fn the_pem_files_ssl_keys_name_are_checked_as_the_config_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("notes.txt");
        std::fs::write(&not_pem, "no certificate here").unwrap();
        for (path, words) in [
            ("/nonexistent/ca.pem".to_owned(), "cannot read it"),
            (not_pem.display().to_string(), "holds no PEM certificate"),
        ] {
            let found = problems(toml(&pipelines(&format!(
                "\"security.protocol\" = \"SSL\"\n\"ssl.ca.location\" = \"{path}\""
            ))));
            assert!(
                found.iter().all(
                    |p| p.starts_with("pipelines.toml:4: key \"ssl.ca.location\"")
                        && p.contains(words)
                ),
                "{found:?}"
            );
        }
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let config = toml(&pipelines(&format!(
            "\"security.protocol\" = \"SSL\"\n\"ssl.ca.location\" = \"{}\"",
            ca_file.display()
        )))
        .expect("a readable CA file");
        assert_eq!(config.pipelines.len(), 1);
    }
}
