//! The JDBC sink task: each record becomes a row (its value's fields, keyed as `pk.mode` says) written with
//! one multi-row statement per batch of rows for the same table and columns, all of one `put` in one
//! transaction. A value the database refuses (out of range, too long, NULL in NOT NULL) is found by writing the
//! rows one by one after the batch failed: the rows before it are committed and it is rejected (`TASK_PUT`) for
//! `errors.tolerance` to decide. A lost connection is retried `max.retries` times, then reported retriable
//! with every record still in the vector.
//!
//! Under `delivery = "exactly-once"` (from a Kafka source) the sink also writes, in the same transaction as the
//! rows, the next offset to read of each partition it wrote records of, in the table [`OFFSETS_TABLE`]
//! (`connector`, `kafka_topic`, `kafka_partition`, `next_offset`), and the engine starts each assigned
//! partition there: a row is in the database exactly when its offset is, whatever crashes in between.

use std::collections::{BTreeMap, HashMap};

use super::config::{InsertMode, JdbcSinkConfig, PkMode};
use super::connection::{classify, Connection, Failure};
use super::dialect::Dialect;
use super::schema::{self, SqlValue};
use crate::client::consumer::TopicPartition;
use crate::connect::connector::{ConnectorError, Converters, SinkTask, TaskId};
use crate::connect::data::{Schema, SchemaRef, Type, Value};
use crate::connect::record::{ConnectRecord, SourcePosition};

/// Names of the key columns of `pk.mode=kafka`, as Confluent's sink names them.
const KAFKA_PK: [&str; 3] = ["__connect_topic", "__connect_partition", "__connect_offset"];

/// Where an exactly-once sink keeps the consumed offsets, in the database it writes to: one row per
/// connector and partition. Created when missing.
pub const OFFSETS_TABLE: &str = "__pipewright_offsets";

/// The columns of [`OFFSETS_TABLE`], its key first.
const OFFSETS_COLUMNS: [&str; 4] = ["connector", "kafka_topic", "kafka_partition", "next_offset"];
const OFFSETS_KEY: usize = 3;

/// What one record does to its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Write,
    Delete,
}

/// One record as a row.
#[derive(Debug, Clone)]
struct Row {
    table: String,
    operation: Operation,
    /// Column names, keys first (for a delete: keys only).
    columns: Vec<String>,
    /// The schema of each column, for `auto.create` / `auto.evolve`.
    schemas: Vec<SchemaRef>,
    key_count: usize,
    values: Vec<SqlValue>,
    /// The Kafka partition the record was read from and the next offset after it (exactly-once).
    consumed: Option<(String, i32, i64)>,
}

pub struct JdbcSink {
    config: JdbcSinkConfig,
    connection: Option<Connection>,
    /// Columns of each table written to, as the database has them.
    tables: HashMap<String, Vec<String>>,
    /// Exactly-once: the connector whose consumed offsets are written with the rows.
    offsets_of: Option<String>,
}

fn rejected(message: String) -> ConnectorError {
    ConnectorError::rejected("TASK_PUT", message)
}

impl JdbcSink {
    /// Connects, so a wrong URL or password fails the task at once.
    pub async fn open(config: &JdbcSinkConfig, task: TaskId) -> Result<Self, ConnectorError> {
        let _ = task;
        let connection = Connection::open(&config.connection).await?;
        Ok(JdbcSink {
            config: config.clone(),
            connection: Some(connection),
            tables: HashMap::new(),
            offsets_of: None,
        })
    }

