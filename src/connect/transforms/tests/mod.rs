//! Each transform against the before/after examples of Kafka Connect's (and Confluent's) documentation, one
//! file per group: the transforms of a key or value (`fields`), of the topic and headers (`topic_and_headers`),
//! and names, the registry and the chain (`chain`). The fixtures every group uses are here.

mod chain;
mod fields;
mod topic_and_headers;

use super::predicates::Predicate;
use super::*;
use crate::connect::converters::JsonConverter;
use crate::connect::data::{Schema, SchemaAndValue, SchemaRef, Str, Struct, Type, Value};
use crate::connect::record::{ConnectRecord, Data, Header};
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
