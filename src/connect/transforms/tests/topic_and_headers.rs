//! The transforms of a record's topic and headers, and the predicates that gate a transform.

use super::*;

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
