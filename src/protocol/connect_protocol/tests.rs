use proptest::prelude::*;

use super::*;

fn units(connectors: &[&str], tasks: &[(&str, u32)]) -> WorkUnits {
    WorkUnits {
        connectors: connectors.iter().map(|c| c.to_string()).collect(),
        tasks: tasks
            .iter()
            .map(|(c, t)| ConnectorTaskId::new(*c, *t))
            .collect(),
    }
}

/// Concatenates hand-written pieces of a message, one field per piece.
fn bytes(pieces: &[&[u8]]) -> Vec<u8> {
    pieces.concat()
}

const NULL: &[u8] = &[0xff, 0xff, 0xff, 0xff];

#[test]
fn offered_protocols_are_sessioned_compatible_default_in_that_order() {
    let offered: Vec<(&str, i16)> = OFFERED_PROTOCOLS
        .iter()
        .map(|p| (p.name(), p.version()))
        .collect();
    assert_eq!(
        offered,
        vec![("sessioned", 2), ("compatible", 1), ("default", 0)]
    );
    assert_eq!(CONNECT_PROTOCOL_TYPE, "connect");
    assert_eq!(
        ConnectProtocolVersion::from_name("compatible"),
        Some(ConnectProtocolVersion::Compatible)
    );
    assert_eq!(ConnectProtocolVersion::from_name("eager"), None);
    assert_eq!(
        ConnectProtocolVersion::from_version(0),
        Some(ConnectProtocolVersion::Eager)
    );
    assert!(!ConnectProtocolVersion::Eager.is_incremental());
    assert!(ConnectProtocolVersion::Sessioned.is_incremental());
}

// ConnectProtocol.serializeMetadata: CONNECT_PROTOCOL_HEADER_V0 (version INT16) + CONFIG_STATE_V0
// (url STRING, config-offset INT64).
#[test]
fn metadata_v0_matches_java_config_state_v0() {
    let metadata = WorkerMetadata {
        url: "http://w1:8083".into(),
        config_offset: 7,
        owned: Some(units(&["a"], &[])),
    };
    let expected = bytes(&[
        &[0, 0],                   // version 0
        &[0, 14],                  // url length
        b"http://w1:8083",         // url
        &[0, 0, 0, 0, 0, 0, 0, 7], // config offset
    ]);
    // v0 has no allocation field: what the worker owns is not written.
    assert_eq!(metadata.encode(0).unwrap(), expected);
    assert_eq!(
        WorkerMetadata::decode(&expected).unwrap(),
        WorkerMetadata {
            owned: None,
            ..metadata
        }
    );
}

// IncrementalCooperativeConnectProtocol.serializeMetadata(state, sessioned=false): CONNECT_PROTOCOL_HEADER_V1
// + CONFIG_STATE_V1 + ALLOCATION_V1 (allocation NULLABLE_BYTES), null for a worker with no assignment yet.
#[test]
fn metadata_v1_without_an_assignment_has_a_null_allocation() {
    let metadata = WorkerMetadata {
        url: "u".into(),
        config_offset: -1,
        owned: None,
    };
    let expected = bytes(&[
        &[0, 1],
        &[0, 1],
        b"u",
        &[0xff; 8], // config offset -1
        NULL,       // allocation null
    ]);
    assert_eq!(metadata.encode(1).unwrap(), expected);
    assert_eq!(WorkerMetadata::decode(&expected).unwrap(), metadata);
}

