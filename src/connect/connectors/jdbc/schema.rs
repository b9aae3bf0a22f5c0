//! Column types ↔ Connect schemas, as Confluent's connectors map them: what a source column becomes (ints,
//! Decimal, floats, text, bytes, bool, Date, Time, Timestamp, JSON as a string), what a sink field is bound as
//! and created as. Pure: the values decoded from or bound to a database travel as [`SqlValue`].

use bigdecimal::num_bigint::BigInt;
use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};

use super::config::{NumericMapping, ZoneOffset};
use super::dialect::Dialect;
use crate::connect::data::{logical, Schema, SchemaRef, Str, Type, Value};

/// How a column's values are read from the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decode {
    Bool,
    /// Any signed integer column, widened (MySQL sends every width the same way).
    Int,
    /// PostgreSQL's fixed-width integers.
    I16,
    I32,
    I64,
    /// Any unsigned integer column (MySQL).
    UInt,
    F32,
    F64,
    Decimal,
    Text,
    Bytes,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Json,
}

/// What a decoded column value becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    String,
    Bytes,
    /// `None`: the column declares no scale (PostgreSQL's unconstrained NUMERIC): each value keeps its own.
    Decimal(Option<i32>),
    Date,
    Time,
    Timestamp,
}

/// One column of a source table, as read and as handed out.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceColumn {
    pub name: String,
    pub decode: Decode,
    pub target: Target,
    pub optional: bool,
}

/// A value read from or bound to a database.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null(SqlType),
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    U64(u64),
    F32(f32),
    F64(f64),
    Text(String),
    Bytes(Vec<u8>),
    Decimal(BigDecimal),
    Date(NaiveDate),
    Time(NaiveTime),
    Timestamp(NaiveDateTime),
    TimestampTz(DateTime<Utc>),
}

/// The type a null is bound as (PostgreSQL types every parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    Bool,
    I16,
    I32,
    I64,
    F32,
    F64,
    Text,
    Bytes,
    Decimal,
    Date,
    Time,
    Timestamp,
}

/// A type name as both databases report it, lower case, without its `(…)`; and whether it said `unsigned`.
fn normalise(type_name: &str) -> (String, bool) {
    let lower = type_name.trim().to_ascii_lowercase();
    let unsigned = lower.contains("unsigned");
    let base = lower
        .split(['(', ' '])
        .next()
        .unwrap_or_default()
        .to_owned();
    (base, unsigned)
}

/// The column `name` of type `type_name` (information_schema's or the driver's), with its declared precision and
/// scale where known, under `mapping`; an error names the type it cannot map.
pub fn source_column(
    name: &str,
    type_name: &str,
    optional: bool,
    precision: Option<i64>,
    scale: Option<i64>,
    mapping: NumericMapping,
) -> Result<SourceColumn, String> {
    let (base, unsigned) = normalise(type_name);
    let whole_type = type_name.trim().to_ascii_lowercase();
    let (decode, target) = match base.as_str() {
        // MySQL's TINYINT(1) is its BOOLEAN, as Connector/J reports it (tinyInt1isBit).
        "tinyint" if whole_type.starts_with("tinyint(1)") && !unsigned => (Decode::Int, Target::Boolean),
        "bool" | "boolean" => (Decode::Bool, Target::Boolean),
        "tinyint" if unsigned => (Decode::UInt, Target::Int16),
        "tinyint" => (Decode::Int, Target::Int8),
        "smallint" if unsigned => (Decode::UInt, Target::Int32),
        "smallint" => (Decode::Int, Target::Int16),
        "mediumint" => (Decode::Int, Target::Int32),
        "int" | "integer" if unsigned => (Decode::UInt, Target::Int64),
        "int" | "integer" => (Decode::Int, Target::Int32),
        "bigint" if unsigned => (Decode::UInt, Target::Decimal(Some(0))),
        "bigint" => (Decode::Int, Target::Int64),
        "year" => (Decode::Int, Target::Int32),
        "int2" => (Decode::I16, Target::Int16),
        "int4" => (Decode::I32, Target::Int32),
        "int8" => (Decode::I64, Target::Int64),
        "float4" | "real" => (Decode::F32, Target::Float32),
        "float" => (Decode::F32, Target::Float32),
        "float8" | "double" => (Decode::F64, Target::Float64),
        "numeric" | "decimal" => {
            let scale = scale.and_then(|s| i32::try_from(s).ok());
            let target = match (mapping, precision, scale) {
                (NumericMapping::PrecisionOnly | NumericMapping::BestFit, Some(p), Some(0)) if p < 19 => {
                    match p {
                        p if p < 3 => Target::Int8,
                        p if p < 5 => Target::Int16,
                        p if p < 10 => Target::Int32,
                        _ => Target::Int64,
                    }
                }
                (NumericMapping::BestFit, Some(p), Some(s)) if p < 19 && s > 0 => Target::Float64,
                _ => Target::Decimal(scale),
            };
            (Decode::Decimal, target)
        }
        "text" | "varchar" | "char" | "bpchar" | "name" | "character" | "tinytext" | "mediumtext"
        | "longtext" | "enum" | "set" | "citext" => (Decode::Text, Target::String),
        "json" | "jsonb" => (Decode::Json, Target::String),
        "bytea" | "blob" | "tinyblob" | "mediumblob" | "longblob" | "binary" | "varbinary" => {
            (Decode::Bytes, Target::Bytes)
        }
        "date" => (Decode::Date, Target::Date),
        "time" => (Decode::Time, Target::Time),
        "datetime" | "timestamp" if base == "timestamp" && whole_type.contains("with time zone") => {
            (Decode::TimestampTz, Target::Timestamp)
        }
        "timestamptz" => (Decode::TimestampTz, Target::Timestamp),
        // MySQL's TIMESTAMP is stored in UTC and read in the session's zone (UTC here): like DATETIME.
        "datetime" | "timestamp" => (Decode::Timestamp, Target::Timestamp),
        _ => {
            return Err(format!(
                "column `{name}` has type {type_name}, which has no Connect type; leave the column out with \
                 a `query` that selects the others, or CAST it to text there"
            ))
        }
    };
    Ok(SourceColumn {
        name: name.to_owned(),
        decode,
        target,
        optional,
    })
}

