//! `engine validate --config F`: every problem of a config file, or a short summary of its pipelines.

use std::fmt::Write as _;
use std::path::Path;

use crate::config::{self, Catalog, ComponentConfig, EngineConfig, PipelineConfig};

/// What `engine validate` prints and how it exits.
pub struct ValidateReport {
    /// Problems (one per line) or the summary.
    pub text: String,
    pub ok: bool,
}

/// Validates `path` against `catalog`.
pub fn run(path: &Path, catalog: &dyn Catalog) -> ValidateReport {
    match config::load_with(path, catalog) {
        Ok(config) => ValidateReport {
            text: summary(&config),
            ok: true,
        },
        Err(errors) => {
            let count = errors.problems.len();
            ValidateReport {
                text: format!(
                    "{errors}\n{count} problem{} in {}\n",
                    if count == 1 { "" } else { "s" },
                    path.display()
                ),
                ok: false,
            }
        }
    }
}

/// `name key=value` for the component's main key; a secret or a value from a config provider is shown as
/// `[hidden]`.
fn component(pipeline: &PipelineConfig, c: &ComponentConfig, prefix: &str) -> String {
    let hidden = |key: &str| {
        let flat = format!("{prefix}.{key}");
        [key, flat.as_str()]
            .iter()
            .any(|k| pipeline.secret_keys.contains(*k) || pipeline.resolved_keys.contains(*k))
    };
    let main_key = ["file", "topic", "topics", "topics.regex"]
        .iter()
        .find_map(|k| {
            let value = c.config.get(k)?;
            let value = if hidden(k) {
                crate::config::HIDDEN
            } else {
                value
            };
            Some(format!(" {k}={value}"))
        })
        .unwrap_or_default();
    format!("{}{main_key}", c.name)
}

/// One line per pipeline: `name: source → transforms → sink (delivery, tasks, profile)`.
pub fn summary(config: &EngineConfig) -> String {
    let mut out = String::new();
    let count = config.pipelines.len();
    let _ = writeln!(
        out,
        "{}: ok, {count} pipeline{}",
        config.file,
        if count == 1 { "" } else { "s" }
    );
    for p in &config.pipelines {
        let mut stages = vec![component(p, &p.source, "source")];
        stages.extend(p.transforms.iter().map(|t| {
            let predicate = t
                .predicate
                .as_ref()
                .map(|name| format!(" if {}{name}", if t.negate { "not " } else { "" }))
                .unwrap_or_default();
            format!("{}{predicate}", t.alias)
        }));
        stages.push(component(p, &p.sink, "sink"));
        let _ = writeln!(
            out,
            "  {}: {} ({}, {} task{}{}{})",
            p.name,
            stages.join(" → "),
            p.delivery.as_str(),
            p.tasks,
            if p.tasks == 1 { "" } else { "s" },
            if p.requested_tasks > p.tasks {
                format!(
                    " of the {} asked: its connectors use no more",
                    p.requested_tasks
                )
            } else {
                String::new()
            },
            p.profile
                .map(|pr| format!(", profile {}", pr.as_str()))
                .unwrap_or_default()
        );
        for note in p.run.source.exactness_notes() {
            let _ = writeln!(out, "    note: {note}");
        }
    }
    out
}
