//! Unit tests of the Avro mapping and codec (no registry).
