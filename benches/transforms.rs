//! The in-process data path on one core: datagen-like JSON records (~200 bytes, 8 fields) → JSON converter →
//! InsertField (static) → ReplaceField (rename) → MaskField → JSON converter → in-memory sink.
//! Throughput is in records (elements) per second.
//!
//! The chain is the engine's own `TransformChain`, applied as a task applies it (`TransformChain::apply`
//! with the pipeline's converters, the value converted when the first transform needs it), and the value is
//! written as a sink writes it (`Data::write_to`). Any error, or a record filtered out, panics: the bench
//! measures only the path the engine runs on every record.
//!
//! Two parsers on the same chain and records: `simd_json` (the product's converter: in-place parse, strings
//! sharing the record buffer) and `serde_json_value` (serde_json::Value, converted to Connect values and back
//! — the usual way), for the ≥ 2× comparison.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pipewright::connect::converters::{Converter, JsonConverter};
use pipewright::connect::data::{Str, Value};
use pipewright::connect::record::{ConnectRecord, Data};
use pipewright::connect::transforms::{Transform, TransformChain};

const RECORDS: usize = 1000;
/// The sink keeps this much before it "flushes" (clears), like a batch buffer.
const SINK_FLUSH_BYTES: usize = 1 << 20;

/// Records shaped like the datagen `users`/`orders` quickstarts.
fn datagen_records() -> Vec<Bytes> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..RECORDS)
        .map(|i| {
            let r = next();
            Bytes::from(format!(
                r#"{{"registertime":{},"userid":"User_{}","regionid":"Region_{}","gender":"{}","orderid":{},"itemid":"Item_{}","orderunits":{}.{},"address":"{} Main Street, Apartment 4, City_{}"}}"#,
                1_493_819_497_170u64 + r % 100_000_000,
                r % 10,
                r % 9,
                if r % 2 == 0 { "MALE" } else { "FEMALE" },
                i,
                r % 1000,
                r % 10,
                r % 100,
                r % 9999,
                r % 97,
            ))
        })
        .collect()
}

fn chain() -> TransformChain {
    TransformChain::new(vec![
        Transform::from_pairs(
            "InsertField$Value",
            &[("static.field", "source"), ("static.value", "datagen")],
        )
        .unwrap(),
        Transform::from_pairs("ReplaceField$Value", &[("renames", "userid:user_id")]).unwrap(),
        Transform::from_pairs("MaskField$Value", &[("fields", "address")]).unwrap(),
    ])
}

/// The chain and a pipeline's converters (schemaless JSON, as `value.converter.schemas.enable = false`),
/// taking one record at a time through the engine's path.
struct DataPath {
    chain: TransformChain,
    key_converter: Converter,
    value_converter: Converter,
}

impl DataPath {
    fn new() -> DataPath {
        DataPath {
            chain: chain(),
            key_converter: Converter::Json(JsonConverter::schemaless()),
            value_converter: Converter::Json(JsonConverter::schemaless()),
        }
    }

    /// `chain` on `record` as a task runs it; panics on an error or a record filtered out (this chain keeps
    /// every record).
    fn transform(&mut self, record: &mut ConnectRecord) {
        let kept = self
            .chain
            .apply(record, &mut self.key_converter, &mut self.value_converter)
            .unwrap_or_else(|e| panic!("the chain failed on a benchmark record: {e}"));
        assert!(kept, "the chain filtered a benchmark record out");
    }

    /// The product's way: the record as a source hands it over (raw bytes, converted by the chain when a
    /// transform first needs the value), its value then written as a sink writes it.
    fn through_simd_json(&mut self, input: &Bytes, sink: &mut BytesMut) {
        let mut record = ConnectRecord::raw("users", None, Some(input.clone()));
        self.transform(&mut record);
        let written = record
            .value
            .write_to(&mut self.value_converter, &record.topic, sink)
            .unwrap_or_else(|e| panic!("writing a benchmark record: {e}"));
        assert!(written, "a benchmark record's value came out null");
    }

    /// The usual way: parsed to serde_json::Value and converted to Connect values before the chain (whose
    /// converters then have nothing to do), and back after it.
    fn through_serde_json(&mut self, input: &Bytes, sink: &mut Vec<u8>) {
        let parsed: serde_json::Value = serde_json::from_slice(input).unwrap();
        let mut record = ConnectRecord::new(
            "users",
            Data::Raw(None),
            Data::new(None, from_serde(parsed)),
        );
        self.transform(&mut record);
        let sv = record
            .value
            .converted()
            .expect("the chain leaves the value converted");
        serde_json::to_writer(&mut *sink, &to_serde(&sv.value)).unwrap();
    }
}

/// Both ways give the same JSON for every record, so the comparison is of the same work.
fn assert_same_output(inputs: &[Bytes]) {
    let mut path = DataPath::new();
    for input in inputs {
        let mut ours = BytesMut::new();
        path.through_simd_json(input, &mut ours);
        let mut theirs = Vec::new();
        path.through_serde_json(input, &mut theirs);
        let ours: serde_json::Value = serde_json::from_slice(&ours).expect("our output is JSON");
        let theirs: serde_json::Value =
            serde_json::from_slice(&theirs).expect("serde's output is JSON");
        assert_eq!(ours, theirs, "the two ways disagree on {input:?}");
    }
}

/// serde_json::Value → Connect value (allocating owned strings, as a serde-based converter would).
fn from_serde(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Boolean(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int64(i),
            None => Value::Float64(n.as_f64().unwrap_or_default()),
        },
        serde_json::Value::String(s) => Value::String(Str::from(s)),
        serde_json::Value::Array(items) => {
            Value::Array(items.into_iter().map(from_serde).collect())
        }
        serde_json::Value::Object(map) => Value::Map(
            map.into_iter()
                .map(|(k, v)| (Value::String(Str::from(k)), from_serde(v)))
                .collect(),
        ),
    }
}

/// Connect value → serde_json::Value.
fn to_serde(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Boolean(b) => serde_json::Value::Bool(*b),
        Value::Float32(f) => serde_json::json!(f),
        Value::Float64(f) => serde_json::json!(f),
        Value::String(s) => serde_json::Value::String(s.to_string()),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(to_serde).collect()),
        Value::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), to_serde(v)))
                .collect(),
        ),
        other => serde_json::json!(other.as_i64()),
    }
}

fn bench(c: &mut Criterion) {
    let inputs = datagen_records();
    let avg_bytes = inputs.iter().map(Bytes::len).sum::<usize>() / inputs.len();
    eprintln!("records: {RECORDS}, average value size: {avg_bytes} bytes");
    assert_same_output(&inputs);

    let mut group = c.benchmark_group(format!("json_3_transforms_{avg_bytes}B"));
    group.throughput(Throughput::Elements(RECORDS as u64));

    group.bench_function("simd_json", |b| {
        let mut path = DataPath::new();
        let mut sink = BytesMut::with_capacity(SINK_FLUSH_BYTES + 4096);
        b.iter(|| {
            for input in &inputs {
                path.through_simd_json(input, &mut sink);
                if sink.len() > SINK_FLUSH_BYTES {
                    sink.clear();
                }
            }
            black_box(sink.len())
        })
    });

    group.bench_function("serde_json_value", |b| {
        let mut path = DataPath::new();
        let mut sink: Vec<u8> = Vec::with_capacity(SINK_FLUSH_BYTES + 4096);
        b.iter(|| {
            for input in &inputs {
                path.through_serde_json(input, &mut sink);
                if sink.len() > SINK_FLUSH_BYTES {
                    sink.clear();
                }
            }
            black_box(sink.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
