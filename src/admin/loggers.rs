//! `/admin/loggers` (KIP-495): log levels read and changed while the process runs. A logger is a tracing
//! target (`pipewright::engine`, `pipewright::client::group`) or `root`; setting one sets every logger below it
//! too, as Kafka Connect does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::connectors::json_body;
use super::error::RestError;
use super::RestState;

/// Installs a filter spec (`warn,pipewright::engine=debug`) in the process's log subscriber.
pub type ApplyFilter = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// The levels set, by logger, and how to make them take effect.
pub struct LogLevels {
    apply: ApplyFilter,
    state: Mutex<Levels>,
}

struct Levels {
    root: String,
    /// Level and when it was set through the API (epoch ms; `None` for levels from the start-up filter).
    loggers: BTreeMap<String, (String, Option<u64>)>,
}

/// Kafka Connect's level names; Log4j's FATAL is tracing's ERROR.
fn level_name(level: &str) -> Option<&'static str> {
    match level.trim().to_ascii_uppercase().as_str() {
        "TRACE" => Some("TRACE"),
        "DEBUG" => Some("DEBUG"),
        "INFO" => Some("INFO"),
        "WARN" => Some("WARN"),
        "ERROR" | "FATAL" => Some("ERROR"),
        "OFF" => Some("OFF"),
        _ => None,
    }
}

/// Whether `name` can stand as a target in a filter directive: what tracing's targets (module paths) are made of.
fn is_logger_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

impl std::fmt::Debug for LogLevels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogLevels").finish_non_exhaustive()
    }
}

impl LogLevels {
    /// Starts from the filter spec the process logs with (`RUST_LOG`'s syntax, as far as levels go).
    pub fn new(initial: &str, apply: ApplyFilter) -> Arc<Self> {
        let mut root = "WARN".to_owned();
        let mut loggers = BTreeMap::new();
        for directive in initial.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            match directive.split_once('=') {
                Some((target, level)) => {
                    if let Some(level) = level_name(level) {
                        loggers.insert(target.to_owned(), (level.to_owned(), None));
                    }
                }
                None => {
                    if let Some(level) = level_name(directive) {
                        root = level.to_owned();
                    }
                }
            }
        }
        Arc::new(Self {
            apply,
            state: Mutex::new(Levels { root, loggers }),
        })
    }

    fn spec(levels: &Levels) -> String {
        let mut spec = levels.root.to_ascii_lowercase();
        for (target, (level, _)) in &levels.loggers {
            spec.push_str(&format!(",{target}={}", level.to_ascii_lowercase()));
        }
        spec
    }

    /// Every logger set, `root` first, as `GET /admin/loggers` shows them.
    pub fn all(&self) -> Value {
        let levels = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Map::new();
        out.insert("root".into(), json!({"level": levels.root}));
        for (target, (level, modified)) in &levels.loggers {
            let mut entry = json!({"level": level});
            if let Some(at) = modified {
                entry["last_modified"] = json!(at);
            }
            out.insert(target.clone(), entry);
        }
        Value::Object(out)
    }

    /// The level in effect for `logger`: its own, else its nearest ancestor's, else root's. `None` for a logger
    /// that does not exist: not root, never set, and not a module of this program (`pipewright::…`), whose
    /// targets are the loggers there are.
    pub fn level(&self, logger: &str) -> Option<String> {
        let levels = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if logger == "root" {
            return Some(levels.root.clone());
        }
        let ours = logger == "pipewright" || logger.starts_with("pipewright::");
        if !ours && !levels.loggers.contains_key(logger) {
            return None;
        }
        let mut name = logger;
        loop {
            if let Some((level, _)) = levels.loggers.get(name) {
                return Some(level.clone());
            }
            match name.rfind("::") {
                Some(at) => name = &name[..at],
                None => return Some(levels.root.clone()),
            }
        }
    }

    /// Sets `logger` (and, for `root`, the default) to `level`; returns the loggers whose level changed, sorted.
    /// An unknown level is a 404, as Kafka Connect answers it.
    pub fn set(&self, logger: &str, level: &str) -> Result<Vec<String>, RestError> {
        let level = level_name(level).ok_or_else(|| {
            RestError::not_found(format!(
                "invalid log level '{level}'. Use TRACE, DEBUG, INFO, WARN, ERROR, FATAL or OFF"
            ))
        })?;
        if !is_logger_name(logger) {
            return Err(RestError::bad_request(format!(
                "Invalid logger name {logger:?}: a logger is `root` or a tracing target such as \
                 pipewright::engine (letters, digits, `_`, `-`, `.` and `::`)"
            )));
        }
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // Changed on a copy, kept only once the subscriber took it: a filter it refuses changes nothing.
        let mut levels = Levels {
            root: guard.root.clone(),
            loggers: guard.loggers.clone(),
        };
        let mut changed = Vec::new();
        if logger == "root" {
            levels.root = level.to_owned();
            changed.push("root".to_owned());
        } else {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let below = format!("{logger}::");
            for (target, (current, modified)) in levels.loggers.iter_mut() {
                if target.starts_with(&below) {
                    *current = level.to_owned();
                    *modified = Some(now);
                    changed.push(target.clone());
                }
            }
            levels
                .loggers
                .insert(logger.to_owned(), (level.to_owned(), Some(now)));
            changed.push(logger.to_owned());
            changed.sort();
        }
        (self.apply)(&Self::spec(&levels)).map_err(|e| {
            RestError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                format!("could not change the log level: {e}"),
            )
        })?;
        *guard = levels;
        drop(guard);
        tracing::info!(logger, level, "log level changed");
        Ok(changed)
    }
}

