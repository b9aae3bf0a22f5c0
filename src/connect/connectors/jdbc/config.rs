//! The `jdbc` source's and sink's keys (Confluent's names), their registry entries, their typed configs, and
//! `connection.url` in its JDBC and plain forms.

use std::fmt;
use std::time::Duration;

use super::dialect::Dialect;
use crate::connect::component::{Capabilities, ComponentInfo, ComponentKind};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigProblem, ConfigType, ParsedConfig};

const CONNECTION_URL: ConfigKey = ConfigKey::required(
    "connection.url",
    ConfigType::String,
    "jdbc:postgresql://host:5432/db, jdbc:mysql://host:3306/db, jdbc:mariadb://…, postgres://… or mysql://… \
     (a user may be given as ?user= or user@; a password only in connection.password)",
);
const CONNECTION_USER: ConfigKey = ConfigKey::optional(
    "connection.user",
    ConfigType::String,
    None,
    "Database user (wins over one in the URL)",
);
const CONNECTION_PASSWORD: ConfigKey = ConfigKey::optional(
    "connection.password",
    ConfigType::Password,
    None,
    "Database password (shown as [hidden] by the REST API and validate; a URL may not hold one)",
);
const CONNECTION_ATTEMPTS: ConfigKey = ConfigKey::optional(
    "connection.attempts",
    ConfigType::Int,
    Some("3"),
    "Attempts to connect before the task reports a retriable error (a refused password is not retried)",
);
const CONNECTION_BACKOFF: ConfigKey = ConfigKey::optional(
    "connection.backoff.ms",
    ConfigType::Long,
    Some("10000"),
    "Wait between connection attempts",
);

pub const SOURCE_CONFIG: ConfigDef = ConfigDef::new(&[
    CONNECTION_URL,
    CONNECTION_USER,
    CONNECTION_PASSWORD,
    CONNECTION_ATTEMPTS,
    CONNECTION_BACKOFF,
    ConfigKey::optional(
        "mode",
        ConfigType::String,
        None,
        "bulk, incrementing, timestamp or timestamp+incrementing",
    )
    .one_of(&["bulk", "incrementing", "timestamp", "timestamp+incrementing"]),
    ConfigKey::optional(
        "table.whitelist",
        ConfigType::List,
        None,
        "Tables to copy (all tables of the database when neither list nor query is given)",
    ),
    ConfigKey::optional(
        "table.blacklist",
        ConfigType::List,
        None,
        "Tables not to copy",
    ),
    ConfigKey::optional(
        "query",
        ConfigType::String,
        None,
        "A SELECT to run instead of copying tables; the mode's WHERE clause is appended",
    ),
    ConfigKey::optional(
        "incrementing.column.name",
        ConfigType::String,
        None,
        "Strictly increasing integer column (incrementing modes)",
    ),
    ConfigKey::optional(
        "timestamp.column.name",
        ConfigType::List,
        None,
        "Timestamp columns (timestamp modes); several are coalesced, first non-null wins",
    ),
    ConfigKey::optional(
        "timestamp.delay.interval.ms",
        ConfigType::Long,
        Some("0"),
        "Rows are read only once their timestamp is this much older than the database's clock",
    ),
    ConfigKey::optional(
        "timestamp.initial",
        ConfigType::Long,
        None,
        "Epoch millis to start from in timestamp modes (-1: now); unset: from the beginning",
    ),
    ConfigKey::optional(
        "validate.non.null",
        ConfigType::Boolean,
        Some("true"),
        "Refuse tables whose incrementing or timestamp columns are nullable",
    ),
    ConfigKey::optional(
        "poll.interval.ms",
        ConfigType::Int,
        Some("5000"),
        "Wait between polls of a table that had no new rows",
    ),
    ConfigKey::optional(
        "batch.max.rows",
        ConfigType::Int,
        Some("100"),
        "Most rows read by one query",
    ),
    ConfigKey::optional(
        "topic.prefix",
        ConfigType::String,
        Some(""),
        "Prefix of the topic names (the table name follows); with query, the whole topic name",
    ),
    ConfigKey::optional(
        "numeric.mapping",
        ConfigType::String,
        Some("none"),
        "none: NUMERIC/DECIMAL as Decimal; precision_only: integers by precision when scale is 0; best_fit: \
         also float64 when scale > 0",
    )
    .one_of(&["none", "best_fit", "precision_only"]),
    ConfigKey::optional(
        "table.poll.interval.ms",
        ConfigType::Long,
        Some("60000"),
        "How often the list of tables is read again (new tables are copied, dropped ones forgotten)",
    ),
    ConfigKey::optional(
        "db.timezone",
        ConfigType::String,
        Some("UTC"),
        "Zone of timestamps without one (DATETIME, TIMESTAMP WITHOUT TIME ZONE): UTC or an offset like +02:00",
    ),
]);