/// The Connect schema of one column.
pub fn field_schema(column: &SourceColumn, value_scale: Option<i32>) -> Schema {
    let schema = match column.target {
        Target::Int8 => Schema::new(Type::Int8),
        Target::Int16 => Schema::new(Type::Int16),
        Target::Int32 => Schema::new(Type::Int32),
        Target::Int64 => Schema::new(Type::Int64),
        Target::Float32 => Schema::new(Type::Float32),
        Target::Float64 => Schema::new(Type::Float64),
        Target::Boolean => Schema::new(Type::Boolean),
        Target::String => Schema::new(Type::String),
        Target::Bytes => Schema::new(Type::Bytes),
        Target::Decimal(scale) => Schema::decimal(scale.or(value_scale).unwrap_or(0)),
        Target::Date => Schema::date(),
        Target::Time => Schema::time(),
        Target::Timestamp => Schema::timestamp(),
    };
    schema.with_optional(column.optional)
}

/// The struct schema of a table's rows, named after the table (as Confluent's source names it).
pub fn row_schema(table: &str, columns: &[SourceColumn]) -> SchemaRef {
    let mut schema = Schema::structure().with_name(table).optional();
    for column in columns {
        schema = schema.field(&column.name, field_schema(column, None));
    }
    schema.build()
}

/// Whether some column's schema depends on each value (a NUMERIC without declared scale).
pub fn schema_varies_per_row(columns: &[SourceColumn]) -> bool {
    columns
        .iter()
        .any(|c| matches!(c.target, Target::Decimal(None)))
}

/// Connect's Decimal bytes: the unscaled value, big-endian two's complement.
pub fn decimal_bytes(value: &BigDecimal, scale: i64) -> Vec<u8> {
    let (unscaled, _) = value.with_scale(scale).into_bigint_and_exponent();
    unscaled.to_signed_bytes_be()
}

/// A Connect Decimal's value.
pub fn decimal_from_bytes(bytes: &[u8], scale: i64) -> BigDecimal {
    BigDecimal::new(BigInt::from_signed_bytes_be(bytes), scale)
}

const DAYS_FROM_CE_TO_EPOCH: i32 = 719_163;

/// Millis since the epoch of a timestamp without zone read in `zone`.
pub fn naive_millis(t: &NaiveDateTime, zone: ZoneOffset) -> i64 {
    t.and_utc().timestamp_millis() - i64::from(zone.seconds) * 1000
}

