"""Shared by the peer scripts: the JSON-lines record format the Rust tests speak.

Bytes (keys, values, header values) travel as lowercase hex strings so the comparison is binary-safe;
null stays null. A record line looks like:
  {"key": "6b31" | null, "value": "7631" | null, "headers": [["name", "hex" | null], ...],
   "timestamp": 1700000000000 | null, "partition": 2 | null}
"""
import json
import sys


def unhex(value):
    return None if value is None else bytes.fromhex(value)


def tohex(value):
    return None if value is None else bytes(value).hex()


def read_records(stream=sys.stdin):
    for line_number, line in enumerate(stream, 1):
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            sys.exit(f"stdin line {line_number}: not JSON ({err}): {line[:200]}")
        yield {
            "key": unhex(record.get("key")),
            "value": unhex(record.get("value")),
            "headers": [(name, unhex(value)) for name, value in record.get("headers") or []],
            "timestamp": record.get("timestamp"),
            "partition": record.get("partition"),
        }


def emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")


def parse_config(pairs):
    config = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep:
            sys.exit(f"-X {pair!r}: expected name=value")
        config[name] = value
    return config
