//! Where a value came from, and what is wrong with it.
//!
//! Every problem names its file and line, and where it applies its pipeline and key, so `engine validate` can
//! print lines an editor jumps to: `pipelines.toml:12: pipeline "orders-to-file": key "x": unknown key`.

use std::fmt;
use std::sync::Arc;

/// A place in a config file. `line` is 1-based; 0 means "the file as a whole".
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub file: Arc<str>,
    pub line: u32,
}

impl Location {
    pub fn new(file: &Arc<str>, line: u32) -> Self {
        Self {
            file: Arc::clone(file),
            line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Problem {
    pub location: Location,
    /// The pipeline the problem belongs to, when it belongs to one and its name is known.
    pub pipeline: Option<String>,
    /// The key as the user wrote it (`value.converter.schemas.enable`, `source.file`, `transforms.a.type`).
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location)?;
        if let Some(pipeline) = &self.pipeline {
            write!(f, "pipeline \"{pipeline}\": ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "key \"{key}\": ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a config, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Byte offset → line number, for parsers that report spans.
pub(crate) struct LineIndex {
    line_starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { line_starts }
    }

    /// The 1-based line holding byte `offset`.
    pub(crate) fn line_of(&self, offset: usize) -> u32 {
        let line = self.line_starts.partition_point(|start| *start <= offset);
        u32::try_from(line.max(1)).unwrap_or(u32::MAX)
    }
}

/// The most names one "did you mean" compares with, and one message lists: more than any list a person writes
/// (the registry's component names, a component's keys), so a hostile config's list of thousands of aliases
/// costs each of its problems no more than a real one.
pub(crate) const MAX_NAMES_CONSIDERED: usize = 256;

/// The most names one message lists before eliding the rest.
const MAX_NAMES_LISTED: usize = 16;

/// The known name closest to `name`, when one is close enough to be what was meant; none when there are more
/// than [`MAX_NAMES_CONSIDERED`] names to compare with.
pub(crate) fn did_you_mean(name: &str, known: &[&str]) -> Option<String> {
    if known.len() > MAX_NAMES_CONSIDERED {
        return None;
    }
    crate::client::config::closest(name, known)
}

/// `names` for a message (`a, b, c`), the first [`MAX_NAMES_LISTED`] of them when there are more.
pub(crate) fn list_names(names: &[&str]) -> String {
    let mut listed = names
        .iter()
        .take(MAX_NAMES_LISTED)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX_NAMES_LISTED {
        listed.push_str(&format!(" and {} more", names.len() - MAX_NAMES_LISTED));
    }
    listed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_counts_from_one() {
        let index = LineIndex::new("a\nbb\n\nc");
        assert_eq!(index.line_of(0), 1);
        assert_eq!(index.line_of(2), 2);
        assert_eq!(index.line_of(5), 3);
        assert_eq!(index.line_of(6), 4);
        assert_eq!(index.line_of(100), 4);
    }

    #[test]
    fn long_name_lists_are_neither_compared_nor_listed_whole() {
        let names: Vec<String> = (0..MAX_NAMES_CONSIDERED + 1)
            .map(|n| format!("alias{n}"))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(
            did_you_mean("alias7x", &names[..MAX_NAMES_CONSIDERED]),
            Some("alias7".into())
        );
        assert_eq!(did_you_mean("alias7x", &names), None);
        assert_eq!(list_names(&names[..3]), "alias0, alias1, alias2");
        let listed = list_names(&names);
        assert!(listed.starts_with("alias0, alias1, "), "{listed}");
        assert!(listed.ends_with(", alias15 and 241 more"), "{listed}");
    }

    #[test]
    fn every_list_of_registered_names_gets_suggestions() {
        use super::super::catalog::{Catalog, Registry};
        use crate::connect::registry::ComponentKind;
        for kind in [
            ComponentKind::Source,
            ComponentKind::Sink,
            ComponentKind::Transform,
            ComponentKind::Predicate,
            ComponentKind::Converter,
        ] {
            let components = Registry.components(kind);
            let names: usize = components.iter().map(|c| 1 + c.aliases.len()).sum();
            assert!(
                names > 0 && names <= MAX_NAMES_CONSIDERED,
                "{kind:?}: {names} names"
            );
            for component in components {
                assert!(component.config.keys.len() <= MAX_NAMES_CONSIDERED);
            }
        }
    }

    #[test]
    fn problem_prints_file_line_pipeline_key_message() {
        let file: Arc<str> = Arc::from("pipelines.toml");
        let problem = Problem {
            location: Location::new(&file, 12),
            pipeline: Some("orders-to-file".into()),
            key: Some("value.converter.schemas.enabel".into()),
            message: "unknown key".into(),
        };
        assert_eq!(
            problem.to_string(),
            "pipelines.toml:12: pipeline \"orders-to-file\": key \"value.converter.schemas.enabel\": unknown key"
        );
    }
}
