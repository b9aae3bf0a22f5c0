//! Kafka Connect's group-protocol bytes: a worker's JoinGroup metadata and the leader's SyncGroup assignment,
//! byte-compatible with Apache Kafka's `ConnectProtocol` (v0, protocol "default", eager) and
//! `IncrementalCooperativeConnectProtocol` (v1 "compatible" and v2 "sessioned", KIP-415 / KIP-507), so one group
//! can mix our workers with Java ones.
//!
//! Owns the encoding only: what the bytes say, not who runs what (that is `client::worker_group::assignor`).
//! Decoding reads untrusted bytes: every length and count is checked against the bytes left before anything
//! is read or allocated, and nothing here panics on any input.
//!
//! The layouts (Java's `Schema` types: STRING = i16 length + UTF-8, INT16/32/64 big-endian, ARRAY = i32 count
//! + elements, nullable ARRAY / NULLABLE_BYTES = i32 count or -1 for null):
//!
//! ```text
//! Metadata v0   (ConnectProtocol CONNECT_PROTOCOL_HEADER_V0 + CONFIG_STATE_V0):
//!   Version i16, Url STRING, ConfigOffset i64
//! Metadata v1/2 (IncrementalCooperativeConnectProtocol header + CONFIG_STATE_V1 + ALLOCATION_V1):
//!   Version i16, Url STRING, ConfigOffset i64, Allocation NULLABLE_BYTES (a whole v1/v2 assignment, or null)
//! Assignment v0 (CONNECT_PROTOCOL_HEADER_V0 + ASSIGNMENT_V0):
//!   Version i16, Error i16, Leader STRING, LeaderUrl STRING, ConfigOffset i64, Assignment [ConnectorAssignment]
//! Assignment v1/2 (header + ASSIGNMENT_V1):
//!   ... as v0, then Revoked nullable [ConnectorAssignment], ScheduledDelay i32 (Assignment is nullable too)
//! ConnectorAssignment (CONNECTOR_ASSIGNMENT_V0): Connector STRING, Tasks [i32]; task -1 (CONNECTOR_TASK)
//!   stands for the connector instance itself.
//! ```
//!
//! Like Java's readers (`Schema` with `TOLERATE_MISSING_FIELDS_WITH_DEFAULTS`), a field of v1+ that is missing
//! entirely at the end of the bytes takes its default (null allocation, empty lists, delay 0), versions above
//! the newest we know are read as their known prefix (newer versions only append), and bytes after the known
//! fields are not read.
//!
//! Semantics a caller must know: in v1+ (incremental cooperative) an assignment's `assigned` lists only what
//! the member starts *in addition* to what it keeps; the member's full set is
//! `previous − revoked + assigned` ([`WorkUnits::after`]), as Java's `WorkerCoordinator.onJoinComplete`
//! computes it. In v0 (eager) a member gives up everything before it rejoins, so `assigned` is its full set.

use std::collections::{BTreeMap, BTreeSet};

/// The JoinGroup protocol type every Connect worker joins with.
pub const CONNECT_PROTOCOL_TYPE: &str = "connect";

/// Java's `ConnectProtocol.CONNECTOR_TASK`: the task id that stands for the connector instance.
pub const CONNECTOR_TASK: i32 = -1;

/// Java's `Assignment.NO_ERROR`.
pub const NO_ERROR: i16 = 0;
/// Java's `Assignment.CONFIG_MISMATCH`: the leader could not reconcile config offsets; the member reads the
/// config topic to its end and rejoins.
pub const CONFIG_MISMATCH: i16 = 1;

/// One of the Connect group protocols (Java's `ConnectProtocolCompatibility`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConnectProtocolVersion {
    /// v0, "default": eager rebalancing, every member stops everything before it rejoins.
    Eager,
    /// v1, "compatible": incremental cooperative rebalancing (KIP-415).
    Compatible,
    /// v2, "sessioned": v1 plus session keys in the config topic that sign internal REST requests (KIP-507).
    Sessioned,
}