// serializeMetadata(state, sessioned=true): CONNECT_PROTOCOL_HEADER_V2 + CONFIG_STATE_V1 + ALLOCATION_V1, the
// allocation being serializeAssignment(assignment, true): CONNECT_PROTOCOL_HEADER_V2 + ASSIGNMENT_V1.
#[test]
fn metadata_v2_embeds_the_owned_work_as_a_v2_assignment() {
    let metadata = WorkerMetadata {
        url: "u".into(),
        config_offset: 9,
        owned: Some(units(&["a"], &[])),
    };
    let allocation = bytes(&[
        &[0, 2],                   // version 2
        &[0, 0],                   // error
        &[0, 0],                   // leader ""
        &[0, 0],                   // leader url ""
        &[0, 0, 0, 0, 0, 0, 0, 9], // config offset
        &[0, 0, 0, 1],             // assignment: 1 connector entry
        &[0, 1],
        b"a",
        &[0, 0, 0, 1],             // 1 task id
        &[0xff, 0xff, 0xff, 0xff], // CONNECTOR_TASK
        &[0, 0, 0, 0],             // revoked: empty
        &[0, 0, 0, 0],             // delay
    ]);
    assert_eq!(allocation.len(), 39);
    let expected = bytes(&[
        &[0, 2],
        &[0, 1],
        b"u",
        &[0, 0, 0, 0, 0, 0, 0, 9],
        &[0, 0, 0, 39], // allocation length
        &allocation,
    ]);
    assert_eq!(metadata.encode(2).unwrap(), expected);
    assert_eq!(WorkerMetadata::decode(&expected).unwrap(), metadata);
}

#[test]
fn metadata_of_a_java_worker_keeps_only_the_connectors_and_tasks_it_runs() {
    // A Java worker embeds its whole last (augmented) assignment, leader, revocations and delay included.
    let allocation = bytes(&[
        &[0, 1],
        &[0, 0],
        &[0, 2],
        b"w1",
        &[0, 2],
        b"u1",
        &[0, 0, 0, 0, 0, 0, 0, 3],
        &[0, 0, 0, 1],
        &[0, 1],
        b"s",
        &[0, 0, 0, 2],
        &[0, 0, 0, 0],
        &[0, 0, 0, 1],
        &[0, 0, 0, 1],
        &[0, 1],
        b"x",
        &[0, 0, 0, 1],
        &[0, 0, 0, 4],
        &[0, 0, 0x01, 0xf4], // delay 500
    ]);
    let wire = bytes(&[
        &[0, 1],
        &[0, 2],
        b"u2",
        &[0, 0, 0, 0, 0, 0, 0, 3],
        &(allocation.len() as i32).to_be_bytes(),
        &allocation,
    ]);
    let metadata = WorkerMetadata::decode(&wire).unwrap();
    assert_eq!(metadata.url, "u2");
    assert_eq!(metadata.config_offset, 3);
    assert_eq!(metadata.owned, Some(units(&[], &[("s", 0), ("s", 1)])));
}

#[test]
fn metadata_v1_with_the_allocation_missing_entirely_reads_as_none() {
    // ALLOCATION_V1 tolerates missing fields: no bytes after the config offset is a null allocation.
    let wire = bytes(&[&[0, 1], &[0, 1], b"u", &[0, 0, 0, 0, 0, 0, 0, 1]]);
    let metadata = WorkerMetadata::decode(&wire).unwrap();
    assert_eq!(metadata.owned, None);
}

#[test]
fn metadata_of_a_newer_version_is_read_as_its_known_prefix() {
    let wire = bytes(&[
        &[0, 7],
        &[0, 1],
        b"u",
        &[0, 0, 0, 0, 0, 0, 0, 1],
        NULL,
        b"fields of version 7",
    ]);
    let metadata = WorkerMetadata::decode(&wire).unwrap();
    assert_eq!(metadata.url, "u");
    assert_eq!(metadata.owned, None);
    assert_eq!(peek_version(&wire).unwrap(), 7);
}

// ConnectProtocol.serializeAssignment: CONNECT_PROTOCOL_HEADER_V0 + ASSIGNMENT_V0 (error INT16, leader STRING,
// leader-url STRING, config-offset INT64, assignment ARRAY of CONNECTOR_ASSIGNMENT_V0 (connector STRING,
// tasks ARRAY of INT32)).
#[test]
fn assignment_v0_matches_java_assignment_v0() {
    let assignment = WorkerAssignment {
        error: NO_ERROR,
        leader: "w1".into(),
        leader_url: "u1".into(),
        config_offset: 5,
        assigned: units(&["a"], &[("a", 0), ("b", 3)]),
        revoked: WorkUnits::default(),
        delay_ms: 0,
    };
    let expected = bytes(&[
        &[0, 0],
        &[0, 0],
        &[0, 2],
        b"w1",
        &[0, 2],
        b"u1",
        &[0, 0, 0, 0, 0, 0, 0, 5],
        &[0, 0, 0, 2], // two connector entries
        &[0, 1],
        b"a",
        &[0, 0, 0, 2],
        &[0xff, 0xff, 0xff, 0xff], // the connector a itself
        &[0, 0, 0, 0],             // task a-0
        &[0, 1],
        b"b",
        &[0, 0, 0, 1],
        &[0, 0, 0, 3], // task b-3
    ]);
    assert_eq!(assignment.encode(0).unwrap(), expected);
    assert_eq!(WorkerAssignment::decode(&expected).unwrap(), assignment);
}