/// `value` as `column` hands it out; an error says why it does not fit (out of range).
pub fn to_connect(
    column: &SourceColumn,
    value: SqlValue,
    zone: ZoneOffset,
) -> Result<(Value, Option<i32>), String> {
    use chrono::Datelike;
    let range =
        |v: &dyn std::fmt::Display| format!("column `{}`: {v} is out of range", column.name);
    let int = |v: i128| -> Result<Value, String> {
        Ok(match column.target {
            Target::Int8 => Value::Int8(i8::try_from(v).map_err(|_| range(&v))?),
            Target::Int16 => Value::Int16(i16::try_from(v).map_err(|_| range(&v))?),
            Target::Int32 => Value::Int32(i32::try_from(v).map_err(|_| range(&v))?),
            Target::Int64 => Value::Int64(i64::try_from(v).map_err(|_| range(&v))?),
            Target::Boolean => Value::Boolean(v != 0),
            Target::Float64 => Value::Float64(v as f64),
            Target::Decimal(scale) => {
                let scale = scale.unwrap_or(0);
                return Ok(Value::Bytes(
                    decimal_bytes(&BigDecimal::from(BigInt::from(v)), i64::from(scale)).into(),
                ));
            }
            _ => {
                return Err(format!(
                    "column `{}`: an integer where {:?} was expected",
                    column.name, column.target
                ))
            }
        })
    };
    let mut value_scale = None;
    let value = match value {
        SqlValue::Null(_) => Value::Null,
        SqlValue::Bool(b) => Value::Boolean(b),
        SqlValue::I16(v) => int(v.into())?,
        SqlValue::I32(v) => int(v.into())?,
        SqlValue::I64(v) => int(v.into())?,
        SqlValue::U64(v) => int(v.into())?,
        SqlValue::F32(v) => match column.target {
            Target::Float64 => Value::Float64(v.into()),
            _ => Value::Float32(v),
        },
        SqlValue::F64(v) => match column.target {
            Target::Float32 => Value::Float32(v as f32),
            _ => Value::Float64(v),
        },
        SqlValue::Text(s) => match column.target {
            Target::Bytes => Value::Bytes(s.into_bytes().into()),
            _ => Value::String(Str::from(s.as_str())),
        },
        SqlValue::Bytes(b) => match column.target {
            Target::String => Value::String(Str::from(String::from_utf8_lossy(&b).as_ref())),
            _ => Value::Bytes(b.into()),
        },
        SqlValue::Decimal(d) => match column.target {
            Target::Decimal(Some(scale)) => {
                Value::Bytes(decimal_bytes(&d, i64::from(scale)).into())
            }
            Target::Decimal(None) => {
                let (_, scale) = d.as_bigint_and_exponent();
                let scale = scale.max(0);
                value_scale = Some(i32::try_from(scale).map_err(|_| range(&d))?);
                Value::Bytes(decimal_bytes(&d, scale).into())
            }
            Target::Float64 => Value::Float64(d.to_string().parse().map_err(|_| range(&d))?),
            _ => {
                let (unscaled, scale) = d.with_scale(0).into_bigint_and_exponent();
                let _ = scale;
                let v: i128 = unscaled.try_into().map_err(|_| range(&d))?;
                int(v)?
            }
        },
        SqlValue::Date(d) => Value::Int32(d.num_days_from_ce() - DAYS_FROM_CE_TO_EPOCH),
        SqlValue::Time(t) => Value::Int32(
            (t.num_seconds_from_midnight() * 1000 + t.nanosecond() / 1_000_000 % 1000) as i32,
        ),
        SqlValue::Timestamp(t) => Value::Int64(naive_millis(&t, zone)),
        SqlValue::TimestampTz(t) => Value::Int64(t.timestamp_millis()),
    };
    Ok((value, value_scale))
}

/// How a sink binds a field of `schema`, and the SQL type it is created as (`auto.create`, `auto.evolve`).
pub fn sql_type(schema: &Schema) -> Option<SqlType> {
    Some(match (schema.logical_name(), schema.ty) {
        (Some(logical::DECIMAL), _) => SqlType::Decimal,
        (Some(logical::DATE), _) => SqlType::Date,
        (Some(logical::TIME), _) => SqlType::Time,
        (Some(logical::TIMESTAMP), _) => SqlType::Timestamp,
        (_, Type::Boolean) => SqlType::Bool,
        (_, Type::Int8 | Type::Int16) => SqlType::I16,
        (_, Type::Int32) => SqlType::I32,
        (_, Type::Int64) => SqlType::I64,
        (_, Type::Float32) => SqlType::F32,
        (_, Type::Float64) => SqlType::F64,
        (_, Type::String) => SqlType::Text,
        (_, Type::Bytes) => SqlType::Bytes,
        (_, Type::Array | Type::Map | Type::Struct) => return None,
    })
}