impl ConnectProtocolVersion {
    /// The protocol name in JoinGroup.
    pub const fn name(self) -> &'static str {
        match self {
            ConnectProtocolVersion::Eager => "default",
            ConnectProtocolVersion::Compatible => "compatible",
            ConnectProtocolVersion::Sessioned => "sessioned",
        }
    }

    /// The version written at the start of the metadata and assignment bytes.
    pub const fn version(self) -> i16 {
        match self {
            ConnectProtocolVersion::Eager => 0,
            ConnectProtocolVersion::Compatible => 1,
            ConnectProtocolVersion::Sessioned => 2,
        }
    }

    /// The protocol the coordinator chose, from its name in the JoinGroup response.
    pub fn from_name(name: &str) -> Option<Self> {
        OFFERED_PROTOCOLS.into_iter().find(|p| p.name() == name)
    }

    pub fn from_version(version: i16) -> Option<Self> {
        OFFERED_PROTOCOLS
            .into_iter()
            .find(|p| p.version() == version)
    }

    /// True for the incremental cooperative protocols (v1, v2).
    pub const fn is_incremental(self) -> bool {
        !matches!(self, ConnectProtocolVersion::Eager)
    }
}

/// The protocols a worker offers in JoinGroup, most preferred first, as a Java worker with
/// `connect.protocol=sessioned` (the default) offers them: the coordinator picks the first all members share.
pub const OFFERED_PROTOCOLS: [ConnectProtocolVersion; 3] = [
    ConnectProtocolVersion::Sessioned,
    ConnectProtocolVersion::Compatible,
    ConnectProtocolVersion::Eager,
];

/// One task of a connector (Java's `ConnectorTaskId`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectorTaskId {
    pub connector: String,
    pub task: u32,
}

impl ConnectorTaskId {
    pub fn new(connector: impl Into<String>, task: u32) -> Self {
        ConnectorTaskId {
            connector: connector.into(),
            task,
        }
    }
}

/// A set of connector instances and tasks: what a worker runs, is given, or gives up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct WorkUnits {
    pub connectors: BTreeSet<String>,
    pub tasks: BTreeSet<ConnectorTaskId>,
}

impl WorkUnits {
    pub fn is_empty(&self) -> bool {
        self.connectors.is_empty() && self.tasks.is_empty()
    }

    /// Connectors plus tasks.
    pub fn len(&self) -> usize {
        self.connectors.len() + self.tasks.len()
    }

    pub fn contains(&self, other: &WorkUnits) -> bool {
        other.connectors.is_subset(&self.connectors) && other.tasks.is_subset(&self.tasks)
    }

    /// Everything in `self` or `other`.
    pub fn union(&self, other: &WorkUnits) -> WorkUnits {
        WorkUnits {
            connectors: self.connectors.union(&other.connectors).cloned().collect(),
            tasks: self.tasks.union(&other.tasks).cloned().collect(),
        }
    }

    /// What is in `self` but not in `other`.
    pub fn difference(&self, other: &WorkUnits) -> WorkUnits {
        WorkUnits {
            connectors: self
                .connectors
                .difference(&other.connectors)
                .cloned()
                .collect(),
            tasks: self.tasks.difference(&other.tasks).cloned().collect(),
        }
    }

    /// What is in both.
    pub fn intersection(&self, other: &WorkUnits) -> WorkUnits {
        WorkUnits {
            connectors: self
                .connectors
                .intersection(&other.connectors)
                .cloned()
                .collect(),
            tasks: self.tasks.intersection(&other.tasks).cloned().collect(),
        }
    }

    /// What a member runs after an incremental (v1+) assignment, `self` being what it ran before:
    /// `self − revoked + assigned`, as Java's `WorkerCoordinator.onJoinComplete` merges it.
    pub fn after(&self, assignment: &WorkerAssignment) -> WorkUnits {
        self.difference(&assignment.revoked)
            .union(&assignment.assigned)
    }
}

/// A worker's JoinGroup metadata (Java's `ExtendedWorkerState`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerMetadata {
    /// The worker's REST URL, where other workers forward requests.
    pub url: String,
    /// The newest config-topic offset the worker has read.
    pub config_offset: i64,
    /// What the worker runs now (v1+); `None` before its first assignment, and always for v0, which has no
    /// such field. When encoded it is embedded as an assignment with no leader (`""`), no revocations and no
    /// delay: Java's leader reads only the connectors and tasks of the embedded assignment.
    pub owned: Option<WorkUnits>,
}

/// The leader's SyncGroup assignment for one member (Java's `ExtendedAssignment`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerAssignment {
    /// [`NO_ERROR`] or [`CONFIG_MISMATCH`].
    pub error: i16,
    /// The leader's member id.
    pub leader: String,
    /// The leader's REST URL.
    pub leader_url: String,
    /// The config-topic offset the assignment was made from; the member reads up to it before starting work.
    pub config_offset: i64,
    /// v1+: what the member starts in addition to what it keeps; v0: everything it runs.
    pub assigned: WorkUnits,
    /// What the member stops now, before it rejoins (v1+; always empty in v0).
    pub revoked: WorkUnits,
    /// Milliseconds after which the member rejoins, for a rebalance the leader scheduled (v1+; 0 in v0).
    pub delay_ms: i32,
}

