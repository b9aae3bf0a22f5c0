use super::*;
use crate::connect::data::{Schema, Str, Struct, Type};
use proptest::prelude::*;

fn to_connect(c: &mut JsonConverter, json: &str) -> Result<SchemaAndValue, ConvertError> {
    c.to_connect(Some(&Bytes::copy_from_slice(json.as_bytes())))
}

fn write(c: &JsonConverter, schema: Option<&SchemaRef>, value: &Value) -> String {
    let mut out = BytesMut::new();
    assert!(c.write_connect(schema, value, &mut out).unwrap());
    String::from_utf8(out.to_vec()).unwrap()
}

fn person_schema() -> SchemaRef {
    Schema::structure()
        .with_name("com.example.Person")
        .field("id", Schema::new(Type::Int32).build())
        .field("name", Schema::new(Type::String).optional().build())
        .field(
            "tags",
            Schema::array(Schema::new(Type::String).build()).build(),
        )
        .field("created", Schema::timestamp().build())
        .build()
}

#[test]
fn envelope_bytes_are_exactly_what_kafka_connect_writes() {
    let c = JsonConverter::with_schemas();
    // From Kafka Connect's JsonConverter: a required string.
    let string_schema = Schema::new(Type::String).build();
    assert_eq!(
        write(&c, Some(&string_schema), &Value::string("foo")),
        r#"{"schema":{"type":"string","optional":false},"payload":"foo"}"#
    );
    let schema = person_schema();
    let mut s = Struct::new(schema.clone()).unwrap();
    s.put("id", Value::Int32(42)).unwrap();
    s.put("name", Value::string("Ada")).unwrap();
    s.put("tags", Value::Array(vec![Value::string("a")]))
        .unwrap();
    s.put("created", Value::Int64(1_492_078_830_456)).unwrap();
    assert_eq!(
        write(&c, Some(&schema), &Value::Struct(s)),
        concat!(
            r#"{"schema":{"type":"struct","fields":["#,
            r#"{"type":"int32","optional":false,"field":"id"},"#,
            r#"{"type":"string","optional":true,"field":"name"},"#,
            r#"{"type":"array","items":{"type":"string","optional":false},"optional":false,"field":"tags"},"#,
            r#"{"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"created"}"#,
            r#"],"optional":false,"name":"com.example.Person"},"#,
            r#""payload":{"id":42,"name":"Ada","tags":["a"],"created":1492078830456}}"#
        )
    );
}

#[test]
fn schemaless_value_in_envelope_has_null_schema() {
    let c = JsonConverter::with_schemas();
    assert_eq!(
        write(&c, None, &Value::Int64(7)),
        r#"{"schema":null,"payload":7}"#
    );
    // A null value without a schema is a null record.
    assert!(!c
        .write_connect(None, &Value::Null, &mut BytesMut::new())
        .unwrap());
}

