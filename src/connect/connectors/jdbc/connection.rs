//! One connection to PostgreSQL or MySQL/MariaDB (sqlx, on the task's executor: no pool, no background task),
//! what its errors mean for the task (a value that does not fit, a connection lost, a setup problem), and
//! the values bound to and decoded from it.

use std::time::Duration;

use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlRow, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow, PgSslMode};
use sqlx::{
    Column as _, ConnectOptions as _, Connection as _, Executor as _, Row as _, TypeInfo as _,
};

use super::config::ConnectionSpec;
use super::dialect::Dialect;
use super::schema::{Decode, SourceColumn, SqlType, SqlValue};
use crate::connect::connector::ConnectorError;

/// What a failed statement means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A value the database refused (SQLSTATE class 22 data exception, 23 integrity violation): the record
    /// can never be written as it is.
    Data(String),
    /// The connection broke or timed out: reconnect and try again.
    Connection(String),
    /// Anything else (a missing table, a syntax error, a refused privilege): a setup problem.
    Other(String),
}

impl Failure {
    pub fn message(&self) -> &str {
        match self {
            Failure::Data(m) | Failure::Connection(m) | Failure::Other(m) => m,
        }
    }

    /// The failure as the task reports it: retriable when the connection broke.
    pub fn into_error(self) -> ConnectorError {
        match self {
            Failure::Connection(m) => ConnectorError::retriable(m),
            Failure::Data(m) | Failure::Other(m) => ConnectorError::fatal(m),
        }
    }
}

/// `error` of a statement against `spec`, described with `what` (e.g. "reading table `orders`").
pub fn classify(error: sqlx::Error, spec: &ConnectionSpec, what: &str) -> Failure {
    let text = |cause: &dyn std::fmt::Display| format!("{what} on {spec}: {cause}");
    match &error {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let message = text(&format_args!("{} (SQLSTATE {code})", db.message()));
            match code.get(..2) {
                Some("22") | Some("23") => Failure::Data(message),
                // Connection exceptions, operator intervention (shutdown), serialisation failures, deadlocks.
                Some("08") | Some("57") | Some("40") => Failure::Connection(message),
                // MySQL's lock wait timeout (1205) and "server has gone away" class.
                Some("HY") if matches!(db.message(), m if m.contains("Lock wait timeout")) => {
                    Failure::Connection(message)
                }
                _ => Failure::Other(message),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Failure::Connection(text(&error)),
        _ => Failure::Other(text(&error)),
    }
}

/// A live connection.
pub enum Connection {
    Postgres(PgConnection),
    MySql(MySqlConnection),
}

/// One column of a query's result as the database describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribedColumn {
    pub name: String,
    pub type_name: String,
    pub nullable: bool,
    pub precision: Option<i64>,
    pub scale: Option<i64>,
}

