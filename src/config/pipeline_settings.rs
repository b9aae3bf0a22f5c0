//! Reading a pipeline's own keys (delivery, tasks, profile, errors.*, converters, client overrides) into
//! [`PipelineKeys`], each value checked against its entry in [`PIPELINE_KEYS`](super::PIPELINE_KEYS).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::client::topic_name::topic_name_problem;

use super::checker::Checker;
use super::clients::{client_accepts, ClientRole};
use super::pipeline_keys::{hint, pipeline_key, CONVERTER_SLOTS, PIPELINE_KEYS};
use super::problem::{did_you_mean, Location};
use super::raw::{Entry, RawPipeline};
use super::{Delivery, ErrorHandling, Profile, Setting, Settings, Tolerance};

/// The most tasks one pipeline may ask for: far more than useful on any machine, few enough that a typo
/// (`tasks = 1000000`) is refused instead of exhausting memory and file descriptors.
pub(super) const MAX_TASKS: u32 = 1024;

/// What the pipeline-level keys said.
#[derive(Default)]
pub(super) struct PipelineKeys {
    pub(super) delivery: Delivery,
    pub(super) tasks: u32,
    pub(super) profile: Option<(Profile, Location)>,
    pub(super) queue_max_records: Option<usize>,
    pub(super) queue_max_bytes: Option<usize>,
    pub(super) errors: ErrorHandling,
    pub(super) converters: BTreeMap<&'static str, Entry>,
    pub(super) converter_keys: BTreeMap<&'static str, Vec<Entry>>,
    pub(super) overrides: Vec<(ClientRole, Entry)>,
    pub(super) keys: Settings,
}

pub(super) fn read_pipeline_keys(checker: &mut Checker<'_>, raw: &RawPipeline) -> PipelineKeys {
    let mut out = PipelineKeys {
        tasks: 1,
        ..PipelineKeys::default()
    };
    for entry in &raw.entries {
        if let Some(value) = entry.value.as_config_string() {
            out.keys.0.insert(
                entry.path.clone(),
                Setting {
                    value,
                    location: entry.location.clone(),
                },
            );
        }
        let name = entry.key.as_str();
        if let Some(slot) = CONVERTER_SLOTS.iter().find(|s| **s == name) {
            if checker.string(entry).is_some() {
                out.converters.insert(slot, entry.clone());
            }
            continue;
        }
        if let Some(slot) = CONVERTER_SLOTS.iter().find(|s| {
            name.strip_prefix(**s)
                .is_some_and(|r| r.starts_with('.') && r.len() > 1)
        }) {
            let sub = Entry {
                key: name[slot.len() + 1..].to_owned(),
                ..entry.clone()
            };
            out.converter_keys.entry(slot).or_default().push(sub);
            continue;
        }
        if let Some(role) = [ClientRole::Producer, ClientRole::Consumer]
            .into_iter()
            .find(|r| name.starts_with(r.override_prefix()))
        {
            let client_key = &name[role.override_prefix().len()..];
            match client_accepts(role, client_key) {
                Ok(()) => out.overrides.push((
                    role,
                    Entry {
                        key: client_key.to_owned(),
                        ..entry.clone()
                    },
                )),
                Err(suggestion) => {
                    let suggestion = suggestion.map(|s| format!("{}{s}", role.override_prefix()));
                    checker.report_at(entry, format!("unknown key{}", hint(suggestion)));
                }
            }
            continue;
        }
        let Some(key) = pipeline_key(name) else {
            let known: Vec<&str> = PIPELINE_KEYS.iter().map(|k| k.name).collect();
            checker.report_at(
                entry,
                format!("unknown key{}", hint(did_you_mean(name, &known))),
            );
            continue;
        };
        if key.name == "name" {
            continue;
        }
        let Some(value) = checker.typed(entry, key) else {
            continue;
        };
        let number = || value.parse::<i64>().unwrap_or_default();
        let errors = &mut out.errors;
        match key.name {
            "delivery" => {
                out.delivery = if value == "exactly-once" {
                    Delivery::ExactlyOnce
                } else {
                    Delivery::AtLeastOnce
                }
            }
            "tasks" => match u32::try_from(number()) {
                Ok(n) if n <= MAX_TASKS => out.tasks = n,
                _ => checker.report_at(
                    entry,
                    format!(
                        "{value} tasks is too many: at most {MAX_TASKS} per pipeline (each task has its own \
                         queue, clients and connections); about as many as the cores, partitions or files \
                         the pipeline reads is enough"
                    ),
                ),
            },
            "profile" => {
                let profile = if value == "latency" {
                    Profile::Latency
                } else {
                    Profile::Throughput
                };
                out.profile = Some((profile, entry.location.clone()));
            }
            "queue.max.records" => out.queue_max_records = usize::try_from(number()).ok(),
            "queue.max.bytes" => out.queue_max_bytes = usize::try_from(number()).ok(),
            "errors.tolerance" => {
                errors.tolerance = if value == "all" {
                    Tolerance::All
                } else {
                    Tolerance::None
                }
            }
            "errors.deadletterqueue.topic.name" => {
                let topic = Some(value).filter(|t| !t.trim().is_empty());
                match topic.as_deref().and_then(topic_name_problem) {
                    Some(problem) => checker.report_at(entry, problem),
                    None => errors.dead_letter_topic = topic,
                }
            }
            "errors.deadletterqueue.topic.replication.factor" => match i16::try_from(number()) {
                Ok(n) => errors.dead_letter_replication_factor = n,
                Err(_) => checker.report_at(entry, "must be at most 32767"),
            },
            "errors.deadletterqueue.context.headers.enable" => {
                errors.context_headers_enable = value == "true"
            }
            "errors.retry.timeout" => {
                errors.retry_timeout = u64::try_from(number()).ok().map(Duration::from_millis)
            }
            "errors.retry.delay.max.ms" => {
                errors.retry_delay_max = Duration::from_millis(number().unsigned_abs())
            }
            "errors.log.enable" => errors.log_enable = value == "true",
            "errors.log.include.messages" => errors.log_include_messages = value == "true",
            _ => {}
        }
    }
    out
}
