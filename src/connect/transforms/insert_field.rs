//! `InsertField$Key` / `InsertField$Value`: add the record's topic, partition, Kafka offset, timestamp or a
//! static string as fields. A field name ending in `!` is required, `?` (or nothing) optional.

use super::shared::{TransformBuildError, TransformError, Which, NEGATE_KEY, PREDICATE_KEY};
use super::util::{invalid, map_put, operating, require_map, take_struct, SchemaCache};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::data::{Schema, SchemaRef, Str, Struct, Type, Value};
use crate::connect::record::ConnectRecord;

const NAME: &str = "InsertField";
const PURPOSE: &str = "field insertion";

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::optional(
        "topic.field",
        ConfigType::String,
        None,
        "Field name for the record topic",
    ),
    ConfigKey::optional(
        "partition.field",
        ConfigType::String,
        None,
        "Field name for the record partition",
    ),
    ConfigKey::optional(
        "offset.field",
        ConfigType::String,
        None,
        "Field name for the Kafka offset (records read from Kafka only)",
    ),
    ConfigKey::optional(
        "timestamp.field",
        ConfigType::String,
        None,
        "Field name for the record timestamp",
    ),
    ConfigKey::optional(
        "static.field",
        ConfigType::String,
        None,
        "Field name for the static value",
    ),
    ConfigKey::optional("static.value", ConfigType::String, None, "The static value"),
    PREDICATE_KEY,
    NEGATE_KEY,
]);

#[derive(Debug, Clone)]
struct FieldSpec {
    name: Str,
    optional: bool,
}

impl FieldSpec {
    fn parse(config: &ParsedConfig, key: &str) -> Option<FieldSpec> {
        let raw = config.get(key)?.trim();
        if raw.is_empty() {
            return None;
        }
        Some(if let Some(name) = raw.strip_suffix('!') {
            FieldSpec {
                name: Str::from(name),
                optional: false,
            }
        } else if let Some(name) = raw.strip_suffix('?') {
            FieldSpec {
                name: Str::from(name),
                optional: true,
            }
        } else {
            FieldSpec {
                name: Str::from(raw),
                optional: true,
            }
        })
    }
}

#[derive(Debug, Clone)]
pub struct InsertField {
    pub which: Which,
    topic: Option<FieldSpec>,
    partition: Option<FieldSpec>,
    offset: Option<FieldSpec>,
    timestamp: Option<FieldSpec>,
    static_field: Option<FieldSpec>,
    static_value: Option<Str>,
    cache: SchemaCache<SchemaRef>,
}

impl InsertField {
    pub fn build(config: &ParsedConfig, which: Which) -> Result<Self, TransformBuildError> {
        let t = InsertField {
            which,
            topic: FieldSpec::parse(config, "topic.field"),
            partition: FieldSpec::parse(config, "partition.field"),
            offset: FieldSpec::parse(config, "offset.field"),
            timestamp: FieldSpec::parse(config, "timestamp.field"),
            static_field: FieldSpec::parse(config, "static.field"),
            static_value: config.get("static.value").map(Str::from),
            cache: SchemaCache::default(),
        };
        if t.static_field.is_some() && t.static_value.is_none() {
            return Err(super::util::config_error(
                NAME,
                "static.value",
                "must be set when static.field is",
            ));
        }
        Ok(t)
    }

    fn updated_schema(&self, schema: &Schema) -> SchemaRef {
        let mut builder = schema.copy_basics();
        builder.optional = false;
        builder.key_schema = None;
        builder.value_schema = None;
        for field in &schema.fields {
            builder = builder.field(&field.name, field.schema.clone());
        }
        let add = |b: Schema, spec: &Option<FieldSpec>, make: fn() -> Schema| match spec {
            Some(f) => b.field(&f.name, make().with_optional(f.optional).build()),
            None => b,
        };
        builder = add(builder, &self.topic, || Schema::new(Type::String));
        builder = add(builder, &self.partition, || Schema::new(Type::Int32));
        builder = add(builder, &self.offset, || Schema::new(Type::Int64));
        builder = add(builder, &self.timestamp, Schema::timestamp);
        builder = add(builder, &self.static_field, || Schema::new(Type::String));
        builder.build()
    }

    pub fn apply(&self, record: &mut ConnectRecord) -> Result<(), TransformError> {
        if self.offset.is_some() && record.kafka_offset.is_none() {
            return Err(invalid(
                NAME,
                "offset.field is only supported for records read from Kafka (they have an offset)",
            ));
        }
        // Only what is configured is built.
        let additions = [
            (
                &self.topic,
                self.topic
                    .as_ref()
                    .map(|_| Value::String(record.topic.clone())),
            ),
            (
                &self.partition,
                self.partition
                    .as_ref()
                    .map(|_| record.partition.map_or(Value::Null, Value::Int32)),
            ),
            (
                &self.offset,
                self.offset
                    .as_ref()
                    .map(|_| record.kafka_offset.map_or(Value::Null, Value::Int64)),
            ),
            (
                &self.timestamp,
                self.timestamp
                    .as_ref()
                    .map(|_| record.timestamp.map_or(Value::Null, Value::Int64)),
            ),
            (
                &self.static_field,
                self.static_field
                    .as_ref()
                    .map(|_| self.static_value.clone().map_or(Value::Null, Value::String)),
            ),
        ];
        let sv = operating(record, self.which, NAME)?;
        if sv.value.is_null() {
            return Ok(());
        }
        match &sv.schema {
            None => {
                let map = require_map(&mut sv.value, NAME, PURPOSE)?;
                for (spec, value) in additions {
                    if let (Some(f), Some(value)) = (spec, value) {
                        map_put(map, &f.name, value);
                    }
                }
            }
            Some(schema) => {
                let updated = self
                    .cache
                    .get_or_try_insert(schema, || Ok(self.updated_schema(schema)))?;
                let mut values = take_struct(&mut sv.value, NAME, PURPOSE)?.into_values();
                values.extend(additions.into_iter().filter_map(|(_, value)| value));
                let new = Struct::from_values(updated.clone(), values)
                    .map_err(|e| invalid(NAME, e.to_string()))?;
                sv.value = Value::Struct(new);
                sv.schema = Some(updated);
            }
        }
        Ok(())
    }
}
