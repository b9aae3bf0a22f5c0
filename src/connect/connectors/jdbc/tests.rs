//! Unit tests: URL parsing, dialect SQL, schema mapping, position encoding.

use super::config::{ConnectionSpec, NumericMapping, ZoneOffset};
use super::dialect::{Criteria, Dialect, SourceFrom};
use super::position::{self, Offsets, TableOffset};
use super::schema::{self, Decode, SqlValue, Target};
use crate::connect::data::{Schema, Type, Value};
use crate::connect::record::SourcePosition;
use bigdecimal::BigDecimal;
use bytes::Bytes;
use std::str::FromStr;

#[test]
fn jdbc_and_plain_urls_parse_with_credentials_and_defaults() {
    let pg = ConnectionSpec::parse_url(
        "jdbc:postgresql://db.local/sales?user=app&password=p%40ss&sslmode=require",
    )
    .unwrap();
    assert_eq!(
        (pg.dialect, pg.host.as_str(), pg.port, pg.database.as_str()),
        (Dialect::Postgres, "db.local", 5432, "sales")
    );
    assert_eq!(
        (pg.user.as_deref(), pg.password.as_deref()),
        (Some("app"), Some("p@ss"))
    );
    assert_eq!(pg.ssl_mode.as_deref(), Some("require"));
    assert!(!format!("{pg:?}").contains("p@ss") && !pg.to_string().contains("p@ss"));
    assert_eq!(pg.to_string(), "postgresql://db.local:5432/sales");

    let my = ConnectionSpec::parse_url("mysql://root:secret@127.0.0.1:3307/test").unwrap();
    assert_eq!(
        (
            my.dialect,
            my.port,
            my.user.as_deref(),
            my.password.as_deref()
        ),
        (Dialect::MySql, 3307, Some("root"), Some("secret"))
    );
    let maria = ConnectionSpec::parse_url("jdbc:mariadb://[::1]/x?useSSL=false").unwrap();
    assert_eq!(
        (maria.dialect, maria.host.as_str(), maria.port),
        (Dialect::MySql, "::1", 3306)
    );
    assert_eq!(
        ConnectionSpec::parse_url("postgres://h:5433/d")
            .unwrap()
            .port,
        5433
    );

    for bad in [
        "jdbc:oracle:thin:@h:1521",
        "jdbc:sqlserver://h",
        "postgres://:5432/d",
        "mysql://h:99999/d",
        "mysql://h:x/d",
    ] {
        assert!(ConnectionSpec::parse_url(bad).is_err(), "{bad}");
    }
}

#[test]
fn zone_offsets_parse() {
    assert_eq!(ZoneOffset::parse("UTC"), Some(ZoneOffset::UTC));
    assert_eq!(ZoneOffset::parse("+02:00").map(|z| z.seconds), Some(7200));
    assert_eq!(ZoneOffset::parse("-0530").map(|z| z.seconds), Some(-19800));
    assert_eq!(ZoneOffset::parse("Europe/Paris"), None);
}

