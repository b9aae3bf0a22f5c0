//! Avro ↔ JSON through Connect data on one core, for a 10-field record (~100 bytes of Avro): the
//! `AvroConverter`'s per-record work without the registry (its schemas are cached after the first record).
//!
//! - `avro_to_json`: Confluent wire bytes → our Avro decoder → Struct → JsonConverter (schemaless) bytes;
//! - `json_to_avro`: JSON bytes → JsonConverter → the struct a schema'd sink builds → our Avro encoder;
//! - `apache_avro_decode` / `apache_avro_encode`: the `apache-avro` crate decoding the same bytes into its
//!   own `Value` (no Connect conversion, no JSON) and encoding them, the baseline that shows whether our
//!   codec pays for itself.
//!
//! Throughput is in records (elements) per second; any error panics.

use std::hint::black_box;

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pipewright::connect::converters::avro::{
    connect_schema_for, parse_schema, AvroReader, AvroWriter, MappingOptions,
};
use pipewright::connect::converters::JsonConverter;
use pipewright::connect::data::{map_get, Struct, Value};

const RECORDS: usize = 1000;
const SCHEMA: &str = r#"{"type":"record","name":"User","namespace":"com.example","fields":[
  {"name":"id","type":"long"},
  {"name":"name","type":"string"},
  {"name":"email","type":"string"},
  {"name":"age","type":"int"},
  {"name":"score","type":"double"},
  {"name":"active","type":"boolean"},
  {"name":"created","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"city","type":"string"},
  {"name":"nickname","type":["null","string"],"default":null},
  {"name":"balance","type":"float"}]}"#;
const OPTIONS: MappingOptions = MappingOptions {
    connect_meta_data: true,
    enhanced_schema_support: false,
};

fn bench_avro(c: &mut Criterion) {
    let node = parse_schema(SCHEMA).unwrap();
    let schema = connect_schema_for(&node, Some(1), OPTIONS).unwrap();
    // The records, as the converter would write them (magic byte, schema id 1, Avro).
    let records: Vec<Bytes> = (0..RECORDS as i64)
        .map(|i| {
            let value = Value::Struct(
                Struct::from_values(
                    schema.clone(),
                    vec![
                        Value::Int64(i * 7919),
                        Value::string(&format!("User {i}")),
                        Value::string(&format!("user{i}@example.com")),
                        Value::Int32((i % 90) as i32),
                        Value::Float64(i as f64 * 0.37),
                        Value::Boolean(i % 2 == 0),
                        Value::Int64(1_700_000_000_000 + i),
                        Value::string(["Oslo", "Lima", "Pune", "Kyiv"][i as usize % 4]),
                        if i % 3 == 0 {
                            Value::Null
                        } else {
                            Value::string("nick")
                        },
                        Value::Float32(i as f32 * 1.5),
                    ],
                )
                .unwrap(),
            );
            let mut out = BytesMut::new();
            out.put_u8(0);
            out.put_i32(1);
            AvroWriter { out: &mut out }
                .value(&node, &schema, &value)
                .unwrap();
            out.freeze()
        })
        .collect();
    let json_converter = JsonConverter::schemaless();
    let json_records: Vec<Bytes> = records
        .iter()
        .map(|bytes| {
            let value = AvroReader::new(bytes, 5).value(&node, &schema).unwrap();
            let mut out = BytesMut::new();
            json_converter
                .write_connect(Some(&schema), &value, &mut out)
                .unwrap();
            out.freeze()
        })
        .collect();
    let total_avro: usize = records.iter().map(Bytes::len).sum();
    eprintln!(
        "avro bench: {RECORDS} records, {} bytes of Avro each on average",
        total_avro / RECORDS
    );

    let mut group = c.benchmark_group("avro");
    group.throughput(Throughput::Elements(RECORDS as u64));

    group.bench_function("avro_to_json", |b| {
        let mut out = BytesMut::with_capacity(1 << 20);
        b.iter(|| {
            out.clear();
            for bytes in &records {
                let value = AvroReader::new(bytes, 5).value(&node, &schema).unwrap();
                json_converter
                    .write_connect(Some(&schema), &value, &mut out)
                    .unwrap();
            }
            black_box(out.len())
        })
    });

    group.bench_function("avro_decode_only", |b| {
        b.iter(|| {
            for bytes in &records {
                black_box(AvroReader::new(bytes, 5).value(&node, &schema).unwrap());
            }
        })
    });

    let decoded: Vec<Value> = records
        .iter()
        .map(|bytes| AvroReader::new(bytes, 5).value(&node, &schema).unwrap())
        .collect();
    group.bench_function("json_write_only", |b| {
        let mut out = BytesMut::with_capacity(1 << 20);
        b.iter(|| {
            out.clear();
            for value in &decoded {
                json_converter
                    .write_connect(Some(&schema), value, &mut out)
                    .unwrap();
            }
            black_box(out.len())
        })
    });
    group.bench_function("avro_encode_only", |b| {
        let mut out = BytesMut::with_capacity(1 << 20);
        b.iter(|| {
            out.clear();
            for value in &decoded {
                out.put_u8(0);
                out.put_i32(1);
                AvroWriter { out: &mut out }
                    .value(&node, &schema, value)
                    .unwrap();
            }
            black_box(out.len())
        })
    });

    group.bench_function("json_to_avro", |b| {
        let mut parser = JsonConverter::schemaless();
        let mut out = BytesMut::with_capacity(1 << 20);
        b.iter(|| {
            out.clear();
            for json in &json_records {
                let parsed = parser.to_connect(Some(json)).unwrap();
                let Value::Map(entries) = parsed.value else {
                    panic!("not an object")
                };
                // The struct a sink with a known schema builds: each field by name, numbers to its type.
                let values = schema
                    .fields
                    .iter()
                    .map(|f| {
                        let v = map_get(&entries, &f.name).cloned().unwrap_or(Value::Null);
                        match (f.schema.ty, v) {
                            (pipewright::connect::data::Type::Int32, Value::Int64(n)) => {
                                Value::Int32(n as i32)
                            }
                            (pipewright::connect::data::Type::Float32, Value::Float64(n)) => {
                                Value::Float32(n as f32)
                            }
                            (_, v) => v,
                        }
                    })
                    .collect();
                let value = Value::Struct(Struct::from_values(schema.clone(), values).unwrap());
                out.put_u8(0);
                out.put_i32(1);
                AvroWriter { out: &mut out }
                    .value(&node, &schema, &value)
                    .unwrap();
            }
            black_box(out.len())
        })
    });

    let crate_schema = apache_avro::Schema::parse_str(SCHEMA).unwrap();
    group.bench_function("apache_avro_decode", |b| {
        b.iter(|| {
            for bytes in &records {
                let mut body = &bytes[5..];
                black_box(apache_avro::from_avro_datum(&crate_schema, &mut body, None).unwrap());
            }
        })
    });
    let crate_values: Vec<apache_avro::types::Value> = records
        .iter()
        .map(|bytes| apache_avro::from_avro_datum(&crate_schema, &mut &bytes[5..], None).unwrap())
        .collect();
    group.bench_function("apache_avro_encode", |b| {
        b.iter(|| {
            for value in &crate_values {
                black_box(apache_avro::to_avro_datum(&crate_schema, value.clone()).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_avro);
criterion_main!(benches);
