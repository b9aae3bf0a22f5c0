//! Varint readers on arbitrary bytes: never panic, never claim more bytes than given, and every value read
//! writes back to an encoding that reads as the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipewright::protocol::varint::{
    put_unsigned_varint, put_unsigned_varlong, put_varint, put_varlong, read_unsigned_varint,
    read_unsigned_varlong, read_varint, read_varlong, unsigned_varint_len, varint_len, varlong_len,
};

fuzz_target!(|data: &[u8]| {
    if let Ok((value, used)) = read_varint(data) {
        assert!(used <= data.len());
        let mut out = Vec::new();
        put_varint(&mut out, value);
        assert_eq!(out.len(), varint_len(value));
        assert_eq!(read_varint(&out), Ok((value, out.len())));
    }
    if let Ok((value, used)) = read_varlong(data) {
        assert!(used <= data.len());
        let mut out = Vec::new();
        put_varlong(&mut out, value);
        assert_eq!(out.len(), varlong_len(value));
        assert_eq!(read_varlong(&out), Ok((value, out.len())));
    }
    if let Ok((value, used)) = read_unsigned_varint(data) {
        assert!(used <= data.len());
        let mut out = Vec::new();
        put_unsigned_varint(&mut out, value);
        assert_eq!(out.len(), unsigned_varint_len(value));
        assert_eq!(read_unsigned_varint(&out), Ok((value, out.len())));
    }
    if let Ok((value, used)) = read_unsigned_varlong(data) {
        assert!(used <= data.len());
        let mut out = Vec::new();
        put_unsigned_varlong(&mut out, value);
        assert_eq!(read_unsigned_varlong(&out), Ok((value, out.len())));
    }
});