// IncrementalCooperativeConnectProtocol.serializeAssignment: CONNECT_PROTOCOL_HEADER_V1 + ASSIGNMENT_V1 (the v0
// fields, then revoked ARRAY of CONNECTOR_ASSIGNMENT_V1, delay INT32).
#[test]
fn assignment_v1_matches_java_assignment_v1() {
    let assignment = WorkerAssignment {
        error: CONFIG_MISMATCH,
        leader: "w1".into(),
        leader_url: "u1".into(),
        config_offset: 5,
        assigned: units(&["a"], &[("a", 0), ("a", 1), ("b", 2)]),
        revoked: units(&[], &[("b", 0)]),
        delay_ms: 100,
    };
    let expected = bytes(&[
        &[0, 1],
        &[0, 1], // error CONFIG_MISMATCH
        &[0, 2],
        b"w1",
        &[0, 2],
        b"u1",
        &[0, 0, 0, 0, 0, 0, 0, 5],
        &[0, 0, 0, 2],
        &[0, 1],
        b"a",
        &[0, 0, 0, 3],
        &[0xff, 0xff, 0xff, 0xff],
        &[0, 0, 0, 0],
        &[0, 0, 0, 1],
        &[0, 1],
        b"b",
        &[0, 0, 0, 1],
        &[0, 0, 0, 2],
        &[0, 0, 0, 1], // revoked: one connector entry
        &[0, 1],
        b"b",
        &[0, 0, 0, 1],
        &[0, 0, 0, 0],
        &[0, 0, 0, 100], // delay
    ]);
    assert_eq!(assignment.encode(1).unwrap(), expected);
    assert_eq!(WorkerAssignment::decode(&expected).unwrap(), assignment);
    let mut v2 = expected.clone();
    v2[1] = 2;
    assert_eq!(assignment.encode(2).unwrap(), v2);
}

#[test]
fn assignment_entries_in_java_order_with_repeats_read_as_sets() {
    // Java's asMap lists connectors from a HashSet first, then appends tasks: any order, a connector may come
    // after its tasks, and nothing stops a sender from repeating an entry.
    let wire = bytes(&[
        &[0, 1],
        &[0, 0],
        &[0, 1],
        b"l",
        &[0, 1],
        b"u",
        &[0, 0, 0, 0, 0, 0, 0, 0],
        &[0, 0, 0, 3],
        &[0, 1],
        b"b",
        &[0, 0, 0, 3],
        &[0, 0, 0, 1],
        &[0xff, 0xff, 0xff, 0xff],
        &[0, 0, 0, 0],
        &[0, 1],
        b"a",
        &[0, 0, 0, 1],
        &[0, 0, 0, 2],
        &[0, 1],
        b"b",
        &[0, 0, 0, 1],
        &[0, 0, 0, 1],
        NULL, // revoked null
        &[0, 0, 0, 0],
    ]);
    let assignment = WorkerAssignment::decode(&wire).unwrap();
    assert_eq!(
        assignment.assigned,
        units(&["b"], &[("a", 2), ("b", 0), ("b", 1)])
    );
    assert!(assignment.revoked.is_empty());
}

