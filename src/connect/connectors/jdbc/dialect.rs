//! The SQL each database is sent: identifier quoting, placeholders, the source's incremental queries and the
//! sink's insert / upsert / update / delete / DDL statements. Text only: nothing here talks to a database.

use std::fmt::Write as _;

/// The databases the connectors speak to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Postgres,
    /// MySQL and MariaDB.
    MySql,
}

/// The condition the source's query adds to find rows after its position, and the order it reads them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criteria {
    /// Every row (bulk).
    All,
    /// `inc > ?` (one parameter).
    IncrementingAfter,
    /// `ts > ? AND ts < ?` (last timestamp, upper bound).
    TimestampAfter,
    /// `ts = ?` (one timestamp group, read whole).
    TimestampEquals,
    /// `ts < ? AND ((ts = ? AND inc > ?) OR ts > ?)` (upper bound, last timestamp, last id, last timestamp).
    TimestampIncrementingAfter,
}

impl Dialect {
    pub fn scheme(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgresql",
            Dialect::MySql => "mysql",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Dialect::Postgres => 5432,
            Dialect::MySql => 3306,
        }
    }

    /// An identifier quoted (`"a""b"` / `` `a``b` ``).
    pub fn quote(self, identifier: &str) -> String {
        let q = match self {
            Dialect::Postgres => '"',
            Dialect::MySql => '`',
        };
        let mut out = String::with_capacity(identifier.len() + 2);
        out.push(q);
        for c in identifier.chars() {
            if c == q {
                out.push(q);
            }
            out.push(c);
        }
        out.push(q);
        out
    }

    /// A possibly schema-qualified table name (`schema.table`), each part quoted.
    pub fn quote_table(self, table: &str) -> String {
        table
            .split('.')
            .map(|part| self.quote(part))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// The `n`th (1-based) bind parameter.
    fn placeholder(self, out: &mut String, n: usize) {
        match self {
            Dialect::Postgres => {
                let _ = write!(out, "${n}");
            }
            Dialect::MySql => out.push('?'),
        }
    }

    /// `COALESCE(a, b)` of the timestamp columns, or the one column.
    pub fn timestamp_expression(self, columns: &[String]) -> String {
        let quoted: Vec<String> = columns.iter().map(|c| self.quote(c)).collect();
        if quoted.len() == 1 {
            quoted.into_iter().next().unwrap_or_default()
        } else {
            format!("COALESCE({})", quoted.join(", "))
        }
    }

    /// The source's query: `from` (a quoted table or a user's query in parentheses) with `criteria`, ordered
    /// by the position columns, at most `limit` rows (none for bulk and whole timestamp groups).
    pub fn source_query(
        self,
        from: &SourceFrom<'_>,
        criteria: Criteria,
        timestamp: &str,
        incrementing: &str,
        limit: Option<usize>,
    ) -> String {
        let mut sql = match from {
            SourceFrom::Table(table) => format!("SELECT * FROM {}", self.quote_table(table)),
            // The user's query as a derived table, so its own WHERE / ORDER BY stay intact.
            SourceFrom::Query(query) => format!("SELECT * FROM ({query}) AS pipewright_query"),
        };
        let mut n = 0;
        let mut param = |sql: &mut String| {
            n += 1;
            self.placeholder(sql, n);
        };
        match criteria {
            Criteria::All => {}
            Criteria::IncrementingAfter => {
                let _ = write!(sql, " WHERE {incrementing} > ");
                param(&mut sql);
                let _ = write!(sql, " ORDER BY {incrementing} ASC");
            }
            Criteria::TimestampAfter => {
                let _ = write!(sql, " WHERE {timestamp} > ");
                param(&mut sql);
                let _ = write!(sql, " AND {timestamp} < ");
                param(&mut sql);
                let _ = write!(sql, " ORDER BY {timestamp} ASC");
            }
            Criteria::TimestampEquals => {
                let _ = write!(sql, " WHERE {timestamp} = ");
                param(&mut sql);
            }
            Criteria::TimestampIncrementingAfter => {
                let _ = write!(sql, " WHERE {timestamp} < ");
                param(&mut sql);
                let _ = write!(sql, " AND (({timestamp} = ");
                param(&mut sql);
                let _ = write!(sql, " AND {incrementing} > ");
                param(&mut sql);
                let _ = write!(sql, ") OR {timestamp} > ");
                param(&mut sql);
                let _ = write!(sql, ") ORDER BY {timestamp} ASC, {incrementing} ASC");
            }
        }
        if let Some(limit) = limit {
            let _ = write!(sql, " LIMIT {limit}");
        }
        sql
    }

    /// The database's clock in UTC, without a zone, at the moment of the query.
    pub fn now_utc_query(self) -> &'static str {
        match self {
            Dialect::Postgres => "SELECT CAST(clock_timestamp() AT TIME ZONE 'UTC' AS TIMESTAMP)",
            Dialect::MySql => "SELECT UTC_TIMESTAMP(6)",
        }
    }

    /// The base tables of the connection's database (PostgreSQL: of the schemas on the search path).
    pub fn list_tables_query(self) -> &'static str {
        match self {
            Dialect::Postgres => {
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = ANY (current_schemas(false)) AND table_type = 'BASE TABLE' \
                 ORDER BY table_name"
            }
            Dialect::MySql => {
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name"
            }
        }
    }

    /// The columns of one table (parameter: the table name): name, type, nullable, precision, scale, in order.
    pub fn columns_query(self) -> &'static str {
        match self {
            Dialect::Postgres => {
                "SELECT column_name::text, udt_name::text, (is_nullable = 'YES'), \
                 CAST(numeric_precision AS BIGINT), CAST(numeric_scale AS BIGINT) \
                 FROM information_schema.columns \
                 WHERE table_schema = ANY (current_schemas(false)) AND table_name = $1 \
                 ORDER BY ordinal_position"
            }
            Dialect::MySql => {
                "SELECT CAST(column_name AS CHAR), CAST(column_type AS CHAR), (is_nullable = 'YES'), \
                 CAST(numeric_precision AS SIGNED), CAST(numeric_scale AS SIGNED) \
                 FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = ? \
                 ORDER BY ordinal_position"
            }
        }
    }

    /// `INSERT INTO t (cols) VALUES (…), (…)` for `rows` rows, upserting on `keys` when `upsert`.
    pub fn insert(
        self,
        table: &str,
        columns: &[String],
        keys: &[String],
        rows: usize,
        upsert: bool,
    ) -> String {
        let mut sql = format!("INSERT INTO {} (", self.quote_table(table));
        self.column_list(&mut sql, columns);
        sql.push_str(") VALUES ");
        let mut n = 0;
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for column in 0..columns.len() {
                if column > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                self.placeholder(&mut sql, n);
            }
            sql.push(')');
        }
        if upsert {
            let non_keys: Vec<&String> = columns.iter().filter(|c| !keys.contains(c)).collect();
            match self {
                Dialect::Postgres => {
                    sql.push_str(" ON CONFLICT (");
                    self.column_list(&mut sql, keys);
                    sql.push(')');
                    if non_keys.is_empty() {
                        sql.push_str(" DO NOTHING");
                    } else {
                        sql.push_str(" DO UPDATE SET ");
                        for (i, c) in non_keys.iter().enumerate() {
                            if i > 0 {
                                sql.push_str(", ");
                            }
                            let q = self.quote(c);
                            let _ = write!(sql, "{q} = EXCLUDED.{q}");
                        }
                    }
                }
                Dialect::MySql => {
                    sql.push_str(" ON DUPLICATE KEY UPDATE ");
                    // With no other column, a no-op update keeps the statement valid.
                    let targets: Vec<&String> = if non_keys.is_empty() {
                        keys.iter().collect()
                    } else {
                        non_keys
                    };
                    for (i, c) in targets.iter().enumerate() {
                        if i > 0 {
                            sql.push_str(", ");
                        }
                        let q = self.quote(c);
                        let _ = write!(sql, "{q} = VALUES({q})");
                    }
                }
            }
        }
        sql
    }

    /// `UPDATE t SET a = ?, … WHERE k = ? AND …` (the set columns' parameters first).
    pub fn update(self, table: &str, set: &[String], keys: &[String]) -> String {
        let mut sql = format!("UPDATE {} SET ", self.quote_table(table));
        let mut n = 0;
        for (i, c) in set.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "{} = ", self.quote(c));
            n += 1;
            self.placeholder(&mut sql, n);
        }
        self.where_keys(&mut sql, keys, &mut n);
        sql
    }

    /// `DELETE FROM t WHERE k = ? AND …`.
    pub fn delete(self, table: &str, keys: &[String]) -> String {
        let mut sql = format!("DELETE FROM {}", self.quote_table(table));
        let mut n = 0;
        self.where_keys(&mut sql, keys, &mut n);
        sql
    }

    fn where_keys(self, sql: &mut String, keys: &[String], n: &mut usize) {
        sql.push_str(" WHERE ");
        for (i, k) in keys.iter().enumerate() {
            if i > 0 {
                sql.push_str(" AND ");
            }
            let _ = write!(sql, "{} = ", self.quote(k));
            *n += 1;
            self.placeholder(sql, *n);
        }
    }

    fn column_list(self, sql: &mut String, columns: &[String]) {
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&self.quote(c));
        }
    }

    /// `CREATE TABLE t (col type [NOT NULL], …, PRIMARY KEY (…))`; `columns`: name, SQL type, nullable.
    pub fn create_table(
        self,
        table: &str,
        columns: &[(String, String, bool)],
        keys: &[String],
    ) -> String {
        let mut sql = format!("CREATE TABLE {} (", self.quote_table(table));
        for (i, (name, ty, nullable)) in columns.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "{} {ty}", self.quote(name));
            if !nullable {
                sql.push_str(" NOT NULL");
            }
        }
        if !keys.is_empty() {
            sql.push_str(", PRIMARY KEY (");
            self.column_list(&mut sql, keys);
            sql.push(')');
        }
        sql.push(')');
        sql
    }

    /// `CREATE TABLE IF NOT EXISTS …`: [`Dialect::create_table`] for a table several tasks may create at once.
    pub fn create_table_if_missing(
        self,
        table: &str,
        columns: &[(String, String, bool)],
        keys: &[String],
    ) -> String {
        let sql = self.create_table(table, columns, keys);
        format!(
            "CREATE TABLE IF NOT EXISTS {}",
            &sql["CREATE TABLE ".len()..]
        )
    }

    /// `SELECT a, … FROM t WHERE k = ? AND …`.
    pub fn select_where(self, table: &str, columns: &[String], keys: &[String]) -> String {
        let mut sql = String::from("SELECT ");
        self.column_list(&mut sql, columns);
        let _ = write!(sql, " FROM {}", self.quote_table(table));
        let mut n = 0;
        self.where_keys(&mut sql, keys, &mut n);
        sql
    }

    /// `ALTER TABLE t ADD COLUMN c type` (nullable: existing rows have no value).
    pub fn add_column(self, table: &str, column: &str, ty: &str) -> String {
        format!(
            "ALTER TABLE {} ADD COLUMN {} {ty}",
            self.quote_table(table),
            self.quote(column)
        )
    }

    /// Most bind parameters one statement may carry (both protocols count them in 16 bits).
    pub fn max_parameters(self) -> usize {
        65_535
    }
}

/// What the source reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFrom<'a> {
    Table(&'a str),
    Query(&'a str),
}
