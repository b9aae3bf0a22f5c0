//! `MaskField$Key` / `MaskField$Value`: replace `fields` with their type's empty value (0, false, "", empty
//! bytes/array/map, zero decimal, epoch date) or with `replacement` parsed to the field's type.

use super::shared::{TransformBuildError, TransformError, Which, NEGATE_KEY, PREDICATE_KEY};
use super::util::{invalid, operating, require_map, require_struct};
use crate::connect::config_def::{ConfigDef, ConfigKey, ConfigType, ParsedConfig};
use crate::connect::data::{logical, Str, Value};
use crate::connect::record::ConnectRecord;
use bytes::Bytes;

const NAME: &str = "MaskField";
const PURPOSE: &str = "mask fields";

pub const CONFIG: ConfigDef = ConfigDef::new(&[
    ConfigKey::required("fields", ConfigType::List, "Names of the fields to mask"),
    ConfigKey::optional(
        "replacement",
        ConfigType::String,
        None,
        "Replacement for masked values (numbers and strings only)",
    ),
    PREDICATE_KEY,
    NEGATE_KEY,
]);

#[derive(Debug, Clone)]
pub struct MaskField {
    pub which: Which,
    fields: Vec<String>,
    replacement: Option<Str>,
}

impl MaskField {
    pub fn build(config: &ParsedConfig, which: Which) -> Result<Self, TransformBuildError> {
        let fields = config.list("fields");
        if fields.is_empty() {
            return Err(super::util::config_error(
                NAME,
                "fields",
                "must name at least one field",
            ));
        }
        Ok(MaskField {
            which,
            fields,
            replacement: config
                .get("replacement")
                .filter(|r| !r.is_empty())
                .map(Str::from),
        })
    }

    fn masked(&self, value: &Value, decimal: bool) -> Result<Value, TransformError> {
        let Some(r) = &self.replacement else {
            return Ok(match value {
                Value::Null => Value::Null,
                Value::Boolean(_) => Value::Boolean(false),
                Value::Int8(_) => Value::Int8(0),
                Value::Int16(_) => Value::Int16(0),
                Value::Int32(_) => Value::Int32(0),
                Value::Int64(_) => Value::Int64(0),
                Value::Float32(_) => Value::Float32(0.0),
                Value::Float64(_) => Value::Float64(0.0),
                Value::String(_) => Value::String(Str::from_static("")),
                // Also the zero of a Decimal (unscaled 0 is the single byte 0x00).
                Value::Bytes(_) if decimal => Value::Bytes(Bytes::from_static(&[0])),
                Value::Bytes(_) => Value::Bytes(Bytes::new()),
                Value::Array(_) => Value::Array(Vec::new()),
                Value::Map(_) => Value::Map(Vec::new()),
                Value::Struct(_) => {
                    return Err(invalid(NAME, "cannot mask a value of type struct"));
                }
            });
        };
        let bad = |ty: &str| invalid(NAME, format!("unable to convert replacement `{r}` to {ty}"));
        let text = r.as_str().trim();
        Ok(match value {
            Value::Null => Value::Null,
            Value::String(_) => Value::String(r.clone()),
            Value::Int8(_) => Value::Int8(text.parse().map_err(|_| bad("int8"))?),
            Value::Int16(_) => Value::Int16(text.parse().map_err(|_| bad("int16"))?),
            Value::Int32(_) => Value::Int32(text.parse().map_err(|_| bad("int32"))?),
            Value::Int64(_) => Value::Int64(text.parse().map_err(|_| bad("int64"))?),
            Value::Float32(_) => Value::Float32(text.parse().map_err(|_| bad("float32"))?),
            Value::Float64(_) => Value::Float64(text.parse().map_err(|_| bad("float64"))?),
            other => {
                return Err(invalid(
                    NAME,
                    format!(
                        "cannot mask a value of type {} with a replacement",
                        other.type_name()
                    ),
                ))
            }
        })
    }

    pub fn apply(&self, record: &mut ConnectRecord) -> Result<(), TransformError> {
        let sv = operating(record, self.which, NAME)?;
        if sv.value.is_null() {
            return Ok(());
        }
        if sv.schema.is_none() {
            let map = require_map(&mut sv.value, NAME, PURPOSE)?;
            for (k, v) in map.iter_mut() {
                if let Some(name) = k.as_str() {
                    if self.fields.iter().any(|f| f == name) {
                        *v = self.masked(v, false)?;
                    }
                }
            }
        } else {
            let s = require_struct(&mut sv.value, NAME, PURPOSE)?;
            let schema = s.schema().clone();
            for field in &self.fields {
                let Some(f) = schema.field_named(field) else {
                    continue;
                };
                let decimal = f.schema.name.as_deref() == Some(logical::DECIMAL);
                if let Some(v) = s.values_mut().get_mut(f.index) {
                    *v = self.masked(v, decimal)?;
                }
            }
        }
        Ok(())
    }
}
