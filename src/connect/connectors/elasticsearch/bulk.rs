//! The `_bulk` API as the sink speaks it: index names and document ids as Confluent's connector forms them,
//! the NDJSON action and source lines, and the reply read item by item into what each outcome means for the
//! record. Knows nothing of sockets or retries.

use bytes::{BufMut, BytesMut};

use crate::connect::data::Value;

/// Error types Elasticsearch and OpenSearch give a document that can never be indexed as it is (Confluent's
/// connector treats the same ones as malformed).
const MALFORMED_DOCUMENT_ERRORS: &[&str] = &[
    "mapper_parsing_exception",
    "document_parsing_exception",
    "strict_dynamic_mapping_exception",
    "illegal_argument_exception",
    "action_request_validation_exception",
];

const VERSION_CONFLICT: &str = "version_conflict_engine_exception";

/// The index a topic's records go to: the topic lower-cased, with what Elasticsearch forbids in index names
/// mended as Confluent's connector mends it (a leading `-`, `_` or `+` dropped, `.`/`..` spelled out, at most 255
/// bytes).
pub fn index_name(topic: &str) -> String {
    let mut name = topic.to_lowercase();
    while name.starts_with(['-', '_', '+']) {
        name.remove(0);
    }
    if name == "." || name == ".." {
        name = name.replace('.', "dot");
    }
    if name.len() > 255 {
        let mut cut = 255;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
    }
    name
}

/// `topic+partition+offset`, the id of a record's document with key.ignore=true.
pub fn offset_id(topic: &str, partition: i32, offset: i64) -> String {
    format!("{topic}+{partition}+{offset}")
}

/// The id of a record's document from its key (key.ignore=false): the text of a string or integer key.
pub fn key_id(key: &Value) -> Result<String, String> {
    let id = match key {
        Value::Null => return Err("the key is the document id and must not be null".into()),
        Value::String(s) => s.to_string(),
        Value::Int8(n) => n.to_string(),
        Value::Int16(n) => n.to_string(),
        Value::Int32(n) => n.to_string(),
        Value::Int64(n) => n.to_string(),
        other => {
            return Err(format!(
                "a {} key cannot be a document id (only strings and integers can); set key.ignore=true or \
                 extract a field with a transform",
                value_type_name(other)
            ))
        }
    };
    if id.is_empty() {
        return Err("the key is the document id and must not be empty".into());
    }
    Ok(id)
}

fn value_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int8(_) | Value::Int16(_) | Value::Int32(_) | Value::Int64(_) => "integer",
        Value::Float32(_) | Value::Float64(_) => "floating-point",
        Value::String(_) => "string",
        Value::Bytes(_) => "bytes",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        Value::Struct(_) => "struct",
    }
}

/// What one bulk item does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Replace the document with the source line.
    Index,
    /// `update` with `doc_as_upsert`: merge the source into the document, or create it.
    Upsert {
        retry_on_conflict: usize,
    },
    Delete,
}

/// Appends one item's action line (and source line, unless a delete) to `out`. `version`: the external
/// version (the Kafka offset) for an index or delete, so a re-delivered older record never overwrites a newer
/// one. `document` must be one JSON value.
pub fn write_item(
    out: &mut BytesMut,
    action: Action,
    index: &str,
    id: &str,
    version: Option<i64>,
    document: &[u8],
) {
    let name = match action {
        Action::Index => "index",
        Action::Upsert { .. } => "update",
        Action::Delete => "delete",
    };
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":{\"_index\":");
    write_json_string(out, index);
    out.extend_from_slice(b",\"_id\":");
    write_json_string(out, id);
    match action {
        Action::Upsert { retry_on_conflict } => {
            out.extend_from_slice(format!(",\"retry_on_conflict\":{retry_on_conflict}").as_bytes());
        }
        Action::Index | Action::Delete => {
            if let Some(version) = version {
                out.extend_from_slice(
                    format!(",\"version\":{version},\"version_type\":\"external\"").as_bytes(),
                );
            }
        }
    }
    out.extend_from_slice(b"}}\n");
    match action {
        Action::Index => {
            out.extend_from_slice(document);
            out.extend_from_slice(b"\n");
        }
        Action::Upsert { .. } => {
            out.extend_from_slice(b"{\"doc\":");
            out.extend_from_slice(document);
            out.extend_from_slice(b",\"doc_as_upsert\":true}\n");
        }
        Action::Delete => {}
    }
}

