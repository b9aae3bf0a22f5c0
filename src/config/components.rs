//! A pipeline's converters, predicates and transforms, checked against the catalog.

use std::collections::{HashMap, HashSet};

use crate::connect::registry::ComponentKind;

use super::checker::Checker;
use super::pipeline_settings::PipelineKeys;
use super::problem::{did_you_mean, list_names};
use super::raw::{Entry, RawComponent, RawPipeline};
use super::{ComponentConfig, PredicateConfig, TransformConfig};

pub(super) fn build_converter(
    checker: &mut Checker<'_>,
    slot: &'static str,
    keys: &PipelineKeys,
) -> Option<ComponentConfig> {
    let sub_keys = keys.converter_keys.get(slot).cloned().unwrap_or_default();
    let Some(entry) = keys.converters.get(slot) else {
        for sub in &sub_keys {
            checker.report_at(sub, format!("set without \"{slot}\""));
        }
        return None;
    };
    let mut entries = vec![Entry {
        key: "type".into(),
        ..entry.clone()
    }];
    entries.extend(sub_keys);
    let component = RawComponent {
        location: entry.location.clone(),
        path_prefix: format!("{slot}."),
        alias: None,
        entries,
    };
    checker.component(ComponentKind::Converter, &component, &[], None)
}

/// The transform aliases given so far, to make each new one unique (`mask`, `mask-2`, `mask-3`, …).
#[derive(Default)]
pub(super) struct Aliases {
    pub(super) taken: HashSet<String>,
    /// For each alias taken more than once, the suffix to try next: n transforms of one type cost n tries, not
    /// n² (each starting again from `-2`).
    pub(super) next_suffix: HashMap<String, u64>,
}

impl Aliases {
    pub(super) fn contains(&self, alias: &str) -> bool {
        self.taken.contains(alias)
    }

    /// Takes `alias`, or `alias-N` with the lowest N ≥ 2 not taken yet.
    pub(super) fn take_unique(&mut self, alias: String) -> String {
        if self.taken.insert(alias.clone()) {
            return alias;
        }
        let suffix = self.next_suffix.entry(alias.clone()).or_insert(2);
        loop {
            let candidate = format!("{alias}-{suffix}");
            *suffix += 1;
            if self.taken.insert(candidate.clone()) {
                return candidate;
            }
        }
    }
}

pub(super) fn build_predicates(
    checker: &mut Checker<'_>,
    raw: &RawPipeline,
) -> Vec<PredicateConfig> {
    let mut predicates: Vec<PredicateConfig> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for component in &raw.predicates {
        let alias = match (&component.alias, component.get("name")) {
            (Some(alias), _) => Some(alias.clone()),
            (None, Some(entry)) => checker.string(entry),
            (None, None) => {
                let path = format!("{}name", component.path_prefix);
                checker.report(
                    &component.location,
                    Some(&path),
                    "missing required key (transforms refer to a predicate by name)",
                );
                None
            }
        };
        if let Some(alias) = &alias {
            if !seen.insert(alias.clone()) {
                checker.report(
                    &component.location,
                    Some(&format!("{}name", component.path_prefix)),
                    format!("duplicate predicate name \"{alias}\""),
                );
            }
        }
        let built = checker.component(ComponentKind::Predicate, component, &["name"], None);
        if let (Some(alias), Some(component)) = (alias, built) {
            predicates.push(PredicateConfig { alias, component });
        }
    }
    predicates
}

pub(super) fn build_transforms(
    checker: &mut Checker<'_>,
    raw: &RawPipeline,
    predicate_names: &[String],
) -> Vec<TransformConfig> {
    let mut transforms: Vec<TransformConfig> = Vec::new();
    let mut aliases = Aliases::default();
    let known: Vec<&str> = predicate_names.iter().map(String::as_str).collect();
    let defined: HashSet<&str> = known.iter().copied().collect();
    for component in &raw.transforms {
        let named = match (&component.alias, component.get("name")) {
            (Some(alias), _) => Some(alias.clone()),
            (None, Some(entry)) => checker.string(entry),
            (None, None) => None,
        };
        if let Some(name) = &named {
            if aliases.contains(name) {
                checker.report(
                    &component.location,
                    Some(&format!("{}name", component.path_prefix)),
                    format!("duplicate transform name \"{name}\""),
                );
            }
        }
        let predicate = component.get("predicate").and_then(|entry| {
            let name = checker.string(entry)?;
            if defined.contains(name.as_str()) {
                return Some(name);
            }
            let suffix = match did_you_mean(&name, &known) {
                Some(s) => format!(" (did you mean \"{s}\"?)"),
                None if known.is_empty() => " (the pipeline defines no predicates)".into(),
                None => format!(" (defined: {})", list_names(&known)),
            };
            checker.report_at(entry, format!("unknown predicate \"{name}\"{suffix}"));
            None
        });
        let negate = match component.get("negate") {
            Some(entry) => {
                let negate = checker.boolean(entry).unwrap_or(false);
                if component.get("predicate").is_none() {
                    checker.report_at(entry, "negate needs a predicate");
                }
                negate
            }
            None => false,
        };
        let built = checker.component(
            ComponentKind::Transform,
            component,
            &["name", "predicate", "negate"],
            None,
        );
        let Some(built) = built else {
            continue;
        };
        let alias = aliases.take_unique(named.unwrap_or_else(|| built.type_name.clone()));
        transforms.push(TransformConfig {
            alias,
            component: built,
            predicate,
            negate,
        });
    }
    transforms
}
