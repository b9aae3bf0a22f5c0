//! `engine produce`: one record per stdin line, like `kcat -P`.
//!
//! With `-X transactional.id=ID` the lines go out in transactions of `--txn-size` records (default: all of
//! stdin in one), each committed when full and the last at the end of input; an error or SIGINT aborts the
//! open transaction.

use std::io::Read;

use tokio::sync::mpsc;

use crate::client::config::{ConfigMap, ProducerConfig};
use crate::client::producer::{ProduceError, RecordRef, TIMESTAMP_ON_SEND};
use crate::client::txn::{TxnError, TxnErrorClass};
use crate::protocol::record_batch::HeaderRef;
use crate::runtime::Producer;

/// What `engine produce` was asked to do.
#[derive(Debug, Clone)]
pub struct ProduceOptions {
    pub topic: String,
    pub partition: Option<i32>,
    /// Split each line at the first occurrence into key and value.
    pub key_delimiter: Option<Vec<u8>>,
    pub headers: Vec<(String, String)>,
    pub config: ConfigMap,
    /// Records per transaction (transactional producers only); `None`: all of stdin in one.
    pub txn_size: Option<u64>,
}

/// How a produce run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceReport {
    pub delivered: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    pub interrupted: bool,
    /// Transactions committed and aborted, and records in committed transactions (transactional runs).
    pub transactions: Option<TransactionReport>,
    /// Another producer with the same transactional.id took over.
    pub fenced: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionReport {
    pub committed: u64,
    pub aborted: u64,
    pub committed_records: u64,
}

/// Groups records into transactions of `size` records.
struct TransactionBatcher {
    size: Option<u64>,
    open: bool,
    records_in_open: u64,
    report: TransactionReport,
}

impl TransactionBatcher {
    async fn before_record(&mut self, producer: &Producer) -> Result<(), TxnError> {
        if !self.open {
            producer.begin_transaction().await?;
            self.open = true;
        }
        Ok(())
    }

    async fn after_record(&mut self, producer: &Producer) -> Result<(), TxnError> {
        self.records_in_open += 1;
        if self.size.is_some_and(|size| self.records_in_open >= size) {
            self.commit(producer).await?;
        }
        Ok(())
    }

    async fn commit(&mut self, producer: &Producer) -> Result<(), TxnError> {
        if !self.open {
            return Ok(());
        }
        producer.commit_transaction().await?;
        self.open = false;
        self.report.committed += 1;
        self.report.committed_records += std::mem::take(&mut self.records_in_open);
        Ok(())
    }

    /// Aborts the open transaction, if any and if the producer can still talk to its coordinator.
    async fn abort(
        &mut self,
        producer: &Producer,
        cause: Option<&TxnError>,
    ) -> Result<(), TxnError> {
        if !self.open || cause.is_some_and(|e| e.class() == TxnErrorClass::Fatal) {
            return Ok(());
        }
        self.open = false;
        self.records_in_open = 0;
        producer.abort_transaction().await?;
        self.report.aborted += 1;
        Ok(())
    }
}

/// Why sending stopped early.
enum SendFailure {
    Record(ProduceError),
    Transaction(TxnError),
}

impl SendFailure {
    fn transaction_error(&self) -> Option<&TxnError> {
        match self {
            SendFailure::Transaction(e) | SendFailure::Record(ProduceError::Transaction(e)) => {
                Some(e)
            }
            SendFailure::Record(_) => None,
        }
    }
}

impl std::fmt::Display for SendFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendFailure::Record(e) => e.fmt(f),
            SendFailure::Transaction(e) => e.fmt(f),
        }
    }
}

/// Reads stdin on a plain thread (blocking reads must not stall the executor) and hands over chunks.
fn spawn_stdin_reader(
    input: impl Read + Send + 'static,
) -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut input = input;
        loop {
            let mut chunk = vec![0u8; 256 * 1024];
            match input.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    chunk.truncate(n);
                    if tx.blocking_send(Ok(chunk)).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    rx
}

/// Sends every line of `input` to the topic. Must run inside a `LocalSet`.
pub async fn run(
    options: ProduceOptions,
    input: impl Read + Send + 'static,
) -> anyhow::Result<ProduceReport> {
    let config = ProducerConfig::from_map(options.config.clone())?;
    crate::config::check_tls_files(&config.common)?;
    let transactional = config.transactional_id.is_some();
    if options.txn_size.is_some() && !transactional {
        anyhow::bail!("--txn-size needs a transactional producer: add -X transactional.id=ID");
    }
    if options.txn_size == Some(0) {
        anyhow::bail!("--txn-size must be at least 1");
    }
    let producer = Producer::new(config);
    let problems = producer.connection_problems();
    // A broker refusing our credentials ends the command at once, instead of retrying until
    // delivery.timeout.ms runs out.
    tokio::select! {
        report = produce_with(producer, options, input, transactional) => report,
        failure = problems.authentication_refused() => Err(anyhow::anyhow!(failure)),
    }
}

