//! The JDBC source task: finds the tables (or runs the query), reads each table's rows after its position in
//! the mode's order, and hands them out as Structs with the position after each row.
//!
//! timestamp+incrementing reads `ts < now - delay AND ((ts = last AND id > last_id) OR ts > last)` ordered by
//! (ts, id), `now` being the database's clock: a row is read only once every transaction that could still
//! commit an earlier (ts, id) has had the delay to do so, and (ts, id) orders rows that share a timestamp, so a
//! LIMIT may cut anywhere and a restart resumes after exactly the last row handed out. timestamp mode alone
//! never cuts a batch inside a group of rows sharing a timestamp, and a row's position only passes its
//! timestamp at the group's last row.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use super::config::{JdbcSourceConfig, Mode, ZoneOffset};
use super::connection::{classify, Connection, DescribedColumn};
use super::dialect::{Criteria, SourceFrom};
use super::position::{self, Offsets, TableOffset};
use super::schema::{self, Decode, SourceColumn, SqlValue};
use crate::connect::connector::{ConnectorError, PollLimit, SourcePoll, SourceTask, TaskId};
use crate::connect::data::{Schema, SchemaRef, Str, Struct, Value};
use crate::connect::record::{ConnectRecord, Data, SourcePosition};

/// Longest a poll waits when no table is due, so a stop is noticed soon.
const IDLE_WAIT: Duration = Duration::from_millis(200);

/// One table (or the query) being copied.
struct Table {
    /// The table's name; `""` for the query.
    name: String,
    topic: Str,
    columns: Vec<SourceColumn>,
    schema: SchemaRef,
    /// Indexes of the incrementing and timestamp columns in `columns`.
    incrementing: Option<usize>,
    timestamps: Vec<usize>,
    /// Whether the timestamp columns hold a zone (bound as UTC instants rather than local times).
    timestamp_has_zone: bool,
    next_poll: Instant,
}

pub struct JdbcSource {
    config: JdbcSourceConfig,
    /// Which tables are this task's: see [`task_of`].
    task: TaskId,
    connection: Option<Connection>,
    tables: Vec<Table>,
    tables_read_at: Option<Instant>,
    /// Where each table stands after the records handed out so far.
    offsets: Offsets,
    /// Round-robin between due tables.
    next_table: usize,
    /// Records read but not yet handed out (a query returned more than one poll may take).
    buffered: VecDeque<ConnectRecord>,
}

/// The task of `count` that reads `table` (`""`: the query, always task 0): by a hash of the name, so that a
/// table found later (`table.poll.interval.ms`) moves no other table to another task, as Kafka's contiguous
/// groups would; positions are kept per task, and a table read by two tasks at once would be sent twice.
pub fn task_of(table: &str, count: u32) -> u32 {
    if table.is_empty() || count <= 1 {
        return 0;
    }
    crc32c::crc32c(table.as_bytes()) % count
}

/// Floor of timestamp positions: before any row (both databases take year 1).
fn timestamp_floor() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