fn write_json_string(out: &mut BytesMut, s: &str) {
    // Writing a &str to memory cannot fail.
    let _ = serde_json::to_writer(out.writer(), s);
}

/// What became of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Written (or deleted, or already absent).
    Done,
    /// Refused by an external version at least as new: a re-delivery of a record already written.
    AlreadyNewer,
    /// A version conflict without external versioning (two writers of one document); the document holds the
    /// other write.
    Conflict(String),
    /// 429 or 5xx: the same item may succeed later.
    Retriable(String),
    /// The document can never be indexed as it is.
    Malformed(String),
    /// Any other refusal (a missing index with auto-creation off, a closed index, security).
    Failed(String),
}

/// Reads a `_bulk` reply into one outcome per item, in request order; `externally_versioned[i]` says whether
/// item i carried an external version.
pub fn parse_reply(body: &[u8], externally_versioned: &[bool]) -> Result<Vec<ItemOutcome>, String> {
    let reply: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the bulk reply is not JSON: {e}"))?;
    let items = reply
        .get("items")
        .and_then(|items| items.as_array())
        .ok_or_else(|| "the bulk reply has no `items` array".to_owned())?;
    if items.len() != externally_versioned.len() {
        return Err(format!(
            "the bulk reply has {} items for {} requested",
            items.len(),
            externally_versioned.len()
        ));
    }
    items
        .iter()
        .zip(externally_versioned)
        .map(|(item, &versioned)| {
            // `{"index": {...}}`: one key, the action.
            let inner = item
                .as_object()
                .and_then(|fields| fields.values().next())
                .and_then(|inner| inner.as_object())
                .ok_or_else(|| format!("bulk reply item `{item}` is not `{{action: {{...}}}}`"))?;
            let status = inner
                .get("status")
                .and_then(|s| s.as_u64())
                .and_then(|s| u16::try_from(s).ok())
                .ok_or_else(|| format!("bulk reply item `{item}` has no status"))?;
            Ok(classify(status, inner.get("error"), versioned))
        })
        .collect()
}