pub const SINK_CONFIG: ConfigDef = ConfigDef::new(&[
    CONNECTION_URL,
    CONNECTION_USER,
    CONNECTION_PASSWORD,
    CONNECTION_ATTEMPTS,
    CONNECTION_BACKOFF,
    ConfigKey::optional(
        "insert.mode",
        ConfigType::String,
        Some("insert"),
        "insert, upsert (insert or update by primary key) or update",
    )
    .one_of(&["insert", "upsert", "update"]),
    ConfigKey::optional(
        "pk.mode",
        ConfigType::String,
        Some("none"),
        "none, kafka (topic, partition, offset), record_key or record_value",
    )
    .one_of(&["none", "kafka", "record_key", "record_value"]),
    ConfigKey::optional(
        "pk.fields",
        ConfigType::List,
        None,
        "Primary key columns: of the key (record_key), of the value (record_value), or the three kafka names",
    ),
    ConfigKey::optional(
        "fields.whitelist",
        ConfigType::List,
        None,
        "Value fields written (all when empty)",
    ),
    ConfigKey::optional(
        "table.name.format",
        ConfigType::String,
        Some("${topic}"),
        "Table of a record; ${topic} is its topic",
    ),
    ConfigKey::optional(
        "auto.create",
        ConfigType::Boolean,
        Some("false"),
        "CREATE TABLE from the record's schema when the table is missing",
    ),
    ConfigKey::optional(
        "auto.evolve",
        ConfigType::Boolean,
        Some("false"),
        "ALTER TABLE ADD nullable columns for fields the table lacks",
    ),
    ConfigKey::optional(
        "delete.enabled",
        ConfigType::Boolean,
        Some("false"),
        "A tombstone (null value) deletes the row of its key (needs pk.mode=record_key)",
    ),
    ConfigKey::optional(
        "batch.size",
        ConfigType::Int,
        Some("3000"),
        "Most rows in one statement",
    ),
    ConfigKey::optional(
        "max.retries",
        ConfigType::Int,
        Some("10"),
        "Retries of a batch after a lost connection before the task reports a retriable error",
    ),
    ConfigKey::optional(
        "retry.backoff.ms",
        ConfigType::Int,
        Some("3000"),
        "Wait between retries",
    ),
]);

pub const SOURCE: ComponentInfo = ComponentInfo {
    kind: ComponentKind::Source,
    name: "jdbc",
    aliases: &[
        "JdbcSourceConnector",
        "io.confluent.connect.jdbc.JdbcSourceConnector",
    ],
    config: SOURCE_CONFIG,
    // Tables are spread over the tasks by name (`source::task_of`); a query is read by task 0 alone. A table
    // moves to another task only when `tasks` changes, and its new task starts from the old one's position.
    capabilities: Capabilities {
        resumes_any_tasks_streams: true,
        ..Capabilities::NONE
    },
    doc: "Copies PostgreSQL or MySQL/MariaDB tables (or a query) into records, by bulk, incrementing id, \
          timestamp or both; resumes at stored positions",
};

pub const SINK: ComponentInfo = ComponentInfo {
    kind: ComponentKind::Sink,
    name: "jdbc",
    aliases: &["JdbcSinkConnector", "io.confluent.connect.jdbc.JdbcSinkConnector"],
    config: SINK_CONFIG,
    capabilities: Capabilities {
        keeps_consumed_offsets: true,
        ..Capabilities::NONE
    },
    doc: "Writes records into PostgreSQL or MySQL/MariaDB tables: insert, upsert or update by key, deletes \
          on tombstones, creates and evolves tables",
};

