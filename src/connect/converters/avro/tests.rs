//! The mapping and the codec without a registry: bytes checked against what Python's fastavro writes for the
//! same schema and record, schemas against what Confluent's AvroData builds.

use super::codec::{AvroReader, AvroWriter};
use super::mapping::{self, MappingOptions};
use super::node::{self, AvroType};
use crate::connect::converters::ConvertError;
use crate::connect::data::{Schema, Struct, Type, Value};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

const OPTIONS: MappingOptions = MappingOptions {
    connect_meta_data: true,
    enhanced_schema_support: false,
};

const READING: &str = r#"{"type":"record","name":"Reading","namespace":"com.example","fields":[
 {"name":"id","type":"long"},
 {"name":"name","type":"string"},
 {"name":"note","type":["null","string"],"default":null},
 {"name":"ok","type":"boolean"},
 {"name":"temp","type":"double"},
 {"name":"ratio","type":"float"},
 {"name":"raw","type":"bytes"},
 {"name":"tags","type":{"type":"array","items":"int"}},
 {"name":"attrs","type":{"type":"map","values":"string"}},
 {"name":"level","type":{"type":"enum","name":"Level","symbols":["LOW","HIGH"]}},
 {"name":"small","type":{"type":"int","connect.type":"int16"}}]}"#;

/// fastavro 1.13.1 `schemaless_writer` output for `READING` and the record of `reading_values(true)`.
const FASTAVRO_FULL: &str = "a7e8c8e997070e73656e73c3b872020468690100000000000029c00000003f060001ff060203d8040002026b02760002d704";
/// The same with `note` null and `tags`, `attrs` empty.
const FASTAVRO_EMPTY: &str =
    "a7e8c8e997070e73656e73c3b872000100000000000029c00000003f060001ff000002d704";

fn unhex(text: &str) -> Bytes {
    Bytes::from(
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>(),
    )
}

fn reading_values(full: bool) -> Vec<Value> {
    vec![
        Value::Int64(-123_456_789_012),
        Value::string("sensør"),
        if full {
            Value::string("hi")
        } else {
            Value::Null
        },
        Value::Boolean(true),
        Value::Float64(-12.5),
        Value::Float32(0.5),
        Value::Bytes(Bytes::from_static(&[0, 1, 0xff])),
        Value::Array(if full {
            vec![Value::Int32(1), Value::Int32(-2), Value::Int32(300)]
        } else {
            vec![]
        }),
        Value::Map(if full {
            vec![(Value::string("k"), Value::string("v"))]
        } else {
            vec![]
        }),
        Value::string("HIGH"),
        Value::Int16(-300),
    ]
}

#[test]
fn fastavro_bytes_decode_to_the_expected_struct() {
    let avro = node::parse(READING).unwrap();
    let schema = mapping::to_connect(&avro, None, OPTIONS).unwrap();
    for (hex, full) in [(FASTAVRO_FULL, true), (FASTAVRO_EMPTY, false)] {
        let bytes = unhex(hex);
        let mut reader = AvroReader::new(&bytes, 0);
        let value = reader.value(&avro, &schema).unwrap();
        assert_eq!(reader.position(), bytes.len());
        let expected = Struct::from_values(schema.clone(), reading_values(full)).unwrap();
        assert_eq!(value, Value::Struct(expected));
    }
}

#[test]
fn encoding_gives_the_bytes_fastavro_writes() {
    let avro = node::parse(READING).unwrap();
    let schema = mapping::to_connect(&avro, None, OPTIONS).unwrap();
    for (hex, full) in [(FASTAVRO_FULL, true), (FASTAVRO_EMPTY, false)] {
        let value =
            Value::Struct(Struct::from_values(schema.clone(), reading_values(full)).unwrap());
        let mut out = BytesMut::new();
        AvroWriter { out: &mut out }
            .value(&avro, &schema, &value)
            .unwrap();
        assert_eq!(out.freeze(), unhex(hex));
    }
}

