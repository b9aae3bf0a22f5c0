//! Every component a pipeline can name, with its config keys: the one list that validation, docs and the
//! engine's builders consult.
//!
//! Gathers the lists the component modules declare; nothing a list defines may import this module (the
//! types a list needs are in `component`).

pub use super::component::{Capabilities, ComponentInfo, ComponentKind, KafkaClientRole};

/// Components registered by each module; a module adds itself by adding its list here.
fn all_lists() -> [&'static [ComponentInfo]; 5] {
    [
        super::connectors::kafka::COMPONENTS,
        super::connectors::COMPONENTS,
        super::converters::COMPONENTS,
        super::transforms::COMPONENTS,
        super::transforms::predicates::COMPONENTS,
    ]
}

/// Every registered component.
pub fn components() -> impl Iterator<Item = &'static ComponentInfo> {
    all_lists().into_iter().flatten()
}

/// The component of `kind` named `name` (short name or any alias, case-sensitive like Kafka Connect; for
/// transforms `$Key` / `$Value` suffixes select the variant and are matched by the transform itself).
pub fn find(kind: ComponentKind, name: &str) -> Option<&'static ComponentInfo> {
    let base = name.split('$').next().unwrap_or(name);
    components().find(|c| {
        c.kind == kind
            && (c.name == name
                || c.name == base
                || c.aliases.iter().any(|a| *a == name || *a == base))
    })
}

/// Names of every component of `kind`, for "did you mean" and error messages.
pub fn names(kind: ComponentKind) -> Vec<&'static str> {
    components()
        .filter(|c| c.kind == kind)
        .map(|c| c.name)
        .collect()
}
