//! Arbitrary bytes as a Kafka Connect REST request body (`{"name": …, "config": {…}}`, or an array of them):
//! the JSON connector-config reader reports problems, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipewright::config::{parse, Format, Registry};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse(&text, "fuzz.json", Format::Json, &Registry);
});