#[test]
fn assignment_missing_trailing_v1_fields_takes_their_defaults() {
    let head = bytes(&[
        &[0, 1],
        &[0, 0],
        &[0, 1],
        b"l",
        &[0, 1],
        b"u",
        &[0, 0, 0, 0, 0, 0, 0, 4],
    ]);
    let only_head = WorkerAssignment::decode(&head).unwrap();
    assert!(only_head.assigned.is_empty() && only_head.revoked.is_empty());
    assert_eq!(only_head.delay_ms, 0);

    let no_delay = bytes(&[&head, &[0, 0, 0, 0], &[0, 0, 0, 0]]);
    assert_eq!(WorkerAssignment::decode(&no_delay).unwrap().delay_ms, 0);

    // A field cut in the middle is not missing but broken.
    let half_delay = bytes(&[&no_delay, &[0, 0]]);
    assert!(matches!(
        WorkerAssignment::decode(&half_delay),
        Err(ConnectProtocolError::Truncated {
            field: "scheduled delay",
            ..
        })
    ));
}

#[test]
fn assignment_with_null_arrays_is_empty() {
    let wire = bytes(&[
        &[0, 1],
        &[0, 0],
        &[0, 1],
        b"l",
        &[0, 1],
        b"u",
        &[0, 0, 0, 0, 0, 0, 0, 4],
        NULL,
        NULL,
        &[0, 0, 0, 9],
    ]);
    let assignment = WorkerAssignment::decode(&wire).unwrap();
    assert!(assignment.assigned.is_empty() && assignment.revoked.is_empty());
    assert_eq!(assignment.delay_ms, 9);
}

#[test]
fn negative_versions_lengths_and_task_ids_are_refused() {
    assert!(matches!(
        WorkerMetadata::decode(&[0xff, 0xff, 0, 0]),
        Err(ConnectProtocolError::UnsupportedVersion { version: -1, .. })
    ));
    assert!(matches!(
        WorkerMetadata::decode(&[0, 0, 0xff, 0xfe]),
        Err(ConnectProtocolError::InvalidLength { field: "url", .. })
    ));
    let head = bytes(&[&[0, 1], &[0, 0], &[0, 0], &[0, 0], &[0; 8]]);
    let bad_task = bytes(&[
        &head,
        &[0, 0, 0, 1],
        &[0, 1],
        b"a",
        &[0, 0, 0, 1],
        &[0xff, 0xff, 0xff, 0xfe],
    ]);
    assert!(matches!(
        WorkerAssignment::decode(&bad_task),
        Err(ConnectProtocolError::InvalidTaskId { task: -2, .. })
    ));
    let null_tasks = bytes(&[&head, &[0, 0, 0, 1], &[0, 1], b"a", NULL]);
    assert!(matches!(
        WorkerAssignment::decode(&null_tasks),
        Err(ConnectProtocolError::InvalidLength { field: "tasks", .. })
    ));
    let bad_utf8 = bytes(&[&[0, 0], &[0, 1], &[0xff], &[0; 8]]);
    assert!(matches!(
        WorkerMetadata::decode(&bad_utf8),
        Err(ConnectProtocolError::InvalidUtf8 { field: "url", .. })
    ));
    let bad_allocation = bytes(&[&[0, 1], &[0, 0], &[0; 8], &[0xff, 0xff, 0xff, 0xfd]]);
    assert!(matches!(
        WorkerMetadata::decode(&bad_allocation),
        Err(ConnectProtocolError::InvalidLength {
            field: "allocation",
            ..
        })
    ));
}

#[test]
fn a_forged_count_is_refused_before_anything_is_read() {
    let head = bytes(&[&[0, 1], &[0, 0], &[0, 0], &[0, 0], &[0; 8]]);
    let forged = bytes(&[&head, &[0x7f, 0xff, 0xff, 0xff], &[0; 12]]);
    assert_eq!(
        WorkerAssignment::decode(&forged),
        Err(ConnectProtocolError::CountTooLarge {
            what: "assignment",
            field: "assignment",
            count: i32::MAX,
            left: 12,
        })
    );
    let forged_tasks = bytes(&[&head, &[0, 0, 0, 1], &[0, 1], b"a", &[0, 0, 0, 3], &[0; 8]]);
    assert!(matches!(
        WorkerAssignment::decode(&forged_tasks),
        Err(ConnectProtocolError::CountTooLarge {
            field: "tasks",
            count: 3,
            left: 8,
            ..
        })
    ));
}

