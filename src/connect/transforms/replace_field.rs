//! `ReplaceField$Key` / `ReplaceField$Value`: keep only `include`d fields, drop `exclude`d ones, and rename
//! (`renames` = `old:new,…`). `whitelist` / `blacklist` are the old names of `include` / `exclude`.

use super::shared::{TransformBuildError, TransformError, Which, NEGATE_KEY, PREDICATE_KEY};
use super::util::{config_error, operating, require_map, take_struct, SchemaCache};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::data::{Schema, SchemaRef, Str, Struct, Value};
use crate::connect::record::ConnectRecord;
use std::sync::Arc;

const NAME: &str = "ReplaceField";
const PURPOSE: &str = "field replacement";

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::optional(
        "exclude",
        ConfigType::List,
        Some(""),
        "Fields to drop; takes precedence over include",
    ),
    ConfigKey::optional(
        "include",
        ConfigType::List,
        Some(""),
        "Fields to keep; all when empty",
    ),
    ConfigKey::optional(
        "renames",
        ConfigType::List,
        Some(""),
        "Field renames, `old:new,…`",
    ),
    ConfigKey::optional(
        "blacklist",
        ConfigType::List,
        None,
        "Deprecated name of exclude",
    ),
    ConfigKey::optional(
        "whitelist",
        ConfigType::List,
        None,
        "Deprecated name of include",
    ),
    ConfigKey::optional(
        "replace.null.with.default",
        ConfigType::Boolean,
        Some("true"),
        "Accepted for compatibility",
    ),
    PREDICATE_KEY,
    NEGATE_KEY,
]);

#[derive(Debug, Clone)]
pub struct ReplaceField {
    pub which: Which,
    exclude: Vec<String>,
    include: Vec<String>,
    /// (old, new) pairs; the new name is pre-built so renaming allocates nothing per record.
    renames: Vec<(String, Str)>,
    /// Output schema and, per output field, the input field index.
    cache: SchemaCache<(SchemaRef, Arc<[usize]>)>,
}

impl ReplaceField {
    pub fn build(config: &ParsedConfig, which: Which) -> Result<Self, TransformBuildError> {
        let mut exclude = config.list("exclude");
        exclude.extend(config.list("blacklist"));
        let mut include = config.list("include");
        include.extend(config.list("whitelist"));
        let mut renames = Vec::new();
        for entry in config.list("renames") {
            let Some((old, new)) = entry.split_once(':') else {
                return Err(config_error(
                    NAME,
                    "renames",
                    format!("`{entry}` is not of the form old:new"),
                ));
            };
            renames.push((old.trim().to_owned(), Str::from(new.trim())));
        }
        Ok(ReplaceField {
            which,
            exclude,
            include,
            renames,
            cache: SchemaCache::default(),
        })
    }

    fn keep(&self, name: &str) -> bool {
        !self.exclude.iter().any(|e| e == name)
            && (self.include.is_empty() || self.include.iter().any(|i| i == name))
    }

    fn renamed(&self, name: &str) -> Option<&Str> {
        self.renames
            .iter()
            .find(|(old, _)| old == name)
            .map(|(_, new)| new)
    }

    pub fn apply(&self, record: &mut ConnectRecord) -> Result<(), TransformError> {
        let sv = operating(record, self.which, NAME)?;
        if sv.value.is_null() {
            return Ok(());
        }
        match &sv.schema {
            None => {
                // In place: no allocation per record.
                let entries = require_map(&mut sv.value, NAME, PURPOSE)?;
                entries.retain(|(k, _)| k.as_str().is_none_or(|name| self.keep(name)));
                for (k, _) in entries.iter_mut() {
                    if let Some(new) = k.as_str().and_then(|name| self.renamed(name)) {
                        *k = Value::String(new.clone());
                    }
                }
            }
            Some(schema) => {
                let (updated, sources) = self.cache.get_or_try_insert(schema, || {
                    let mut builder = schema.copy_basics();
                    builder.optional = false;
                    let mut sources = Vec::new();
                    for field in &schema.fields {
                        if self.keep(&field.name) {
                            let name = self
                                .renamed(&field.name)
                                .map_or(field.name.as_str(), |s| s.as_str());
                            builder = builder.field(name, field.schema.clone());
                            sources.push(field.index);
                        }
                    }
                    let out: (SchemaRef, Arc<[usize]>) = (Schema::build(builder), sources.into());
                    Ok(out)
                })?;
                let mut old = take_struct(&mut sv.value, NAME, PURPOSE)?.into_values();
                let values = sources
                    .iter()
                    .map(|&i| old.get_mut(i).map(std::mem::take).unwrap_or_default())
                    .collect();
                let new = Struct::from_values(updated.clone(), values)
                    .map_err(|e| super::util::invalid(NAME, e.to_string()))?;
                sv.value = Value::Struct(new);
                sv.schema = Some(updated);
            }
        }
        Ok(())
    }
}