/// Bytes that could not be read, or values that cannot be written, in a Connect group protocol message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectProtocolError {
    #[error("Connect {what}: field {field} needs {needed} bytes but only {left} are left")]
    Truncated {
        what: &'static str,
        field: &'static str,
        needed: usize,
        left: usize,
    },
    #[error("Connect {what}: version {version} is not one this worker reads or writes")]
    UnsupportedVersion { what: &'static str, version: i16 },
    #[error("Connect {what}: field {field} has the invalid length {len}")]
    InvalidLength {
        what: &'static str,
        field: &'static str,
        len: i64,
    },
    #[error("Connect {what}: field {field} claims {count} elements, more than the {left} bytes left can hold")]
    CountTooLarge {
        what: &'static str,
        field: &'static str,
        count: i32,
        left: usize,
    },
    #[error("Connect {what}: field {field} is not valid UTF-8")]
    InvalidUtf8 {
        what: &'static str,
        field: &'static str,
    },
    #[error("Connect {what}: connector {connector:?} has the invalid task id {task}")]
    InvalidTaskId {
        what: &'static str,
        connector: String,
        task: i64,
    },
    #[error(
        "Connect {what}: field {field} is {len} bytes, longer than the 32767 a Kafka STRING holds"
    )]
    StringTooLong {
        what: &'static str,
        field: &'static str,
        len: usize,
    },
    #[error("Connect {what}: {field} cannot be written in version {version} (eager members revoke everything themselves)")]
    FieldNotInVersion {
        what: &'static str,
        field: &'static str,
        version: i16,
    },
}

const METADATA: &str = "worker metadata";
const ASSIGNMENT: &str = "assignment";
/// Newest version whose layout we know; newer ones are read as their v1 prefix (as Java does).
const NEWEST_VERSION: i16 = 2;

impl WorkerMetadata {
    /// The metadata bytes for one protocol version (0, 1 or 2).
    pub fn encode(&self, version: i16) -> Result<Vec<u8>, ConnectProtocolError> {
        check_encode_version(METADATA, version)?;
        let mut out = Vec::new();
        out.extend_from_slice(&version.to_be_bytes());
        put_string(&mut out, METADATA, "url", &self.url)?;
        out.extend_from_slice(&self.config_offset.to_be_bytes());
        if version >= 1 {
            match &self.owned {
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(owned) => {
                    let allocation = WorkerAssignment {
                        error: NO_ERROR,
                        leader: String::new(),
                        leader_url: String::new(),
                        config_offset: self.config_offset,
                        assigned: owned.clone(),
                        revoked: WorkUnits::default(),
                        delay_ms: 0,
                    }
                    .encode(version)?;
                    put_len(&mut out, allocation.len());
                    out.extend_from_slice(&allocation);
                }
            }
        }
        Ok(out)
    }