    /// From now on every transaction also writes the consumed offsets of its rows' records under
    /// `connector` in [`OFFSETS_TABLE`], which is created if missing.
    pub async fn keep_consumed_offsets(&mut self, connector: &str) -> Result<(), ConnectorError> {
        let spec = self.config.connection.clone();
        let conn = self.connection().await?;
        let dialect = conn.dialect();
        let text = match dialect {
            // Both key columns in a MySQL index of at most 3072 bytes (utf8mb4: 4 bytes a character).
            Dialect::MySql => "VARCHAR(255)",
            Dialect::Postgres => "TEXT",
        };
        let definitions: Vec<(String, String, bool)> = OFFSETS_COLUMNS
            .iter()
            .zip([text, text, "INT", "BIGINT"])
            .map(|(name, ty)| ((*name).to_owned(), ty.to_owned(), false))
            .collect();
        let keys = offsets_columns(..OFFSETS_KEY);
        let sql = dialect.create_table_if_missing(OFFSETS_TABLE, &definitions, &keys);
        let exists = conn
            .table_columns(OFFSETS_TABLE)
            .await
            .is_ok_and(|columns| !columns.is_empty());
        if exists {
            self.offsets_of = Some(connector.to_owned());
            return Ok(());
        }
        if let Err(error) = conn.run(&sql).await {
            // Two tasks creating it at once: one of them loses the race, and the table is there.
            let exists = conn
                .table_columns(OFFSETS_TABLE)
                .await
                .is_ok_and(|columns| !columns.is_empty());
            if !exists {
                return Err(classify(
                    error,
                    &spec,
                    &format!("creating the offsets table `{OFFSETS_TABLE}`"),
                )
                .into_error());
            }
        }
        self.offsets_of = Some(connector.to_owned());
        Ok(())
    }