#[test]
fn an_embedded_allocation_longer_than_the_metadata_is_truncated() {
    let wire = bytes(&[&[0, 1], &[0, 0], &[0; 8], &[0, 0, 0, 50], &[0; 10]]);
    assert!(matches!(
        WorkerMetadata::decode(&wire),
        Err(ConnectProtocolError::Truncated {
            field: "allocation",
            needed: 50,
            left: 10,
            ..
        })
    ));
}

#[test]
fn what_a_version_cannot_carry_is_an_encode_error() {
    let assignment = WorkerAssignment {
        error: NO_ERROR,
        leader: "l".into(),
        leader_url: "u".into(),
        config_offset: 0,
        assigned: WorkUnits::default(),
        revoked: units(&["a"], &[]),
        delay_ms: 0,
    };
    assert!(matches!(
        assignment.encode(0),
        Err(ConnectProtocolError::FieldNotInVersion {
            field: "revoked",
            ..
        })
    ));
    let delayed = WorkerAssignment {
        revoked: WorkUnits::default(),
        delay_ms: 5,
        ..assignment.clone()
    };
    assert!(matches!(
        delayed.encode(0),
        Err(ConnectProtocolError::FieldNotInVersion {
            field: "scheduled delay",
            ..
        })
    ));
    assert!(matches!(
        assignment.encode(3),
        Err(ConnectProtocolError::UnsupportedVersion { version: 3, .. })
    ));
    let long_leader = WorkerAssignment {
        leader: "x".repeat(40_000),
        ..delayed.clone()
    };
    assert!(matches!(
        long_leader.encode(1),
        Err(ConnectProtocolError::StringTooLong {
            field: "leader",
            len: 40_000,
            ..
        })
    ));
    let huge_task = WorkerAssignment {
        assigned: units(&[], &[("a", u32::MAX)]),
        ..delayed
    };
    assert!(matches!(
        huge_task.encode(1),
        Err(ConnectProtocolError::InvalidTaskId { .. })
    ));
}

#[test]
fn join_group_protocols_offer_each_version_with_its_own_bytes() {
    let metadata = WorkerMetadata {
        url: "u".into(),
        config_offset: 1,
        owned: Some(units(&["a"], &[("a", 0)])),
    };
    let protocols = metadata.join_group_protocols().unwrap();
    let names: Vec<&str> = protocols.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, vec!["sessioned", "compatible", "default"]);
    for ((_, bytes), version) in protocols.iter().zip([2, 1, 0]) {
        assert_eq!(peek_version(bytes).unwrap(), version);
        assert_eq!(bytes, &metadata.encode(version).unwrap());
    }
}

#[test]
fn after_applies_revocations_then_additions() {
    let before = units(&["a", "b"], &[("a", 0), ("b", 0)]);
    let assignment = WorkerAssignment {
        error: NO_ERROR,
        leader: "l".into(),
        leader_url: "u".into(),
        config_offset: 0,
        assigned: units(&["c"], &[("c", 0)]),
        revoked: units(&["b"], &[("b", 0)]),
        delay_ms: 0,
    };
    assert_eq!(
        before.after(&assignment),
        units(&["a", "c"], &[("a", 0), ("c", 0)])
    );
}

#[test]
fn every_prefix_of_a_message_decodes_or_fails_without_panicking() {
    let metadata = WorkerMetadata {
        url: "http://worker:8083".into(),
        config_offset: 12,
        owned: Some(units(&["a", "b"], &[("a", 0), ("b", 1)])),
    }
    .encode(2)
    .unwrap();
    for cut in 0..metadata.len() {
        let result = WorkerMetadata::decode(&metadata[..cut]);
        // Only the cut right after the config offset is a whole (v1+, allocation missing) message.
        let url_and_offset = 2 + 2 + "http://worker:8083".len() + 8;
        assert_eq!(
            result.is_ok(),
            cut == url_and_offset,
            "cut at {cut}: {result:?}"
        );
    }
    let assignment = WorkerAssignment {
        error: NO_ERROR,
        leader: "leader".into(),
        leader_url: "http://leader".into(),
        config_offset: 3,
        assigned: units(&["a"], &[("a", 0), ("a", 1)]),
        revoked: units(&["b"], &[("b", 0)]),
        delay_ms: 1,
    }
    .encode(1)
    .unwrap();
    for cut in 0..assignment.len() {
        // Must not panic; whole-field cuts after the config offset are tolerated, the rest are errors.
        let _ = WorkerAssignment::decode(&assignment[..cut]);
    }
}