    /// The (protocol name, metadata bytes) pairs a worker puts in JoinGroup, in [`OFFERED_PROTOCOLS`] order.
    pub fn join_group_protocols(
        &self,
    ) -> Result<Vec<(&'static str, Vec<u8>)>, ConnectProtocolError> {
        OFFERED_PROTOCOLS
            .into_iter()
            .map(|p| Ok((p.name(), self.encode(p.version())?)))
            .collect()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ConnectProtocolError> {
        let mut reader = Reader::new(bytes, METADATA);
        let version = reader.version()?;
        let url = reader.string("url")?;
        let config_offset = reader.i64("config offset")?;
        let mut owned = None;
        // ALLOCATION_V1 tolerates a missing allocation (null); v0 has none.
        if version >= 1 && !reader.is_empty() {
            if let Some(allocation) = reader.nullable_bytes("allocation")? {
                let embedded = decode_assignment(allocation, "allocation in worker metadata")?;
                owned = Some(embedded.assigned);
            }
        }
        Ok(WorkerMetadata {
            url,
            config_offset,
            owned,
        })
    }
}

impl WorkerAssignment {
    /// The assignment bytes for one protocol version (0, 1 or 2). Version 0 has no revocations and no delay:
    /// asking for either there is an error, not a silent drop.
    pub fn encode(&self, version: i16) -> Result<Vec<u8>, ConnectProtocolError> {
        check_encode_version(ASSIGNMENT, version)?;
        if version == 0 {
            if !self.revoked.is_empty() {
                return Err(ConnectProtocolError::FieldNotInVersion {
                    what: ASSIGNMENT,
                    field: "revoked",
                    version,
                });
            }
            if self.delay_ms != 0 {
                return Err(ConnectProtocolError::FieldNotInVersion {
                    what: ASSIGNMENT,
                    field: "scheduled delay",
                    version,
                });
            }
        }
        let mut out = Vec::new();
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&self.error.to_be_bytes());
        put_string(&mut out, ASSIGNMENT, "leader", &self.leader)?;
        put_string(&mut out, ASSIGNMENT, "leader url", &self.leader_url)?;
        out.extend_from_slice(&self.config_offset.to_be_bytes());
        put_work_units(&mut out, "assignment", &self.assigned)?;
        if version >= 1 {
            put_work_units(&mut out, "revoked", &self.revoked)?;
            out.extend_from_slice(&self.delay_ms.to_be_bytes());
        }
        Ok(out)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ConnectProtocolError> {
        decode_assignment(bytes, ASSIGNMENT)
    }
}

/// The version at the start of metadata or assignment bytes (what the sender wrote, which may be newer than
/// any we know).
pub fn peek_version(bytes: &[u8]) -> Result<i16, ConnectProtocolError> {
    Reader::new(bytes, "message").version()
}

fn decode_assignment(
    bytes: &[u8],
    what: &'static str,
) -> Result<WorkerAssignment, ConnectProtocolError> {
    let mut reader = Reader::new(bytes, what);
    reader.version()?;
    // Java reads every version with the tolerant ASSIGNMENT_V1 schema (WorkerCoordinator always calls
    // IncrementalCooperativeConnectProtocol.deserializeAssignment), so a v0 assignment reads with no
    // revocations and no delay.
    let error = reader.i16("error")?;
    let leader = reader.string("leader")?;
    let leader_url = reader.string("leader url")?;
    let config_offset = reader.i64("config offset")?;
    let assigned = if reader.is_empty() {
        WorkUnits::default()
    } else {
        reader.work_units("assignment")?
    };
    let revoked = if reader.is_empty() {
        WorkUnits::default()
    } else {
        reader.work_units("revoked")?
    };
    let delay_ms = if reader.is_empty() {
        0
    } else {
        reader.i32("scheduled delay")?
    };
    Ok(WorkerAssignment {
        error,
        leader,
        leader_url,
        config_offset,
        assigned,
        revoked,
        delay_ms,
    })
}

fn check_encode_version(what: &'static str, version: i16) -> Result<(), ConnectProtocolError> {
    if (0..=NEWEST_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(ConnectProtocolError::UnsupportedVersion { what, version })
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Callers bound every length to an i32 first (strings to i16, counts of in-memory sets).
    out.extend_from_slice(&(len as i32).to_be_bytes());
}

fn put_string(
    out: &mut Vec<u8>,
    what: &'static str,
    field: &'static str,
    value: &str,
) -> Result<(), ConnectProtocolError> {
    let len = i16::try_from(value.len()).map_err(|_| ConnectProtocolError::StringTooLong {
        what,
        field,
        len: value.len(),
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value.as_bytes());
    Ok(())
}

/// Writes a [ConnectorAssignment] array: one entry per connector name in order, its task list starting
/// with CONNECTOR_TASK when the connector instance itself is in the set, then its task ids ascending.
fn put_work_units(
    out: &mut Vec<u8>,
    field: &'static str,
    units: &WorkUnits,
) -> Result<(), ConnectProtocolError> {
    let mut by_connector: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for connector in &units.connectors {
        by_connector
            .entry(connector.as_str())
            .or_default()
            .push(CONNECTOR_TASK);
    }
    for task in &units.tasks {
        let id = i32::try_from(task.task).map_err(|_| ConnectProtocolError::InvalidTaskId {
            what: ASSIGNMENT,
            connector: task.connector.clone(),
            task: i64::from(task.task),
        })?;
        by_connector
            .entry(task.connector.as_str())
            .or_default()
            .push(id);
    }
    let count =
        i32::try_from(by_connector.len()).map_err(|_| ConnectProtocolError::InvalidLength {
            what: ASSIGNMENT,
            field,
            len: by_connector.len() as i64,
        })?;
    out.extend_from_slice(&count.to_be_bytes());
    for (connector, tasks) in by_connector {
        put_string(out, ASSIGNMENT, "connector", connector)?;
        put_len(out, tasks.len());
        for task in tasks {
            out.extend_from_slice(&task.to_be_bytes());
        }
    }
    Ok(())
}

/// Reads Kafka `Schema` primitives from untrusted bytes, never past their end.
struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader { bytes, what }
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn take(
        &mut self,
        field: &'static str,
        needed: usize,
    ) -> Result<&'a [u8], ConnectProtocolError> {
        if self.bytes.len() < needed {
            return Err(ConnectProtocolError::Truncated {
                what: self.what,
                field,
                needed,
                left: self.bytes.len(),
            });
        }
        let (head, rest) = self.bytes.split_at(needed);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], ConnectProtocolError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    fn i16(&mut self, field: &'static str) -> Result<i16, ConnectProtocolError> {
        Ok(i16::from_be_bytes(self.array(field)?))
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, ConnectProtocolError> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, ConnectProtocolError> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    /// The header's version: negative is refused (Java's `checkVersionCompatibility`), anything else read.
    fn version(&mut self) -> Result<i16, ConnectProtocolError> {
        let version = self.i16("version")?;
        if version < 0 {
            return Err(ConnectProtocolError::UnsupportedVersion {
                what: self.what,
                version,
            });
        }
        Ok(version)
    }

    fn string(&mut self, field: &'static str) -> Result<String, ConnectProtocolError> {
        let len = self.i16(field)?;
        let len = usize::try_from(len).map_err(|_| ConnectProtocolError::InvalidLength {
            what: self.what,
            field,
            len: i64::from(len),
        })?;
        let bytes = self.take(field, len)?;
        std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| {
            ConnectProtocolError::InvalidUtf8 {
                what: self.what,
                field,
            }
        })
    }

    fn nullable_bytes(
        &mut self,
        field: &'static str,
    ) -> Result<Option<&'a [u8]>, ConnectProtocolError> {
        let len = self.i32(field)?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| ConnectProtocolError::InvalidLength {
            what: self.what,
            field,
            len: i64::from(len),
        })?;
        self.take(field, len).map(Some)
    }

    /// An array count, refused when the bytes left could not hold that many elements of `min_element_bytes`
    /// each, so a forged count costs nothing. `None` for a null array (-1).
    fn count(
        &mut self,
        field: &'static str,
        min_element_bytes: usize,
    ) -> Result<Option<usize>, ConnectProtocolError> {
        let count = self.i32(field)?;
        if count == -1 {
            return Ok(None);
        }
        let Ok(elements) = usize::try_from(count) else {
            return Err(ConnectProtocolError::InvalidLength {
                what: self.what,
                field,
                len: i64::from(count),
            });
        };
        if elements > self.bytes.len() / min_element_bytes {
            return Err(ConnectProtocolError::CountTooLarge {
                what: self.what,
                field,
                count,
                left: self.bytes.len(),
            });
        }
        Ok(Some(elements))
    }

    /// A [ConnectorAssignment] array; null reads as empty (Java's `extractConnectors` / `extractTasks`).
    /// A connector named in several entries, or a task listed twice, is one unit.
    fn work_units(&mut self, field: &'static str) -> Result<WorkUnits, ConnectProtocolError> {
        let mut units = WorkUnits::default();
        // An entry is at least a string length (2) and a task count (4).
        let Some(entries) = self.count(field, 6)? else {
            return Ok(units);
        };
        for _ in 0..entries {
            let connector = self.string("connector")?;
            let Some(tasks) = self.count("tasks", 4)? else {
                // Java's CONNECTOR_ASSIGNMENT tasks array is not nullable.
                return Err(ConnectProtocolError::InvalidLength {
                    what: self.what,
                    field: "tasks",
                    len: -1,
                });
            };
            for _ in 0..tasks {
                let task = self.i32("task")?;
                if task == CONNECTOR_TASK {
                    units.connectors.insert(connector.clone());
                } else {
                    let task =
                        u32::try_from(task).map_err(|_| ConnectProtocolError::InvalidTaskId {
                            what: self.what,
                            connector: connector.clone(),
                            task: i64::from(task),
                        })?;
                    units
                        .tasks
                        .insert(ConnectorTaskId::new(connector.clone(), task));
                }
            }
        }
        Ok(units)
    }
}

#[cfg(test)]
mod tests;
