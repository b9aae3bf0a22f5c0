//! Every component a pipeline can name, with its config keys: the one list that validation, docs and the
//! engine's builders consult.

use super::config_def::ConfigDef;

/// What role a component plays in a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentKind {
    Source,
    Sink,
    Transform,
    Predicate,
    Converter,
}

/// A component's name, the other names users know it by (Kafka Connect class names), and its keys.
#[derive(Debug, Clone, Copy)]
pub struct ComponentInfo {
    pub kind: ComponentKind,
    /// The short name used in pipelines.toml (`file`, `InsertField`, `json`).
    pub name: &'static str,
    /// Kafka Connect names accepted too (`FileStreamSource`, `org.apache.kafka.connect.file.FileStreamSourceConnector`,
    /// `org.apache.kafka.connect.transforms.InsertField$Value`, …).
    pub aliases: &'static [&'static str],
    pub config: ConfigDef,
    pub doc: &'static str,
}

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
