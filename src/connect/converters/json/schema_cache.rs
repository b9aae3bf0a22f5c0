//! `schemas.cache.size`: the envelope schemas this converter has parsed, least recently used evicted first,
//! as Kafka's `LRUCache` of `JsonNode` → `Schema`.
//!
//! A hit is one hash of the schema's JSON tree, one tree comparison and a counter bump; a miss when full also
//! scans the entries for the oldest stamp, which costs less than the schema parse that a miss does anyway.

use crate::connect::data::{SchemaRef, Value};
use hashbrown::HashTable;
use std::hash::{BuildHasher, Hasher};

struct Entry {
    hash: u64,
    json: Value,
    schema: SchemaRef,
    /// When this entry was last used (a per-cache counter).
    used: u64,
}

pub struct SchemaCache {
    entries: HashTable<Entry>,
    capacity: usize,
    clock: u64,
    hasher: hashbrown::DefaultHashBuilder,
}

impl SchemaCache {
    pub fn new(capacity: usize) -> Self {
        SchemaCache {
            entries: HashTable::new(),
            capacity,
            clock: 0,
            hasher: hashbrown::DefaultHashBuilder::default(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn hash(&self, json: &Value) -> u64 {
        let mut h = self.hasher.build_hasher();
        hash_json(json, &mut h);
        h.finish()
    }

    pub fn get(&mut self, json: &Value) -> Option<SchemaRef> {
        if self.capacity == 0 {
            return None;
        }
        let hash = self.hash(json);
        self.clock += 1;
        let now = self.clock;
        let entry = self
            .entries
            .find_mut(hash, |e| e.hash == hash && e.json == *json)?;
        entry.used = now;
        Some(entry.schema.clone())
    }

    pub fn insert(&mut self, json: Value, schema: SchemaRef) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity {
            // Stamps are unique (the clock only rises), so the oldest is one entry.
            let oldest = self
                .entries
                .iter()
                .min_by_key(|e| e.used)
                .map(|e| (e.hash, e.used));
            if let Some((hash, used)) = oldest {
                if let Ok(found) = self.entries.find_entry(hash, |e| e.used == used) {
                    found.remove();
                }
            }
        }
        let hash = self.hash(&json);
        self.clock += 1;
        let entry = Entry {
            hash,
            json,
            schema,
            used: self.clock,
        };
        self.entries.insert_unique(hash, entry, |e| e.hash);
    }
}

/// Hashes a JSON tree (floats by their bits; map entries in order, so a reordered object is another key —
/// only a cache miss).
fn hash_json(value: &Value, h: &mut impl Hasher) {
    match value {
        Value::Null => h.write_u8(0),
        Value::Boolean(b) => {
            h.write_u8(1);
            h.write_u8(u8::from(*b));
        }
        Value::Int8(v) => h.write_i64(i64::from(*v)),
        Value::Int16(v) => h.write_i64(i64::from(*v)),
        Value::Int32(v) => h.write_i64(i64::from(*v)),
        Value::Int64(v) => h.write_i64(*v),
        Value::Float32(v) => h.write_u64(f64::from(*v).to_bits()),
        Value::Float64(v) => h.write_u64(v.to_bits()),
        Value::String(s) => {
            h.write_u8(2);
            h.write(s.as_bytes());
            h.write_u8(0xff);
        }
        Value::Bytes(b) => {
            h.write_u8(3);
            h.write(b);
            h.write_u8(0xff);
        }
        Value::Array(items) => {
            h.write_u8(4);
            h.write_usize(items.len());
            for item in items {
                hash_json(item, h);
            }
        }
        Value::Map(entries) => {
            h.write_u8(5);
            h.write_usize(entries.len());
            for (k, v) in entries {
                hash_json(k, h);
                hash_json(v, h);
            }
        }
        Value::Struct(s) => {
            h.write_u8(6);
            for v in s.values() {
                hash_json(v, h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::data::{Schema, Type};

    fn json(n: i64) -> Value {
        Value::Map(vec![(Value::string("type"), Value::Int64(n))])
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let mut cache = SchemaCache::new(2);
        let schema = Schema::new(Type::Int32).build();
        cache.insert(json(1), schema.clone());
        cache.insert(json(2), schema.clone());
        // 1 is used again, so 2 is now the oldest.
        assert!(cache.get(&json(1)).is_some());
        cache.insert(json(3), schema.clone());
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&json(2)).is_none());
        assert!(cache.get(&json(1)).is_some());
        assert!(cache.get(&json(3)).is_some());
    }

    #[test]
    fn holds_as_many_as_configured() {
        let mut cache = SchemaCache::new(1000);
        let schema = Schema::new(Type::Int32).build();
        for n in 0..1500 {
            cache.insert(json(n), schema.clone());
        }
        assert_eq!(cache.len(), 1000);
        assert!(cache.get(&json(499)).is_none());
        assert!(cache.get(&json(500)).is_some());
        assert!(cache.get(&json(1499)).is_some());
    }

    #[test]
    fn size_zero_caches_nothing() {
        let mut cache = SchemaCache::new(0);
        cache.insert(json(1), Schema::new(Type::Int32).build());
        assert!(cache.get(&json(1)).is_none());
        assert_eq!(cache.len(), 0);
    }
}