#[test]
fn long_strings_decode_as_slices_of_the_input_and_short_ones_inline() {
    let avro = node::parse(r#"{"type":"array","items":"string"}"#).unwrap();
    let schema = mapping::to_connect(&avro, None, OPTIONS).unwrap();
    let long = "a string longer than the inline capacity of Str";
    let mut out = BytesMut::new();
    let value = Value::Array(vec![Value::string(long), Value::string("short")]);
    AvroWriter { out: &mut out }
        .value(&avro, &schema, &value)
        .unwrap();
    let bytes = out.freeze();
    let decoded = AvroReader::new(&bytes, 0).value(&avro, &schema).unwrap();
    assert_eq!(decoded, value);
    let Value::Array(items) = decoded else {
        panic!()
    };
    let (Value::String(a), Value::String(b)) = (&items[0], &items[1]) else {
        panic!()
    };
    let input = bytes.as_ptr() as usize..bytes.as_ptr() as usize + bytes.len();
    assert!(
        input.contains(&(a.as_bytes().as_ptr() as usize)),
        "long string copied"
    );
    assert!(
        !input.contains(&(b.as_bytes().as_ptr() as usize)),
        "short string shared"
    );
}

#[test]
fn connect_schemas_map_as_confluents_avro_data_does() {
    let schema = Schema::structure()
        .field("a", Schema::new(Type::Int8).build())
        .field("b", Schema::new(Type::String).optional().build())
        .field(
            "c",
            Schema::new(Type::Int64)
                .optional()
                .with_default(Value::Int64(5))
                .build(),
        )
        .field(
            "d",
            Schema::decimal(3)
                .with_parameter("connect.decimal.precision", "9")
                .build(),
        )
        .field(
            "e",
            Schema::structure()
                .field("x", Schema::new(Type::Boolean).build())
                .build(),
        )
        .with_doc("docs")
        .with_version(4)
        .build();
    let avro = mapping::from_connect(&schema, OPTIONS).unwrap();
    let json: serde_json::Value = serde_json::from_str(&node::to_json(&avro)).unwrap();
    let expected = serde_json::json!({
        "type": "record", "name": "ConnectDefault", "namespace": "io.confluent.connect.avro",
        "fields": [
            {"name": "a", "type": {"type": "int", "connect.type": "int8"}},
            {"name": "b", "type": ["null", "string"], "default": null},
            {"name": "c", "type": [{"type": "long", "connect.default": 5}, "null"], "default": 5},
            {"name": "d", "type": {"type": "bytes", "scale": 3, "precision": 9,
                "connect.version": 1, "connect.name": "org.apache.kafka.connect.data.Decimal",
                "connect.parameters": {"scale": "3", "connect.decimal.precision": "9"},
                "logicalType": "decimal"}},
            {"name": "e", "type": {"type": "record", "name": "ConnectDefault2",
                "namespace": "io.confluent.connect.avro",
                "fields": [{"name": "x", "type": "boolean"}]}}
        ],
        "connect.doc": "docs", "connect.version": 4
    });
    assert_eq!(json, expected);
    // apache-avro accepts what we built.
    apache_avro::Schema::parse_str(&node::to_json(&avro)).unwrap();
}

#[test]
fn without_connect_meta_data_no_connect_properties_are_written() {
    let schema = Schema::structure()
        .with_name("com.example.Thing")
        .field("a", Schema::new(Type::Int16).build())
        .with_version(2)
        .build();
    let options = MappingOptions {
        connect_meta_data: false,
        ..OPTIONS
    };
    let text = node::to_json(&mapping::from_connect(&schema, options).unwrap());
    assert_eq!(
        text,
        r#"{"type":"record","name":"Thing","namespace":"com.example","fields":[{"name":"a","type":"int"}]}"#
    );
}

#[test]
fn enums_stay_enums_only_with_enhanced_schema_support() {
    let avro = node::parse(r#"{"type":"enum","name":"com.x.Suit","symbols":["HEARTS","SPADES"]}"#)
        .unwrap();
    let schema = mapping::to_connect(&avro, None, OPTIONS).unwrap();
    assert_eq!(schema.ty, Type::String);
    let plain = mapping::from_connect(&schema, OPTIONS).unwrap();
    assert!(matches!(plain.ty, AvroType::String));
    let enhanced = mapping::from_connect(
        &schema,
        MappingOptions {
            enhanced_schema_support: true,
            ..OPTIONS
        },
    )
    .unwrap();
    let AvroType::Enum(e) = &enhanced.ty else {
        panic!("{enhanced:?}")
    };
    assert_eq!(e.name, "com.x.Suit");
    assert_eq!(e.symbols, ["HEARTS", "SPADES"]);
}

#[test]
fn general_unions_become_union_structs_and_back() {
    let avro = node::parse(r#"["null","int",{"type":"record","name":"a.P","fields":[]},"string"]"#)
        .unwrap();
    let schema = mapping::to_connect(&avro, None, OPTIONS).unwrap();
    assert_eq!(
        schema.name.as_deref(),
        Some("io.confluent.connect.avro.Union")
    );
    assert!(schema.optional);
    let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["int", "P", "string"]);
    // Branch 3 (string) "hi".
    let bytes = Bytes::from_static(&[0x06, 0x04, b'h', b'i']);
    let value = AvroReader::new(&bytes, 0).value(&avro, &schema).unwrap();
    let Value::Struct(s) = &value else {
        panic!("{value:?}")
    };
    assert_eq!(s.get("string"), Some(&Value::string("hi")));
    assert_eq!(s.get("int"), Some(&Value::Null));
    let back = mapping::from_connect(&schema, OPTIONS).unwrap();
    let mut out = BytesMut::new();
    AvroWriter { out: &mut out }
        .value(&back, &schema, &value)
        .unwrap();
    assert_eq!(out.freeze(), bytes);
}

#[test]
fn named_types_are_written_once_and_referenced_after() {
    let text = r#"{"type":"record","name":"a.R","fields":[
        {"name":"x","type":{"type":"fixed","name":"F","size":2}},
        {"name":"y","type":"F"}]}"#;
    let avro = node::parse(text).unwrap();
    let written = node::to_json(&avro);
    assert_eq!(written.matches("\"size\"").count(), 1, "{written}");
    assert!(written.contains(r#""type":"a.F""#), "{written}");
    assert_eq!(node::parse(&written).unwrap(), avro);
}

#[test]
fn recursive_schemas_are_refused() {
    let err = node::parse(
        r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}"#,
    )
    .unwrap_err();
    assert!(err.contains("recursive"), "{err}");
}

#[test]
fn a_null_for_a_required_field_names_the_field() {
    let schema = Schema::structure()
        .field(
            "inner",
            Schema::structure()
                .field("n", Schema::new(Type::Int32).build())
                .build(),
        )
        .build();
    let avro = mapping::from_connect(&schema, OPTIONS).unwrap();
    let inner = Struct::new(schema.fields[0].schema.clone()).unwrap();
    let value =
        Value::Struct(Struct::from_values(schema.clone(), vec![Value::Struct(inner)]).unwrap());
    let err = AvroWriter {
        out: &mut BytesMut::new(),
    }
    .value(&avro, &schema, &value)
    .unwrap_err();
    assert!(
        matches!(&err, ConvertError::NullForRequired { path, .. } if path == "inner.n"),
        "{err}"
    );
}

#[test]
fn truncated_input_is_an_error_at_its_offset() {
    let avro = node::parse(READING).unwrap();
    let schema = mapping::to_connect(&avro, None, OPTIONS).unwrap();
    let full = unhex(FASTAVRO_FULL);
    for cut in 0..full.len() {
        let bytes = full.slice(..cut);
        let err = AvroReader::new(&bytes, 0)
            .value(&avro, &schema)
            .unwrap_err();
        assert!(
            matches!(err, ConvertError::InvalidAvro { .. }),
            "cut {cut}: {err}"
        );
    }
}

proptest! {
    #[test]
    fn longs_round_trip(v in any::<i64>()) {
        let mut out = BytesMut::new();
        AvroWriter { out: &mut out }.long(v);
        let bytes = out.freeze();
        let mut reader = AvroReader::new(&bytes, 0);
        prop_assert_eq!(reader.long().unwrap(), v);
        prop_assert_eq!(reader.position(), bytes.len());
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..64)) {
        let avro = node::parse(READING).unwrap();
        let schema = mapping::to_connect(&avro, None, OPTIONS).unwrap();
        let bytes = Bytes::from(input);
        let _ = AvroReader::new(&bytes, 0).value(&avro, &schema);
    }
}