/// Where to connect and as whom; the password is never shown (`Debug`, `Display`, errors).
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionSpec {
    pub dialect: Dialect,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: Option<String>,
    pub password: Option<String>,
    /// `sslmode` (PostgreSQL) or `sslMode` (MySQL) as given in the URL; `None`: the driver's default (prefer
    /// TLS when the server offers it).
    pub ssl_mode: Option<String>,
    /// PostgreSQL's `application_name` (the URL's `ApplicationName`, as pgJDBC names it): how the connection
    /// shows in `pg_stat_activity`.
    pub application_name: String,
    /// Connect attempts before giving up (at least 1), and the wait between them.
    pub attempts: u32,
    pub backoff: Duration,
}

impl fmt::Debug for ConnectionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionSpec")
            .field("dialect", &self.dialect)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field(
                "password",
                &self.password.as_ref().map(|_| crate::config::HIDDEN),
            )
            .field("ssl_mode", &self.ssl_mode)
            .field("application_name", &self.application_name)
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .finish()
    }
}

/// `postgresql://host:5432/db`: what errors name (no user, no password).
impl fmt::Display for ConnectionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}:{}/{}",
            self.dialect.scheme(),
            self.host,
            self.port,
            self.database
        )
    }
}

/// `%xx` escapes decoded (user names and passwords in URLs).
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "has a `%` not followed by two hex digits".to_owned())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "has %-escapes that are not UTF-8".to_owned())
}

impl ConnectionSpec {
    /// Parses `connection.url` (JDBC or plain form). Errors say what is wrong without echoing a password.
    pub fn parse_url(url: &str) -> Result<ConnectionSpec, String> {
        let url = url.trim();
        let rest = url.strip_prefix("jdbc:").unwrap_or(url);
        let (scheme, rest) = rest.split_once("://").ok_or_else(|| {
            "must look like jdbc:postgresql://host:5432/db or jdbc:mysql://host:3306/db".to_owned()
        })?;
        let dialect = match scheme.to_ascii_lowercase().as_str() {
            "postgresql" | "postgres" => Dialect::Postgres,
            "mysql" | "mariadb" => Dialect::MySql,
            other => {
                return Err(format!(
                    "names database `{other}`; PostgreSQL (postgresql://) and MySQL/MariaDB (mysql://, \
                     mariadb://) are supported"
                ))
            }
        };
        let (location, query) = match rest.split_once('?') {
            Some((location, query)) => (location, Some(query)),
            None => (rest, None),
        };
        let (authority, database) = match location.split_once('/') {
            Some((authority, database)) => (authority, database.trim_end_matches('/')),
            None => (location, ""),
        };
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((credentials, host_port)) => (Some(credentials), host_port),
            None => (None, authority),
        };
        let (mut user, mut password) = (None, None);
        if let Some(credentials) = credentials {
            let (u, p) = match credentials.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (credentials, None),
            };
            user = Some(percent_decode(u).map_err(|e| format!("user {e}"))?);
            password = p
                .map(percent_decode)
                .transpose()
                .map_err(|e| format!("password {e}"))?;
        }
        let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| "has an IPv6 host without its closing `]`".to_owned())?;
            (host, after.strip_prefix(':'))
        } else {
            match host_port.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            }
        };
        if host.is_empty() {
            return Err("has no host".into());
        }
        let port = match port {
            Some(port) => port
                .parse::<u16>()
                .map_err(|_| format!("has port `{port}`, not a number 1-65535"))?,
            None => dialect.default_port(),
        };
        if port == 0 {
            return Err("has port 0".into());
        }
        let mut ssl_mode = None;
        let mut application_name = "pipewright".to_owned();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value).map_err(|e| format!("parameter `{key}` {e}"))?;
            match key {
                "user" => user = Some(value),
                "password" => password = Some(value),
                "sslmode" | "sslMode" | "ssl-mode" => ssl_mode = Some(value),
                "ApplicationName" | "applicationName" => application_name = value,
                // JDBC URLs carry many driver settings (useSSL, serverTimezone, …) that do not apply here.
                _ => {}
            }
        }
        Ok(ConnectionSpec {
            dialect,
            host: host.to_owned(),
            port,
            database: percent_decode(database).map_err(|e| format!("database name {e}"))?,
            user,
            password,
            ssl_mode,
            application_name,
            attempts: 3,
            backoff: Duration::from_secs(10),
        })
    }

    /// `connection.url` with `connection.user` / `connection.password` (which win over the URL's), attempts
    /// and backoff.
    fn from_config(config: &ParsedConfig, problems: &mut Vec<ConfigProblem>) -> Option<Self> {
        let url = config.get("connection.url").unwrap_or("");
        let mut spec = match ConnectionSpec::parse_url(url) {
            Ok(spec) => spec,
            Err(message) => {
                problems.push(problem("connection.url", message));
                return None;
            }
        };
        if spec.password.is_some() {
            // The URL is shown as it is (REST config, validate, logs); only connection.password is hidden.
            problems.push(problem(
                "connection.url",
                "holds a password, which would be shown wherever the URL is; remove it from the URL and set \
                 connection.password (shown as [hidden])",
            ));
            return None;
        }
        if let Some(user) = config.get("connection.user").filter(|u| !u.is_empty()) {
            spec.user = Some(user.to_owned());
        }
        if let Some(password) = config.get("connection.password") {
            spec.password = Some(password.to_owned());
        }
        spec.attempts = non_negative(config, "connection.attempts", 3, problems).max(1) as u32;
        spec.backoff =
            Duration::from_millis(
                non_negative(config, "connection.backoff.ms", 10_000, problems) as u64,
            );
        Some(spec)
    }
}