fn work_units_strategy() -> impl Strategy<Value = WorkUnits> {
    let name = "[a-c]{1,3}";
    (
        proptest::collection::btree_set(name, 0..4),
        proptest::collection::btree_set((name, 0u32..5), 0..8),
    )
        .prop_map(|(connectors, tasks)| WorkUnits {
            connectors,
            tasks: tasks
                .into_iter()
                .map(|(c, t)| ConnectorTaskId::new(c, t))
                .collect(),
        })
}

fn assignment_strategy() -> impl Strategy<Value = WorkerAssignment> {
    (
        any::<i16>(),
        ".{0,8}",
        ".{0,8}",
        any::<i64>(),
        work_units_strategy(),
        work_units_strategy(),
        any::<i32>(),
    )
        .prop_map(
            |(error, leader, leader_url, config_offset, assigned, revoked, delay_ms)| {
                WorkerAssignment {
                    error,
                    leader,
                    leader_url,
                    config_offset,
                    assigned,
                    revoked,
                    delay_ms,
                }
            },
        )
}

proptest! {
    #[test]
    fn assignments_round_trip_in_v1_and_v2(assignment in assignment_strategy(), version in 1i16..=2) {
        let bytes = assignment.encode(version).unwrap();
        prop_assert_eq!(peek_version(&bytes).unwrap(), version);
        prop_assert_eq!(WorkerAssignment::decode(&bytes).unwrap(), assignment);
    }

    #[test]
    fn assignments_without_revocations_round_trip_in_v0(mut assignment in assignment_strategy()) {
        assignment.revoked = WorkUnits::default();
        assignment.delay_ms = 0;
        let bytes = assignment.encode(0).unwrap();
        prop_assert_eq!(WorkerAssignment::decode(&bytes).unwrap(), assignment);
    }

    #[test]
    fn metadata_round_trips(
        url in ".{0,20}",
        config_offset in any::<i64>(),
        owned in proptest::option::of(work_units_strategy()),
        version in 0i16..=2,
    ) {
        let metadata = WorkerMetadata { url, config_offset, owned };
        let decoded = WorkerMetadata::decode(&metadata.encode(version).unwrap()).unwrap();
        let expected = if version == 0 {
            WorkerMetadata { owned: None, ..metadata }
        } else {
            metadata
        };
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = WorkerMetadata::decode(&input);
        let _ = WorkerAssignment::decode(&input);
        let _ = peek_version(&input);
    }

    #[test]
    fn corrupted_messages_never_panic_and_what_decodes_round_trips(
        assignment in assignment_strategy(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = WorkerMetadata {
            url: assignment.leader_url.clone(),
            config_offset: assignment.config_offset,
            owned: Some(assignment.assigned.clone()),
        }
        .encode(1)
        .unwrap();
        for (index, value) in &flips {
            let at = index.index(bytes.len());
            bytes[at] = *value;
        }
        // What still decodes writes back (v2 carries every field) to bytes that decode to the same value.
        if let Ok(metadata) = WorkerMetadata::decode(&bytes) {
            let again = WorkerMetadata::decode(&metadata.encode(2).unwrap());
            prop_assert_eq!(again, Ok(metadata));
        }
        let mut bytes = assignment.encode(1).unwrap();
        for (index, value) in flips {
            let at = index.index(bytes.len());
            bytes[at] = value;
        }
        if let Ok(assignment) = WorkerAssignment::decode(&bytes) {
            let again = WorkerAssignment::decode(&assignment.encode(2).unwrap());
            prop_assert_eq!(again, Ok(assignment));
        }
    }
}
