//! Arbitrary bytes as a Kafka Connect .properties connector config: problems, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipewright::config::{parse, Format, Registry};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse(&text, "fuzz.properties", Format::Properties, &Registry);
});
