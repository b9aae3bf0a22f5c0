//! A pipeline's Kafka client settings: resolved by precedence (defaults, profile, `[kafka]`, the Kafka
//! connector's keys, overrides) and checked by the clients' own readers, each problem blamed on the key that set it.

use super::checker::Checker;
use super::clients::{presets, ClientRole, ClientSetting, ClientSettings, Origin};
use super::pipeline_settings::PipelineKeys;
use super::problem::{Location, Problem};
use super::raw::Entry;
use super::Delivery;

/// The client settings of one pipeline, lowest precedence first.
pub(super) fn resolve_client(
    role: ClientRole,
    kafka: &[(Entry, bool, bool)],
    keys: &PipelineKeys,
    component_keys: &[Entry],
) -> ClientSettings {
    let mut settings = ClientSettings::default();
    settings.set(ClientSetting {
        key: "bootstrap.servers".into(),
        value: "localhost:9092".into(),
        path: "bootstrap.servers".into(),
        origin: Origin::Default,
    });
    if role == ClientRole::Consumer {
        // As a Kafka Connect worker does for sink connectors: a new group reads a topic from its start.
        settings.set(ClientSetting {
            key: "auto.offset.reset".into(),
            value: "earliest".into(),
            path: "auto.offset.reset".into(),
            origin: Origin::Default,
        });
    }
    if let Some((profile, location)) = &keys.profile {
        for (key, value) in presets(*profile, role) {
            settings.set(ClientSetting {
                key: (*key).into(),
                value: (*value).into(),
                path: "profile".into(),
                origin: Origin::Profile(*profile, location.clone()),
            });
        }
    }
    if keys.delivery == Delivery::ExactlyOnce {
        let (key, value) = match role {
            ClientRole::Producer => ("enable.idempotence", "true"),
            ClientRole::Consumer => ("isolation.level", "read_committed"),
        };
        let location = keys.keys.location("delivery").cloned();
        if let Some(location) = location {
            settings.set(ClientSetting {
                key: key.into(),
                value: value.into(),
                path: "delivery".into(),
                origin: Origin::Delivery(location),
            });
        }
    }
    for (entry, producer, consumer) in kafka {
        let wanted = match role {
            ClientRole::Producer => *producer,
            ClientRole::Consumer => *consumer,
        };
        if let (true, Some(value)) = (wanted, entry.value.as_config_string()) {
            settings.set(ClientSetting {
                key: entry.key.clone(),
                value,
                path: entry.path.clone(),
                origin: Origin::Kafka(entry.location.clone()),
            });
        }
    }
    let overrides = keys
        .overrides
        .iter()
        .filter(|(r, _)| *r == role)
        .map(|(_, e)| (e, true));
    let component = component_keys.iter().map(|e| (e, false));
    for (entry, is_override) in component.chain(overrides) {
        if let Some(value) = entry.value.as_config_string() {
            settings.set(ClientSetting {
                key: entry.key.clone(),
                value,
                path: entry.path.clone(),
                origin: if is_override {
                    Origin::Override(entry.location.clone())
                } else {
                    Origin::Component(entry.location.clone())
                },
            });
        }
    }
    settings
}

pub(super) fn check_client(
    checker: &mut Checker<'_>,
    role: ClientRole,
    settings: &ClientSettings,
    file_start: &Location,
) {
    for (error, setting) in settings.problems(role) {
        match setting {
            Some(setting) => {
                let pipeline = match setting.origin {
                    Origin::Kafka(_) | Origin::Default => None,
                    _ => checker.pipeline.clone(),
                };
                let location = setting
                    .origin
                    .location()
                    .cloned()
                    .unwrap_or_else(|| file_start.clone());
                let message = match &setting.origin {
                    Origin::Profile(profile, _) => {
                        format!(
                            "profile \"{}\" sets {}={}: {error}",
                            profile.as_str(),
                            setting.key,
                            setting.value
                        )
                    }
                    _ => error.to_string(),
                };
                checker.problems.push(Problem {
                    location,
                    pipeline,
                    key: Some(setting.path.clone()),
                    message,
                });
            }
            None => checker.report(file_start, None, error.to_string()),
        }
    }
}

/// The client key a flat connector key sets: `producer.override.X`, `consumer.override.X`, `producer.X`,
/// `consumer.X` and `admin.X` set `X`; any other key may be a client key itself.
pub(crate) fn client_key_of(key: &str) -> &str {
    [
        "producer.override.",
        "consumer.override.",
        "producer.",
        "consumer.",
        "admin.",
    ]
    .iter()
    .find_map(|prefix| key.strip_prefix(prefix))
    .unwrap_or(key)
}