fn levels(state: &RestState) -> Result<&LogLevels, RestError> {
    state
        .log_levels
        .as_deref()
        .ok_or_else(|| RestError::not_found("Log levels cannot be changed in this process"))
}

pub(super) async fn list(State(state): State<RestState>) -> Result<Response, RestError> {
    Ok(Json(levels(&state)?.all()).into_response())
}

pub(super) async fn get(
    State(state): State<RestState>,
    Path(logger): Path<String>,
) -> Result<Response, RestError> {
    // As Kafka Connect answers for a logger its logging framework does not have.
    let level = levels(&state)?
        .level(&logger)
        .ok_or_else(|| RestError::not_found(format!("Logger {logger} not found.")))?;
    Ok(Json(json!({ "level": level })).into_response())
}

/// `PUT /admin/loggers/{logger}` with `{"level": "DEBUG"}` (`?scope=worker`, the only scope of one process).
pub(super) async fn set(
    State(state): State<RestState>,
    Path(logger): Path<String>,
    body: Bytes,
) -> Result<Response, RestError> {
    let body = json_body(&body)?;
    let Some(Value::String(level)) = body.get("level") else {
        return Err(RestError::bad_request(
            "Desired 'level' parameter was not specified in request: send {\"level\": \"DEBUG\"} (TRACE, DEBUG, \
             INFO, WARN, ERROR, FATAL or OFF)",
        ));
    };
    let changed = levels(&state)?.set(&logger, level)?;
    Ok(Json(json!(changed)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_start_from_the_filter_and_children_follow_their_parent() {
        let applied = Arc::new(Mutex::new(Vec::new()));
        let sink = applied.clone();
        let levels = LogLevels::new(
            "info,pipewright::engine::task=debug",
            Box::new(move |spec| {
                sink.lock().unwrap().push(spec.to_owned());
                Ok(())
            }),
        );
        assert_eq!(levels.level("root").as_deref(), Some("INFO"));
        assert_eq!(
            levels.level("pipewright::engine::task").as_deref(),
            Some("DEBUG")
        );
        assert_eq!(levels.level("pipewright::client").as_deref(), Some("INFO"));
        let changed = levels.set("pipewright::engine", "trace").unwrap();
        assert_eq!(changed, ["pipewright::engine", "pipewright::engine::task"]);
        assert_eq!(
            levels.level("pipewright::engine::cores").as_deref(),
            Some("TRACE")
        );
        assert_eq!(
            applied.lock().unwrap().last().unwrap(),
            "info,pipewright::engine=trace,pipewright::engine::task=trace"
        );
        assert_eq!(
            levels.set("pipewright", "LOUD").unwrap_err().status,
            axum::http::StatusCode::NOT_FOUND,
            "an unknown level is a 404, as Kafka Connect answers it"
        );
        let before = applied.lock().unwrap().len();
        assert_eq!(
            levels.set("\u{1b}é", "DEBUG").unwrap_err().status,
            axum::http::StatusCode::BAD_REQUEST
        );
        assert_eq!(applied.lock().unwrap().len(), before, "nothing applied");
        levels.set("root", "fatal").unwrap();
        assert_eq!(levels.level("pipewright::x").as_deref(), Some("ERROR"));
        assert_eq!(levels.level("x"), None, "a logger that does not exist");
        let all = levels.all();
        assert_eq!(all["root"]["level"], "ERROR");
        assert!(all["pipewright::engine"]["last_modified"].is_u64());
    }

    #[test]
    fn a_filter_the_subscriber_refuses_changes_no_level() {
        let levels = LogLevels::new("info", Box::new(|_| Err("refused".into())));
        let error = levels.set("pipewright::engine", "debug").unwrap_err();
        assert_eq!(error.status, axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(levels.level("pipewright::engine").as_deref(), Some("INFO"));
        assert!(levels.all().get("pipewright::engine").is_none());
    }
}
