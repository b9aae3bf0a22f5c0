//! The Avro converter against peers no one here wrote: Python confluent-kafka's `AvroSerializer` /
//! `AvroDeserializer` (fastavro underneath) and its `SchemaRegistryClient`, through a Schema Registry speaking
//! Confluent's REST API (`support::schema_registry`, or a real one at `PIPEWRIGHT_TEST_SCHEMA_REGISTRY`).
//!
//! The first tests drive the converter through the library API (wire bytes in and out, no broker); the last
//! run pipelines: Python → Kafka → the engine (Avro in, a transform, Avro out) → Kafka → Python, and a file
//! source → Kafka sink with `value.converter=avro` read back by Python.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use pipewright::connect::converters::avro::{RegistryError, CONFIG};
use pipewright::connect::converters::{ConvertError, Converter};
use pipewright::connect::data::{Schema, SchemaRef, Struct, Type, Value};
use serde_json::{json, Value as Json};

use support::broker::{create_topic, unique_topic, TestBroker};
use support::engine_process::{start_engine, write_pipelines};
use support::peers::peer_command;
use support::process::{run, PROCESS_TIMEOUT};
use support::schema_registry::TestRegistry;

/// The converter `avro` built as a pipeline builds it, from `value.converter.*` keys.
fn converter(registry_url: &str, extra: &[(&str, &str)]) -> Converter {
    let mut values: BTreeMap<String, String> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    values
        .entry("schema.registry.url".into())
        .or_insert_with(|| registry_url.to_owned());
    let parsed = CONFIG
        .parse(&values, &[])
        .expect("valid avro converter config");
    Converter::build("io.confluent.connect.avro.AvroConverter", &parsed, false)
        .expect("avro converter builds")
}

/// Runs `tests/peers/ck_avro.py <command>` with `args`, feeding `lines`; its stdout lines.
fn ck_avro(command: &str, args: &[&str], lines: &[String]) -> Vec<String> {
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let output = run(
        peer_command("ck_avro.py").arg(command).args(args),
        Some(input.as_bytes()),
        PROCESS_TIMEOUT,
    );
    output.assert_success(&format!("ck_avro.py {command}"));
    output
        .stdout_str()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Bytes {
    Bytes::from(
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect::<Vec<u8>>(),
    )
}

/// A topic name unique to this run (subjects are named after it, so a real registry is not shared between runs).
fn topic(name: &str) -> String {
    unique_topic(&format!("avro-{name}"))
}

const ORDER_SCHEMA: &str = r#"{
  "type": "record", "name": "Order", "namespace": "com.example.shop", "doc": "An order",
  "fields": [
    {"name": "id", "type": "long"},
    {"name": "customer", "type": "string", "doc": "who"},
    {"name": "note", "type": ["null", "string"], "default": null},
    {"name": "paid", "type": "boolean"},
    {"name": "total", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
    {"name": "weight", "type": "double"},
    {"name": "ratio", "type": "float"},
    {"name": "placed", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "at", "type": {"type": "int", "logicalType": "time-millis"}},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "counts", "type": {"type": "map", "values": "int"}},
    {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "SHIPPED"]}},
    {"name": "raw", "type": "bytes"},
    {"name": "address", "type": {"type": "record", "name": "Address",
      "fields": [{"name": "city", "type": "string"}, {"name": "zip", "type": "int", "default": 0}]}},
    {"name": "priority", "type": "int", "default": 3}
  ]
}"#;

fn order_json(i: i64) -> Json {
    json!({
        "id": i,
        "customer": format!("customer-{i}"),
        "note": if i % 2 == 0 { Json::Null } else { json!(format!("note {i}")) },
        "paid": i % 3 == 0,
        "total": {"$decimal": format!("{}.{:02}", 100 + i, i % 100)},
        "weight": 1.5 * i as f64,
        "ratio": 0.25,
        "placed": {"$timestamp_ms": 1_700_000_000_123i64 + i},
        "day": {"$date": "2024-01-31"},
        "at": {"$time_ms": 3_723_004},
        "tags": ["a", format!("t{i}")],
        "counts": {"x": i},
        "status": if i % 2 == 0 { "NEW" } else { "SHIPPED" },
        "raw": {"$bytes": "00ff10"},
        "address": {"city": "Oslo", "zip": 150},
        "priority": 7
    })
}

fn field<'a>(s: &'a Struct, name: &str) -> &'a Value {
    s.get(name)
        .unwrap_or_else(|| panic!("no field {name} in {s:?}"))
}