    /// The next offset of each of `partitions` stored with the rows written so far (`None`: none stored).
    pub async fn consumed_offsets(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<(TopicPartition, Option<i64>)>, ConnectorError> {
        let Some(connector) = self.offsets_of.clone() else {
            return Ok(partitions.iter().map(|tp| (tp.clone(), None)).collect());
        };
        let spec = self.config.connection.clone();
        let conn = self.connection().await?;
        let dialect = conn.dialect();
        let sql = dialect.select_where(OFFSETS_TABLE, &offsets_columns(1..), &offsets_columns(..1));
        let column =
            |name: &str, decode: schema::Decode, target: schema::Target| schema::SourceColumn {
                name: name.to_owned(),
                decode,
                target,
                optional: false,
            };
        let (int, bigint) = match dialect {
            Dialect::Postgres => (schema::Decode::I32, schema::Decode::I64),
            Dialect::MySql => (schema::Decode::Int, schema::Decode::Int),
        };
        let columns = [
            column("kafka_topic", schema::Decode::Text, schema::Target::String),
            column("kafka_partition", int, schema::Target::Int32),
            column("next_offset", bigint, schema::Target::Int64),
        ];
        let rows = conn
            .select(&sql, &[SqlValue::Text(connector.clone())], &columns)
            .await
            .map_err(|e| {
                classify(e, &spec, &format!("reading the offsets of `{connector}`")).into_error()
            })?;
        let mut stored: HashMap<TopicPartition, i64> = HashMap::new();
        for row in rows {
            if let [SqlValue::Text(topic), partition, offset] = row.as_slice() {
                if let (Some(partition), Some(offset)) = (integer(partition), integer(offset)) {
                    let partition = i32::try_from(partition).map_err(|_| {
                        ConnectorError::fatal(format!(
                            "{OFFSETS_TABLE} in {spec} holds partition {partition} of `{topic}`, which is no partition"
                        ))
                    })?;
                    stored.insert(TopicPartition::new(topic.as_str(), partition), offset);
                }
            }
        }
        Ok(partitions
            .iter()
            .map(|tp| (tp.clone(), stored.get(tp).copied()))
            .collect())
    }

    /// The row of `record`, its key and value converted with `converters`.
    fn row(
        &self,
        record: &mut ConnectRecord,
        converters: &mut Converters,
    ) -> Result<Row, ConnectorError> {
        let topic = record.topic.as_str().to_owned();
        let table = self.config.table_for(&topic);
        // The partition as read, before any transform renamed the topic.
        let consumed = match (&self.offsets_of, &record.source_offset) {
            (
                Some(_),
                Some(SourcePosition::KafkaOffset {
                    topic,
                    partition,
                    offset,
                }),
            ) => Some((topic.as_str().to_owned(), *partition, *offset)),
            _ => None,
        };
        let convert_error = |stage: &'static str, e: &dyn std::fmt::Display| {
            ConnectorError::rejected(
                stage,
                format!("cannot convert a record of topic `{topic}`: {e}"),
            )
        };
        let value = record
            .value
            .convert(&mut converters.value, &topic)
            .map_err(|e| convert_error("VALUE_CONVERTER", &e))?
            .clone();
        let key = if self.config.pk_mode == PkMode::RecordKey {
            Some(
                record
                    .key
                    .convert(&mut converters.key, &topic)
                    .map_err(|e| convert_error("KEY_CONVERTER", &e))?
                    .clone(),
            )
        } else {
            None
        };
        let mut columns: Vec<String> = Vec::new();
        let mut schemas = Vec::new();
        let mut values = Vec::new();
        macro_rules! push {
            ($name:expr, $schema:expr, $value:expr) => {{
                let (name, schema): (&str, &SchemaRef) = ($name, $schema);
                let sql = schema::to_sql(schema, $value).map_err(|e| {
                    rejected(format!(
                        "field `{name}` of a record of topic `{topic}`: {e}"
                    ))
                })?;
                columns.push(name.to_owned());
                schemas.push(schema.clone());
                values.push(sql);
            }};
        }
        // Keys first.
        match self.config.pk_mode {
            PkMode::None => {}
            PkMode::Kafka => {
                let names: Vec<&str> = if self.config.pk_fields.len() == 3 {
                    self.config.pk_fields.iter().map(String::as_str).collect()
                } else {
                    KAFKA_PK.to_vec()
                };
                let partition = record.partition.unwrap_or(0);
                let offset = record.kafka_offset.unwrap_or(-1);
                push!(
                    names[0],
                    &Schema::new(Type::String).build(),
                    &Value::string(&topic)
                );
                push!(
                    names[1],
                    &Schema::new(Type::Int32).build(),
                    &Value::Int32(partition)
                );
                push!(
                    names[2],
                    &Schema::new(Type::Int64).build(),
                    &Value::Int64(offset)
                );
            }
            PkMode::RecordKey => {
                let key = key.unwrap_or_default();
                match (&key.schema, &key.value) {
                    (Some(schema), Value::Struct(s)) => {
                        for field in &schema.fields {
                            if self.config.pk_fields.is_empty() || self.config.pk_fields.contains(&field.name) {
                                push!(&field.name, &field.schema, s.get_index(field.index).unwrap_or(&Value::Null));
                            }
                        }
                    }
                    (Some(schema), v) if schema.ty.is_primitive() && !v.is_null() => {
                        let name = self.config.pk_fields.first().map_or("__connect_key", String::as_str);
                        push!(name, schema, v);
                    }
                    _ => {
                        return Err(rejected(format!(
                            "a record of topic `{topic}` has no key with a schema (pk.mode=record_key needs one: \
                             a converter with schemas, e.g. key.converter.schemas.enable=true)"
                        )))
                    }
                }
            }
            PkMode::RecordValue => {}
        }
        let key_count_before_value = columns.len();
        if value.value.is_null() {
            if self.config.delete_enabled && key_count_before_value > 0 {
                return Ok(Row {
                    table,
                    operation: Operation::Delete,
                    key_count: columns.len(),
                    columns,
                    schemas,
                    values,
                    consumed,
                });
            }
            return Err(rejected(format!(
                "a record of topic `{topic}` has a null value (a tombstone); set delete.enabled=true with \
                 pk.mode=record_key to delete its row"
            )));
        }
        let (Some(schema), Value::Struct(s)) = (&value.schema, &value.value) else {
            return Err(rejected(format!(
                "a record of topic `{topic}` has a value without a struct schema; the jdbc sink needs one (a \
                 converter with schemas, e.g. value.converter.schemas.enable=true)"
            )));
        };
        let mut key_count = key_count_before_value;
        if self.config.pk_mode == PkMode::RecordValue {
            for field in &schema.fields {
                if self.config.pk_fields.is_empty() || self.config.pk_fields.contains(&field.name) {
                    push!(
                        &field.name,
                        &field.schema,
                        s.get_index(field.index).unwrap_or(&Value::Null)
                    );
                }
            }
            key_count = columns.len();
        }
        for field in &schema.fields {
            let whitelisted = self.config.fields_whitelist.is_empty()
                || self.config.fields_whitelist.contains(&field.name);
            if whitelisted && !columns[..key_count].contains(&field.name) {
                push!(
                    &field.name,
                    &field.schema,
                    s.get_index(field.index).unwrap_or(&Value::Null)
                );
            }
        }
        Ok(Row {
            table,
            operation: Operation::Write,
            columns,
            schemas,
            key_count,
            values,
            consumed,
        })
    }

