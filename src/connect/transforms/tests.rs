//! Each transform against the before/after examples of Kafka Connect's (and Confluent's) documentation.

use super::predicates::Predicate;
use super::*;
use crate::connect::converters::JsonConverter;
use crate::connect::data::{Schema, SchemaAndValue, SchemaRef, Str, Struct, Type, Value};
use crate::connect::record::{Data, Header};
use bytes::{Bytes, BytesMut};

fn t(name: &str, pairs: &[(&str, &str)]) -> Transform {
    Transform::from_pairs(name, pairs).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A schemaless record whose value is the given JSON.
fn json_record(topic: &str, value: &str) -> ConnectRecord {
    let sv = JsonConverter::schemaless()
        .to_connect(Some(&Bytes::copy_from_slice(value.as_bytes())))
        .unwrap();
    ConnectRecord::new(topic, Data::Raw(None), Data::Converted(sv))
        .with_partition(0)
        .with_timestamp(1_492_078_830_456)
}

fn json_of(data: &Data) -> String {
    let sv = data.converted().unwrap();
    let mut out = BytesMut::new();
    JsonConverter::schemaless()
        .write_connect(sv.schema.as_ref(), &sv.value, &mut out)
        .unwrap();
    String::from_utf8(out.to_vec()).unwrap()
}

fn apply(tr: &Transform, r: ConnectRecord) -> ConnectRecord {
    tr.transform(r).unwrap().expect("record filtered")
}

fn struct_record(schema: SchemaRef, values: Vec<Value>) -> ConnectRecord {
    let s = Struct::from_values(schema.clone(), values).unwrap();
    ConnectRecord::new(
        "t",
        Data::Raw(None),
        Data::new(Some(schema), Value::Struct(s)),
    )
    .with_partition(3)
    .with_timestamp(1_492_078_830_456)
}

fn value_struct(r: &ConnectRecord) -> &Struct {
    match &r.value.converted().unwrap().value {
        Value::Struct(s) => s,
        other => panic!("not a struct: {other:?}"),
    }
}

#[test]
fn insert_field_static_value_schemaless() {
    // Confluent docs: {"foo":"bar"} + static MessageSource = "Kafka Connect framework".
    let tr = t(
        "org.apache.kafka.connect.transforms.InsertField$Value",
        &[
            ("static.field", "MessageSource"),
            ("static.value", "Kafka Connect framework"),
        ],
    );
    let out = apply(&tr, json_record("t", r#"{"foo":"bar"}"#));
    assert_eq!(
        json_of(&out.value),
        r#"{"foo":"bar","MessageSource":"Kafka Connect framework"}"#
    );
}

#[test]
fn insert_field_topic_partition_timestamp_with_schema() {
    let tr = t(
        "InsertField$Value",
        &[
            ("topic.field", "topic!"),
            ("partition.field", "partition"),
            ("timestamp.field", "ts"),
        ],
    );
    let schema = Schema::structure()
        .field("id", Schema::new(Type::Int32).build())
        .build();
    let out = apply(&tr, struct_record(schema, vec![Value::Int32(1)]));
    let s = value_struct(&out);
    let fields: Vec<(&str, bool)> = s
        .schema()
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.schema.optional))
        .collect();
    assert_eq!(
        fields,
        [
            ("id", false),
            ("topic", false),
            ("partition", true),
            ("ts", true)
        ]
    );
    assert_eq!(s.get("topic"), Some(&Value::string("t")));
    assert_eq!(s.get("partition"), Some(&Value::Int32(3)));
    assert_eq!(s.get("ts"), Some(&Value::Int64(1_492_078_830_456)));
    assert_eq!(
        s.schema().fields[3].schema.logical_name(),
        Some(crate::connect::data::logical::TIMESTAMP)
    );
}

#[test]
fn insert_field_key_variant_and_offset_needs_a_kafka_record() {
    let tr = t("InsertField$Key", &[("offset.field", "offset")]);
    let mut r = json_record("t", "{}");
    r.key = Data::new(None, Value::Map(vec![]));
    assert!(tr.transform(r.clone()).is_err());
    r.kafka_offset = Some(99);
    let out = apply(&tr, r);
    assert_eq!(json_of(&out.key), r#"{"offset":99}"#);
}

#[test]
fn replace_field_exclude_include_and_rename() {
    let r = json_record("t", r#"{"foo":1,"bar":2,"baz":3,"c":4}"#);
    let exclude = t("ReplaceField$Value", &[("exclude", "c")]);
    assert_eq!(
        json_of(&apply(&exclude, r.clone()).value),
        r#"{"foo":1,"bar":2,"baz":3}"#
    );
    let include = t("ReplaceField$Value", &[("include", "foo,bar")]);
    assert_eq!(
        json_of(&apply(&include, r.clone()).value),
        r#"{"foo":1,"bar":2}"#
    );
    let renames = t(
        "ReplaceField$Value",
        &[("renames", "foo:c,bar:d"), ("exclude", "c")],
    );
    assert_eq!(
        json_of(&apply(&renames, r.clone()).value),
        r#"{"c":1,"d":2,"baz":3}"#
    );
    let old_names = t(
        "ReplaceField$Value",
        &[("blacklist", "baz"), ("whitelist", "foo,baz")],
    );
    assert_eq!(json_of(&apply(&old_names, r).value), r#"{"foo":1}"#);
}

#[test]
fn replace_field_with_schema() {
    let schema = Schema::structure()
        .with_name("n")
        .field("dont", Schema::new(Type::String).build())
        .field("abc", Schema::new(Type::Int32).build())
        .field("foo", Schema::new(Type::Boolean).build())
        .build();
    let tr = t(
        "ReplaceField$Value",
        &[("exclude", "dont"), ("renames", "abc:xyz,foo:bar")],
    );
    let out = apply(
        &tr,
        struct_record(
            schema,
            vec![
                Value::string("whatever"),
                Value::Int32(42),
                Value::Boolean(true),
            ],
        ),
    );
    let s = value_struct(&out);
    assert_eq!(s.schema().name.as_deref(), Some("n"));
    assert_eq!(s.get("xyz"), Some(&Value::Int32(42)));
    assert_eq!(s.get("bar"), Some(&Value::Boolean(true)));
    assert_eq!(s.schema().fields.len(), 2);
}

#[test]
fn mask_field_empties_or_replaces() {
    let r = json_record(
        "t",
        r#"{"ssn":"123-45-6789","age":42,"ok":true,"list":[1],"name":"x"}"#,
    );
    let tr = t("MaskField$Value", &[("fields", "ssn,age,ok,list")]);
    assert_eq!(
        json_of(&apply(&tr, r.clone()).value),
        r#"{"ssn":"","age":0,"ok":false,"list":[],"name":"x"}"#
    );
    let tr = t(
        "MaskField$Value",
        &[("fields", "ssn,age"), ("replacement", "9")],
    );
    assert_eq!(
        json_of(&apply(&tr, r.clone()).value),
        r#"{"ssn":"9","age":9,"ok":true,"list":[1],"name":"x"}"#
    );
    let tr = t(
        "MaskField$Value",
        &[("fields", "age"), ("replacement", "<redacted>")],
    );
    assert!(tr.transform(r).is_err());
}

#[test]
fn cast_fields_and_whole_values() {
    // Kafka docs: spec "ID:string,score:float64" / whole value "int32".
    let r = json_record("t", r#"{"ID":5,"score":7,"flag":1}"#);
    let tr = t(
        "Cast$Value",
        &[("spec", "ID:string,score:float64,flag:boolean")],
    );
    assert_eq!(
        json_of(&apply(&tr, r).value),
        r#"{"ID":"5","score":7.0,"flag":true}"#
    );
    let schema = Schema::structure()
        .field("a", Schema::new(Type::String).build())
        .field("b", Schema::new(Type::Float64).optional().build())
        .build();
    let tr = t("Cast$Value", &[("spec", "a:int64,b:int8")]);
    let out = apply(
        &tr,
        struct_record(schema, vec![Value::string("12"), Value::Float64(3.9)]),
    );
    let s = value_struct(&out);
    assert_eq!(s.get("a"), Some(&Value::Int64(12)));
    assert_eq!(s.get("b"), Some(&Value::Int8(3)));
    assert!(s.schema().fields[1].schema.optional);
    let whole = t("Cast$Key", &[("spec", "int32")]);
    let mut r = json_record("t", "{}");
    r.key = Data::new(Some(Schema::new(Type::String).build()), Value::string("42"));
    let out = apply(&whole, r);
    let key = out.key.converted().unwrap();
    assert_eq!(key.value, Value::Int32(42));
    assert_eq!(key.schema.as_ref().unwrap().ty, Type::Int32);
    assert!(Transform::from_pairs("Cast$Value", &[("spec", "a:date")]).is_err());
}

#[test]
fn timestamp_converter_between_types() {
    // Confluent docs: a unix millis field to a formatted string.
    let r = json_record("t", r#"{"event":1696521559000}"#);
    let tr = t(
        "TimestampConverter$Value",
        &[
            ("field", "event"),
            ("target.type", "string"),
            ("format", "yyyy-MM-dd"),
        ],
    );
    assert_eq!(json_of(&apply(&tr, r).value), r#"{"event":"2023-10-05"}"#);
    // String → Timestamp with a schema.
    let schema = Schema::structure()
        .field("when", Schema::new(Type::String).build())
        .build();
    let tr = t(
        "TimestampConverter$Value",
        &[
            ("field", "when"),
            ("target.type", "Timestamp"),
            ("format", "yyyy-MM-dd HH:mm:ss"),
        ],
    );
    let out = apply(
        &tr,
        struct_record(schema, vec![Value::string("2017-04-13 10:20:30")]),
    );
    let s = value_struct(&out);
    assert_eq!(s.get("when"), Some(&Value::Int64(1_492_078_830_000)));
    assert_eq!(
        s.schema().fields[0].schema.logical_name(),
        Some(crate::connect::data::logical::TIMESTAMP)
    );
    // Whole value: seconds → Date.
    let tr = t(
        "TimestampConverter$Value",
        &[("target.type", "Date"), ("unix.precision", "seconds")],
    );
    let mut r = json_record("t", "{}");
    r.value = Data::new(
        Some(Schema::new(Type::Int64).build()),
        Value::Int64(1_492_078_830),
    );
    let out = apply(&tr, r);
    assert_eq!(out.value.converted().unwrap().value, Value::Int32(17_269));
    assert!(
        Transform::from_pairs("TimestampConverter$Value", &[("target.type", "string")]).is_err()
    );
}

#[test]
fn extract_field_schemaless_and_with_schema() {
    let tr = t("ExtractField$Key", &[("field", "id")]);
    let mut r = json_record("t", "{}");
    r.key = Data::new(
        None,
        Value::Map(vec![(Value::string("id"), Value::Int64(42))]),
    );
    assert_eq!(
        apply(&tr, r).key.converted().unwrap().value,
        Value::Int64(42)
    );
    let schema = Schema::structure()
        .field("id", Schema::new(Type::Int32).build())
        .field("name", Schema::new(Type::String).build())
        .build();
    let tr = t("ExtractField$Value", &[("field", "name")]);
    let out = apply(
        &tr,
        struct_record(schema, vec![Value::Int32(1), Value::string("x")]),
    );
    let sv = out.value.converted().unwrap();
    assert_eq!(sv.value, Value::string("x"));
    assert_eq!(sv.schema.as_ref().unwrap().ty, Type::String);
}

#[test]
fn hoist_field_wraps() {
    // Kafka docs: 42 with field "line" → {"line": 42}.
    let tr = t("HoistField$Value", &[("field", "line")]);
    let mut r = json_record("t", "{}");
    r.value = Data::new(Some(Schema::new(Type::Int32).build()), Value::Int32(42));
    let out = apply(&tr, r);
    let s = value_struct(&out);
    assert_eq!(s.get("line"), Some(&Value::Int32(42)));
    let r = json_record("t", r#""hello""#);
    assert_eq!(json_of(&apply(&tr, r).value), r#"{"line":"hello"}"#);
}

#[test]
fn flatten_nested_maps_and_structs() {
    // Confluent docs example with delimiter "_".
    let r = json_record(
        "t",
        r#"{"content":{"id":42,"name":{"first":"David","middle":null,"last":"Wong"}}}"#,
    );
    let tr = t("Flatten$Value", &[("delimiter", "_")]);
    assert_eq!(
        json_of(&apply(&tr, r).value),
        r#"{"content_id":42,"content_name_first":"David","content_name_middle":null,"content_name_last":"Wong"}"#
    );
    let inner = Schema::structure()
        .optional()
        .field("x", Schema::new(Type::Int32).build())
        .build();
    let schema = Schema::structure()
        .field("a", Schema::new(Type::String).build())
        .field("b", inner.clone())
        .build();
    let tr = t("Flatten$Value", &[]);
    let b = Struct::from_values(inner, vec![Value::Int32(7)]).unwrap();
    let out = apply(
        &tr,
        struct_record(schema.clone(), vec![Value::string("s"), Value::Struct(b)]),
    );
    let s = value_struct(&out);
    assert_eq!(s.get("b.x"), Some(&Value::Int32(7)));
    assert!(s.schema().field_named("b.x").unwrap().schema.optional);
    let out = apply(
        &tr,
        struct_record(schema, vec![Value::string("s"), Value::Null]),
    );
    assert_eq!(value_struct(&out).get("b.x"), Some(&Value::Null));
}

#[test]
fn value_to_key_copies_fields() {
    let tr = t("ValueToKey", &[("fields", "userId,city")]);
    let r = json_record("t", r#"{"userId":1,"city":"Paris","state":"IDF"}"#);
    assert_eq!(
        json_of(&apply(&tr, r).key),
        r#"{"userId":1,"city":"Paris"}"#
    );
    let schema = Schema::structure()
        .field("userId", Schema::new(Type::Int32).build())
        .field("city", Schema::new(Type::String).build())
        .build();
    let out = apply(
        &tr,
        struct_record(schema, vec![Value::Int32(1), Value::string("Paris")]),
    );
    let key = out.key.converted().unwrap();
    let Value::Struct(k) = &key.value else {
        panic!()
    };
    assert_eq!(k.get("city"), Some(&Value::string("Paris")));
    let missing = t("ValueToKey", &[("fields", "nope")]);
    let schema = Schema::structure()
        .field("a", Schema::new(Type::Int32).build())
        .build();
    assert!(missing
        .transform(struct_record(schema, vec![Value::Int32(1)]))
        .is_err());
}

#[test]
fn regex_router_renames_matching_topics() {
    // Kafka docs: regex "(.*)customers_(.*)"-style routing; Debezium-style three-part names.
    let tr = t(
        "RegexRouter",
        &[
            ("regex", "([^.]+)\\.([^.]+)\\.([^.]+)"),
            ("replacement", "$3"),
        ],
    );
    assert_eq!(
        apply(&tr, json_record("dbserver1.inventory.customers", "{}")).topic,
        "customers"
    );
    assert_eq!(apply(&tr, json_record("other", "{}")).topic, "other");
    let tr = t(
        "RegexRouter",
        &[("regex", "(.*)-raw"), ("replacement", "$1_clean\\$")],
    );
    assert_eq!(
        apply(&tr, json_record("orders-raw", "{}")).topic,
        "orders_clean$"
    );
}

#[test]
fn timestamp_router_appends_the_date() {
    let tr = t("TimestampRouter", &[]);
    assert_eq!(
        apply(&tr, json_record("orders", "{}")).topic,
        "orders-20170413"
    );
    let tr = t(
        "TimestampRouter",
        &[
            ("topic.format", "${timestamp}_${topic}"),
            ("timestamp.format", "yyyy.MM"),
        ],
    );
    assert_eq!(
        apply(&tr, json_record("orders", "{}")).topic,
        "2017.04_orders"
    );
    let mut r = json_record("orders", "{}");
    r.timestamp = None;
    assert!(tr.transform(r).is_err());
}

#[test]
fn filter_with_predicates_and_negate() {
    // Kafka docs: drop records of topics matching foo.* (and, negated, keep only those).
    let pattern = Predicate::TopicNameMatches(regex::Regex::new("^(?:foo.*)$").unwrap());
    let drop_foo = t("Filter", &[]).with_predicate(pattern.clone(), false);
    assert!(drop_foo
        .transform(json_record("foobar", "{}"))
        .unwrap()
        .is_none());
    assert!(drop_foo
        .transform(json_record("bar", "{}"))
        .unwrap()
        .is_some());
    let keep_foo = t("Filter", &[("negate", "true")]).with_predicate(pattern, true);
    assert!(keep_foo
        .transform(json_record("foobar", "{}"))
        .unwrap()
        .is_some());
    assert!(keep_foo
        .transform(json_record("bar", "{}"))
        .unwrap()
        .is_none());

    let tombstones = t("Filter", &[]).with_predicate(Predicate::RecordIsTombstone, false);
    assert!(tombstones
        .transform(ConnectRecord::raw("t", None, None))
        .unwrap()
        .is_none());
    assert!(tombstones
        .transform(ConnectRecord::raw(
            "t",
            None,
            Some(Bytes::from_static(b"x"))
        ))
        .unwrap()
        .is_some());

    let has = t("Filter", &[]).with_predicate(Predicate::HasHeaderKey("skip".into()), false);
    let r = json_record("t", "{}").with_header(Header::new("skip", Value::Null, None));
    assert!(has.transform(r).unwrap().is_none());

    let t_with_alias = t("Filter", &[("predicate", "IsFoo")]);
    assert_eq!(t_with_alias.predicate_alias(), Some("IsFoo"));
}

#[test]
fn predicates_build_from_config() {
    use crate::connect::registry::{find, ComponentKind};
    let info = find(
        ComponentKind::Predicate,
        "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
    )
    .unwrap();
    let parsed = info
        .config
        .parse(
            &[("pattern".to_owned(), "foo.*".to_owned())]
                .into_iter()
                .collect(),
            &[],
        )
        .unwrap();
    let p = Predicate::build(info.name, &parsed).unwrap();
    assert!(p.test(&json_record("foo1", "{}")));
    assert!(!p.test(&json_record("xfoo", "{}")));
}

#[test]
fn insert_and_drop_headers() {
    let ins = t(
        "InsertHeader",
        &[("header", "MyHeader"), ("value.literal", "MyValue")],
    );
    let out = apply(&ins, json_record("t", "{}"));
    let h = out.header("MyHeader").unwrap();
    assert_eq!(h.value, Value::string("MyValue"));
    assert_eq!(h.schema.as_ref().unwrap().ty, Type::String);
    let ins_num = t("InsertHeader", &[("header", "n"), ("value.literal", "42")]);
    assert_eq!(
        apply(&ins_num, json_record("t", "{}"))
            .header("n")
            .unwrap()
            .value,
        Value::Int8(42)
    );

    let drop = t("DropHeaders", &[("headers", "a,b")]);
    let r = json_record("t", "{}")
        .with_header(Header::new("a", Value::Null, None))
        .with_header(Header::new("c", Value::Null, None))
        .with_header(Header::new("b", Value::Null, None))
        .with_header(Header::new("a", Value::Null, None));
    let keys: Vec<String> = apply(&drop, r)
        .headers
        .iter()
        .map(|h| h.key.to_string())
        .collect();
    assert_eq!(keys, ["c"]);
}

#[test]
fn header_from_copies_or_moves_fields() {
    let copy = t(
        "HeaderFrom$Value",
        &[
            ("fields", "id,ts"),
            ("headers", "record_id,timestamp"),
            ("operation", "copy"),
        ],
    );
    let r = json_record("t", r#"{"id":1,"ts":2,"x":3}"#);
    let out = apply(&copy, r.clone());
    assert_eq!(json_of(&out.value), r#"{"id":1,"ts":2,"x":3}"#);
    assert_eq!(out.header("record_id").unwrap().value, Value::Int64(1));
    let mv = t(
        "HeaderFrom$Value",
        &[
            ("fields", "id,ts"),
            ("headers", "record_id,timestamp"),
            ("operation", "move"),
        ],
    );
    let out = apply(&mv, r);
    assert_eq!(json_of(&out.value), r#"{"x":3}"#);
    assert_eq!(out.header("timestamp").unwrap().value, Value::Int64(2));

    let schema = Schema::structure()
        .field("id", Schema::new(Type::Int32).build())
        .field("x", Schema::new(Type::String).build())
        .build();
    let mv = t(
        "HeaderFrom$Value",
        &[("fields", "id"), ("headers", "rid"), ("operation", "move")],
    );
    let out = apply(
        &mv,
        struct_record(schema, vec![Value::Int32(5), Value::string("y")]),
    );
    assert_eq!(value_struct(&out).schema().fields.len(), 1);
    let h = out.header("rid").unwrap();
    assert_eq!(
        (h.value.clone(), h.schema.as_ref().unwrap().ty),
        (Value::Int32(5), Type::Int32)
    );
    assert!(Transform::from_pairs(
        "HeaderFrom$Value",
        &[("fields", "a,b"), ("headers", "a"), ("operation", "copy")]
    )
    .is_err());
}

#[test]
fn set_schema_metadata_renames_the_schema() {
    let tr = t(
        "SetSchemaMetadata$Value",
        &[("schema.name", "order-value"), ("schema.version", "2")],
    );
    let schema = Schema::structure()
        .field("id", Schema::new(Type::Int32).build())
        .build();
    let out = apply(&tr, struct_record(schema, vec![Value::Int32(1)]));
    let sv = out.value.converted().unwrap();
    let s = sv.schema.as_ref().unwrap();
    assert_eq!(
        (s.name.as_deref(), s.version),
        (Some("order-value"), Some(2))
    );
    assert!(std::sync::Arc::ptr_eq(value_struct(&out).schema(), s));
    assert!(tr.transform(json_record("t", "{}")).is_err());
}

#[test]
fn transforms_leave_tombstones_alone() {
    for tr in [
        t(
            "InsertField$Value",
            &[("static.field", "a"), ("static.value", "b")],
        ),
        t("ReplaceField$Value", &[("exclude", "a")]),
        t("MaskField$Value", &[("fields", "a")]),
        t("Flatten$Value", &[]),
    ] {
        let r = ConnectRecord::new("t", Data::Raw(None), Data::Converted(SchemaAndValue::NULL));
        assert!(apply(&tr, r).value.is_null());
    }
}

#[test]
fn unknown_names_and_keys_are_reported() {
    let e = Transform::from_pairs("InsertFeild", &[]).unwrap_err();
    assert!(e.to_string().contains("did you mean `InsertField`"), "{e}");
    let e = Transform::from_pairs("InsertField$Middle", &[]).unwrap_err();
    assert!(e.to_string().contains("$Key or $Value"), "{e}");
    let e = Transform::from_pairs("MaskField$Value", &[("feilds", "a")]).unwrap_err();
    assert!(e.to_string().contains("did you mean `fields`"), "{e}");
}

#[test]
fn registry_knows_every_component_by_kafka_connect_name() {
    use crate::connect::registry::{find, ComponentKind};
    assert_eq!(
        find(
            ComponentKind::Transform,
            "org.apache.kafka.connect.transforms.InsertField$Value"
        )
        .unwrap()
        .name,
        "InsertField"
    );
    assert_eq!(
        find(
            ComponentKind::Converter,
            "org.apache.kafka.connect.json.JsonConverter"
        )
        .unwrap()
        .name,
        "json"
    );
    assert_eq!(
        find(
            ComponentKind::Converter,
            "org.apache.kafka.connect.storage.StringConverter"
        )
        .unwrap()
        .name,
        "string"
    );
    assert_eq!(
        find(ComponentKind::Predicate, "RecordIsTombstone")
            .unwrap()
            .name,
        "RecordIsTombstone"
    );
    assert_eq!(
        crate::connect::registry::names(ComponentKind::Transform).len(),
        16
    );
}

#[test]
fn chain_converts_lazily_and_only_what_is_needed() {
    let chain = TransformChain::new(vec![
        t("RegexRouter", &[("regex", "a"), ("replacement", "b")]),
        t("InsertHeader", &[("header", "h"), ("value.literal", "v")]),
    ]);
    let mut key_conv = crate::connect::converters::Converter::Json(JsonConverter::schemaless());
    let mut value_conv = crate::connect::converters::Converter::Json(JsonConverter::schemaless());
    // Not JSON at all: nothing reads the value, so nothing parses it.
    let r = ConnectRecord::raw("a", None, Some(Bytes::from_static(b"not json")));
    let mut out = r;
    assert!(chain
        .apply(&mut out, &mut key_conv, &mut value_conv)
        .unwrap());
    assert_eq!(out.topic, "b");
    assert_eq!(out.value, Data::Raw(Some(Bytes::from_static(b"not json"))));

    let chain = TransformChain::new(vec![t("MaskField$Value", &[("fields", "a")])]);
    let r = ConnectRecord::raw(
        "a",
        None,
        Some(Bytes::from_static(br#"{"a":"secret","b":1}"#)),
    );
    let mut out = r;
    assert!(chain
        .apply(&mut out, &mut key_conv, &mut value_conv)
        .unwrap());
    assert_eq!(json_of(&out.value), r#"{"a":"","b":1}"#);
    assert!(matches!(out.key, Data::Raw(None)));
    let mut bad = ConnectRecord::raw("a", None, Some(Bytes::from_static(b"{")));
    assert!(matches!(
        chain.apply(&mut bad, &mut key_conv, &mut value_conv),
        Err(ChainError::Convert {
            which: Which::Value,
            ..
        })
    ));
    let _ = Str::from("unused");
}

#[test]
fn documented_examples_verbatim() {
    // ReplaceField: drop a field; rename fields.
    let tr = t("ReplaceField$Value", &[("exclude", "c2")]);
    assert_eq!(
        json_of(&apply(&tr, json_record("t", r#"{"c1":22,"c2":"foo"}"#)).value),
        r#"{"c1":22}"#
    );
    let tr = t("ReplaceField$Value", &[("renames", "foo:c1,bar:c2")]);
    assert_eq!(
        json_of(&apply(&tr, json_record("t", r#"{"foo":22,"bar":"baz"}"#)).value),
        r#"{"c1":22,"c2":"baz"}"#
    );
    // MaskField: mask a value; replace a value.
    let tr = t("MaskField$Value", &[("fields", "string_field")]);
    assert_eq!(
        json_of(
            &apply(
                &tr,
                json_record("t", r#"{"integer_field":22, "string_field":"foo"}"#)
            )
            .value
        ),
        r#"{"integer_field":22,"string_field":""}"#
    );
    let tr = t(
        "MaskField$Value",
        &[("fields", "SSN"), ("replacement", "***-***-****")],
    );
    assert_eq!(
        json_of(&apply(&tr, json_record("t", r#"{"SSN":"123-45-6789"}"#)).value),
        r#"{"SSN":"***-***-****"}"#
    );
    // TimestampConverter: a unix timestamp field to a SimpleDateFormat string (Oracle CDC example).
    let tr = t(
        "TimestampConverter$Value",
        &[
            ("format", "yyyy-MM-dd'T'HH:mm:ss.SSSZ"),
            ("field", "CREATE_TS"),
            ("target.type", "string"),
        ],
    );
    assert_eq!(
        json_of(
            &apply(
                &tr,
                json_record("t", r#"{"ID":1,"CREATE_TS":1636048731469}"#)
            )
            .value
        ),
        r#"{"ID":1,"CREATE_TS":"2021-11-04T17:58:51.469+0000"}"#
    );
    // TimestampConverter: the whole value, epoch seconds to a date string.
    let tr = t(
        "TimestampConverter$Value",
        &[
            ("format", "yyyy-MM-dd"),
            ("target.type", "string"),
            ("unix.precision", "seconds"),
        ],
    );
    let mut r = json_record("t", "{}");
    r.value = Data::new(None, Value::Int64(1_696_521_093));
    assert_eq!(
        apply(&tr, r).value.converted().unwrap().value,
        Value::string("2023-10-05")
    );
}