fn as_struct(value: &Value) -> &Struct {
    match value {
        Value::Struct(s) => s,
        other => panic!("expected a struct, found {other:?}"),
    }
}

#[test]
fn records_python_serialized_decode_to_the_connect_data_confluent_defines() {
    let registry = TestRegistry::start();
    let topic = topic("py-to-connect");
    let values: Vec<String> = (0..3).map(|i| order_json(i).to_string()).collect();
    let wire = ck_avro(
        "serialize",
        &[
            "--registry",
            registry.url(),
            "--topic",
            &topic,
            "--schema",
            ORDER_SCHEMA,
        ],
        &values,
    );
    let mut avro = converter(registry.url(), &[]);
    for (i, line) in wire.iter().enumerate() {
        let bytes = unhex(line);
        let sv = avro.to_connect(&topic, Some(&bytes)).expect("decodes");
        let schema = sv.schema.expect("a schema");
        assert_eq!(schema.name.as_deref(), Some("com.example.shop.Order"));
        assert_eq!(
            schema.version,
            Some(1),
            "the registry version of topic-value"
        );
        assert_eq!(
            schema.parameter("io.confluent.connect.avro.record.doc"),
            Some("An order")
        );
        assert_eq!(
            schema.parameter("io.confluent.connect.avro.field.doc.customer"),
            Some("who")
        );
        let note = &schema.field_named("note").unwrap().schema;
        assert!(note.optional && note.ty == Type::String, "{note:?}");
        let total = &schema.field_named("total").unwrap().schema;
        assert_eq!(
            total.name.as_deref(),
            Some("org.apache.kafka.connect.data.Decimal")
        );
        assert_eq!(total.parameter("scale"), Some("2"));
        assert_eq!(total.parameter("connect.decimal.precision"), Some("10"));
        let status = &schema.field_named("status").unwrap().schema;
        assert_eq!(
            status.parameter("io.confluent.connect.avro.Enum"),
            Some("com.example.shop.Status")
        );
        let priority = &schema.field_named("priority").unwrap().schema;
        assert_eq!(priority.default, Some(Value::Int32(3)));
        assert_eq!(
            priority.parameter("io.confluent.connect.avro.field.default"),
            Some("true")
        );

        let s = as_struct(&sv.value);
        let i = i as i64;
        assert_eq!(field(s, "id"), &Value::Int64(i));
        assert_eq!(
            field(s, "customer"),
            &Value::string(&format!("customer-{i}"))
        );
        if i % 2 == 0 {
            assert_eq!(field(s, "note"), &Value::Null);
        } else {
            assert_eq!(field(s, "note"), &Value::string(&format!("note {i}")));
        }
        // 100.00 + i and i cents, unscaled big-endian two's complement.
        let unscaled = (100 + i) * 100 + i % 100;
        let expected_total =
            pipewright::connect::converters::json::decimal_bytes(i128::from(unscaled));
        assert_eq!(field(s, "total"), &Value::Bytes(expected_total));
        assert_eq!(field(s, "weight"), &Value::Float64(1.5 * i as f64));
        assert_eq!(field(s, "ratio"), &Value::Float32(0.25));
        assert_eq!(field(s, "placed"), &Value::Int64(1_700_000_000_123 + i));
        assert_eq!(field(s, "day"), &Value::Int32(19_753));
        assert_eq!(field(s, "at"), &Value::Int32(3_723_004));
        assert_eq!(
            field(s, "tags"),
            &Value::Array(vec![Value::string("a"), Value::string(&format!("t{i}"))])
        );
        assert_eq!(
            field(s, "counts"),
            &Value::Map(vec![(Value::string("x"), Value::Int32(i as i32))])
        );
        assert_eq!(
            field(s, "status"),
            &Value::string(if i % 2 == 0 { "NEW" } else { "SHIPPED" })
        );
        assert_eq!(
            field(s, "raw"),
            &Value::Bytes(Bytes::from_static(&[0, 0xff, 0x10]))
        );
        let address = as_struct(field(s, "address"));
        assert_eq!(field(address, "city"), &Value::string("Oslo"));
        assert_eq!(field(address, "zip"), &Value::Int32(150));
        assert_eq!(field(s, "priority"), &Value::Int32(7));
    }
}