fn problem(key: &str, message: impl Into<String>) -> ConfigProblem {
    ConfigProblem {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// `key` as a number ≥ 0 (at most `u32::MAX`); a value that is not a number was refused by validation and
/// takes the default.
fn non_negative(
    config: &ParsedConfig,
    key: &str,
    default: i64,
    problems: &mut Vec<ConfigProblem>,
) -> i64 {
    let value = config.int(key).unwrap_or(default);
    if !(0..=i64::from(u32::MAX)).contains(&value) {
        problems.push(problem(key, format!("must be 0 or more, not {value}")));
        return default;
    }
    value
}

/// How a source finds new rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bulk,
    Incrementing,
    Timestamp,
    TimestampIncrementing,
}

impl Mode {
    pub fn uses_timestamp(self) -> bool {
        matches!(self, Mode::Timestamp | Mode::TimestampIncrementing)
    }
    pub fn uses_incrementing(self) -> bool {
        matches!(self, Mode::Incrementing | Mode::TimestampIncrementing)
    }
}

/// How NUMERIC/DECIMAL columns become Connect types (Confluent's `numeric.mapping`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumericMapping {
    None,
    PrecisionOnly,
    BestFit,
}

/// A fixed offset from UTC (`db.timezone`): how timestamps without a zone are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneOffset {
    pub seconds: i32,
}

impl ZoneOffset {
    pub const UTC: ZoneOffset = ZoneOffset { seconds: 0 };

    /// `UTC`, `GMT`, `Z`, `+02:00`, `-0530`, `UTC+2`.
    pub fn parse(text: &str) -> Option<ZoneOffset> {
        let text = text.trim();
        let rest = ["UTC", "GMT", "Z", "Etc/UTC"]
            .iter()
            .find_map(|p| text.strip_prefix(p))
            .unwrap_or(text);
        if rest.is_empty() {
            return Some(ZoneOffset::UTC);
        }
        let (sign, digits) = match rest.as_bytes()[0] {
            b'+' => (1, &rest[1..]),
            b'-' => (-1, &rest[1..]),
            _ => return None,
        };
        let (hours, minutes) = match digits.split_once(':') {
            Some((h, m)) => (h, m),
            None if digits.len() == 4 => digits.split_at(2),
            None => (digits, "0"),
        };
        let hours: i32 = hours.parse().ok().filter(|h| (0..=18).contains(h))?;
        let minutes: i32 = minutes.parse().ok().filter(|m| (0..60).contains(m))?;
        Some(ZoneOffset {
            seconds: sign * (hours * 3600 + minutes * 60),
        })
    }
}

/// What a JDBC source task reads and how.
#[derive(Debug, Clone, PartialEq)]
pub struct JdbcSourceConfig {
    pub connection: ConnectionSpec,
    pub mode: Mode,
    pub whitelist: Vec<String>,
    pub blacklist: Vec<String>,
    pub query: Option<String>,
    pub incrementing_column: Option<String>,
    pub timestamp_columns: Vec<String>,
    pub timestamp_delay: Duration,
    /// Epoch millis to start from in timestamp modes; `Some(-1)`: the time the task first starts.
    pub timestamp_initial: Option<i64>,
    pub validate_non_null: bool,
    pub poll_interval: Duration,
    pub batch_max_rows: usize,
    pub topic_prefix: String,
    pub numeric_mapping: NumericMapping,
    pub table_poll_interval: Duration,
    pub db_timezone: ZoneOffset,
}

