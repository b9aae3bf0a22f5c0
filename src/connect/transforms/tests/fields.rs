//! The transforms of a record's key or value: fields inserted, replaced, masked, cast, converted, extracted,
//! hoisted, flattened, copied to the key; schema metadata; tombstones left alone.

use super::*;

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
fn a_file_line_hoisted_is_written_as_kafka_connect_writes_the_struct_envelope() {
    // FileStreamSource's required string, HoistField$Value, the worker's JsonConverter (schemas.enable=true):
    // a struct of one required string field, as Kafka Connect writes it.
    let tr = t("HoistField$Value", &[("field", "line")]);
    let mut r = ConnectRecord::new(
        "t",
        Data::Raw(None),
        crate::connect::connectors::line_value(Bytes::from_static(b"foo")),
    );
    r = apply(&tr, r);
    let mut json =
        crate::connect::converters::Converter::Json(JsonConverter::new(Default::default()));
    let mut out = BytesMut::new();
    assert!(r.value.write_to(&mut json, "t", &mut out).unwrap());
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        r#"{"schema":{"type":"struct","fields":[{"type":"string","optional":false,"field":"line"}],"optional":false},"payload":{"line":"foo"}}"#
    );
}