/// A Connect schema with what only Connect has: int8/int16, an optional field with a default, a map with
/// non-string keys, the logical types, an unnamed nested struct.
fn connect_schema() -> SchemaRef {
    let inner = Schema::structure()
        .field("label", Schema::new(Type::String).build())
        .optional()
        .build();
    Schema::structure()
        .field("tiny", Schema::new(Type::Int8).build())
        .field("small", Schema::new(Type::Int16).build())
        .field("count", Schema::new(Type::Int32).build())
        .field(
            "colour",
            Schema::new(Type::String)
                .optional()
                .with_default(Value::string("blue"))
                .build(),
        )
        .field(
            "by_id",
            Schema::map(
                Schema::new(Type::Int32).build(),
                Schema::new(Type::String).build(),
            )
            .build(),
        )
        .field("price", Schema::decimal(2).build())
        .field("day", Schema::date().build())
        .field("at", Schema::time().build())
        .field("placed", Schema::timestamp().build())
        .field("inner", inner)
        .build()
}

fn connect_value(schema: &SchemaRef, i: i32) -> Value {
    let inner_schema = schema.field_named("inner").unwrap().schema.clone();
    let inner = Struct::from_values(inner_schema, vec![Value::string(&format!("l{i}"))]).unwrap();
    Value::Struct(
        Struct::from_values(
            schema.clone(),
            vec![
                Value::Int8(-3),
                Value::Int16(300),
                Value::Int32(i),
                if i % 2 == 0 {
                    Value::Null
                } else {
                    Value::string("red")
                },
                Value::Map(vec![(Value::Int32(7), Value::string("seven"))]),
                // 12.34
                Value::Bytes(Bytes::from_static(&[0x04, 0xd2])),
                Value::Int32(19_753),
                Value::Int32(1_000),
                Value::Int64(1_700_000_000_000),
                if i % 3 == 0 {
                    Value::Null
                } else {
                    Value::Struct(inner)
                },
            ],
        )
        .unwrap(),
    )
}

#[test]
fn records_the_converter_writes_are_read_by_python_as_written() {
    let registry = TestRegistry::start();
    let topic = topic("connect-to-py");
    let schema = connect_schema();
    let mut avro = converter(registry.url(), &[]);
    let wire: Vec<String> = (0..4)
        .map(|i| {
            let bytes = avro
                .from_connect(&topic, Some(&schema), &connect_value(&schema, i))
                .expect("encodes")
                .expect("not null");
            assert_eq!(bytes[0], 0, "magic byte");
            hex(&bytes)
        })
        .collect();
    let read = ck_avro(
        "deserialize",
        &["--registry", registry.url(), "--topic", &topic],
        &wire,
    );
    assert_eq!(read.len(), 4);
    for (i, line) in read.iter().enumerate() {
        let got: Json = serde_json::from_str(line).unwrap();
        let expected = json!({
            "tiny": -3,
            "small": 300,
            "count": i,
            // A null in a field with a default is written as the default, as Connect's Struct.get does.
            "colour": if i % 2 == 0 { "blue" } else { "red" },
            "by_id": [{"key": 7, "value": "seven"}],
            "price": {"$decimal": "12.34"},
            "day": {"$date": "2024-01-31"},
            "at": {"$time_ms": 1000},
            "placed": {"$timestamp_ms": 1_700_000_000_000i64},
            "inner": if i % 3 == 0 { Json::Null } else { json!({"label": format!("l{i}")}) },
        });
        assert_eq!(got, expected, "record {i}");
    }
    // The schema under <topic>-value is the one Confluent's AvroData builds.
    let (status, latest) = registry.get(&format!("/subjects/{topic}-value/versions/latest"));
    assert_eq!(status, 200, "{latest}");
    let registered: Json = serde_json::from_str(latest["schema"].as_str().unwrap()).unwrap();
    assert_eq!(registered["name"], "ConnectDefault");
    assert_eq!(registered["namespace"], "io.confluent.connect.avro");
    let fields = registered["fields"].as_array().unwrap();
    let by_name = |n: &str| fields.iter().find(|f| f["name"] == n).unwrap().clone();
    assert_eq!(
        by_name("tiny")["type"],
        json!({"type": "int", "connect.type": "int8"})
    );
    assert_eq!(
        by_name("small")["type"],
        json!({"type": "int", "connect.type": "int16"})
    );
    assert_eq!(by_name("colour")["type"][0]["connect.default"], "blue");
    assert_eq!(
        by_name("colour")["type"][1],
        "null",
        "a default puts null second"
    );
    assert_eq!(by_name("colour")["default"], "blue");
    assert_eq!(by_name("inner")["type"][0], "null");
    assert_eq!(by_name("inner")["type"][1]["name"], "ConnectDefault2");
    assert_eq!(by_name("inner")["default"], Json::Null);
    assert_eq!(by_name("by_id")["type"]["items"]["name"], "MapEntry");
    assert_eq!(by_name("price")["type"]["logicalType"], "decimal");
    assert_eq!(by_name("price")["type"]["precision"], 64);
    assert_eq!(by_name("price")["type"]["scale"], 2);
    assert_eq!(
        by_name("price")["type"]["connect.name"],
        "org.apache.kafka.connect.data.Decimal"
    );
    assert_eq!(by_name("day")["type"]["logicalType"], "date");
    assert_eq!(by_name("at")["type"]["logicalType"], "time-millis");
    assert_eq!(by_name("placed")["type"]["logicalType"], "timestamp-millis");
}