impl JdbcSourceConfig {
    pub fn new(config: &ParsedConfig) -> Result<Self, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let connection = ConnectionSpec::from_config(config, &mut problems);
        let mode = match config.get("mode") {
            Some("bulk") => Some(Mode::Bulk),
            Some("incrementing") => Some(Mode::Incrementing),
            Some("timestamp") => Some(Mode::Timestamp),
            Some("timestamp+incrementing") => Some(Mode::TimestampIncrementing),
            _ => {
                problems.push(problem(
                    "mode",
                    "required: bulk, incrementing, timestamp or timestamp+incrementing",
                ));
                None
            }
        };
        let whitelist = config.list("table.whitelist");
        let blacklist = config.list("table.blacklist");
        let query = config
            .get("query")
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_owned);
        if !whitelist.is_empty() && !blacklist.is_empty() {
            problems.push(problem(
                "table.blacklist",
                "set either table.whitelist or table.blacklist, not both",
            ));
        }
        if query.is_some() && (!whitelist.is_empty() || !blacklist.is_empty()) {
            problems.push(problem(
                "query",
                "copies the query's rows; remove table.whitelist / table.blacklist",
            ));
        }
        let incrementing_column = config
            .get("incrementing.column.name")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        let timestamp_columns = config.list("timestamp.column.name");
        if let Some(mode) = mode {
            if mode.uses_incrementing() && incrementing_column.is_none() {
                problems.push(problem(
                    "incrementing.column.name",
                    format!("required with mode={}", config.get("mode").unwrap_or("")),
                ));
            }
            if mode.uses_timestamp() && timestamp_columns.is_empty() {
                problems.push(problem(
                    "timestamp.column.name",
                    format!("required with mode={}", config.get("mode").unwrap_or("")),
                ));
            }
        }
        let db_timezone = match ZoneOffset::parse(config.get("db.timezone").unwrap_or("UTC")) {
            Some(zone) => zone,
            None => {
                problems.push(problem(
                    "db.timezone",
                    "must be UTC or a fixed offset such as +02:00 (named zones are not supported)",
                ));
                ZoneOffset::UTC
            }
        };
        let numeric_mapping = match config.get("numeric.mapping").unwrap_or("none") {
            "best_fit" => NumericMapping::BestFit,
            "precision_only" => NumericMapping::PrecisionOnly,
            _ => NumericMapping::None,
        };
        let timestamp_delay = Duration::from_millis(non_negative(
            config,
            "timestamp.delay.interval.ms",
            0,
            &mut problems,
        ) as u64);
        let poll_interval =
            Duration::from_millis(
                non_negative(config, "poll.interval.ms", 5000, &mut problems) as u64,
            );
        let batch_max_rows =
            non_negative(config, "batch.max.rows", 100, &mut problems).max(1) as usize;
        let table_poll_interval = Duration::from_millis(non_negative(
            config,
            "table.poll.interval.ms",
            60_000,
            &mut problems,
        ) as u64);
        let timestamp_initial = config.int("timestamp.initial");
        if let Some(initial) = timestamp_initial.filter(|t| *t < -1) {
            problems.push(problem(
                "timestamp.initial",
                format!("must be epoch millis or -1 (now), not {initial}"),
            ));
        }
        match (connection, mode) {
            (Some(connection), Some(mode)) if problems.is_empty() => Ok(Self {
                connection,
                mode,
                whitelist,
                blacklist,
                query,
                incrementing_column,
                timestamp_columns,
                timestamp_delay,
                timestamp_initial,
                validate_non_null: config.boolean("validate.non.null").unwrap_or(true),
                poll_interval,
                batch_max_rows,
                topic_prefix: config.get("topic.prefix").unwrap_or("").to_owned(),
                numeric_mapping,
                table_poll_interval,
                db_timezone,
            }),
            _ => Err(problems),
        }
    }

    /// What `validate` should tell about exactness: the modes that can miss or repeat rows, in words.
    pub fn exactness_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        match self.mode {
            Mode::Bulk => warnings.push(
                "mode=bulk copies the whole table on every poll: each row is sent again each time".into(),
            ),
            Mode::Incrementing => warnings.push(
                "mode=incrementing sees new rows only, never updates; a row whose id was taken before a \
                 higher one committed is missed unless ids commit in order (use timestamp+incrementing with \
                 timestamp.delay.interval.ms to be exact)"
                    .into(),
            ),
            Mode::Timestamp => warnings.push(
                "mode=timestamp cannot tell apart rows that share a timestamp: after a restart inside such a \
                 group the whole group is sent again (duplicates, no loss); add incrementing.column.name and \
                 use timestamp+incrementing to be exact"
                    .into(),
            ),
            Mode::TimestampIncrementing => {}
        }
        if self.mode.uses_timestamp() && self.timestamp_delay.is_zero() {
            warnings.push(
                "timestamp.delay.interval.ms=0: a row committed after a later timestamp was read (a \
                 transaction still open when the source polls) is missed; set it above your longest write \
                 transaction"
                    .into(),
            );
        }
        warnings
    }
}