fn classify(status: u16, error: Option<&serde_json::Value>, versioned: bool) -> ItemOutcome {
    let Some(error) = error else {
        // A delete of an absent document is a 404 without error: the document is gone, as asked.
        return ItemOutcome::Done;
    };
    let (kind, reason) = match error {
        serde_json::Value::Object(fields) => (
            fields
                .get("type")
                .and_then(|t| t.as_str())
                .unwrap_or("")
                .to_owned(),
            fields
                .get("reason")
                .and_then(|r| r.as_str())
                .unwrap_or("")
                .to_owned(),
        ),
        serde_json::Value::String(s) => (String::new(), s.clone()),
        other => (String::new(), other.to_string()),
    };
    let text = format!("status {status}, {kind}: {reason}");
    if kind == VERSION_CONFLICT || (kind.is_empty() && reason.contains(VERSION_CONFLICT)) {
        return if versioned {
            ItemOutcome::AlreadyNewer
        } else {
            ItemOutcome::Conflict(text)
        };
    }
    if status == 429 || status >= 500 {
        return ItemOutcome::Retriable(text);
    }
    if MALFORMED_DOCUMENT_ERRORS
        .iter()
        .any(|m| kind == *m || (kind.is_empty() && reason.contains(m)))
    {
        return ItemOutcome::Malformed(text);
    }
    ItemOutcome::Failed(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_are_lower_cased_topics_mended_where_elasticsearch_forbids_them() {
        assert_eq!(index_name("Orders"), "orders");
        assert_eq!(index_name("_internal"), "internal");
        assert_eq!(index_name("-+x"), "x");
        assert_eq!(index_name("."), "dot");
        assert_eq!(index_name(".."), "dotdot");
        assert_eq!(index_name(&"A".repeat(300)).len(), 255);
        assert_eq!(index_name(&"é".repeat(200)).len(), 254);
    }

    #[test]
    fn ids_are_topic_partition_offset_or_the_keys_text() {
        assert_eq!(offset_id("Orders", 3, 42), "Orders+3+42");
        assert_eq!(key_id(&Value::String("k-1".into())).unwrap(), "k-1");
        assert_eq!(key_id(&Value::Int64(-7)).unwrap(), "-7");
        assert_eq!(key_id(&Value::Int8(1)).unwrap(), "1");
        assert!(key_id(&Value::Null).unwrap_err().contains("null"));
        assert!(key_id(&Value::String("".into()))
            .unwrap_err()
            .contains("empty"));
        assert!(key_id(&Value::Boolean(true))
            .unwrap_err()
            .contains("key.ignore=true"));
        assert!(key_id(&Value::Map(vec![])).is_err());
    }

    #[test]
    fn items_are_ndjson_action_and_source_lines() {
        let mut out = BytesMut::new();
        write_item(
            &mut out,
            Action::Index,
            "orders",
            "k\"1",
            Some(5),
            br#"{"a":1}"#,
        );
        write_item(&mut out, Action::Index, "orders", "t+0+1", None, b"{}");
        write_item(
            &mut out,
            Action::Upsert {
                retry_on_conflict: 5,
            },
            "orders",
            "2",
            Some(6),
            br#"{"b":2}"#,
        );
        write_item(&mut out, Action::Delete, "orders", "3", Some(7), b"");
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            concat!(
                r#"{"index":{"_index":"orders","_id":"k\"1","version":5,"version_type":"external"}}"#,
                "\n",
                r#"{"a":1}"#,
                "\n",
                r#"{"index":{"_index":"orders","_id":"t+0+1"}}"#,
                "\n",
                "{}\n",
                r#"{"update":{"_index":"orders","_id":"2","retry_on_conflict":5}}"#,
                "\n",
                r#"{"doc":{"b":2},"doc_as_upsert":true}"#,
                "\n",
                r#"{"delete":{"_index":"orders","_id":"3","version":7,"version_type":"external"}}"#,
                "\n",
            )
        );
        // Every line is JSON.
        for line in std::str::from_utf8(&out).unwrap().lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }

    #[test]
    fn replies_are_read_per_item() {
        let reply = br#"{"took":3,"errors":true,"items":[
            {"index":{"_index":"o","_id":"1","_version":1,"result":"created","status":201}},
            {"index":{"_index":"o","_id":"2","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[2]: version conflict, current version [9] is higher or equal to the one provided [3]"}}},
            {"update":{"_index":"o","_id":"3","status":409,"error":{"type":"version_conflict_engine_exception","reason":"conflict"}}},
            {"index":{"_index":"o","_id":"4","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"}}},
            {"index":{"_index":"o","_id":"5","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n] of type [long]"}}},
            {"index":{"_index":"o","_id":"6","status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}},
            {"delete":{"_index":"o","_id":"7","result":"not_found","status":404}},
            {"index":{"_index":"o","_id":"8","status":403,"error":{"type":"cluster_block_exception","reason":"index [o] blocked"}}}
        ]}"#;
        let outcomes =
            parse_reply(reply, &[true, true, false, true, true, true, true, true]).unwrap();
        assert_eq!(outcomes[0], ItemOutcome::Done);
        assert_eq!(outcomes[1], ItemOutcome::AlreadyNewer);
        assert!(matches!(outcomes[2], ItemOutcome::Conflict(_)));
        assert!(matches!(&outcomes[3], ItemOutcome::Retriable(m) if m.contains("429")));
        assert!(matches!(&outcomes[4], ItemOutcome::Malformed(m) if m.contains("failed to parse")));
        assert!(matches!(outcomes[5], ItemOutcome::Retriable(_)));
        assert_eq!(outcomes[6], ItemOutcome::Done);
        assert!(
            matches!(&outcomes[7], ItemOutcome::Failed(m) if m.contains("cluster_block_exception"))
        );
    }

    #[test]
    fn a_reply_that_does_not_match_the_request_is_an_error() {
        assert!(parse_reply(br#"{"items":[]}"#, &[true])
            .unwrap_err()
            .contains("0 items for 1"));
        assert!(parse_reply(b"<html>", &[]).is_err());
        assert!(parse_reply(br#"{"items":[{}]}"#, &[false]).is_err());
    }
}