/// The column type `CREATE TABLE` / `ALTER TABLE ADD` gives a field; `key`: it is part of the primary key
/// (MySQL cannot index TEXT/BLOB without a length).
pub fn ddl_type(dialect: Dialect, schema: &Schema, key: bool) -> Option<String> {
    let ty = sql_type(schema)?;
    let scale = schema
        .parameter(logical::DECIMAL_SCALE)
        .and_then(|s| s.parse::<i32>().ok())
        .unwrap_or(0);
    Some(match (dialect, ty) {
        (_, SqlType::Decimal) if dialect == Dialect::MySql => {
            format!("DECIMAL(65,{})", scale.clamp(0, 30))
        }
        (_, SqlType::Decimal) => "DECIMAL".into(),
        (Dialect::Postgres, SqlType::Bool) => "BOOLEAN".into(),
        (Dialect::MySql, SqlType::Bool) => "TINYINT(1)".into(),
        (_, SqlType::I16) => "SMALLINT".into(),
        (_, SqlType::I32) => "INT".into(),
        (_, SqlType::I64) => "BIGINT".into(),
        (Dialect::Postgres, SqlType::F32) => "REAL".into(),
        (Dialect::MySql, SqlType::F32) => "FLOAT".into(),
        (Dialect::Postgres, SqlType::F64) => "DOUBLE PRECISION".into(),
        (Dialect::MySql, SqlType::F64) => "DOUBLE".into(),
        (Dialect::Postgres, SqlType::Text) => "TEXT".into(),
        (Dialect::MySql, SqlType::Text) if key => "VARCHAR(256)".into(),
        (Dialect::MySql, SqlType::Text) => "TEXT".into(),
        (Dialect::Postgres, SqlType::Bytes) => "BYTEA".into(),
        (Dialect::MySql, SqlType::Bytes) if key => "VARBINARY(767)".into(),
        (Dialect::MySql, SqlType::Bytes) => "BLOB".into(),
        (_, SqlType::Date) => "DATE".into(),
        (Dialect::Postgres, SqlType::Time) => "TIME".into(),
        (Dialect::MySql, SqlType::Time) => "TIME(3)".into(),
        (Dialect::Postgres, SqlType::Timestamp) => "TIMESTAMP".into(),
        (Dialect::MySql, SqlType::Timestamp) => "DATETIME(3)".into(),
    })
}

/// A Connect value of `schema` as a sink binds it; an error says why it cannot be.
pub fn to_sql(schema: &Schema, value: &Value) -> Result<SqlValue, String> {
    let ty =
        sql_type(schema).ok_or_else(|| format!("a {} has no column type", schema.ty.name()))?;
    let wrong = || {
        format!(
            "a {value:?} is not a {}",
            schema.name.as_deref().unwrap_or(schema.ty.name())
        )
    };
    Ok(match (ty, value) {
        (ty, Value::Null) => SqlValue::Null(ty),
        (SqlType::Decimal, Value::Bytes(b)) => {
            let scale = schema
                .parameter(logical::DECIMAL_SCALE)
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0);
            SqlValue::Decimal(decimal_from_bytes(b, scale))
        }
        (SqlType::Date, Value::Int32(days)) => SqlValue::Date(
            NaiveDate::from_num_days_from_ce_opt(
                days.checked_add(DAYS_FROM_CE_TO_EPOCH).ok_or_else(wrong)?,
            )
            .ok_or_else(wrong)?,
        ),
        (SqlType::Time, Value::Int32(ms)) => {
            let ms = u32::try_from(*ms).map_err(|_| wrong())?;
            SqlValue::Time(
                NaiveTime::from_num_seconds_from_midnight_opt(ms / 1000, (ms % 1000) * 1_000_000)
                    .ok_or_else(wrong)?,
            )
        }
        (SqlType::Timestamp, Value::Int64(ms)) => SqlValue::Timestamp(
            DateTime::from_timestamp_millis(*ms)
                .ok_or_else(wrong)?
                .naive_utc(),
        ),
        (SqlType::Bool, Value::Boolean(b)) => SqlValue::Bool(*b),
        (SqlType::I16, Value::Int8(v)) => SqlValue::I16((*v).into()),
        (SqlType::I16, Value::Int16(v)) => SqlValue::I16(*v),
        (SqlType::I32, Value::Int32(v)) => SqlValue::I32(*v),
        (SqlType::I64, Value::Int64(v)) => SqlValue::I64(*v),
        (SqlType::F32, Value::Float32(v)) => SqlValue::F32(*v),
        (SqlType::F64, Value::Float64(v)) => SqlValue::F64(*v),
        (SqlType::Text, Value::String(s)) => SqlValue::Text(s.as_str().to_owned()),
        (SqlType::Bytes, Value::Bytes(b)) => SqlValue::Bytes(b.to_vec()),
        _ => return Err(wrong()),
    })
}