/// `insert.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertMode {
    Insert,
    Upsert,
    Update,
}

/// `pk.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkMode {
    None,
    Kafka,
    RecordKey,
    RecordValue,
}

/// What a JDBC sink task writes and how.
#[derive(Debug, Clone, PartialEq)]
pub struct JdbcSinkConfig {
    pub connection: ConnectionSpec,
    pub insert_mode: InsertMode,
    pub pk_mode: PkMode,
    pub pk_fields: Vec<String>,
    pub fields_whitelist: Vec<String>,
    pub table_name_format: String,
    pub auto_create: bool,
    pub auto_evolve: bool,
    pub delete_enabled: bool,
    pub batch_size: usize,
    pub max_retries: u32,
    pub retry_backoff: Duration,
}

impl JdbcSinkConfig {
    pub fn new(config: &ParsedConfig) -> Result<Self, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let connection = ConnectionSpec::from_config(config, &mut problems);
        let insert_mode = match config.get("insert.mode").unwrap_or("insert") {
            "upsert" => InsertMode::Upsert,
            "update" => InsertMode::Update,
            _ => InsertMode::Insert,
        };
        let pk_mode = match config.get("pk.mode").unwrap_or("none") {
            "kafka" => PkMode::Kafka,
            "record_key" => PkMode::RecordKey,
            "record_value" => PkMode::RecordValue,
            _ => PkMode::None,
        };
        let pk_fields = config.list("pk.fields");
        if insert_mode != InsertMode::Insert && pk_mode == PkMode::None {
            problems.push(problem(
                "pk.mode",
                format!(
                    "insert.mode={} needs a primary key: set pk.mode to record_key, record_value or kafka",
                    config.get("insert.mode").unwrap_or("")
                ),
            ));
        }
        if pk_mode == PkMode::Kafka && !(pk_fields.is_empty() || pk_fields.len() == 3) {
            problems.push(problem(
                "pk.fields",
                "with pk.mode=kafka: none (__connect_topic,__connect_partition,__connect_offset) or three names",
            ));
        }
        let delete_enabled = config.boolean("delete.enabled").unwrap_or(false);
        if delete_enabled && pk_mode != PkMode::RecordKey {
            problems.push(problem(
                "delete.enabled",
                "deletes by the record key: needs pk.mode=record_key",
            ));
        }
        let table_name_format = config
            .get("table.name.format")
            .unwrap_or("${topic}")
            .to_owned();
        if table_name_format.trim().is_empty() {
            problems.push(problem("table.name.format", "must not be empty"));
        }
        let batch_size = non_negative(config, "batch.size", 3000, &mut problems).max(1) as usize;
        let max_retries = non_negative(config, "max.retries", 10, &mut problems) as u32;
        let retry_backoff =
            Duration::from_millis(
                non_negative(config, "retry.backoff.ms", 3000, &mut problems) as u64,
            );
        match connection {
            Some(connection) if problems.is_empty() => Ok(Self {
                connection,
                insert_mode,
                pk_mode,
                pk_fields,
                fields_whitelist: config.list("fields.whitelist"),
                table_name_format,
                auto_create: config.boolean("auto.create").unwrap_or(false),
                auto_evolve: config.boolean("auto.evolve").unwrap_or(false),
                delete_enabled,
                batch_size,
                max_retries,
                retry_backoff,
            }),
            _ => Err(problems),
        }
    }

    /// The table a record of `topic` goes to.
    pub fn table_for(&self, topic: &str) -> String {
        self.table_name_format.replace("${topic}", topic)
    }
}