impl Connection {
    /// Connects, trying `spec.attempts` times `spec.backoff` apart while the server cannot be reached; a
    /// refused login or a missing database fails at once (retrying would not change it).
    pub async fn open(spec: &ConnectionSpec) -> Result<Connection, ConnectorError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match Self::open_once(spec).await {
                Ok(connection) => return Ok(connection),
                Err(error) => error,
            };
            let user = spec.user.as_deref().unwrap_or("(default user)");
            let failure = classify(error, spec, &format!("connecting as {user}"));
            match failure {
                Failure::Connection(message) if attempt >= spec.attempts => {
                    return Err(ConnectorError::retriable(format!(
                        "{message} (after {attempt} attempts)"
                    )))
                }
                Failure::Connection(message) => {
                    tracing::warn!(attempt, error = %message, "jdbc: cannot connect; retrying");
                    tokio::time::sleep(spec.backoff).await;
                }
                // The server answered and refused: a wrong password, an unknown database or user.
                other => return Err(ConnectorError::fatal(other.message().to_owned())),
            }
        }
    }

    async fn open_once(spec: &ConnectionSpec) -> Result<Connection, sqlx::Error> {
        // A connection that cannot be made within this long is one that cannot be made.
        const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
        let connect = async {
            Ok(match spec.dialect {
                Dialect::Postgres => {
                    let mut options = PgConnectOptions::new_without_pgpass()
                        .host(&spec.host)
                        .port(spec.port)
                        .username(spec.user.as_deref().unwrap_or("postgres"))
                        .database(&spec.database)
                        .application_name(&spec.application_name)
                        .disable_statement_logging();
                    if let Some(password) = &spec.password {
                        options = options.password(password);
                    }
                    if let Some(mode) = &spec.ssl_mode {
                        options = options.ssl_mode(mode.parse::<PgSslMode>().map_err(|_| {
                            sqlx::Error::Configuration(
                                format!("sslmode `{mode}` is not one of disable, allow, prefer, require, verify-ca, verify-full").into(),
                            )
                        })?);
                    }
                    Connection::Postgres(options.connect().await?)
                }
                Dialect::MySql => {
                    let mut options = MySqlConnectOptions::new()
                        .host(&spec.host)
                        .port(spec.port)
                        .username(spec.user.as_deref().unwrap_or("root"))
                        .database(&spec.database)
                        .disable_statement_logging();
                    if let Some(password) = &spec.password {
                        options = options.password(password);
                    }
                    if let Some(mode) = &spec.ssl_mode {
                        options = options.ssl_mode(mode.parse::<MySqlSslMode>().map_err(|_| {
                            sqlx::Error::Configuration(
                                format!("sslMode `{mode}` is not one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY").into(),
                            )
                        })?);
                    }
                    Connection::MySql(options.connect().await?)
                }
            })
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(result) => result,
            Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer within 10 s",
            ))),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Connection::Postgres(_) => Dialect::Postgres,
            Connection::MySql(_) => Dialect::MySql,
        }
    }

    /// Runs `sql` outside the prepared-statement protocol (`BEGIN`, `COMMIT`, DDL).
    pub async fn run(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Connection::Postgres(c) => c.execute(sqlx::raw_sql(sql)).await.map(|_| ()),
            Connection::MySql(c) => c.execute(sqlx::raw_sql(sql)).await.map(|_| ()),
        }
    }

    /// Executes `sql` with `values` bound in order; the number of rows it affected.
    pub async fn execute(&mut self, sql: &str, values: &[SqlValue]) -> Result<u64, sqlx::Error> {
        match self {
            Connection::Postgres(c) => {
                let mut query = sqlx::query(sql);
                for value in values {
                    query = bind_pg(query, value);
                }
                Ok(query.execute(&mut *c).await?.rows_affected())
            }
            Connection::MySql(c) => {
                let mut query = sqlx::query(sql);
                for value in values {
                    query = bind_mysql(query, value);
                }
                Ok(query.execute(&mut *c).await?.rows_affected())
            }
        }
    }

    /// The rows of `sql` with `values` bound, each column decoded as `columns` say (by position).
    pub async fn select(
        &mut self,
        sql: &str,
        values: &[SqlValue],
        columns: &[SourceColumn],
    ) -> Result<Vec<Vec<SqlValue>>, sqlx::Error> {
        match self {
            Connection::Postgres(c) => {
                let mut query = sqlx::query(sql);
                for value in values {
                    query = bind_pg(query, value);
                }
                let rows = query.fetch_all(&mut *c).await?;
                rows.iter().map(|row| decode_pg(row, columns)).collect()
            }
            Connection::MySql(c) => {
                let mut query = sqlx::query(sql);
                for value in values {
                    query = bind_mysql(query, value);
                }
                let rows = query.fetch_all(&mut *c).await?;
                rows.iter().map(|row| decode_mysql(row, columns)).collect()
            }
        }
    }

    /// The names of the tables `Dialect::list_tables_query` finds.
    pub async fn tables(&mut self) -> Result<Vec<String>, sqlx::Error> {
        let sql = self.dialect().list_tables_query();
        match self {
            Connection::Postgres(c) => sqlx::query_scalar(sql).fetch_all(&mut *c).await,
            Connection::MySql(c) => sqlx::query_scalar(sql).fetch_all(&mut *c).await,
        }
    }

    /// The columns of `table` from information_schema (empty when the table does not exist).
    pub async fn table_columns(
        &mut self,
        table: &str,
    ) -> Result<Vec<DescribedColumn>, sqlx::Error> {
        let sql = self.dialect().columns_query();
        // information_schema knows a table by its bare name.
        let bare = table.rsplit('.').next().unwrap_or(table);
        type ColumnRow = (String, String, bool, Option<i64>, Option<i64>);
        let rows: Vec<ColumnRow> = match self {
            Connection::Postgres(c) => sqlx::query_as(sql).bind(bare).fetch_all(&mut *c).await?,
            Connection::MySql(c) => {
                // MySQL gives the boolean as an integer.
                type MySqlColumnRow = (String, String, i64, Option<i64>, Option<i64>);
                let rows: Vec<MySqlColumnRow> =
                    sqlx::query_as(sql).bind(bare).fetch_all(&mut *c).await?;
                rows.into_iter()
                    .map(|(n, t, nullable, p, s)| (n, t, nullable != 0, p, s))
                    .collect()
            }
        };
        Ok(rows
            .into_iter()
            .map(
                |(name, type_name, nullable, precision, scale)| DescribedColumn {
                    name,
                    type_name,
                    nullable,
                    precision,
                    scale,
                },
            )
            .collect())
    }

    /// The columns `sql` returns, as the database describes them without running it (precision and scale
    /// unknown).
    pub async fn describe(&mut self, sql: &str) -> Result<Vec<DescribedColumn>, sqlx::Error> {
        macro_rules! described {
            ($describe:expr) => {{
                let describe = $describe;
                describe
                    .columns()
                    .iter()
                    .enumerate()
                    .map(|(i, column)| DescribedColumn {
                        name: column.name().to_owned(),
                        type_name: column.type_info().name().to_owned(),
                        nullable: describe.nullable(i).unwrap_or(true),
                        precision: None,
                        scale: None,
                    })
                    .collect()
            }};
        }
        Ok(match self {
            Connection::Postgres(c) => described!(c.describe(sql).await?),
            Connection::MySql(c) => described!(c.describe(sql).await?),
        })
    }

    /// The database's clock in UTC.
    pub async fn now_utc(&mut self) -> Result<NaiveDateTime, sqlx::Error> {
        let sql = self.dialect().now_utc_query();
        match self {
            Connection::Postgres(c) => sqlx::query_scalar(sql).fetch_one(&mut *c).await,
            Connection::MySql(c) => sqlx::query_scalar(sql).fetch_one(&mut *c).await,
        }
    }

    pub async fn close(self) {
        let _ = match self {
            Connection::Postgres(c) => c.close().await,
            Connection::MySql(c) => c.close().await,
        };
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;
type MySqlQuery<'q> = sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments>;

fn bind_pg<'q>(query: PgQuery<'q>, value: &'q SqlValue) -> PgQuery<'q> {
    match value {
        SqlValue::Null(ty) => match ty {
            SqlType::Bool => query.bind(None::<bool>),
            SqlType::I16 => query.bind(None::<i16>),
            SqlType::I32 => query.bind(None::<i32>),
            SqlType::I64 => query.bind(None::<i64>),
            SqlType::F32 => query.bind(None::<f32>),
            SqlType::F64 => query.bind(None::<f64>),
            SqlType::Text => query.bind(None::<&str>),
            SqlType::Bytes => query.bind(None::<&[u8]>),
            SqlType::Decimal => query.bind(None::<BigDecimal>),
            SqlType::Date => query.bind(None::<NaiveDate>),
            SqlType::Time => query.bind(None::<NaiveTime>),
            SqlType::Timestamp => query.bind(None::<NaiveDateTime>),
        },
        SqlValue::Bool(v) => query.bind(*v),
        SqlValue::I16(v) => query.bind(*v),
        SqlValue::I32(v) => query.bind(*v),
        SqlValue::I64(v) => query.bind(*v),
        SqlValue::U64(v) => match i64::try_from(*v) {
            Ok(v) => query.bind(v),
            Err(_) => query.bind(BigDecimal::from(*v)),
        },
        SqlValue::F32(v) => query.bind(*v),
        SqlValue::F64(v) => query.bind(*v),
        SqlValue::Text(v) => query.bind(v.as_str()),
        SqlValue::Bytes(v) => query.bind(v.as_slice()),
        SqlValue::Decimal(v) => query.bind(v),
        SqlValue::Date(v) => query.bind(*v),
        SqlValue::Time(v) => query.bind(*v),
        SqlValue::Timestamp(v) => query.bind(*v),
        SqlValue::TimestampTz(v) => query.bind(*v),
    }
}

fn bind_mysql<'q>(query: MySqlQuery<'q>, value: &'q SqlValue) -> MySqlQuery<'q> {
    match value {
        SqlValue::Null(ty) => match ty {
            SqlType::Bool => query.bind(None::<bool>),
            SqlType::I16 => query.bind(None::<i16>),
            SqlType::I32 => query.bind(None::<i32>),
            SqlType::I64 => query.bind(None::<i64>),
            SqlType::F32 => query.bind(None::<f32>),
            SqlType::F64 => query.bind(None::<f64>),
            SqlType::Text => query.bind(None::<&str>),
            SqlType::Bytes => query.bind(None::<&[u8]>),
            SqlType::Decimal => query.bind(None::<BigDecimal>),
            SqlType::Date => query.bind(None::<NaiveDate>),
            SqlType::Time => query.bind(None::<NaiveTime>),
            SqlType::Timestamp => query.bind(None::<NaiveDateTime>),
        },
        SqlValue::Bool(v) => query.bind(*v),
        SqlValue::I16(v) => query.bind(*v),
        SqlValue::I32(v) => query.bind(*v),
        SqlValue::I64(v) => query.bind(*v),
        SqlValue::U64(v) => query.bind(*v),
        SqlValue::F32(v) => query.bind(*v),
        SqlValue::F64(v) => query.bind(*v),
        SqlValue::Text(v) => query.bind(v.as_str()),
        SqlValue::Bytes(v) => query.bind(v.as_slice()),
        SqlValue::Decimal(v) => query.bind(v),
        SqlValue::Date(v) => query.bind(*v),
        SqlValue::Time(v) => query.bind(*v),
        SqlValue::Timestamp(v) => query.bind(*v),
        SqlValue::TimestampTz(v) => query.bind(*v),
    }
}

/// A null or the value, of the column's type.
fn or_null<T>(value: Option<T>, ty: SqlType, some: impl FnOnce(T) -> SqlValue) -> SqlValue {
    value.map(some).unwrap_or(SqlValue::Null(ty))
}

fn decode_pg(row: &PgRow, columns: &[SourceColumn]) -> Result<Vec<SqlValue>, sqlx::Error> {
    let mut values = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        let value = match column.decode {
            Decode::Bool => or_null(
                row.try_get::<Option<bool>, _>(i)?,
                SqlType::Bool,
                SqlValue::Bool,
            ),
            Decode::I16 | Decode::Int => or_null(row.try_get(i)?, SqlType::I16, SqlValue::I16),
            Decode::I32 => or_null(row.try_get(i)?, SqlType::I32, SqlValue::I32),
            Decode::I64 | Decode::UInt => or_null(row.try_get(i)?, SqlType::I64, SqlValue::I64),
            Decode::F32 => or_null(row.try_get(i)?, SqlType::F32, SqlValue::F32),
            Decode::F64 => or_null(row.try_get(i)?, SqlType::F64, SqlValue::F64),
            Decode::Decimal => or_null(row.try_get(i)?, SqlType::Decimal, SqlValue::Decimal),
            // Every PostgreSQL text type (varchar, bpchar, name, citext, enums) is UTF-8 on the wire.
            Decode::Text => or_null(row.try_get_unchecked(i)?, SqlType::Text, SqlValue::Text),
            Decode::Bytes => or_null(row.try_get(i)?, SqlType::Bytes, SqlValue::Bytes),
            Decode::Date => or_null(row.try_get(i)?, SqlType::Date, SqlValue::Date),
            Decode::Time => or_null(row.try_get(i)?, SqlType::Time, SqlValue::Time),
            Decode::Timestamp => or_null(row.try_get(i)?, SqlType::Timestamp, SqlValue::Timestamp),
            Decode::TimestampTz => or_null(
                row.try_get::<Option<DateTime<Utc>>, _>(i)?,
                SqlType::Timestamp,
                SqlValue::TimestampTz,
            ),
            Decode::Json => or_null(
                row.try_get::<Option<serde_json::Value>, _>(i)?,
                SqlType::Text,
                |v| SqlValue::Text(v.to_string()),
            ),
        };
        values.push(value);
    }
    Ok(values)
}

