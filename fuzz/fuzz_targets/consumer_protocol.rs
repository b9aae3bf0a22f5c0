//! The ConsumerProtocol bytes inside JoinGroup (each member's subscription, read by the leader) and SyncGroup
//! (this member's assignment) responses: the first byte picks which; decoding never panics and never
//! allocates far beyond the input.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pipewright::protocol::consumer_protocol::{decode_assignment, decode_subscription};

fuzz_target!(|data: &[u8]| {
    let [which, rest @ ..] = data else {
        return;
    };
    let bytes = Bytes::copy_from_slice(rest);
    if which % 2 == 0 {
        let _ = decode_subscription(bytes);
    } else {
        let _ = decode_assignment(bytes);
    }
});
