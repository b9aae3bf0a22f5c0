#!/usr/bin/env bash
# Produce CPU per record over TLS and over plaintext, `engine produce` against kcat (librdkafka), by hand until
# the perf harness has TLS rows: 1 M records of 100 B from stdin, every client at its defaults, user+sys of
# the client process from /usr/bin/time. Two in-memory tansu brokers: A plaintext; B behind socat's TLS
# (tansu's own --cert/--key cannot be given together in the build we use), advertising the TLS port.
# Usage: perf/tls_produce.sh [rounds]   (needs a release `engine`, ./scripts/setup's venv, openssl, socat)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"
rounds="${1:-3}"
engine="$root/target/release/engine"
kcat="$root/scripts/kcat"
tansu="$(tansu_bin)"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 \
    -subj "/CN=perf CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout broker.key -out broker.csr \
    -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' >ext.cnf
openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out broker.pem -days 2 \
    -extfile ext.cnf 2>/dev/null
python3 -c "
with open('in.txt', 'w') as f:
    for i in range(1_000_000):
        f.write('%09d%s\n' % (i, 'x' * 90))
"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
plain="$(free_port)"; behind="$(free_port)"; tls="$(free_port)"
"$tansu" broker --listener-url "tcp://127.0.0.1:$plain" --advertised-listener-url "tcp://localhost:$plain" >/dev/null 2>&1 &
"$tansu" broker --listener-url "tcp://127.0.0.1:$behind" --advertised-listener-url "tcp://localhost:$tls" >/dev/null 2>&1 &
socat "OPENSSL-LISTEN:$tls,bind=127.0.0.1,reuseaddr,fork,cert=broker.pem,key=broker.key,verify=0" \
    "TCP:127.0.0.1:$behind" 2>/dev/null &
sleep 2

measure() { # name command…: user+sys per record, in ns
    local name="$1"; shift
    /usr/bin/time -f "%U %S" -o time.txt "$@" <in.txt >/dev/null 2>/dev/null
    awk -v name="$name" '{ printf "%-18s %5.0f ns/record (user %ss, sys %ss)\n", name, ($1 + $2) * 1000, $1, $2 }' time.txt
}
for round in $(seq "$rounds"); do
    measure "engine plaintext" "$engine" produce -b "localhost:$plain" -t "p$round"
    measure "engine TLS" "$engine" produce -b "localhost:$tls" -t "s$round" \
        -X security.protocol=SSL -X ssl.ca.location="$work/ca.pem"
    measure "kcat plaintext" "$kcat" -b "localhost:$plain" -t "kp$round" -P
    measure "kcat TLS" "$kcat" -b "localhost:$tls" -t "ks$round" -P \
        -X security.protocol=ssl -X ssl.ca.location="$work/ca.pem"
done