#[test]
fn source_queries_per_dialect() {
    let pg = Dialect::Postgres;
    let ts = pg.timestamp_expression(&["modified".into(), "created".into()]);
    assert_eq!(ts, r#"COALESCE("modified", "created")"#);
    assert_eq!(
        pg.source_query(
            &SourceFrom::Table("public.orders"),
            Criteria::TimestampIncrementingAfter,
            &ts,
            r#""id""#,
            Some(100)
        ),
        r#"SELECT * FROM "public"."orders" WHERE COALESCE("modified", "created") < $1 AND ((COALESCE("modified", "created") = $2 AND "id" > $3) OR COALESCE("modified", "created") > $4) ORDER BY COALESCE("modified", "created") ASC, "id" ASC LIMIT 100"#
    );
    let my = Dialect::MySql;
    assert_eq!(
        my.source_query(&SourceFrom::Query("SELECT a FROM t"), Criteria::IncrementingAfter, "", "`id`", Some(5)),
        "SELECT * FROM (SELECT a FROM t) AS pipewright_query WHERE `id` > ? ORDER BY `id` ASC LIMIT 5"
    );
    assert_eq!(my.quote("we`ird"), "`we``ird`");
    assert_eq!(pg.quote("we\"ird"), "\"we\"\"ird\"");
}

#[test]
fn sink_statements_per_dialect() {
    let cols: Vec<String> = ["id", "name", "qty"].map(String::from).to_vec();
    let keys = vec!["id".to_owned()];
    assert_eq!(
        Dialect::Postgres.insert("t", &cols, &keys, 2, true),
        r#"INSERT INTO "t" ("id", "name", "qty") VALUES ($1, $2, $3), ($4, $5, $6) ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "qty" = EXCLUDED."qty""#
    );
    assert_eq!(
        Dialect::MySql.insert("t", &cols, &keys, 1, true),
        "INSERT INTO `t` (`id`, `name`, `qty`) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`), `qty` = VALUES(`qty`)"
    );
    assert_eq!(
        Dialect::Postgres.insert("t", &keys, &keys, 1, true),
        r#"INSERT INTO "t" ("id") VALUES ($1) ON CONFLICT ("id") DO NOTHING"#
    );
    assert_eq!(
        Dialect::Postgres.update("t", &cols[1..], &keys),
        r#"UPDATE "t" SET "name" = $1, "qty" = $2 WHERE "id" = $3"#
    );
    assert_eq!(
        Dialect::MySql.delete("t", &keys),
        "DELETE FROM `t` WHERE `id` = ?"
    );
    assert_eq!(
        Dialect::MySql.create_table(
            "t",
            &[
                ("id".into(), "BIGINT".into(), false),
                ("n".into(), "TEXT".into(), true)
            ],
            &keys
        ),
        "CREATE TABLE `t` (`id` BIGINT NOT NULL, `n` TEXT, PRIMARY KEY (`id`))"
    );
    assert_eq!(
        Dialect::Postgres.add_column("t", "c", "TEXT"),
        r#"ALTER TABLE "t" ADD COLUMN "c" TEXT"#
    );
    assert_eq!(
        Dialect::Postgres.create_table_if_missing(
            "t",
            &[("id".into(), "INT".into(), false)],
            &keys
        ),
        r#"CREATE TABLE IF NOT EXISTS "t" ("id" INT NOT NULL, PRIMARY KEY ("id"))"#
    );
    assert_eq!(
        Dialect::Postgres.select_where("t", &cols[1..], &keys),
        r#"SELECT "name", "qty" FROM "t" WHERE "id" = $1"#
    );
    assert_eq!(
        Dialect::MySql.select_where("t", &cols[1..], &keys),
        "SELECT `name`, `qty` FROM `t` WHERE `id` = ?"
    );
}

#[test]
fn column_types_map_as_confluents_connector_maps_them() {
    let map = |ty: &str, p: Option<i64>, s: Option<i64>, m: NumericMapping| {
        schema::source_column("c", ty, false, p, s, m).map(|c| (c.decode, c.target))
    };
    use NumericMapping::{BestFit, None as Plain, PrecisionOnly};
    assert_eq!(
        map("int4", None, None, Plain),
        Ok((Decode::I32, Target::Int32))
    );
    assert_eq!(
        map("int(11)", None, None, Plain),
        Ok((Decode::Int, Target::Int32))
    );
    assert_eq!(
        map("bigint(20) unsigned", None, None, Plain),
        Ok((Decode::UInt, Target::Decimal(Some(0))))
    );
    assert_eq!(
        map("tinyint(1)", None, None, Plain),
        Ok((Decode::Int, Target::Boolean))
    );
    assert_eq!(
        map("decimal(10,2)", Some(10), Some(2), Plain),
        Ok((Decode::Decimal, Target::Decimal(Some(2))))
    );
    assert_eq!(
        map("numeric", Some(10), Some(2), BestFit),
        Ok((Decode::Decimal, Target::Float64))
    );
    assert_eq!(
        map("numeric", Some(10), Some(2), PrecisionOnly),
        Ok((Decode::Decimal, Target::Decimal(Some(2))))
    );
    assert_eq!(
        map("numeric", Some(4), Some(0), PrecisionOnly),
        Ok((Decode::Decimal, Target::Int16))
    );
    assert_eq!(
        map("numeric", None, None, Plain),
        Ok((Decode::Decimal, Target::Decimal(None)))
    );
    assert_eq!(
        map("timestamptz", None, None, Plain),
        Ok((Decode::TimestampTz, Target::Timestamp))
    );
    assert_eq!(
        map("datetime(6)", None, None, Plain),
        Ok((Decode::Timestamp, Target::Timestamp))
    );
    assert_eq!(
        map("jsonb", None, None, Plain),
        Ok((Decode::Json, Target::String))
    );
    assert_eq!(
        map("varbinary(16)", None, None, Plain),
        Ok((Decode::Bytes, Target::Bytes))
    );
    let error = map("uuid", None, None, Plain).unwrap_err();
    assert!(error.contains("column `c` has type uuid"), "{error}");
}

#[test]
fn values_become_connect_values_and_back() {
    let column = schema::source_column(
        "price",
        "numeric",
        true,
        Some(10),
        Some(2),
        NumericMapping::None,
    )
    .unwrap();
    let (value, _) = schema::to_connect(
        &column,
        SqlValue::Decimal(BigDecimal::from_str("-12.5").unwrap()),
        ZoneOffset::UTC,
    )
    .unwrap();
    // -1250 as big-endian two's complement.
    assert_eq!(value, Value::Bytes(Bytes::from_static(&[0xfb, 0x1e])));
    let field = schema::field_schema(&column, None);
    assert_eq!(field.parameter("scale"), Some("2"));
    assert_eq!(
        schema::to_sql(&field, &value),
        Ok(SqlValue::Decimal(BigDecimal::from_str("-12.50").unwrap()))
    );

    let date = schema::source_column("d", "date", false, None, None, NumericMapping::None).unwrap();
    let day = chrono::NaiveDate::from_ymd_opt(1970, 1, 11).unwrap();
    assert_eq!(
        schema::to_connect(&date, SqlValue::Date(day), ZoneOffset::UTC)
            .unwrap()
            .0,
        Value::Int32(10)
    );
    assert_eq!(
        schema::to_sql(&Schema::date(), &Value::Int32(10)),
        Ok(SqlValue::Date(day))
    );

    let ts =
        schema::source_column("t", "datetime", false, None, None, NumericMapping::None).unwrap();
    let at = chrono::DateTime::from_timestamp_millis(1_000)
        .unwrap()
        .naive_utc();
    let plus_two = ZoneOffset::parse("+02:00").unwrap();
    assert_eq!(
        schema::to_connect(&ts, SqlValue::Timestamp(at), plus_two)
            .unwrap()
            .0,
        Value::Int64(1_000 - 7_200_000)
    );

    let small =
        schema::source_column("s", "tinyint", false, None, None, NumericMapping::None).unwrap();
    assert!(
        schema::to_connect(&small, SqlValue::I64(300), ZoneOffset::UTC).is_err(),
        "out of range"
    );
    assert!(schema::to_sql(&Schema::new(Type::Int32).build(), &Value::string("x")).is_err());
    assert_eq!(
        schema::to_sql(&Schema::new(Type::Int64).optional().build(), &Value::Null),
        Ok(SqlValue::Null(schema::SqlType::I64))
    );
    assert_eq!(
        schema::ddl_type(Dialect::MySql, &Schema::new(Type::String), true).as_deref(),
        Some("VARCHAR(256)")
    );
    assert_eq!(
        schema::ddl_type(Dialect::Postgres, &Schema::timestamp(), false).as_deref(),
        Some("TIMESTAMP")
    );
}

#[test]
fn positions_survive_encoding_and_damage_is_an_error() {
    let mut offsets = Offsets::new();
    offsets.insert(
        "orders".into(),
        TableOffset {
            incrementing: Some(17),
            timestamp_micros: Some(1_700_000_000_123_456),
        },
    );
    offsets.insert(
        "".into(),
        TableOffset {
            incrementing: None,
            timestamp_micros: Some(-5),
        },
    );
    let encoded = position::encode(&offsets);
    assert_eq!(position::decode(&encoded), Ok(offsets));
    // Through the engine's own line form too.
    let line = crate::engine::positions::format_line(&encoded);
    assert_eq!(crate::engine::positions::parse_line(&line), Some(encoded));
    assert!(position::decode(&SourcePosition::Opaque(Bytes::from_static(
        b"{\"t\":{\"i\":\"x\"}}"
    )))
    .is_err());
    assert!(position::decode(&SourcePosition::Offset(3)).is_err());
}

#[test]
fn tables_spread_over_tasks_by_name_and_a_query_stays_on_task_0() {
    use super::source::task_of;
    let tables: Vec<String> = (0..40).map(|i| format!("table_{i}")).collect();
    for count in [1, 2, 3, 5] {
        let mut per_task = vec![0; count as usize];
        for table in &tables {
            let task = task_of(table, count);
            assert!(task < count);
            assert_eq!(task, task_of(table, count), "the same task every time");
            per_task[task as usize] += 1;
        }
        assert!(
            per_task.iter().all(|&n| n > 0),
            "{count} tasks: {per_task:?}"
        );
    }
    assert_eq!(task_of("", 4), 0);
    assert_eq!(task_of("orders", 1), 0);
}

#[test]
fn merged_positions_keep_each_tables_furthest() {
    let offset = |i: Option<i64>, t: Option<i64>| TableOffset {
        incrementing: i,
        timestamp_micros: t,
    };
    let mut merged: Offsets = [
        ("a".to_owned(), offset(Some(10), None)),
        ("b".to_owned(), offset(Some(3), Some(2_000))),
    ]
    .into();
    position::merge(
        &mut merged,
        [
            ("a".to_owned(), offset(Some(7), None)),
            ("b".to_owned(), offset(Some(1), Some(3_000))),
            ("c".to_owned(), offset(Some(1), None)),
        ]
        .into(),
    );
    assert_eq!(merged["a"], offset(Some(10), None));
    assert_eq!(
        merged["b"],
        offset(Some(1), Some(3_000)),
        "a later timestamp wins over a higher id"
    );
    assert_eq!(merged["c"], offset(Some(1), None));
}
