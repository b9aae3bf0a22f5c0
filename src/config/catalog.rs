//! The components a config may name. Validation asks a [`Catalog`]; the engine uses [`Registry`] (the real
//! `connect::registry`), tests use a small fixed list.

use crate::connect::registry::{self, ComponentInfo, ComponentKind};

/// Where validation looks up component types and their keys.
pub trait Catalog {
    /// Every component of `kind`.
    fn components(&self, kind: ComponentKind) -> Vec<&'static ComponentInfo>;

    /// The component of `kind` named `name` (short name or alias; a transform's `$Key`/`$Value` suffix is
    /// ignored here and matched by the transform itself).
    fn find(&self, kind: ComponentKind, name: &str) -> Option<&'static ComponentInfo> {
        let base = name.split('$').next().unwrap_or(name);
        self.components(kind).into_iter().find(|c| {
            c.name == name || c.name == base || c.aliases.iter().any(|a| *a == name || *a == base)
        })
    }
}

/// The engine's component registry.
#[derive(Debug, Clone, Copy, Default)]
pub struct Registry;

impl Catalog for Registry {
    fn components(&self, kind: ComponentKind) -> Vec<&'static ComponentInfo> {
        registry::components().filter(|c| c.kind == kind).collect()
    }

    fn find(&self, kind: ComponentKind, name: &str) -> Option<&'static ComponentInfo> {
        registry::find(kind, name)
    }
}

/// A fixed list of components, for tests and tools.
#[derive(Debug, Clone, Copy)]
pub struct StaticCatalog(pub &'static [ComponentInfo]);

impl Catalog for StaticCatalog {
    fn components(&self, kind: ComponentKind) -> Vec<&'static ComponentInfo> {
        self.0.iter().filter(|c| c.kind == kind).collect()
    }
}

/// How a kind is named in messages.
pub(crate) fn kind_name(kind: ComponentKind) -> &'static str {
    match kind {
        ComponentKind::Source => "source",
        ComponentKind::Sink => "sink",
        ComponentKind::Transform => "transform",
        ComponentKind::Predicate => "predicate",
        ComponentKind::Converter => "converter",
    }
}