#[test]
fn envelope_round_trips_with_schema() {
    let mut c = JsonConverter::with_schemas();
    let text = concat!(
        r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},"#,
        r#"{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int64","optional":false},"optional":true,"field":"counts"},"#,
        r#"{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"},"field":"price"},"#,
        r#"{"type":"boolean","optional":true,"default":true,"field":"flag"}"#,
        r#"],"optional":false,"name":"x","version":3,"doc":"a doc"},"payload":{"id":1,"counts":{"a":1},"price":"MDk=","flag":null}}"#
    );
    let sv = to_connect(&mut c, text).unwrap();
    let schema = sv.schema.clone().unwrap();
    assert_eq!(schema.version, Some(3));
    assert_eq!(schema.fields[2].schema.parameter("scale"), Some("2"));
    let Value::Struct(s) = &sv.value else {
        panic!()
    };
    assert_eq!(s.get("flag"), Some(&Value::Boolean(true)));
    assert_eq!(
        s.get("price"),
        Some(&Value::Bytes(Bytes::from_static(b"09")))
    );
    let again = write(&c, sv.schema.as_ref(), &sv.value);
    assert_eq!(again, text.replace(r#""flag":null"#, r#""flag":true"#));
}

#[test]
fn decimal_numeric_format_writes_a_number() {
    let c = JsonConverter::new(JsonOptions {
        schemas_enable: false,
        decimal_numeric: true,
        ..JsonOptions::default()
    });
    let schema = Schema::decimal(2).build();
    // 12345 unscaled = 123.45
    let v = Value::Bytes(decimal_bytes(12345));
    assert_eq!(write(&c, Some(&schema), &v), "123.45");
    assert_eq!(
        write(&c, Some(&schema), &Value::Bytes(decimal_bytes(-5))),
        "-0.05"
    );
}

#[test]
fn plain_json_maps_numbers_like_kafka_connect() {
    let mut c = JsonConverter::schemaless();
    let sv = to_connect(&mut c, r#"{"a":1,"b":2.5,"c":"x","d":[true,null],"e":{}}"#).unwrap();
    assert!(sv.schema.is_none());
    assert_eq!(
        sv.value,
        Value::Map(vec![
            (Value::string("a"), Value::Int64(1)),
            (Value::string("b"), Value::Float64(2.5)),
            (Value::string("c"), Value::string("x")),
            (
                Value::string("d"),
                Value::Array(vec![Value::Boolean(true), Value::Null])
            ),
            (Value::string("e"), Value::Map(vec![])),
        ])
    );
    assert_eq!(
        write(&c, None, &sv.value),
        r#"{"a":1,"b":2.5,"c":"x","d":[true,null],"e":{}}"#
    );
}

#[test]
fn strings_share_the_input_buffer_unless_unescaped() {
    let mut c = JsonConverter::schemaless();
    let input =
        Bytes::from_static(br#"{"plain":"a string longer than the inline capacity","esc":"a\nb"}"#);
    let sv = c.to_connect(Some(&input)).unwrap();
    let range = input.as_ptr() as usize..input.as_ptr() as usize + input.len();
    let Value::Map(entries) = &sv.value else {
        panic!()
    };
    let Value::String(plain) = &entries[0].1 else {
        panic!()
    };
    assert!(range.contains(&(plain.as_bytes().as_ptr() as usize)));
    assert_eq!(entries[1].1, Value::string("a\nb"));
    assert_eq!(
        write(&c, None, &sv.value),
        r#"{"plain":"a string longer than the inline capacity","esc":"a\nb"}"#
    );
}

#[test]
fn errors_say_what_and_where() {
    let mut c = JsonConverter::schemaless();
    match to_connect(&mut c, r#"{"a": tru}"#) {
        Err(ConvertError::InvalidJson { offset, .. }) => {
            assert!(offset > 0 && offset <= 10, "{offset}")
        }
        other => panic!("{other:?}"),
    }
    let mut c = JsonConverter::with_schemas();
    assert_eq!(
        to_connect(&mut c, r#"{"a":1}"#),
        Err(ConvertError::NotAnEnvelope)
    );
    let err = to_connect(
        &mut c,
        r#"{"schema":{"type":"struct","fields":[{"type":"int32","field":"id"}]},"payload":{"id":"x"}}"#,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "at `payload.id`: expected a number for int32, found STRING"
    );
    let err = to_connect(&mut c, r#"{"schema":{"type":"int33"},"payload":1}"#).unwrap_err();
    assert!(
        err.to_string().contains("Unknown schema type: int33"),
        "{err}"
    );
    let err = to_connect(&mut c, r#"{"schema":{"type":"int32"},"payload":null}"#).unwrap_err();
    assert!(matches!(err, ConvertError::NullForRequired { .. }), "{err}");
}

#[test]
fn null_bytes_are_a_null_record() {
    let mut c = JsonConverter::with_schemas();
    assert_eq!(c.to_connect(None).unwrap(), SchemaAndValue::NULL);
}

#[test]
fn maps_with_non_string_keys_are_pair_arrays() {
    let c = JsonConverter::with_schemas();
    let schema = Schema::map(
        Schema::new(Type::Int32).build(),
        Schema::new(Type::String).build(),
    )
    .build();
    let v = Value::Map(vec![(Value::Int32(1), Value::string("one"))]);
    let text = write(&c, Some(&schema), &v);
    assert!(text.ends_with(r#""payload":[[1,"one"]]}"#), "{text}");
    let mut c = JsonConverter::with_schemas();
    assert_eq!(to_connect(&mut c, &text).unwrap().value, v);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let mut c = JsonConverter::schemaless();
    let deep = "[".repeat(5000) + &"]".repeat(5000);
    assert!(to_connect(&mut c, &deep).is_err());
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Boolean),
        any::<i64>().prop_map(Value::Int64),
        (-1e12f64..1e12).prop_map(Value::Float64),
        "\\PC{0,12}".prop_map(|s| Value::String(Str::from(s))),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(("[a-z\"\\\\]{0,6}", inner), 0..5).prop_map(|entries| {
                let mut seen = std::collections::HashSet::new();
                Value::Map(
                    entries
                        .into_iter()
                        .filter(|(k, _)| seen.insert(k.clone()))
                        .map(|(k, v)| (Value::String(Str::from(k)), v))
                        .collect(),
                )
            }),
        ]
    })
}

proptest! {
    #[test]
    fn schemaless_json_round_trips(value in json_value()) {
        let mut c = JsonConverter::schemaless();
        let mut out = BytesMut::new();
        if !c.write_connect(None, &value, &mut out).unwrap() {
            prop_assert!(value.is_null());
            return Ok(());
        }
        let bytes = out.freeze();
        // serde_json agrees it is JSON.
        prop_assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(), "{:?}", bytes);
        let back = c.to_connect(Some(&bytes)).unwrap();
        prop_assert_eq!(back.value, value);
    }

    #[test]
    fn enveloped_json_round_trips(value in json_value()) {
        let mut c = JsonConverter::with_schemas();
        let mut out = BytesMut::new();
        if c.write_connect(None, &value, &mut out).unwrap() {
            let back = c.to_connect(Some(&out.freeze())).unwrap();
            prop_assert_eq!(back.value, value);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let bytes = Bytes::from(bytes);
        let _ = JsonConverter::schemaless().to_connect(Some(&bytes));
        let _ = JsonConverter::with_schemas().to_connect(Some(&bytes));
    }
}

#[test]
fn strings_are_escaped_as_jackson_does() {
    let c = JsonConverter::schemaless();
    let text = "0123456789abcdef\u{1}b\"c\\d\te/é\u{7f}";
    assert_eq!(
        write(&c, None, &Value::string(text)),
        r#""0123456789abcdef\u0001b\"c\\d\te/é"#.to_owned() + "\u{7f}\""
    );
    let mut back = JsonConverter::schemaless();
    let json = write(&c, None, &Value::string(text));
    assert_eq!(
        to_connect(&mut back, &json).unwrap().value,
        Value::string(text)
    );
}

#[test]
fn records_with_the_same_schema_share_one_parsed_schema() {
    let mut c = JsonConverter::with_schemas();
    let a = to_connect(&mut c, r#"{"schema":{"type":"int32"},"payload":1}"#).unwrap();
    let b = to_connect(&mut c, r#"{"payload":2,"schema":{"type":"int32"}}"#).unwrap();
    assert!(std::sync::Arc::ptr_eq(
        a.schema.as_ref().unwrap(),
        b.schema.as_ref().unwrap()
    ));
    let other = to_connect(&mut c, r#"{"schema":{"type":"int64"},"payload":3}"#).unwrap();
    assert_eq!(other.schema.unwrap().ty, Type::Int64);
}