#[test]
fn every_key_is_documented() {
    let docs = include_str!("../../../../docs/pipelines.md");
    for key in super::CONFIG.keys {
        if key.name == "converter.type" {
            continue;
        }
        assert!(
            docs.contains(&format!("`{}` |", key.name))
                || docs.contains(&format!("`{}`, `", key.name)),
            "avro key `{}` is not in docs/pipelines.md",
            key.name
        );
    }
}

fn anything_bytes(value: &Value) -> Bytes {
    let mut out = BytesMut::new();
    AvroWriter { out: &mut out }.anything(value).unwrap();
    out.freeze()
}

fn read_anything(bytes: &Bytes) -> Result<Value, ConvertError> {
    let mut reader = AvroReader::new(bytes, 0);
    let value = reader.anything()?;
    assert_eq!(reader.position(), bytes.len(), "all of it read");
    Ok(value)
}

/// Schemaless data as Confluent's `Anything` record: one union index per field (0 null, 1 set), in the order
/// boolean, bytes, double, float, int, long, string, array, map. Bytes worked out from the Avro spec.
#[test]
fn schemaless_values_are_written_as_confluents_anything_record() {
    // int 5: four nulls, then the int set (index 1 = 0x02, zigzag 5 = 0x0a), four nulls.
    assert_eq!(
        &anything_bytes(&Value::Int32(5))[..],
        &[0, 0, 0, 0, 2, 0x0a, 0, 0, 0, 0]
    );
    // int8 and int16 go in the int, as AvroData writes them.
    assert_eq!(
        anything_bytes(&Value::Int8(5)),
        anything_bytes(&Value::Int32(5))
    );
    assert_eq!(
        anything_bytes(&Value::Int16(5)),
        anything_bytes(&Value::Int32(5))
    );
    // A nested null is the record with nothing set.
    let list = Value::Array(vec![Value::string("a"), Value::Null]);
    let mut expected = vec![0, 0, 0, 0, 0, 0, 0, 2, 4];
    expected.extend([0, 0, 0, 0, 0, 0, 2, 2, b'a', 0, 0]);
    expected.extend([0; 9]);
    expected.extend([0, 0]);
    assert_eq!(&anything_bytes(&list)[..], &expected[..]);
}

