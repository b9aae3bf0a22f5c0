//! The record shapes: each builds record `n` of a seed as one Connect struct, deterministically, with the
//! struct schema of its shape (kafka-connect-datagen hands its converter structs too).

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use crate::connect::data::{Schema, SchemaRef, Str, Struct, Type, Value};
use crate::connect::transforms::timefmt::civil_from_days;

/// 2024-01-01T00:00:00Z: record `n` is created about `n` seconds after it.
const EPOCH_MS: i64 = 1_704_067_200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagenSchema {
    Orders,
    Users,
    Pageviews,
}

fn string() -> Schema {
    Schema::new(Type::String)
}

impl DatagenSchema {
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "orders" => Some(DatagenSchema::Orders),
            "users" => Some(DatagenSchema::Users),
            "pageviews" => Some(DatagenSchema::Pageviews),
            _ => None,
        }
    }

    /// The struct schema of this shape's values (built once).
    pub fn value_schema(self) -> SchemaRef {
        static ORDERS: OnceLock<SchemaRef> = OnceLock::new();
        static USERS: OnceLock<SchemaRef> = OnceLock::new();
        static PAGEVIEWS: OnceLock<SchemaRef> = OnceLock::new();
        let (cell, build): (_, fn() -> SchemaRef) = match self {
            DatagenSchema::Orders => (&ORDERS, || {
                Schema::structure()
                    .with_name("datagen.orders")
                    .field("id", Schema::new(Type::Int64))
                    .field("customer", string())
                    .field("product", string())
                    .field("quantity", Schema::new(Type::Int32))
                    .field("price", Schema::new(Type::Float64))
                    .field("currency", string())
                    .field("status", string())
                    .field("created_at", string())
                    .build()
            }),
            DatagenSchema::Users => (&USERS, || {
                Schema::structure()
                    .with_name("datagen.users")
                    .field("id", Schema::new(Type::Int64))
                    .field("name", string())
                    .field("email", string())
                    .field("country", string())
                    .field("plan", string())
                    .field("signup_at", string())
                    .build()
            }),
            DatagenSchema::Pageviews => (&PAGEVIEWS, || {
                Schema::structure()
                    .with_name("datagen.pageviews")
                    .field("id", Schema::new(Type::Int64))
                    .field("user_id", Schema::new(Type::Int64))
                    .field("url", string())
                    .field("referrer", string())
                    .field("duration_ms", Schema::new(Type::Int64))
                    .field("viewed_at", string())
                    .build()
            }),
        };
        Arc::clone(cell.get_or_init(build))
    }

    /// The schema of the key: the record's `id`.
    pub fn key_schema() -> SchemaRef {
        static KEY: OnceLock<SchemaRef> = OnceLock::new();
        Arc::clone(KEY.get_or_init(|| Schema::new(Type::Int64).build()))
    }

    /// Record `id` (1-based) of `seed` and its creation time (epoch millis).
    pub fn build(self, seed: u64, id: u64) -> (Struct, i64) {
        let mut rng = SplitMix64::for_record(seed, id);
        let created_ms = EPOCH_MS
            .saturating_add((id as i64).saturating_mul(1000))
            .saturating_add(rng.below(1000) as i64);
        let id_value = Value::Int64(i64::try_from(id).unwrap_or(i64::MAX));
        let created = Value::String(Str::from(iso8601(created_ms).as_str()));
        let values = match self {
            DatagenSchema::Orders => {
                let cents = 199 + rng.below(49_800);
                let first = pick(&FIRST_NAMES, &mut rng);
                let last = pick(&LAST_NAMES, &mut rng);
                let customer = format!(
                    "{first} {last} <{}.{}@example.com>",
                    Lowercase(first),
                    Lowercase(last)
                );
                let product = format!(
                    "{} (sku-{:05})",
                    pick(&PRODUCTS, &mut rng),
                    rng.below(100_000)
                );
                vec![
                    id_value,
                    text(&customer),
                    text(&product),
                    Value::Int32(1 + rng.below(9) as i32),
                    Value::Float64(cents as f64 / 100.0),
                    text(pick(&CURRENCIES, &mut rng)),
                    text(pick(&STATUSES, &mut rng)),
                    created,
                ]
            }
            DatagenSchema::Users => {
                let first = pick(&FIRST_NAMES, &mut rng);
                let last = pick(&LAST_NAMES, &mut rng);
                let email = format!(
                    "{}.{}{}@example.com",
                    Lowercase(first),
                    Lowercase(last),
                    rng.below(100)
                );
                vec![
                    id_value,
                    text(&format!("{first} {last}")),
                    text(&email),
                    text(pick(&COUNTRIES, &mut rng)),
                    text(pick(&PLANS, &mut rng)),
                    created,
                ]
            }
            DatagenSchema::Pageviews => {
                let user_id = Value::Int64(1 + rng.below(10_000) as i64);
                let url = format!("/{}/{}", pick(&SECTIONS, &mut rng), rng.below(1000));
                vec![
                    id_value,
                    user_id,
                    text(&url),
                    text(pick(&REFERRERS, &mut rng)),
                    Value::Int64(rng.below(60_000) as i64),
                    created,
                ]
            }
        };
        let record = Struct::from_values(self.value_schema(), values)
            .expect("each shape's values match its schema");
        (record, created_ms)
    }
}

