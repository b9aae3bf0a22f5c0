//! Kafka Connect's group-protocol bytes inside JoinGroup (each worker's metadata, read by the leader) and
//! SyncGroup (this worker's assignment) responses: the first byte picks which. Decoding never panics, and
//! what decodes writes back (in v2, which carries every field) to bytes that decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipewright::protocol::connect_protocol::{WorkerAssignment, WorkerMetadata};

fuzz_target!(|data: &[u8]| {
    let [which, rest @ ..] = data else {
        return;
    };
    if which % 2 == 0 {
        if let Ok(metadata) = WorkerMetadata::decode(rest) {
            if let Ok(bytes) = metadata.encode(2) {
                assert_eq!(WorkerMetadata::decode(&bytes), Ok(metadata));
            }
        }
    } else if let Ok(assignment) = WorkerAssignment::decode(rest) {
        if let Ok(bytes) = assignment.encode(2) {
            assert_eq!(WorkerAssignment::decode(&bytes), Ok(assignment));
        }
    }
});
