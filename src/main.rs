//! `engine`: the pipewright command line.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use pipewright::cli;
use pipewright::cli::args::{config_map, parse_key_value, unescape};
use pipewright::client::consumer::StartPosition;
use pipewright::protocol::compression::Compression;
use pipewright::runtime::backend::{AnyBackend, IoBackend, IoChoice};

#[derive(Parser)]
#[command(
    name = "engine",
    version,
    about = "pipewright: a Kafka connector engine that speaks the Kafka protocol itself"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    /// I/O backend: auto (io_uring where the kernel allows it), uring, epoll
    #[arg(
        long = "io",
        global = true,
        default_value = "auto",
        env = "PIPEWRIGHT_IO"
    )]
    io: IoChoice,
    #[command(flatten)]
    run: RunArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

/// `engine --cores N --config pipelines.toml`: run pipelines.
#[derive(Args, Clone)]
struct RunArgs {
    /// Pipelines to run: pipelines.toml, a Kafka Connect .properties or a REST .json connector config
    #[arg(long = "config", value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Cores (pinned threads) to run on; default: every CPU this process may use
    #[arg(long = "cores")]
    cores: Option<usize>,
    /// Where file-like sources' positions are kept
    #[arg(long = "state-dir", default_value = ".pipewright-state")]
    state_dir: std::path::PathBuf,
    /// Where the REST API (Kafka Connect's) listens: one http listener at host:port in place of the worker's
    /// listeners, or "off" [default: the worker's listeners (http/https), else 127.0.0.1:8083]
    #[arg(long = "rest-listen")]
    rest_listen: Option<String>,
    /// How long SIGINT/SIGTERM may take to drain and commit before the process exits anyway, ms [default: the
    /// worker's task.shutdown.graceful.timeout.ms, else 30000]
    #[arg(long = "shutdown-timeout-ms")]
    shutdown_timeout_ms: Option<u64>,
}

#[derive(Args, Clone)]
struct Connection {
    /// Bootstrap brokers, host:port[,host:port…]
    #[arg(short = 'b', long = "brokers", value_name = "HOST:PORT")]
    brokers: String,
    /// Client setting under its Java/librdkafka name, e.g. -X linger.ms=5 (repeatable)
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_key_value)]
    settings: Vec<(String, String)>,
}

