//! Arbitrary bytes into the JSON converter, with schemas on (envelope) and off (plain JSON); whatever parses
//! must also write back out. Never panics.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use pipewright::connect::converters::JsonConverter;

fuzz_target!(|data: &[u8]| {
    let input = Bytes::copy_from_slice(data);
    for mut converter in [JsonConverter::schemaless(), JsonConverter::with_schemas()] {
        if let Ok(sv) = converter.to_connect(Some(&input)) {
            let mut out = BytesMut::new();
            let _ = converter.write_connect(sv.schema.as_ref(), &sv.value, &mut out);
        }
    }
});
