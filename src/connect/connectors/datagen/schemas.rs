//! The record shapes: each writes record `n` of a seed as one JSON object, deterministically.

use std::io::Write as _;

use bytes::{BufMut, BytesMut};

use crate::connect::transforms::timefmt::civil_from_days;

/// 2024-01-01T00:00:00Z: record `n` is created about `n` seconds after it.
const EPOCH_MS: i64 = 1_704_067_200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagenSchema {
    Orders,
    Users,
    Pageviews,
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

    /// Appends record `id` (1-based) of `seed` to `out`; returns its creation time (epoch millis).
    pub fn write(self, seed: u64, id: u64, out: &mut BytesMut) -> i64 {
        let mut rng = SplitMix64::for_record(seed, id);
        let created_ms = EPOCH_MS
            .saturating_add((id as i64).saturating_mul(1000))
            .saturating_add(rng.below(1000) as i64);
        let mut w = out.writer();
        // Writing to a BytesMut cannot fail.
        let _ = match self {
            DatagenSchema::Orders => {
                let cents = 199 + rng.below(49_800);
                let first = pick(&FIRST_NAMES, &mut rng);
                let last = pick(&LAST_NAMES, &mut rng);
                write!(
                    w,
                    r#"{{"id":{id},"customer":"{first} {last} <{}.{}@example.com>","product":"{} (sku-{:05})","quantity":{},"price":{}.{:02},"currency":"{}","status":"{}","created_at":""#,
                    Lowercase(first),
                    Lowercase(last),
                    pick(&PRODUCTS, &mut rng),
                    rng.below(100_000),
                    1 + rng.below(9),
                    cents / 100,
                    cents % 100,
                    pick(&CURRENCIES, &mut rng),
                    pick(&STATUSES, &mut rng),
                )
            }
            DatagenSchema::Users => {
                let first = pick(&FIRST_NAMES, &mut rng);
                let last = pick(&LAST_NAMES, &mut rng);
                write!(
                    w,
                    r#"{{"id":{id},"name":"{first} {last}","email":"{}.{}{}@example.com","country":"{}","plan":"{}","signup_at":""#,
                    Lowercase(first),
                    Lowercase(last),
                    rng.below(100),
                    pick(&COUNTRIES, &mut rng),
                    pick(&PLANS, &mut rng),
                )
            }
            DatagenSchema::Pageviews => write!(
                w,
                r#"{{"id":{id},"user_id":{},"url":"/{}/{}","referrer":"{}","duration_ms":{},"viewed_at":""#,
                1 + rng.below(10_000),
                pick(&SECTIONS, &mut rng),
                rng.below(1000),
                pick(&REFERRERS, &mut rng),
                rng.below(60_000),
            ),
        };
        write_iso8601(created_ms, out);
        out.put_slice(b"\"}");
        created_ms
    }
}

/// `2024-01-01T00:00:01.234Z`.
fn write_iso8601(epoch_ms: i64, out: &mut BytesMut) {
    let days = epoch_ms.div_euclid(86_400_000);
    let ms_of_day = epoch_ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let _ = write!(
        out.writer(),
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    );
}

/// Writes an ASCII name in lower case without allocating.
struct Lowercase<'a>(&'a str);

impl std::fmt::Display for Lowercase<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write as _;
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