#[derive(Subcommand)]
enum Command {
    /// Run connectors as Kafka Connect's connect-standalone.sh does: a worker .properties file, then connector
    /// .properties or REST .json files (pipelines.toml files too)
    Standalone {
        /// The worker config (connect-standalone.properties)
        worker: std::path::PathBuf,
        /// Connector configs
        connectors: Vec<std::path::PathBuf>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Run a worker of a Kafka Connect cluster as connect-distributed.sh does: the worker .properties file
    /// names the group and the internal topics; connectors are created through the REST API
    Distributed {
        /// The worker config (connect-distributed.properties)
        worker: std::path::PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Produce one record per stdin line to a topic (like kcat -P)
    Produce {
        #[command(flatten)]
        connection: Connection,
        /// Topic to write to
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Partition (default: by key with Java's murmur2, sticky for records without a key)
        #[arg(short = 'p', long = "partition")]
        partition: Option<i32>,
        /// Split each line at the first DELIM into key and value (escapes like \t allowed)
        #[arg(short = 'K', value_name = "DELIM")]
        key_delimiter: Option<String>,
        /// Header added to every record (repeatable)
        #[arg(short = 'H', value_name = "NAME=VALUE", value_parser = parse_key_value)]
        headers: Vec<(String, String)>,
        /// Compression codec: none, gzip, snappy, lz4, zstd
        #[arg(short = 'z', value_name = "CODEC")]
        codec: Option<String>,
        /// With -X transactional.id=ID: records per transaction (default: all of stdin in one)
        #[arg(long = "txn-size", value_name = "N")]
        txn_size: Option<u64>,
    },
    /// Print records of a topic (like kcat -C)
    Consume {
        #[command(flatten)]
        connection: Connection,
        /// Topic to read (repeatable with -G)
        #[arg(short = 't', long = "topic", required = true)]
        topics: Vec<String>,
        /// Consume as a member of this consumer group (balanced, committing offsets; like kcat -G)
        #[arg(short = 'G', value_name = "GROUP")]
        group: Option<String>,
        /// Only this partition (repeatable; default: all)
        #[arg(short = 'p', long = "partition")]
        partitions: Vec<i32>,
        /// Start at: beginning, end, an offset, or s@<timestamp ms>
        #[arg(short = 'o', default_value = "end")]
        offset: String,
        /// Exit after this many records
        #[arg(short = 'c')]
        count: Option<u64>,
        /// Exit once every partition's end is reached
        #[arg(short = 'e')]
        exit_at_end: bool,
        /// Output format: %k key, %s value, %p partition, %o offset, %T timestamp, %h headers, %t topic, \n \t
        #[arg(short = 'f', value_name = "FORMAT")]
        format: Option<String>,
    },
    /// Print cluster metadata: brokers, topics, partitions, leaders (like kcat -L)
    Metadata {
        #[command(flatten)]
        connection: Connection,
        /// Only these topics
        #[arg(short = 't', long = "topic")]
        topics: Vec<String>,
    },
    /// Topic administration
    Topic {
        #[command(subcommand)]
        command: TopicCommand,
    },
    /// Check a config file (pipelines.toml, a Kafka Connect .properties or REST .json): print every problem
    /// with file, line and key and exit 1, or a summary of the pipelines and exit 0
    Validate {
        /// The config file; its format follows the extension (.toml, .properties, .json)
        #[arg(long = "config", value_name = "FILE")]
        config: std::path::PathBuf,
    },
    /// Consumer group administration
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// One table of a worker's tasks (connector, task, worker, core, state, records/s in and out, lag, p99
    /// latency, last error), from its REST API
    Status {
        /// The worker's REST API, http://host:port or https://host:port [default: the first listener of
        /// --config, else http://127.0.0.1:8083]
        #[arg(long = "url", env = "PIPEWRIGHT_URL")]
        url: Option<String>,
        /// The worker's config (pipelines.toml or worker .properties), for its REST listener
        #[arg(long = "config", value_name = "FILE")]
        config: Option<std::path::PathBuf>,
        /// Redraw the table in place every second
        #[arg(long = "watch")]
        watch: bool,
        #[command(flatten)]
        access: RestAccessArgs,
    },
}

/// How `engine status` reaches a protected REST API.
#[derive(Args, Clone)]
struct RestAccessArgs {
    /// PEM file of the CA(s) that signed the worker's certificate, for https URLs [default: the system's roots]
    #[arg(long = "ca-cert", value_name = "FILE", env = "PIPEWRIGHT_REST_CA_CERT")]
    ca_cert: Option<std::path::PathBuf>,
    /// PEM certificate (chain) to present when the worker requires client certificates
    #[arg(long = "client-cert", value_name = "FILE", requires = "client_key")]
    client_cert: Option<std::path::PathBuf>,
    /// PEM private key of --client-cert
    #[arg(long = "client-key", value_name = "FILE", requires = "client_cert")]
    client_key: Option<std::path::PathBuf>,
    /// Basic auth credentials, USER:PASSWORD (the environment variable keeps them out of the process list)
    #[arg(
        long = "basic-auth",
        value_name = "USER:PASSWORD",
        env = "PIPEWRIGHT_REST_BASIC_AUTH",
        hide_env_values = true
    )]
    basic_auth: Option<String>,
    /// File holding the bearer token the worker's rest.auth.bearer.token.file holds
    #[arg(
        long = "bearer-token-file",
        value_name = "FILE",
        env = "PIPEWRIGHT_REST_BEARER_TOKEN_FILE"
    )]
    bearer_token_file: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum GroupCommand {
    /// List every group with its state
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Show a group's state, protocol and members with their partitions
    Describe {
        /// Group id
        group: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Delete a group (it must have no members) and its committed offsets
    Delete {
        /// Group id
        group: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Committed offset, end offset and lag per partition
    Offsets {
        /// Group id
        group: String,
        #[command(flatten)]
        connection: Connection,
    },
}

#[derive(Subcommand)]
enum TopicCommand {
    /// Create a topic
    Create {
        /// Topic name
        name: String,
        #[command(flatten)]
        connection: Connection,
        /// Number of partitions
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        /// Replication factor (-1: the broker's default)
        #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
        replication_factor: i16,
        /// Succeed if the topic already exists
        #[arg(long)]
        if_not_exists: bool,
    },
}

/// Logs to stderr at `RUST_LOG`'s levels (default `warn`); the levels can be changed while the process runs
/// (`/admin/loggers`).
fn init_logging() -> std::sync::Arc<pipewright::admin::LogLevels> {
    use tracing_subscriber::prelude::*;
    let spec = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    let filter = tracing_subscriber::EnvFilter::try_new(&spec)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let (filter, reload) = tracing_subscriber::reload::Layer::new(filter);
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colour codes only for a person at a terminal, never in a log file or a pipe.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .init();
    pipewright::admin::LogLevels::new(
        &spec,
        Box::new(move |spec: &str| {
            let filter = tracing_subscriber::EnvFilter::try_new(spec).map_err(|e| e.to_string())?;
            reload.reload(filter).map_err(|e| e.to_string())
        }),
    )
}

fn main() -> ExitCode {
    let log_levels = init_logging();
    let cli = Cli::parse();
    let (configs, run) = match cli.command {
        None => match cli.run.config.clone() {
            Some(config) => (cli::run::Configs::File(config), cli.run),
            None => {
                eprintln!(
                    "error: give --config FILE to run pipelines, or a subcommand (see engine --help)"
                );
                return ExitCode::from(2);
            }
        },
        Some(Command::Standalone {
            worker,
            connectors,
            run,
        }) => (cli::run::Configs::Standalone { worker, connectors }, run),
        Some(Command::Distributed { worker, run }) => {
            (cli::run::Configs::Distributed { worker }, run)
        }
        Some(command) => return run_command(cli.io, command),
    };
    let options = cli::run::RunOptions {
        configs,
        cores: run
            .cores
            .unwrap_or_else(|| pipewright::engine::cores::allowed_cpus().len()),
        io: cli.io,
        state_dir: run.state_dir,
        shutdown_timeout: run
            .shutdown_timeout_ms
            .map(std::time::Duration::from_millis),
        rest_listen: run.rest_listen,
        log_levels: Some(log_levels),
    };
    match cli::run::run(options) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(code) => ExitCode::from(code.clamp(1, 255) as u8),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The subcommands that are not a worker: produce, consume, metadata, topic, group, validate.
fn run_command(io: IoChoice, command: Command) -> ExitCode {
    if let Command::Validate { config } = &command {
        // Reading a file needs no runtime.
        let report = cli::validate::run(config, &pipewright::config::Registry);
        if report.ok {
            print!("{}", report.text);
            return ExitCode::SUCCESS;
        }
        eprint!("{}", report.text);
        return ExitCode::FAILURE;
    }
    if let Command::Status {
        url,
        config,
        watch,
        access,
    } = &command
    {
        let access = cli::rest_client::RestAccess {
            ca_cert: access.ca_cert.clone(),
            client_cert: access.client_cert.clone(),
            client_key: access.client_key.clone(),
            basic_auth: access.basic_auth.clone(),
            bearer_token_file: access.bearer_token_file.clone(),
        };
        // The REST API is plain HTTP on a current-thread runtime: no I/O backend needed.
        let url = match url {
            Some(url) => Ok(url.clone()),
            None => cli::status::default_url(config.as_deref()),
        };
        return match url.and_then(|url| cli::status::run(&url, *watch, &access)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let backend = match AnyBackend::choose(io) {
        Ok(backend) => backend,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(backend = backend.name(), "I/O backend");
    match backend.block_on(run(command)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: could not start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Produce {
            connection,
            topic,
            partition,
            key_delimiter,
            headers,
            codec,
            txn_size,
        } => {
            let mut config = config_map(&connection.brokers, &connection.settings);
            if let Some(codec) = codec {
                Compression::from_name(&codec).map_err(|e| anyhow::anyhow!("-z {codec}: {e}"))?;
                config.set("compression.type", codec);
            }
            let options = cli::produce::ProduceOptions {
                topic: topic.clone(),
                partition,
                key_delimiter: key_delimiter.map(|d| unescape(&d)),
                headers,
                config,
                txn_size,
            };
            let report = cli::produce::run(options, std::io::stdin()).await?;
            eprintln!(
                "% delivered {} records to {topic}{}{}",
                report.delivered,
                if report.failed > 0 {
                    format!(", {} failed", report.failed)
                } else {
                    String::new()
                },
                if report.interrupted {
                    " (interrupted)"
                } else {
                    ""
                }
            );
            if let Some(txns) = &report.transactions {
                eprintln!(
                    "% committed {} transactions ({} records), aborted {}",
                    txns.committed, txns.committed_records, txns.aborted
                );
            }
            if let Some(error) = &report.first_error {
                eprintln!("error: {error}");
            }
            if report.fenced {
                eprintln!(
                    "error: the producer was fenced: another producer with the same transactional.id took over"
                );
            }
            Ok(
                if report.failed > 0 || report.first_error.is_some() || report.fenced {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                },
            )
        }
        Command::Consume {
            connection,
            topics,
            group,
            partitions,
            offset,
            count,
            exit_at_end,
            format,
        } => {
            let start = cli::consume::parse_start(&offset).map_err(anyhow::Error::msg)?;
            let format = format
                .map(|f| {
                    cli::format::OutputFormat::parse(&f).map_err(|e| anyhow::anyhow!("-f: {e}"))
                })
                .transpose()?;
            if let Some(group) = group {
                if !partitions.is_empty() {
                    anyhow::bail!("-p cannot be combined with -G: the group assigns partitions");
                }
                let mut config = config_map(&connection.brokers, &connection.settings);
                if config.get("auto.offset.reset").is_none() {
                    // Without a committed offset a new group starts at -o (default: end), as kcat -G does.
                    let reset = if start == StartPosition::Earliest {
                        "earliest"
                    } else {
                        "latest"
                    };
                    config.set("auto.offset.reset", reset);
                }
                let options = cli::group::GroupConsumeOptions {
                    group,
                    topics,
                    count,
                    exit_at_end,
                    format,
                    config,
                };
                let stdout = std::io::stdout();
                let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
                let report = cli::group::consume(options, &mut out).await?;
                if let Some(error) = report.error {
                    eprintln!("error: {error}");
                    return Ok(ExitCode::FAILURE);
                }
                return Ok(ExitCode::SUCCESS);
            }
            let [topic] = <[String; 1]>::try_from(topics).map_err(|_| {
                anyhow::anyhow!(
                    "-t can be given once without -G; use -G GROUP to consume several topics"
                )
            })?;
            let mut config = config_map(&connection.brokers, &connection.settings);
            if config.get("auto.offset.reset").is_none() {
                // Like kcat: an offset outside the log starts from the nearest end, matching -o.
                config.set(
                    "auto.offset.reset",
                    if start == StartPosition::Latest {
                        "latest"
                    } else {
                        "earliest"
                    },
                );
            }
            let options = cli::consume::ConsumeOptions {
                topic,
                partitions,
                start,
                count,
                exit_at_end,
                format,
                config,
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
            let report = cli::consume::run(options, &mut out).await?;
            if let Some(error) = report.error {
                eprintln!("error: {error}");
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Metadata { connection, topics } => {
            let config = config_map(&connection.brokers, &connection.settings);
            print!("{}", cli::admin::metadata(config, topics).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Topic {
            command:
                TopicCommand::Create {
                    name,
                    connection,
                    partitions,
                    replication_factor,
                    if_not_exists,
                },
        } => {
            let config = config_map(&connection.brokers, &connection.settings);
            let message = cli::admin::create_topic(
                config,
                &name,
                partitions,
                replication_factor,
                if_not_exists,
            )
            .await?;
            eprintln!("{message}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { .. }
        | Command::Standalone { .. }
        | Command::Distributed { .. }
        | Command::Status { .. } => Ok(ExitCode::SUCCESS),
        Command::Group { command } => {
            let output = match command {
                GroupCommand::List { connection } => {
                    cli::group::list_groups(config_map(&connection.brokers, &connection.settings))
                        .await?
                }
                GroupCommand::Describe { group, connection } => {
                    cli::group::describe_group(
                        config_map(&connection.brokers, &connection.settings),
                        &group,
                    )
                    .await?
                }
                GroupCommand::Delete { group, connection } => {
                    let message = cli::group::delete_group(
                        config_map(&connection.brokers, &connection.settings),
                        &group,
                    )
                    .await?;
                    eprintln!("{message}");
                    return Ok(ExitCode::SUCCESS);
                }
                GroupCommand::Offsets { group, connection } => {
                    cli::group::group_offsets(
                        config_map(&connection.brokers, &connection.settings),
                        &group,
                    )
                    .await?
                }
            };
            print!("{output}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