    async fn connection(&mut self) -> Result<&mut Connection, ConnectorError> {
        if self.connection.is_none() {
            self.connection = Some(Connection::open(&self.config.connection).await?);
        }
        self.connection
            .as_mut()
            .ok_or_else(|| ConnectorError::retriable("no connection"))
    }

    /// Creates the table or adds the columns `row` needs, as `auto.create` / `auto.evolve` allow.
    async fn ensure_table(&mut self, row: &Row) -> Result<(), Failure> {
        let dialect = self.config.connection.dialect;
        let spec = self.config.connection.clone();
        let same = |a: &str, b: &str| match dialect {
            Dialect::Postgres => a == b,
            Dialect::MySql => a.eq_ignore_ascii_case(b),
        };
        let known = self.tables.get(&row.table).is_some_and(|columns| {
            row.columns
                .iter()
                .all(|c| columns.iter().any(|k| same(k, c)))
        });
        if known {
            return Ok(());
        }
        let (auto_create, auto_evolve) = (self.config.auto_create, self.config.auto_evolve);
        let conn = self
            .connection()
            .await
            .map_err(|e| Failure::Connection(e.message))?;
        let mut existing: Vec<String> = conn
            .table_columns(&row.table)
            .await
            .map_err(|e| classify(e, &spec, &format!("reading the columns of `{}`", row.table)))?
            .into_iter()
            .map(|c| c.name)
            .collect();
        if existing.is_empty() {
            if !auto_create {
                return Err(Failure::Other(format!(
                    "table `{}` does not exist in {spec}; create it or set auto.create=true",
                    row.table
                )));
            }
            let mut definitions = Vec::new();
            for (i, (name, schema)) in row.columns.iter().zip(&row.schemas).enumerate() {
                let key = i < row.key_count;
                let ty = schema::ddl_type(dialect, schema, key).ok_or_else(|| {
                    Failure::Other(format!(
                        "field `{name}` is a {}, which has no column type",
                        schema.ty.name()
                    ))
                })?;
                definitions.push((name.clone(), ty, !key && schema.optional));
            }
            let sql = dialect.create_table(&row.table, &definitions, &row.columns[..row.key_count]);
            conn.run(&sql)
                .await
                .map_err(|e| classify(e, &spec, &format!("creating table `{}`", row.table)))?;
            tracing::info!(table = %row.table, "jdbc sink: created the table");
            existing = row.columns.clone();
        } else {
            let missing: Vec<usize> = (0..row.columns.len())
                .filter(|&i| !existing.iter().any(|k| same(k, &row.columns[i])))
                .collect();
            if !missing.is_empty() && !auto_evolve {
                let names: Vec<&str> = missing.iter().map(|&i| row.columns[i].as_str()).collect();
                return Err(Failure::Other(format!(
                    "table `{}` in {spec} has no column {}; add it or set auto.evolve=true",
                    row.table,
                    names.join(", ")
                )));
            }
            for i in missing {
                let ty = schema::ddl_type(dialect, &row.schemas[i], false).ok_or_else(|| {
                    Failure::Other(format!("field `{}` has no column type", row.columns[i]))
                })?;
                let sql = dialect.add_column(&row.table, &row.columns[i], &ty);
                conn.run(&sql).await.map_err(|e| {
                    classify(e, &spec, &format!("adding a column to `{}`", row.table))
                })?;
                tracing::info!(table = %row.table, column = %row.columns[i], "jdbc sink: added a column");
                existing.push(row.columns[i].clone());
            }
        }
        self.tables.insert(row.table.clone(), existing);
        Ok(())
    }