#[test]
fn connect_types_survive_a_round_trip_through_the_registry() {
    let registry = TestRegistry::start();
    let topic = topic("round-trip");
    let schema = connect_schema();
    let mut writer = converter(registry.url(), &[]);
    let mut reader = converter(registry.url(), &[]);
    for i in 0..3 {
        let value = connect_value(&schema, i);
        let bytes = writer
            .from_connect(&topic, Some(&schema), &value)
            .unwrap()
            .unwrap();
        let back = reader.to_connect(&topic, Some(&bytes)).unwrap();
        let back_schema = back.schema.unwrap();
        let s = as_struct(&back.value);
        assert_eq!(field(s, "tiny"), &Value::Int8(-3));
        assert_eq!(field(s, "small"), &Value::Int16(300));
        assert_eq!(
            back_schema.field_named("colour").unwrap().schema.default,
            Some(Value::string("blue"))
        );
        assert_eq!(
            back_schema
                .field_named("by_id")
                .unwrap()
                .schema
                .key_schema
                .as_ref()
                .unwrap()
                .ty,
            Type::Int32
        );
        assert_eq!(
            field(s, "by_id"),
            &Value::Map(vec![(Value::Int32(7), Value::string("seven"))])
        );
        assert_eq!(
            back_schema
                .field_named("price")
                .unwrap()
                .schema
                .logical_name(),
            Some("org.apache.kafka.connect.data.Decimal")
        );
        assert_eq!(field(s, "placed"), &Value::Int64(1_700_000_000_000));
    }
}

/// Python's view of one `io.confluent.connect.avro.Anything` record: every field, the one set holding `value`.
fn anything(field: &str, value: Json) -> Json {
    let mut record = serde_json::Map::new();
    for f in [
        "boolean", "bytes", "double", "float", "int", "long", "string", "array", "map",
    ] {
        record.insert(
            f.to_owned(),
            if f == field {
                value.clone()
            } else {
                Json::Null
            },
        );
    }
    Json::Object(record)
}

#[test]
fn schemaless_values_are_written_and_read_as_confluents_anything_record() {
    let registry = TestRegistry::start();
    let topic = topic("anything");
    let mut avro = converter(registry.url(), &[]);
    let values = [
        Value::string("text"),
        Value::Int8(-3),
        Value::Int64(1 << 40),
        Value::Float64(2.5),
        Value::Boolean(true),
        Value::Bytes(Bytes::from_static(&[0, 0xff])),
        Value::Array(vec![Value::Int32(1), Value::Null, Value::string("x")]),
        Value::Map(vec![
            (Value::string("k"), Value::Float32(0.5)),
            (Value::Int64(7), Value::Array(Vec::new())),
        ]),
    ];
    let wire: Vec<String> = values
        .iter()
        .map(|v| hex(&avro.from_connect(&topic, None, v).unwrap().unwrap()))
        .collect();
    let read = ck_avro(
        "deserialize",
        &["--registry", registry.url(), "--topic", &topic],
        &wire,
    );
    let entry = |k: Json, v: Json| json!({"key": k, "value": v});
    let expected = [
        anything("string", json!("text")),
        anything("int", json!(-3)),
        anything("long", json!(1u64 << 40)),
        anything("double", json!(2.5)),
        anything("boolean", json!(true)),
        anything("bytes", json!({"$bytes": "00ff"})),
        anything(
            "array",
            json!([
                anything("int", json!(1)),
                anything("", Json::Null),
                anything("string", json!("x"))
            ]),
        ),
        anything(
            "map",
            json!([
                entry(
                    anything("string", json!("k")),
                    anything("float", json!(0.5))
                ),
                entry(anything("long", json!(7)), anything("array", json!([]))),
            ]),
        ),
    ];
    let got: Vec<Json> = read
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got, expected);
    let (status, latest) = registry.get(&format!("/subjects/{topic}-value/versions/latest"));
    assert_eq!(status, 200, "{latest}");
    let registered: Json = serde_json::from_str(latest["schema"].as_str().unwrap()).unwrap();
    assert_eq!(registered["name"], "Anything");
    assert_eq!(registered["namespace"], "io.confluent.connect.avro");

    // Python writes Anything records (with its own copy of the schema); they read back as schemaless data.
    let python_topic = format!("{topic}-from-py");
    let lines = [
        json!({"string": "hi"}).to_string(),
        json!({"map": [{"key": {"string": "n"}, "value": {"long": 5}}]}).to_string(),
        json!({}).to_string(),
    ];
    let python_wire = ck_avro(
        "serialize",
        &[
            "--registry",
            registry.url(),
            "--topic",
            &python_topic,
            "--schema",
            &registered.to_string(),
        ],
        &lines,
    );
    let mut reader = converter(registry.url(), &[]);
    let back: Vec<_> = python_wire
        .iter()
        .map(|h| reader.to_connect(&python_topic, Some(&unhex(h))).unwrap())
        .collect();
    assert!(back.iter().all(|sv| sv.schema.is_none()), "schemaless");
    assert_eq!(back[0].value, Value::string("hi"));
    assert_eq!(
        back[1].value,
        Value::Map(vec![(Value::string("n"), Value::Int64(5))])
    );
    assert_eq!(back[2].value, Value::Null, "an Anything with nothing set");

    // A struct inside schemaless data fails the record, naming why.
    let inner = Schema::structure()
        .field("a", Schema::new(Type::Int32))
        .build();
    let err = avro
        .from_connect(
            &topic,
            None,
            &Value::Array(vec![Value::Struct(Struct::new(inner).unwrap())]),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("Anything schema has no struct"),
        "{err}"
    );
}

