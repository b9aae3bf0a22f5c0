//! An arbitrary byte stream, fed in arbitrary slices, split into frames with a small maximum frame size: the
//! decoder never panics, never hands out a frame above the maximum, never asks for more than the maximum, and
//! what it hands out is exactly the stream's bytes minus the size prefixes.
#![no_main]

use bytes::{BufMut, BytesMut};
use libfuzzer_sys::fuzz_target;
use pipewright::protocol::frame::FrameDecoder;

fuzz_target!(|data: &[u8]| {
    let [max_byte, chunk_byte, stream @ ..] = data else {
        return;
    };
    let max_frame_bytes = usize::from(*max_byte) * 4;
    let chunk_bytes = usize::from(*chunk_byte % 32) + 1;
    let decoder = FrameDecoder::new(max_frame_bytes);
    let mut buf = BytesMut::new();
    let mut consumed = 0usize;
    for chunk in stream.chunks(chunk_bytes) {
        buf.put_slice(chunk);
        loop {
            let needed = decoder.additional_needed(&buf);
            assert!(needed <= max_frame_bytes + 4);
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= max_frame_bytes);
                    assert_eq!(
                        &frame[..],
                        &stream[consumed + 4..consumed + 4 + frame.len()]
                    );
                    consumed += 4 + frame.len();
                }
                Ok(None) => {
                    assert!(needed > 0);
                    break;
                }
                // A bad size prefix ends the connection: nothing after it is read.
                Err(_) => return,
            }
        }
    }
    assert_eq!(consumed + buf.len(), stream.len());
});