    /// Writes `rows` in one transaction; on failure nothing of them is committed.
    async fn write_all(&mut self, rows: &[Row]) -> Result<(), Failure> {
        let spec = self.config.connection.clone();
        for row in rows {
            self.ensure_table(row).await?;
        }
        let batch_size = self.config.batch_size;
        let insert_mode = self.config.insert_mode;
        let offsets = self
            .offsets_of
            .as_deref()
            .map(|connector| consumed_offsets(connector, rows));
        let conn = self
            .connection()
            .await
            .map_err(|e| Failure::Connection(e.message))?;
        let dialect = conn.dialect();
        conn.run("BEGIN")
            .await
            .map_err(|e| classify(e, &spec, "starting a transaction"))?;
        let result = async {
            let mut start = 0;
            while start < rows.len() {
                let first = &rows[start];
                // A run of rows for the same table, operation and columns.
                let mut end = start + 1;
                let per_row = first.columns.len().max(1);
                let most = batch_size.min(dialect.max_parameters() / per_row).max(1);
                while end < rows.len()
                    && end - start < most
                    && rows[end].table == first.table
                    && rows[end].operation == first.operation
                    && rows[end].columns == first.columns
                {
                    end += 1;
                }
                let run = &rows[start..end];
                let what = format!("writing {} rows to `{}`", run.len(), first.table);
                let keys = &first.columns[..first.key_count];
                match (first.operation, insert_mode) {
                    (Operation::Delete, _) => {
                        let sql = dialect.delete(&first.table, keys);
                        for row in run {
                            conn.execute(&sql, &row.values)
                                .await
                                .map_err(|e| classify(e, &spec, &what))?;
                        }
                    }
                    (Operation::Write, InsertMode::Update) => {
                        let sql =
                            dialect.update(&first.table, &first.columns[first.key_count..], keys);
                        for row in run {
                            let mut values = row.values[row.key_count..].to_vec();
                            values.extend_from_slice(&row.values[..row.key_count]);
                            conn.execute(&sql, &values)
                                .await
                                .map_err(|e| classify(e, &spec, &what))?;
                        }
                    }
                    (Operation::Write, mode) => {
                        let upsert = mode == InsertMode::Upsert;
                        // One statement may not upsert the same key twice (PostgreSQL refuses): the last wins.
                        let run: Vec<&Row> = if upsert && run.len() > 1 {
                            let mut last: HashMap<String, usize> = HashMap::new();
                            for (i, row) in run.iter().enumerate() {
                                last.insert(format!("{:?}", &row.values[..row.key_count]), i);
                            }
                            run.iter()
                                .enumerate()
                                .filter(|(i, row)| {
                                    last.get(&format!("{:?}", &row.values[..row.key_count]))
                                        == Some(i)
                                })
                                .map(|(_, row)| row)
                                .collect()
                        } else {
                            run.iter().collect()
                        };
                        let sql =
                            dialect.insert(&first.table, &first.columns, keys, run.len(), upsert);
                        let values: Vec<SqlValue> =
                            run.iter().flat_map(|r| r.values.iter().cloned()).collect();
                        conn.execute(&sql, &values)
                            .await
                            .map_err(|e| classify(e, &spec, &what))?;
                    }
                }
                start = end;
            }
            if let Some(values) = offsets.filter(|values| !values.is_empty()) {
                let columns = offsets_columns(..);
                let sql = dialect.insert(
                    OFFSETS_TABLE,
                    &columns,
                    &columns[..OFFSETS_KEY],
                    values.len() / OFFSETS_COLUMNS.len(),
                    true,
                );
                conn.execute(&sql, &values).await.map_err(|e| {
                    classify(
                        e,
                        &spec,
                        &format!("writing the offsets to `{OFFSETS_TABLE}`"),
                    )
                })?;
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => conn
                .run("COMMIT")
                .await
                .map_err(|e| classify(e, &spec, "committing")),
            Err(failure) => {
                if conn.run("ROLLBACK").await.is_err() || matches!(failure, Failure::Connection(_))
                {
                    self.connection = None;
                }
                Err(failure)
            }
        }
    }

    /// `write_all` with retries of a lost connection.
    async fn write_with_retries(&mut self, rows: &[Row]) -> Result<(), Failure> {
        let mut attempt = 0;
        loop {
            match self.write_all(rows).await {
                Err(Failure::Connection(message)) if attempt < self.config.max_retries => {
                    attempt += 1;
                    tracing::warn!(attempt, error = %message, "jdbc sink: retrying the batch");
                    self.connection = None;
                    tokio::time::sleep(self.config.retry_backoff).await;
                }
                other => return other,
            }
        }
    }

    /// Writes `rows` (of `records[..rows.len()]`) and drains their records. When the database refuses a
    /// value, finds the first row it refuses by writing them one at a time: the ones before are committed and
    /// drained, and that record is rejected.
    async fn write_and_drain(
        &mut self,
        rows: Vec<Row>,
        records: &mut Vec<ConnectRecord>,
    ) -> Result<(), ConnectorError> {
        match self.write_with_retries(&rows).await {
            Ok(()) => {
                records.drain(..rows.len());
                Ok(())
            }
            Err(Failure::Data(_)) => {
                for (i, row) in rows.iter().enumerate() {
                    match self.write_with_retries(std::slice::from_ref(row)).await {
                        Ok(()) => {}
                        Err(Failure::Data(message)) => {
                            records.drain(..i);
                            return Err(rejected(message));
                        }
                        Err(other) => {
                            records.drain(..i);
                            return Err(other.into_error());
                        }
                    }
                }
                records.drain(..rows.len());
                Ok(())
            }
            Err(other) => Err(other.into_error()),
        }
    }
}

/// Names of [`OFFSETS_COLUMNS`] in `range`.
fn offsets_columns(
    range: impl std::slice::SliceIndex<[&'static str], Output = [&'static str]>,
) -> Vec<String> {
    OFFSETS_COLUMNS[range]
        .iter()
        .map(|c| (*c).to_owned())
        .collect()
}

/// The values of the [`OFFSETS_TABLE`] rows for `rows`: per partition, the next offset after its last row.
fn consumed_offsets(connector: &str, rows: &[Row]) -> Vec<SqlValue> {
    let mut latest: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for (topic, partition, next) in rows.iter().filter_map(|r| r.consumed.as_ref()) {
        let entry = latest.entry((topic.as_str(), *partition)).or_insert(*next);
        *entry = (*entry).max(*next);
    }
    latest
        .into_iter()
        .flat_map(|((topic, partition), next)| {
            [
                SqlValue::Text(connector.to_owned()),
                SqlValue::Text(topic.to_owned()),
                SqlValue::I32(partition),
                SqlValue::I64(next),
            ]
        })
        .collect()
}

/// An integer column's value, however wide the driver read it.
fn integer(value: &SqlValue) -> Option<i64> {
    match value {
        SqlValue::I16(v) => Some(i64::from(*v)),
        SqlValue::I32(v) => Some(i64::from(*v)),
        SqlValue::I64(v) => Some(*v),
        SqlValue::U64(v) => i64::try_from(*v).ok(),
        _ => None,
    }
}

impl SinkTask for JdbcSink {
    async fn put(
        &mut self,
        records: &mut Vec<ConnectRecord>,
        converters: &mut Converters,
    ) -> Result<(), ConnectorError> {
        let mut rows = Vec::with_capacity(records.len());
        let mut refused = None;
        for record in records.iter_mut() {
            match self.row(record, converters) {
                Ok(row) => rows.push(row),
                Err(error) => {
                    refused = Some(error);
                    break;
                }
            }
        }
        if !rows.is_empty() {
            self.write_and_drain(rows, records).await?;
        }
        match refused {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Every `put` committed its rows.
    async fn flush(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }

    async fn close(&mut self) {
        if let Some(connection) = self.connection.take() {
            connection.close().await;
        }
    }
}