#[test]
fn the_registry_is_asked_once_per_schema_not_once_per_record() {
    // Counting requests needs the registry in the test, whatever PIPEWRIGHT_TEST_SCHEMA_REGISTRY says.
    let registry = TestRegistry::local();
    let url = registry.url().to_owned();
    let topic = topic("cache");
    let schema = connect_schema();
    let mut writer = converter(&url, &[]);
    let mut reader = converter(&url, &[]);
    let before = registry.requests().unwrap();
    for i in 0..1_000 {
        let bytes = writer
            .from_connect(&topic, Some(&schema), &connect_value(&schema, i))
            .unwrap()
            .unwrap();
        reader.to_connect(&topic, Some(&bytes)).unwrap();
    }
    let requests = registry.requests().unwrap() - before;
    // One registration, one fetch by id, one version lookup.
    assert_eq!(requests, 3, "registry requests for 1000 records");
}

#[test]
fn evolved_records_are_resolved_to_the_latest_schema_with_use_latest_version() {
    let registry = TestRegistry::start();
    let topic = topic("evolution");
    let v1 = r#"{"type":"record","name":"User","namespace":"com.example","fields":[
        {"name":"name","type":"string"},{"name":"age","type":"int"}]}"#;
    let v2 = r#"{"type":"record","name":"User","namespace":"com.example","fields":[
        {"name":"name","type":"string"},{"name":"age","type":"long"},
        {"name":"email","type":"string","default":"none@example.com"}]}"#;
    let old = ck_avro(
        "serialize",
        &[
            "--registry",
            registry.url(),
            "--topic",
            &topic,
            "--schema",
            v1,
        ],
        &[json!({"name": "ann", "age": 41}).to_string()],
    );
    let v2_id = registry.register(&format!("{topic}-value"), v2);
    let bytes = unhex(&old[0]);
    assert_ne!(
        i32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]),
        v2_id,
        "the record was written with v1"
    );

    let mut latest = converter(registry.url(), &[("use.latest.version", "true")]);
    let sv = latest.to_connect(&topic, Some(&bytes)).unwrap();
    let s = as_struct(&sv.value);
    assert_eq!(sv.schema.as_ref().unwrap().version, Some(2));
    assert_eq!(field(s, "name"), &Value::string("ann"));
    assert_eq!(field(s, "age"), &Value::Int64(41), "int promoted to long");
    assert_eq!(field(s, "email"), &Value::string("none@example.com"));

    // Without use.latest.version the writer's schema is used as it is.
    let mut writers = converter(registry.url(), &[]);
    let sv = writers.to_connect(&topic, Some(&bytes)).unwrap();
    let s = as_struct(&sv.value);
    assert_eq!(field(s, "age"), &Value::Int32(41));
    assert!(s.get("email").is_none());
}