impl JdbcSource {
    /// Connects (so a wrong URL or password fails the task at once) and takes up the stored offsets.
    pub async fn open(
        config: &JdbcSourceConfig,
        task: TaskId,
        start: &[SourcePosition],
    ) -> Result<Self, ConnectorError> {
        // The positions of every task of the connector: a table keeps the furthest.
        let mut offsets = Offsets::new();
        for p in start
            .iter()
            .filter(|p| matches!(p, SourcePosition::Opaque(_)))
        {
            position::merge(
                &mut offsets,
                position::decode(p).map_err(ConnectorError::fatal)?,
            );
        }
        let connection = Connection::open(&config.connection).await?;
        Ok(JdbcSource {
            config: config.clone(),
            task,
            connection: Some(connection),
            tables: Vec::new(),
            tables_read_at: None,
            offsets,
            next_table: 0,
            buffered: VecDeque::new(),
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

    /// A failed statement: a lost connection is dropped (the next poll reconnects) and retriable.
    fn failed(&mut self, error: sqlx::Error, what: &str) -> ConnectorError {
        let failure = classify(error, &self.config.connection, what);
        if matches!(failure, super::connection::Failure::Connection(_)) {
            self.connection = None;
        }
        failure.into_error()
    }

    /// Reads the table list (and each table's columns) again when `table.poll.interval.ms` passed.
    async fn refresh_tables(&mut self) -> Result<(), ConnectorError> {
        let due = self
            .tables_read_at
            .is_none_or(|at| at.elapsed() >= self.config.table_poll_interval);
        if !due {
            return Ok(());
        }
        let names: Vec<String> = if self.config.query.is_some() {
            vec![String::new()]
        } else {
            let found = match self.connection().await?.tables().await {
                Ok(found) => found,
                Err(e) => return Err(self.failed(e, "listing tables")),
            };
            if self.config.whitelist.is_empty() {
                found
                    .into_iter()
                    .filter(|t| !self.config.blacklist.iter().any(|b| b == t))
                    .collect()
            } else {
                for wanted in &self.config.whitelist {
                    let bare = wanted.rsplit('.').next().unwrap_or(wanted);
                    if !found.iter().any(|t| t == bare) {
                        return Err(ConnectorError::fatal(format!(
                            "table `{wanted}` of table.whitelist does not exist in {}",
                            self.config.connection
                        )));
                    }
                }
                self.config.whitelist.clone()
            }
        };
        let task = self.task;
        let names: Vec<String> = names
            .into_iter()
            .filter(|name| task_of(name, task.count) == task.index)
            .collect();
        if names.is_empty() && self.tables_read_at.is_none() {
            tracing::info!(
                task = task.index,
                tasks = task.count,
                "jdbc source: no table falls to this task"
            );
        }
        let mut tables = Vec::with_capacity(names.len());
        for name in names {
            let next_poll = self
                .tables
                .iter()
                .find(|t| t.name == name)
                .map(|t| t.next_poll)
                .unwrap_or_else(Instant::now);
            let mut table = self.describe_table(&name).await?;
            table.next_poll = next_poll;
            tables.push(table);
        }
        self.tables = tables;
        self.tables_read_at = Some(Instant::now());
        Ok(())
    }

    /// The columns of `name` (the query's for `""`), mapped, with the mode's columns found and checked.
    async fn describe_table(&mut self, name: &str) -> Result<Table, ConnectorError> {
        let (described, what): (Vec<DescribedColumn>, String) = if name.is_empty() {
            let query = self.config.query.clone().unwrap_or_default();
            let dialect = self.config.connection.dialect;
            let sql = dialect.source_query(&SourceFrom::Query(&query), Criteria::All, "", "", None);
            match self.connection().await?.describe(&sql).await {
                Ok(columns) => (columns, "the query".to_owned()),
                Err(e) => return Err(self.failed(e, "describing the query")),
            }
        } else {
            match self.connection().await?.table_columns(name).await {
                Ok(columns) if columns.is_empty() => {
                    return Err(ConnectorError::fatal(format!(
                        "table `{name}` does not exist in {}",
                        self.config.connection
                    )))
                }
                Ok(columns) => (columns, format!("table `{name}`")),
                Err(e) => return Err(self.failed(e, &format!("reading the columns of `{name}`"))),
            }
        };
        let mut columns = Vec::with_capacity(described.len());
        for c in &described {
            let column = schema::source_column(
                &c.name,
                &c.type_name,
                c.nullable,
                c.precision,
                c.scale,
                self.config.numeric_mapping,
            )
            .map_err(|e| {
                ConnectorError::fatal(format!("{what} in {}: {e}", self.config.connection))
            })?;
            columns.push(column);
        }
        let find = |column: &str| -> Result<usize, ConnectorError> {
            columns
                .iter()
                .position(|c| c.name == column)
                .ok_or_else(|| {
                    ConnectorError::fatal(format!(
                        "{what} in {} has no column `{column}`",
                        self.config.connection
                    ))
                })
        };
        let mode = self.config.mode;
        let incrementing = match (&self.config.incrementing_column, mode.uses_incrementing()) {
            (Some(column), true) => Some(find(column)?),
            _ => None,
        };
        let timestamps = if mode.uses_timestamp() {
            self.config
                .timestamp_columns
                .iter()
                .map(|c| find(c))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        if let Some(i) = incrementing {
            if !matches!(
                columns[i].decode,
                Decode::Int | Decode::UInt | Decode::I16 | Decode::I32 | Decode::I64
            ) && !matches!(columns[i].target, schema::Target::Decimal(Some(0)))
            {
                return Err(ConnectorError::fatal(format!(
                    "{what}: incrementing column `{}` is not an integer column",
                    columns[i].name
                )));
            }
        }
        for &i in &timestamps {
            if !matches!(columns[i].decode, Decode::Timestamp | Decode::TimestampTz) {
                return Err(ConnectorError::fatal(format!(
                    "{what}: timestamp column `{}` is not a timestamp or datetime column",
                    columns[i].name
                )));
            }
        }
        if self.config.validate_non_null && !name.is_empty() {
            let checked = incrementing.into_iter().chain(if timestamps.len() == 1 {
                timestamps.clone()
            } else {
                Vec::new()
            });
            for i in checked {
                if columns[i].optional {
                    return Err(ConnectorError::fatal(format!(
                        "{what}: column `{}` is nullable, so rows where it is NULL would never be read; make \
                         it NOT NULL or set validate.non.null=false",
                        columns[i].name
                    )));
                }
            }
        }
        let timestamp_has_zone = timestamps
            .first()
            .is_some_and(|&i| columns[i].decode == Decode::TimestampTz);
        let schema_name = if name.is_empty() { "query" } else { name };
        let topic = if name.is_empty() {
            self.config.topic_prefix.clone()
        } else {
            format!("{}{name}", self.config.topic_prefix)
        };
        Ok(Table {
            name: name.to_owned(),
            topic: Str::from(topic.as_str()),
            schema: schema::row_schema(schema_name, &columns),
            columns,
            incrementing,
            timestamps,
            timestamp_has_zone,
            next_poll: Instant::now(),
        })
    }

    /// A timestamp position (micros of the column's own clock) as a bind value of the column's kind.
    fn timestamp_value(micros: i64, has_zone: bool) -> SqlValue {
        let t = DateTime::from_timestamp_micros(micros).unwrap_or_default();
        if has_zone {
            SqlValue::TimestampTz(t)
        } else {
            SqlValue::Timestamp(t.naive_utc())
        }
    }

    /// Where a table starts when nothing is stored: `timestamp.initial` (-1: the database's now), or before
    /// every row.
    fn initial_offset(&self, now_utc: NaiveDateTime) -> TableOffset {
        let zone = self.config.db_timezone;
        let local = |utc: NaiveDateTime| utc + chrono::Duration::seconds(i64::from(zone.seconds));
        let timestamp = match self.config.timestamp_initial {
            Some(-1) => local(now_utc),
            Some(ms) => local(
                DateTime::from_timestamp_millis(ms)
                    .unwrap_or_default()
                    .naive_utc(),
            ),
            None => timestamp_floor(),
        };
        TableOffset {
            incrementing: Some(i64::MIN),
            timestamp_micros: Some(timestamp.and_utc().timestamp_micros()),
        }
    }

    /// Reads the next rows of table `index` into `buffered`; whether the table may have more right away.
    async fn read_table(&mut self, index: usize) -> Result<bool, ConnectorError> {
        let mode = self.config.mode;
        let dialect = self.config.connection.dialect;
        let limit = self.config.batch_max_rows;
        let zone = self.config.db_timezone;
        let (name, has_zone) = {
            let t = &self.tables[index];
            (t.name.clone(), t.timestamp_has_zone)
        };
        let needs_clock = mode.uses_timestamp() || !self.offsets.contains_key(&name);
        let now_utc = if needs_clock {
            match self.connection().await?.now_utc().await {
                Ok(now) => now,
                Err(e) => return Err(self.failed(e, "reading the database clock")),
            }
        } else {
            NaiveDateTime::default()
        };
        let offset = match self.offsets.get(&name) {
            Some(offset) => *offset,
            None => self.initial_offset(now_utc),
        };
        let upper_utc =
            now_utc - chrono::Duration::from_std(self.config.timestamp_delay).unwrap_or_default();
        let upper_local = upper_utc + chrono::Duration::seconds(i64::from(zone.seconds));
        let upper = Self::timestamp_value(
            if has_zone { upper_utc } else { upper_local }
                .and_utc()
                .timestamp_micros(),
            has_zone,
        );
        let last_ts = match offset.timestamp_micros {
            Some(micros) => Self::timestamp_value(micros, has_zone),
            None => SqlValue::Timestamp(timestamp_floor()),
        };
        let last_id = SqlValue::I64(offset.incrementing.unwrap_or(i64::MIN));
        let table = &self.tables[index];
        let query = self.config.query.clone().unwrap_or_default();
        let table_name = table.name.clone();
        let from = if table_name.is_empty() {
            SourceFrom::Query(&query)
        } else {
            SourceFrom::Table(&table_name)
        };
        let ts_columns: Vec<String> = table
            .timestamps
            .iter()
            .map(|&i| table.columns[i].name.clone())
            .collect();
        let ts_expr = dialect.timestamp_expression(&ts_columns);
        let id_expr = table
            .incrementing
            .map(|i| dialect.quote(&table.columns[i].name))
            .unwrap_or_default();
        let (criteria, binds, row_limit) = match mode {
            Mode::Bulk => (Criteria::All, vec![], None),
            Mode::Incrementing => (Criteria::IncrementingAfter, vec![last_id], Some(limit)),
            Mode::Timestamp => (Criteria::TimestampAfter, vec![last_ts, upper], Some(limit)),
            Mode::TimestampIncrementing => (
                Criteria::TimestampIncrementingAfter,
                vec![upper, last_ts.clone(), last_id, last_ts],
                Some(limit),
            ),
        };
        let sql = dialect.source_query(&from, criteria, &ts_expr, &id_expr, row_limit);
        let columns = table.columns.clone();
        let what = if table.name.is_empty() {
            "running the query".to_owned()
        } else {
            format!("reading table `{}`", table.name)
        };
        let mut rows = match self
            .connection()
            .await?
            .select(&sql, &binds, &columns)
            .await
        {
            Ok(rows) => rows,
            Err(e) => return Err(self.failed(e, &what)),
        };
        let full = row_limit.is_some_and(|l| rows.len() >= l);
        let timestamp_indexes = self.tables[index].timestamps.clone();
        let row_ts = |row: &[SqlValue]| -> Option<i64> {
            timestamp_indexes.iter().find_map(|&i| match row.get(i)? {
                SqlValue::Timestamp(t) => Some(t.and_utc().timestamp_micros()),
                SqlValue::TimestampTz(t) => Some(t.timestamp_micros()),
                _ => None,
            })
        };
        if mode == Mode::Timestamp && full {
            // A LIMIT may have cut the last timestamp group: leave it for the next query, or read a group
            // larger than the limit whole.
            let last = rows.last().and_then(|r| row_ts(r));
            let kept = rows
                .iter()
                .rposition(|r| row_ts(r) != last)
                .map_or(0, |p| p + 1);
            if kept > 0 {
                rows.truncate(kept);
            } else if let Some(last) = last {
                let sql = dialect.source_query(
                    &from,
                    Criteria::TimestampEquals,
                    &ts_expr,
                    &id_expr,
                    None,
                );
                let binds = [Self::timestamp_value(last, has_zone)];
                rows = match self
                    .connection()
                    .await?
                    .select(&sql, &binds, &columns)
                    .await
                {
                    Ok(rows) => rows,
                    Err(e) => return Err(self.failed(e, &what)),
                };
            }
        }
        let table = &self.tables[index];
        let varies = schema::schema_varies_per_row(&table.columns);
        let mut offset = offset;
        let mut row_timestamps = Vec::with_capacity(rows.len());
        for row in rows {
            let ts = row_ts(&row);
            row_timestamps.push(ts);
            let id = table.incrementing.and_then(|i| match &row[i] {
                SqlValue::I16(v) => Some(i64::from(*v)),
                SqlValue::I32(v) => Some(i64::from(*v)),
                SqlValue::I64(v) => Some(*v),
                SqlValue::U64(v) => i64::try_from(*v).ok(),
                _ => None,
            });
            let value = row_struct(table, row, zone, varies)?;
            match mode {
                Mode::Bulk => {}
                Mode::Incrementing => offset.incrementing = id.or(offset.incrementing),
                Mode::TimestampIncrementing => {
                    offset.timestamp_micros = ts.or(offset.timestamp_micros);
                    offset.incrementing = id.or(offset.incrementing);
                }
                Mode::Timestamp => {}
            }
            let mut record = ConnectRecord::new(table.topic.clone(), Data::Raw(None), value);
            if mode != Mode::Bulk {
                self.offsets.insert(table.name.clone(), offset);
                record.source_offset = Some(position::encode(&self.offsets));
            }
            self.buffered.push_back(record);
        }
        if mode == Mode::Timestamp {
            self.offsets.entry(name).or_insert(offset);
            self.set_group_positions(index, &row_timestamps);
        }
        Ok(full)
    }

    /// timestamp mode: each of the last buffered records of table `index` (read with `timestamps`, micros)
    /// gets, as its position, the timestamp of the last complete group at or before it (a group's rows before
    /// its last one keep the previous group's), so a restart re-reads an interrupted group instead of skipping
    /// its rest.
    fn set_group_positions(&mut self, index: usize, timestamps: &[Option<i64>]) {
        let name = self.tables[index].name.clone();
        let start = self.buffered.len() - timestamps.len();
        let mut committed = self.offsets.get(&name).copied().unwrap_or_default();
        for (k, this) in timestamps.iter().enumerate() {
            let group_ends = timestamps.get(k + 1).is_none_or(|next| next != this);
            if group_ends {
                committed.timestamp_micros = this.or(committed.timestamp_micros);
            }
            self.offsets.insert(name.clone(), committed);
            let position = position::encode(&self.offsets);
            if let Some(record) = self.buffered.get_mut(start + k) {
                record.source_offset = Some(position);
            }
        }
    }
}

/// The Struct of one row.
fn row_struct(
    table: &Table,
    row: Vec<SqlValue>,
    zone: ZoneOffset,
    varies: bool,
) -> Result<Data, ConnectorError> {
    let mut values = Vec::with_capacity(row.len());
    let mut scales = Vec::new();
    for (column, value) in table.columns.iter().zip(row) {
        let (value, scale) = schema::to_connect(column, value, zone)
            .map_err(|e| ConnectorError::fatal(format!("table `{}`: {e}", table.name)))?;
        values.push(value);
        scales.push(scale);
    }
    let schema = if varies {
        let mut schema = Schema::structure()
            .with_name(table.schema.name.as_deref().unwrap_or("query"))
            .optional();
        for (column, scale) in table.columns.iter().zip(&scales) {
            schema = schema.field(&column.name, schema::field_schema(column, *scale));
        }
        schema.build()
    } else {
        table.schema.clone()
    };
    let value = Struct::from_values(schema.clone(), values)
        .map_err(|e| ConnectorError::fatal(format!("table `{}`: {e}", table.name)))?;
    Ok(Data::new(Some(schema), Value::Struct(value)))
}

impl SourceTask for JdbcSource {
    async fn poll(&mut self, limit: PollLimit) -> Result<SourcePoll, ConnectorError> {
        if self.buffered.is_empty() {
            self.refresh_tables().await?;
            let now = Instant::now();
            let count = self.tables.len();
            let due = (0..count)
                .map(|k| (self.next_table + k) % count.max(1))
                .find(|&i| self.tables[i].next_poll <= now);
            let Some(index) = due else {
                let wait = self
                    .tables
                    .iter()
                    .map(|t| t.next_poll.saturating_duration_since(now))
                    .min()
                    .unwrap_or(IDLE_WAIT)
                    .min(IDLE_WAIT);
                tokio::time::sleep(wait).await;
                return Ok(SourcePoll::Idle);
            };
            self.next_table = index + 1;
            let more = self.read_table(index).await?;
            if !more {
                self.tables[index].next_poll = Instant::now() + self.config.poll_interval;
            }
            if self.buffered.is_empty() {
                return Ok(SourcePoll::Idle);
            }
        }
        let take = limit.records.max(1).min(self.buffered.len());
        Ok(SourcePoll::Records(self.buffered.drain(..take).collect()))
    }

    async fn commit(&mut self, position: &SourcePosition) -> Result<(), ConnectorError> {
        let _ = position;
        Ok(())
    }

    async fn close(&mut self) {
        if let Some(connection) = self.connection.take() {
            connection.close().await;
        }
    }
}
