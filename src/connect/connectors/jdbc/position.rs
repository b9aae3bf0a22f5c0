//! The JDBC source's position: per table (or the query), the last incrementing id and timestamp handed out.
//! One `SourcePosition::Opaque` holds every table's, as the engine keeps one position per non-Kafka task; its
//! bytes are a small JSON object, `{"orders":{"i":17,"t":1700000000000000}}` (`t`: microseconds since the
//! epoch of the timestamp as the column holds it, so no precision is lost between polls).

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::connect::record::SourcePosition;

/// Where one table's copy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableOffset {
    /// The last incrementing id handed out.
    pub incrementing: Option<i64>,
    /// The last timestamp handed out, in microseconds (see the module doc).
    pub timestamp_micros: Option<i64>,
}

/// Every table's offset, by table name (the query's: `""`).
pub type Offsets = BTreeMap<String, TableOffset>;

impl TableOffset {
    /// How far the copy got, comparable between two offsets of the same table in the same mode: by timestamp,
    /// then id (a mode without one leaves it `None` in both).
    fn progress(&self) -> (Option<i64>, Option<i64>) {
        (self.timestamp_micros, self.incrementing)
    }
}

/// Takes each table of `other` into `into` where it is further along: the positions several tasks stored,
/// merged, give each table the position of the task that last read it (one that read it before `tasks`
/// changed is never further along).
pub fn merge(into: &mut Offsets, other: Offsets) {
    for (table, offset) in other {
        match into.get(&table) {
            Some(kept) if kept.progress() >= offset.progress() => {}
            _ => {
                into.insert(table, offset);
            }
        }
    }
}

pub fn encode(offsets: &Offsets) -> SourcePosition {
    let mut object = serde_json::Map::new();
    for (table, offset) in offsets {
        let mut entry = serde_json::Map::new();
        if let Some(i) = offset.incrementing {
            entry.insert("i".into(), i.into());
        }
        if let Some(t) = offset.timestamp_micros {
            entry.insert("t".into(), t.into());
        }
        object.insert(table.clone(), entry.into());
    }
    let text = serde_json::Value::Object(object).to_string();
    SourcePosition::Opaque(Bytes::from(text))
}

/// The offsets `encode` wrote; an error for bytes it could not have written (a damaged store must not
/// silently start over).
pub fn decode(position: &SourcePosition) -> Result<Offsets, String> {
    let SourcePosition::Opaque(bytes) = position else {
        return Err(format!("{position:?} is not a JDBC source position"));
    };
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("the stored JDBC source position is not JSON: {e}"))?;
    let object = value
        .as_object()
        .ok_or("the stored JDBC source position is not a JSON object")?;
    let mut offsets = Offsets::new();
    for (table, entry) in object {
        let number = |key: &str| -> Result<Option<i64>, String> {
            match entry.get(key) {
                None => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                    format!(
                        "the stored JDBC position of `{table}` has `{key}` = {v}, not an integer"
                    )
                }),
            }
        };
        offsets.insert(
            table.clone(),
            TableOffset {
                incrementing: number("i")?,
                timestamp_micros: number("t")?,
            },
        );
    }
    Ok(offsets)
}