#[test]
fn writing_with_the_latest_version_without_registering() {
    let registry = TestRegistry::start();
    let topic = topic("write-latest");
    let latest_schema = r#"{"type":"record","name":"ConnectDefault","namespace":"io.confluent.connect.avro",
        "fields":[{"name":"n","type":"long"},{"name":"extra","type":"string","default":"x"}]}"#;
    registry.register(&format!("{topic}-value"), latest_schema);
    let schema = Schema::structure()
        .field("n", Schema::new(Type::Int32).build())
        .build();
    let value = Value::Struct(Struct::from_values(schema.clone(), vec![Value::Int32(5)]).unwrap());

    let mut unregistered = converter(registry.url(), &[("auto.register.schemas", "false")]);
    let err = unregistered
        .from_connect(&topic, Some(&schema), &value)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConvertError::Registry(RegistryError::NotRegistered { .. })
        ),
        "{err}"
    );

    let mut latest = converter(
        registry.url(),
        &[
            ("auto.register.schemas", "false"),
            ("use.latest.version", "true"),
        ],
    );
    let bytes = latest
        .from_connect(&topic, Some(&schema), &value)
        .unwrap()
        .unwrap();
    let read = ck_avro(
        "deserialize",
        &["--registry", registry.url(), "--topic", &topic],
        &[hex(&bytes)],
    );
    assert_eq!(
        serde_json::from_str::<Json>(&read[0]).unwrap(),
        json!({"n": 5, "extra": "x"})
    );
}