fn decode_mysql(row: &MySqlRow, columns: &[SourceColumn]) -> Result<Vec<SqlValue>, sqlx::Error> {
    let mut values = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        let value = match column.decode {
            Decode::Bool => or_null(
                row.try_get::<Option<bool>, _>(i)?,
                SqlType::Bool,
                SqlValue::Bool,
            ),
            Decode::Int | Decode::I16 | Decode::I32 | Decode::I64 => or_null(
                row.try_get::<Option<i64>, _>(i)?,
                SqlType::I64,
                SqlValue::I64,
            ),
            Decode::UInt => or_null(
                row.try_get::<Option<u64>, _>(i)?,
                SqlType::I64,
                SqlValue::U64,
            ),
            Decode::F32 => or_null(row.try_get(i)?, SqlType::F32, SqlValue::F32),
            Decode::F64 => or_null(row.try_get(i)?, SqlType::F64, SqlValue::F64),
            Decode::Decimal => or_null(row.try_get(i)?, SqlType::Decimal, SqlValue::Decimal),
            // TEXT, ENUM, SET and JSON come as character data.
            Decode::Text | Decode::Json => {
                or_null(row.try_get_unchecked(i)?, SqlType::Text, SqlValue::Text)
            }
            Decode::Bytes => or_null(row.try_get_unchecked(i)?, SqlType::Bytes, SqlValue::Bytes),
            Decode::Date => or_null(row.try_get(i)?, SqlType::Date, SqlValue::Date),
            Decode::Time => or_null(row.try_get(i)?, SqlType::Time, SqlValue::Time),
            Decode::Timestamp | Decode::TimestampTz => {
                or_null(row.try_get(i)?, SqlType::Timestamp, SqlValue::Timestamp)
            }
        };
        values.push(value);
    }
    Ok(values)
}
