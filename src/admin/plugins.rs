//! `/connector-plugins…`: the connectors (and, with `connectorsOnly=false`, converters, transforms and
//! predicates) this build has, their config keys, and validation of a config as Kafka Connect answers it.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::connectors::{config_map, json_body};
use super::error::RestError;
use super::query::values as query_values;
use super::RestState;
use crate::config::PIPELINE_KEYS;
use crate::connect::config_def::{ConfigKey, ConfigType};
use crate::connect::registry::{self, ComponentInfo, ComponentKind};

/// The name Kafka Connect users know a component by: its first fully qualified alias, else its own name.
fn class_name(info: &ComponentInfo) -> &'static str {
    info.aliases
        .iter()
        .copied()
        .find(|a| a.contains('.'))
        .unwrap_or(info.name)
}

/// Kafka Connect's plugin type; `None` for what is no plugin of its own (the Kafka side of a pipeline).
fn plugin_type(info: &ComponentInfo) -> Option<&'static str> {
    match info.kind {
        ComponentKind::Source if info.capabilities.kafka_client.is_none() => Some("source"),
        ComponentKind::Sink if info.capabilities.kafka_client.is_none() => Some("sink"),
        ComponentKind::Source | ComponentKind::Sink => None,
        ComponentKind::Converter => Some("converter"),
        ComponentKind::Transform => Some("transformation"),
        ComponentKind::Predicate => Some("predicate"),
    }
}

/// The connector plugin `name` names: its class, a Kafka Connect alias, its short name, or the class's simple
/// name with or without `Connector`.
fn find_connector(name: &str) -> Option<&'static ComponentInfo> {
    let simple = |s: &str| s.rsplit('.').next().unwrap_or(s).to_owned();
    registry::components()
        .filter(|c| matches!(plugin_type(c), Some("source" | "sink")))
        .find(|c| {
            std::iter::once(c.name)
                .chain(c.aliases.iter().copied())
                .any(|alias| {
                    alias == name
                        || simple(alias) == name
                        || simple(alias).strip_suffix("Connector") == Some(name)
                })
        })
}

fn type_name(ty: ConfigType) -> &'static str {
    match ty {
        ConfigType::String => "STRING",
        ConfigType::Int => "INT",
        ConfigType::Long => "LONG",
        ConfigType::Double => "DOUBLE",
        ConfigType::Boolean => "BOOLEAN",
        ConfigType::List => "LIST",
        ConfigType::Password => "PASSWORD",
    }
}

/// One key's definition, in Kafka Connect's `ConfigKeyInfo` shape.
fn definition(key: &ConfigKey, group: &str, order: usize) -> Value {
    json!({
        "name": key.name,
        "type": type_name(key.ty),
        "required": key.required,
        "default_value": key.default,
        "importance": if key.required { "HIGH" } else { "MEDIUM" },
        "documentation": key.doc,
        "group": group,
        "width": "NONE",
        "display_name": key.name,
        "dependents": [],
        "order": order,
    })
}

/// The keys every connector takes besides its own (Kafka Connect's `ConnectorConfig` common group).
fn common_definitions() -> Vec<Value> {
    let mut definitions = vec![json!({
        "name": "connector.class", "type": "STRING", "required": true, "default_value": null,
        "importance": "HIGH", "documentation": "The connector's class or alias", "group": "Common",
        "width": "LONG", "display_name": "Connector class", "dependents": [], "order": 0,
    })];
    for (order, key) in PIPELINE_KEYS.iter().enumerate() {
        let name = if key.name == "tasks" {
            "tasks.max"
        } else {
            key.name
        };
        if matches!(key.name, "source" | "sink") {
            continue;
        }
        definitions.push(json!({
            "name": name, "type": "STRING", "required": key.name == "name",
            "default_value": if key.default.starts_with('(') { Value::Null } else { json!(key.default) },
            "importance": "MEDIUM", "documentation": key.doc, "group": "Common", "width": "NONE",
            "display_name": name, "dependents": [], "order": order + 1,
        }));
    }
    definitions
}