async fn produce_with(
    producer: Producer,
    options: ProduceOptions,
    input: impl Read + Send + 'static,
    transactional: bool,
) -> anyhow::Result<ProduceReport> {
    let mut batcher = if transactional {
        if let Err(e) = producer.init_transactions().await {
            let fenced = e.is_fenced();
            let _ = producer.close().await;
            return Ok(ProduceReport {
                delivered: 0,
                failed: 0,
                first_error: Some(format!("init_transactions failed: {e}")),
                interrupted: false,
                transactions: Some(TransactionReport::default()),
                fenced,
            });
        }
        Some(TransactionBatcher {
            size: options.txn_size,
            open: false,
            records_in_open: 0,
            report: TransactionReport::default(),
        })
    } else {
        None
    };
    let headers: Vec<(Vec<u8>, Vec<u8>)> = options
        .headers
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    let header_refs: Vec<HeaderRef<'_>> = headers
        .iter()
        .map(|(k, v)| HeaderRef {
            key: k,
            value: Some(v),
        })
        .collect();
    let mut chunks = spawn_stdin_reader(input);
    let mut carry: Vec<u8> = Vec::new();
    let mut interrupted = false;
    let mut send_error: Option<SendFailure> = None;
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    'read: loop {
        let chunk = tokio::select! {
            chunk = chunks.recv() => chunk,
            _ = &mut ctrl_c => { interrupted = true; break 'read; }
        };
        let chunk = match chunk {
            None => break,
            Some(Err(e)) => return Err(anyhow::anyhow!("reading stdin: {e}")),
            Some(Ok(chunk)) => chunk,
        };
        let data: Vec<u8> = if carry.is_empty() {
            chunk
        } else {
            [std::mem::take(&mut carry), chunk].concat()
        };
        let mut start = 0;
        while let Some(pos) = memchr_newline(&data[start..]) {
            let line = &data[start..start + pos];
            start += pos + 1;
            if let Err(e) = send_record(&producer, &mut batcher, &options, line, &header_refs).await
            {
                send_error = Some(e);
                break 'read;
            }
        }
        carry = data[start..].to_vec();
    }
    if !carry.is_empty() && send_error.is_none() && !interrupted {
        // The last line without a trailing newline is still a record, as with kcat.
        if let Err(e) = send_record(&producer, &mut batcher, &options, &carry, &header_refs).await {
            send_error = Some(e);
        }
    }
    if let Some(batcher) = &mut batcher {
        let outcome = if send_error.is_some() || interrupted {
            let cause = send_error.as_ref().and_then(SendFailure::transaction_error);
            batcher.abort(&producer, cause).await
        } else {
            batcher.commit(&producer).await
        };
        if let Err(e) = outcome {
            // A commit that failed abortably is aborted so no transaction is left open until it times out.
            if e.class() == TxnErrorClass::Abortable {
                let _ = batcher.abort(&producer, Some(&e)).await;
            }
            send_error.get_or_insert(SendFailure::Transaction(e));
        }
    }
    let stats = producer.close().await;
    let fenced = send_error
        .as_ref()
        .and_then(SendFailure::transaction_error)
        .is_some_and(TxnError::is_fenced)
        || matches!(&stats.first_error, Some(ProduceError::Transaction(e)) if e.is_fenced());
    Ok(ProduceReport {
        delivered: stats.delivered,
        failed: stats.failed + u64::from(send_error.is_some()),
        first_error: send_error
            .map(|e| e.to_string())
            .or(stats.first_error.map(|e| e.to_string())),
        interrupted,
        transactions: batcher.map(|b| b.report),
        fenced,
    })
}

/// Sends one line, opening a transaction before it and committing after it when the transaction is full.
async fn send_record(
    producer: &Producer,
    batcher: &mut Option<TransactionBatcher>,
    options: &ProduceOptions,
    line: &[u8],
    headers: &[HeaderRef<'_>],
) -> Result<(), SendFailure> {
    if let Some(batcher) = batcher.as_mut() {
        batcher
            .before_record(producer)
            .await
            .map_err(SendFailure::Transaction)?;
    }
    send_line(producer, options, line, headers)
        .await
        .map_err(SendFailure::Record)?;
    if let Some(batcher) = batcher.as_mut() {
        batcher
            .after_record(producer)
            .await
            .map_err(SendFailure::Transaction)?;
    }
    Ok(())
}

fn memchr_newline(data: &[u8]) -> Option<usize> {
    data.iter().position(|b| *b == b'\n')
}

async fn send_line(
    producer: &Producer,
    options: &ProduceOptions,
    line: &[u8],
    headers: &[HeaderRef<'_>],
) -> Result<(), crate::client::producer::ProduceError> {
    let (key, value) = match &options.key_delimiter {
        Some(delimiter) => match find(line, delimiter) {
            Some(at) => (Some(&line[..at]), &line[at + delimiter.len()..]),
            // kcat: no delimiter in the line means no key.
            None => (None, line),
        },
        None => (None, line),
    };
    producer
        .send_counted(RecordRef {
            topic: &options.topic,
            partition: options.partition,
            key,
            value: Some(value),
            headers,
            timestamp_ms: TIMESTAMP_ON_SEND,
        })
        .await
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}