#[test]
fn schemaless_values_round_trip_through_anything() {
    let value = Value::Map(vec![
        (Value::string("name"), Value::string("sensør")),
        (Value::Int64(-4), Value::Boolean(false)),
        (
            Value::string("readings"),
            Value::Array(vec![
                Value::Float64(-1.5),
                Value::Float32(0.25),
                Value::Null,
                Value::Bytes(Bytes::from_static(&[0, 255])),
                Value::Map(Vec::new()),
                Value::Array(Vec::new()),
            ]),
        ),
        (Value::string("count"), Value::Int32(i32::MIN)),
    ]);
    assert_eq!(read_anything(&anything_bytes(&value)).unwrap(), value);
    assert_eq!(
        read_anything(&anything_bytes(&Value::Int16(-300))).unwrap(),
        Value::Int32(-300)
    );
    assert_eq!(
        read_anything(&Bytes::from(vec![0u8; 9])).unwrap(),
        Value::Null
    );
}

#[test]
fn a_struct_has_no_place_in_schemaless_avro() {
    let schema = Schema::structure()
        .field("a", Schema::new(Type::Int32))
        .build();
    let s = Value::Struct(Struct::new(schema).unwrap());
    let err = AvroWriter {
        out: &mut BytesMut::new(),
    }
    .anything(&Value::Array(vec![s]))
    .unwrap_err();
    assert!(
        err.to_string().contains("Anything schema has no struct"),
        "{err}"
    );
}

#[test]
fn hostile_anything_bytes_are_errors() {
    // An array claiming a billion items in a few bytes.
    let mut claim = vec![0, 0, 0, 0, 0, 0, 0, 2];
    let mut count = BytesMut::new();
    AvroWriter { out: &mut count }.long(1_000_000_000);
    claim.extend_from_slice(&count);
    let err = read_anything(&Bytes::from(claim)).unwrap_err();
    assert!(err.to_string().contains("cannot fit"), "{err}");
    // A union index past the two branches.
    let err = read_anything(&Bytes::from(vec![4u8; 9])).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
    // Nesting past the limit: arrays of one array, each 9 + 2 bytes.
    let mut deep = Vec::new();
    for _ in 0..600 {
        deep.extend([0, 0, 0, 0, 0, 0, 0, 2, 2]);
    }
    let err = read_anything(&Bytes::from(deep)).unwrap_err();
    assert!(err.to_string().contains("nested deeper"), "{err}");
}

#[test]
fn the_anything_schema_is_valid_avro_and_recognised() {
    let parsed = apache_avro::Schema::parse_str(super::ANYTHING_SCHEMA).unwrap();
    let apache_avro::Schema::Record(record) = &parsed else {
        panic!("not a record")
    };
    assert_eq!(
        record.name.fullname(None),
        "io.confluent.connect.avro.Anything"
    );
    let names: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["boolean", "bytes", "double", "float", "int", "long", "string", "array", "map"]
    );
    // The same schema written another way (spacing, namespace spelled out) is recognised.
    let respelled = super::ANYTHING_SCHEMA.replace(",", ", ").replace(
        "\"items\":\"Anything\"",
        "\"items\":\"io.confluent.connect.avro.Anything\"",
    );
    assert!(super::is_anything(&respelled));
    assert!(!super::is_anything(READING));
}