#[test]
fn an_unknown_schema_id_names_the_id_and_the_registry() {
    let registry = TestRegistry::start();
    let mut avro = converter(registry.url(), &[]);
    let bytes = Bytes::from_static(&[0, 0x7f, 0, 0, 1, 2]);
    let err = avro.to_connect("t", Some(&bytes)).unwrap_err();
    assert!(
        matches!(
            err,
            ConvertError::Registry(RegistryError::UnknownSchemaId {
                id: 0x7f00_0001,
                ..
            })
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(registry.url()) && text.contains("40403"),
        "{text}"
    );
    assert!(!err.is_retriable());
}

#[test]
fn an_incompatible_schema_is_refused_with_409() {
    let registry = TestRegistry::start();
    let topic = topic("incompatible");
    let mut avro = converter(registry.url(), &[]);
    let v1 = Schema::structure()
        .field("n", Schema::new(Type::Int32).build())
        .build();
    let value = Value::Struct(Struct::from_values(v1.clone(), vec![Value::Int32(1)]).unwrap());
    avro.from_connect(&topic, Some(&v1), &value).unwrap();
    registry.refuse_new_schemas(&format!("{topic}-value"));
    let v2 = Schema::structure()
        .field("n", Schema::new(Type::String).build())
        .build();
    let value = Value::Struct(Struct::from_values(v2.clone(), vec![Value::string("x")]).unwrap());
    let err = avro.from_connect(&topic, Some(&v2), &value).unwrap_err();
    assert!(
        matches!(
            err,
            ConvertError::Registry(RegistryError::Incompatible { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("409"), "{err}");
}

#[test]
fn credentials_from_user_info_or_the_url_reach_the_registry() {
    let registry = TestRegistry::start_with_basic_auth("fred:s3cret");
    let topic = topic("auth");
    let schema = Schema::new(Type::String).build();
    let value = Value::string("hello");

    let mut anonymous = converter(registry.url(), &[]);
    let err = anonymous
        .from_connect(&topic, Some(&schema), &value)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConvertError::Registry(RegistryError::Unauthorized { status: 401, .. })
        ),
        "{err}"
    );

    let mut user_info = converter(
        registry.url(),
        &[
            ("basic.auth.credentials.source", "USER_INFO"),
            ("basic.auth.user.info", "fred:s3cret"),
        ],
    );
    user_info
        .from_connect(&topic, Some(&schema), &value)
        .unwrap();

    let with_user = registry.url().replace("http://", "http://fred:s3cret@");
    let mut from_url = converter(&with_user, &[("basic.auth.credentials.source", "URL")]);
    let bytes = from_url
        .from_connect(&topic, Some(&schema), &value)
        .unwrap()
        .unwrap();
    let err = format!("{:?}", from_url);
    assert!(
        !err.contains("s3cret"),
        "the converter's Debug holds no password: {err}"
    );
    let back = user_info.to_connect(&topic, Some(&bytes)).unwrap();
    assert_eq!(back.value, Value::string("hello"));
}

#[test]
fn several_registry_urls_are_tried_in_turn() {
    let registry = TestRegistry::start();
    let topic = topic("failover");
    // Nothing listens on port 9 of localhost: the first URL refuses at once.
    let urls = format!("http://127.0.0.1:9,{}", registry.url());
    let mut avro = converter(&urls, &[]);
    let schema = Schema::new(Type::Int64).build();
    let bytes = avro
        .from_connect(&topic, Some(&schema), &Value::Int64(42))
        .unwrap()
        .unwrap();
    assert_eq!(
        avro.to_connect(&topic, Some(&bytes)).unwrap().value,
        Value::Int64(42)
    );

    let mut unreachable = converter("http://127.0.0.1:9", &[]);
    let err = unreachable
        .from_connect(&topic, Some(&schema), &Value::Int64(1))
        .unwrap_err();
    assert!(
        err.is_retriable(),
        "an unreachable registry is retriable: {err}"
    );
    assert!(err.to_string().contains("http://127.0.0.1:9"), "{err}");
}

#[test]
fn record_name_strategies_name_subjects_after_the_record() {
    let registry = TestRegistry::start();
    let topic = topic("strategies");
    let name = format!("com.example.{}", topic.replace('-', "_"));
    let schema = Schema::structure()
        .with_name(&name)
        .field("n", Schema::new(Type::Int32).build())
        .build();
    let value = Value::Struct(Struct::from_values(schema.clone(), vec![Value::Int32(1)]).unwrap());
    for (strategy, subject) in [
        ("RecordNameStrategy", name.clone()),
        (
            "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy",
            format!("{topic}-{name}"),
        ),
    ] {
        let mut avro = converter(registry.url(), &[("value.subject.name.strategy", strategy)]);
        let bytes = avro
            .from_connect(&topic, Some(&schema), &value)
            .unwrap()
            .unwrap();
        let (status, versions) = registry.get(&format!("/subjects/{subject}/versions"));
        assert_eq!((status, versions), (200, json!([1])), "{strategy}");
        // Reading looks the version up under the same subject.
        let back = avro.to_connect(&topic, Some(&bytes)).unwrap();
        assert_eq!(back.schema.unwrap().name.as_deref(), Some(name.as_str()));
    }
}

#[test]
fn hostile_bytes_are_errors_not_allocations() {
    let registry = TestRegistry::start();
    let topic = topic("hostile");
    let id = registry.register(
        &format!("{topic}-value"),
        r#"{"type":"record","name":"R","fields":[{"name":"s","type":"string"},
            {"name":"a","type":{"type":"array","items":{"type":"record","name":"E","fields":[]}}}]}"#,
    );
    let mut avro = converter(registry.url(), &[]);
    let header = |rest: &[u8]| {
        let mut b = vec![0];
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(rest);
        Bytes::from(b)
    };
    // A string claiming 2^62 bytes.
    let huge = header(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    let err = avro.to_connect(&topic, Some(&huge)).unwrap_err();
    assert!(matches!(err, ConvertError::InvalidAvro { .. }), "{err}");
    // An empty string, then an array of a billion empty records (zero bytes each).
    let nulls = header(&[0x00, 0x80, 0xa8, 0xd6, 0xb9, 0x07, 0x00]);
    let err = avro.to_connect(&topic, Some(&nulls)).unwrap_err();
    assert!(matches!(err, ConvertError::InvalidAvro { .. }), "{err}");
    // Not the wire format at all.
    let err = avro
        .to_connect(&topic, Some(&Bytes::from_static(b"{\"json\":1}")))
        .unwrap_err();
    assert!(err.to_string().contains("magic byte"), "{err}");
}

// ---------------------------------------------------------------------------------------------------------
// Pipelines

const FAST_GROUP: &str = r#""session.timeout.ms" = "6000", "heartbeat.interval.ms" = "500""#;

#[test]
fn engine_reads_avro_python_wrote_and_writes_avro_python_reads() {
    let broker = TestBroker::start();
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let input = topic("pipeline-in");
    let output = topic("pipeline-out");
    create_topic(&broker.bootstrap(), &input, 1);
    create_topic(&broker.bootstrap(), &output, 1);
    let records = 50;
    let values: Vec<String> = (0..records).map(|i| order_json(i).to_string()).collect();
    ck_avro(
        "produce",
        &[
            "--registry",
            registry.url(),
            "--topic",
            &input,
            "--schema",
            ORDER_SCHEMA,
            "--bootstrap",
            &broker.bootstrap(),
        ],
        &values,
    );
    let pipelines = format!(
        r#"[[pipeline]]
name = "avro-copy"
source = {{ type = "kafka", topics = "{input}", "group.id" = "{input}-copy", {FAST_GROUP} }}
sink = {{ type = "kafka", topic = "{output}" }}
"value.converter" = "io.confluent.connect.avro.AvroConverter"
"value.converter.schema.registry.url" = "{url}"

[[pipeline.transforms]]
type = "InsertField"
"static.field" = "source"
"static.value" = "engine"
"#,
        url = registry.url()
    );
    let config = write_pipelines(dir.path(), &broker.bootstrap(), &pipelines);
    let _engine = start_engine(&config, &dir.path().join("state"), 1);
    let read = ck_avro(
        "consume",
        &[
            "--registry",
            registry.url(),
            "--topic",
            &output,
            "--bootstrap",
            &broker.bootstrap(),
            "--count",
            &records.to_string(),
            "--timeout",
            "90",
        ],
        &[],
    );
    assert_eq!(read.len(), records as usize);
    for (i, line) in read.iter().enumerate() {
        let mut expected = order_json(i as i64);
        expected["source"] = json!("engine");
        assert_eq!(
            serde_json::from_str::<Json>(line).unwrap(),
            expected,
            "record {i}"
        );
    }
    // The engine registered the schema with the added field under the output topic's subject.
    let (status, latest) = registry.get(&format!("/subjects/{output}-value/versions/latest"));
    assert_eq!(status, 200, "{latest}");
    assert!(latest["schema"].as_str().unwrap().contains("\"source\""));
}

#[test]
fn a_file_source_writes_avro_strings_python_reads() {
    let broker = TestBroker::start();
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let output = topic("file-out");
    create_topic(&broker.bootstrap(), &output, 1);
    let file = dir.path().join("lines.txt");
    let lines: Vec<String> = (0..20).map(|i| format!("line {i} ünïcode")).collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let pipelines = format!(
        r#"[[pipeline]]
name = "file-to-avro"
source = {{ type = "file", file = "{file}" }}
sink = {{ type = "kafka", topic = "{output}" }}
"value.converter" = "avro"
"value.converter.schema.registry.url" = "{url}"
"#,
        file = file.display(),
        url = registry.url()
    );
    let config = write_pipelines(dir.path(), &broker.bootstrap(), &pipelines);
    let _engine = start_engine(&config, &dir.path().join("state"), 1);
    let read = ck_avro(
        "consume",
        &[
            "--registry",
            registry.url(),
            "--topic",
            &output,
            "--bootstrap",
            &broker.bootstrap(),
            "--count",
            "20",
            "--timeout",
            "90",
        ],
        &[],
    );
    let got: Vec<String> = read
        .iter()
        .map(|l| serde_json::from_str::<String>(l).unwrap())
        .collect();
    assert_eq!(got, lines);
    // Kafka's FileStreamSource value schema is a required string: Avro "string".
    let (_, latest) = registry.get(&format!("/subjects/{output}-value/versions/latest"));
    assert_eq!(latest["schema"], "\"string\"");
}

/// errors.retry.timeout: a value converter whose registry does not answer yet is retried (Kafka's
/// RetriableException), and the records go out once it does; nothing is lost or failed meanwhile.
#[test]
fn a_registry_down_at_first_is_retried_for_errors_retry_timeout() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();
    let output = topic("retry-out");
    create_topic(&broker.bootstrap(), &output, 1);
    let file = dir.path().join("lines.txt");
    let lines: Vec<String> = (0..5).map(|i| format!("late {i}")).collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    // A port nothing listens on until the registry starts on it below.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let pipelines = format!(
        r#"[[pipeline]]
name = "retry-registry"
source = {{ type = "file", file = "{file}" }}
sink = {{ type = "kafka", topic = "{output}" }}
"value.converter" = "avro"
"value.converter.schema.registry.url" = "http://127.0.0.1:{port}"
"errors.retry.timeout" = 60000
"errors.retry.delay.max.ms" = 1000
"#,
        file = file.display(),
    );
    let config = write_pipelines(dir.path(), &broker.bootstrap(), &pipelines);
    let _engine = start_engine(&config, &dir.path().join("state"), 1);
    // Long enough for the converter's own three rounds of attempts to fail and the engine's retries to start.
    std::thread::sleep(Duration::from_secs(5));
    let registry = TestRegistry::local_on_port(port);
    let read = ck_avro(
        "consume",
        &[
            "--registry",
            registry.url(),
            "--topic",
            &output,
            "--bootstrap",
            &broker.bootstrap(),
            "--count",
            "5",
            "--timeout",
            "90",
        ],
        &[],
    );
    let got: Vec<String> = read
        .iter()
        .map(|l| serde_json::from_str::<String>(l).unwrap())
        .collect();
    assert_eq!(got, lines);
}