fn text(s: &str) -> Value {
    Value::String(Str::from(s))
}

/// `2024-01-01T00:00:01.234Z`.
fn iso8601(epoch_ms: i64) -> String {
    let days = epoch_ms.div_euclid(86_400_000);
    let ms_of_day = epoch_ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let mut out = String::with_capacity(24);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    );
    out
}

/// Writes an ASCII name in lower case without allocating.
struct Lowercase<'a>(&'a str);

impl std::fmt::Display for Lowercase<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0
            .chars()
            .try_for_each(|c| f.write_char(c.to_ascii_lowercase()))
    }
}

fn pick<'a>(items: &[&'a str], rng: &mut SplitMix64) -> &'a str {
    items[rng.below(items.len() as u64) as usize]
}

/// A tiny, fast, well-mixed generator; one per record so any record can be made without the ones before.
struct SplitMix64(u64);

impl SplitMix64 {
    fn for_record(seed: u64, id: u64) -> Self {
        let mut rng = SplitMix64(seed ^ id.wrapping_mul(0xD1B5_4A32_D192_ED03));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..bound` (`bound` > 0) for demo data.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

const FIRST_NAMES: [&str; 12] = [
    "Ada",
    "Alan",
    "Barbara",
    "Claude",
    "Donald",
    "Edsger",
    "Frances",
    "Grace",
    "John",
    "Katherine",
    "Leslie",
    "Margaret",
];
const LAST_NAMES: [&str; 12] = [
    "Lovelace", "Turing", "Liskov", "Shannon", "Knuth", "Dijkstra", "Allen", "Hopper", "Backus",
    "Johnson", "Lamport", "Hamilton",
];
const PRODUCTS: [&str; 10] = [
    "Espresso machine",
    "Mechanical keyboard",
    "Noise-cancelling headphones",
    "Standing desk",
    "Ergonomic chair",
    "4K monitor",
    "USB-C dock",
    "Paper notebook",
    "Fountain pen",
    "Desk lamp",
];
const CURRENCIES: [&str; 4] = ["EUR", "USD", "GBP", "JPY"];
const STATUSES: [&str; 5] = ["pending", "paid", "shipped", "delivered", "cancelled"];
const COUNTRIES: [&str; 8] = ["FR", "DE", "US", "GB", "JP", "BR", "IN", "NG"];
const PLANS: [&str; 3] = ["free", "pro", "enterprise"];
const SECTIONS: [&str; 5] = ["products", "blog", "docs", "pricing", "account"];
const REFERRERS: [&str; 4] = [
    "https://www.example.com/",
    "https://search.example.org/",
    "direct",
    "newsletter",
];