/// `GET /connector-plugins` (`?connectorsOnly=false` for every plugin type).
pub(super) async fn list(RawQuery(query): RawQuery) -> Response {
    let connectors_only = query_values(&query, "connectorsOnly")
        .last()
        .is_none_or(|v| !v.eq_ignore_ascii_case("false"));
    let plugins: Vec<Value> = registry::components()
        .filter_map(|c| Some((c, plugin_type(c)?)))
        .filter(|(_, ty)| !connectors_only || matches!(*ty, "source" | "sink"))
        .map(|(c, ty)| json!({"class": class_name(c), "type": ty, "version": env!("CARGO_PKG_VERSION")}))
        .collect();
    Json(Value::Array(plugins)).into_response()
}

fn plugin(name: &str) -> Result<&'static ComponentInfo, RestError> {
    find_connector(name).ok_or_else(|| RestError::not_found(format!("Unknown plugin {name}")))
}

/// `GET /connector-plugins/{plugin}/config`: the plugin's keys (KIP-769).
pub(super) async fn config(Path(name): Path<String>) -> Result<Response, RestError> {
    let info = plugin(&name)?;
    let keys: Vec<Value> = info
        .config
        .keys
        .iter()
        .enumerate()
        .map(|(order, key)| definition(key, info.name, order))
        .collect();
    Ok(Json(Value::Array(keys)).into_response())
}

/// `PUT /connector-plugins/{plugin}/config/validate`: every key with its errors, and how many there are.
pub(super) async fn validate(
    State(state): State<RestState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, RestError> {
    let info = plugin(&name)?;
    let mut config = config_map(&json_body(&body)?)?;
    let class = config
        .entry("connector.class".into())
        .or_insert_with(|| class_name(info).to_owned())
        .clone();
    if find_connector(&class).map(|c| c as *const _) != Some(info as *const _) {
        return Err(RestError::bad_request(format!(
            "Included connector type {class} does not match request type {name}"
        )));
    }
    let connector = config
        .get("name")
        .cloned()
        .unwrap_or_else(|| "validate".into());
    let checked = config.clone();
    let problems = state
        .worker
        .call(move |w| w.validate_connector_config(&connector, &checked))
        .await?;
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for problem in problems {
        let key = problem
            .key
            .clone()
            .unwrap_or_else(|| "connector.class".into());
        errors.entry(key).or_default().push(problem.message);
    }
    let mut definitions = common_definitions();
    definitions.extend(
        info.config
            .keys
            .iter()
            .enumerate()
            .map(|(order, key)| definition(key, info.name, order)),
    );
    let known: Vec<String> = definitions
        .iter()
        .filter_map(|d| d["name"].as_str().map(str::to_owned))
        .collect();
    for key in errors.keys().filter(|k| !known.contains(k)) {
        definitions.push(json!({
            "name": key, "type": "STRING", "required": false, "default_value": null,
            "importance": "LOW", "documentation": "", "group": "Common", "width": "NONE",
            "display_name": key, "dependents": [], "order": -1,
        }));
    }
    // A PASSWORD key of the plugin, or a key it does not know that is named like a secret (one of its PASSWORD
    // keys under a prefix, a client password, a JAAS config): its value is echoed as `[hidden]`.
    let secret = |key: &str| match info.config.key(key) {
        Some(known) => known.ty == ConfigType::Password,
        None => {
            crate::config::is_secret_key(key)
                || info.config.keys.iter().any(|k| {
                    k.ty == ConfigType::Password
                        && key
                            .strip_suffix(k.name)
                            .is_some_and(|head| head.ends_with('.'))
                })
        }
    };
    let configs: Vec<Value> = definitions
        .into_iter()
        .map(|definition| {
            let key = definition["name"].as_str().unwrap_or_default().to_owned();
            let value = config.get(&key).map(|v| {
                if secret(&key) {
                    crate::config::HIDDEN.to_owned()
                } else {
                    v.clone()
                }
            });
            let key_errors = errors.get(&key).cloned().unwrap_or_default();
            json!({
                "definition": definition,
                "value": {"name": key, "value": value, "recommended_values": [], "errors": key_errors, "visible": true},
            })
        })
        .collect();
    let error_count: usize = errors.values().map(Vec::len).sum();
    let mut groups = vec!["Common".to_owned()];
    if !info.config.keys.is_empty() {
        groups.push(info.name.to_owned());
    }
    Ok(Json(json!({
        "name": class,
        "error_count": error_count,
        "groups": groups,
        "configs": configs,
    }))
    .into_response())
}
