//! Names and keys reported when wrong, the registry's Kafka Connect names, the lazily converting chain,
//! and the documentation's examples verbatim.

use super::*;
use crate::connect::converters::Converter;

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

#[test]
fn a_cloned_chain_and_converters_work_like_the_originals() {
    // Built once (as during validation) and cloned per task: a clone transforms and converts like the
    // original, whose schema caches are already filled, and fills its own.
    let chain = TransformChain::new(vec![
        t(
            "InsertField$Value",
            &[("static.field", "source"), ("static.value", "db")],
        ),
        t("MaskField$Value", &[("fields", "secret")]),
    ]);
    let mut key_conv = Converter::Json(JsonConverter::schemaless());
    let mut value_conv = Converter::Json(JsonConverter::with_schemas());
    let run = |chain: &TransformChain, key_conv: &mut Converter, value_conv: &mut Converter| {
        let envelope = br#"{"schema":{"type":"struct","fields":[{"field":"secret","type":"string"}]},"payload":{"secret":"x"}}"#;
        let mut record = ConnectRecord::raw("t", None, Some(Bytes::from_static(envelope)));
        assert!(chain.apply(&mut record, key_conv, value_conv).unwrap());
        let sv = record.value.converted().unwrap();
        let mut out = BytesMut::new();
        value_conv
            .write_connect("t", sv.schema.as_ref(), &sv.value, &mut out)
            .unwrap();
        String::from_utf8(out.to_vec()).unwrap()
    };
    let original = run(&chain, &mut key_conv, &mut value_conv);
    assert!(
        original.contains(r#""payload":{"secret":"","source":"db"}"#),
        "{original}"
    );
    assert_eq!(run(&chain, &mut key_conv, &mut value_conv), original);
    let (chain, mut key_conv, mut value_conv) =
        (chain.clone(), key_conv.clone(), value_conv.clone());
    assert_eq!(run(&chain, &mut key_conv, &mut value_conv), original);
}
