"""Reads a Prometheus text exposition on stdin with prometheus_client's own parser and prints what it found as
JSON: one object per sample, with its family's name and type. NaN and infinities become strings (JSON has none).
A text the parser rejects exits non-zero with its error."""

import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def number(value):
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return value


def main():
    text = sys.stdin.read()
    samples = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.append(
                {
                    "family": family.name,
                    "type": family.type,
                    "name": sample.name,
                    "labels": dict(sample.labels),
                    "value": number(sample.value),
                }
            )
    json.dump(samples, sys.stdout)


if __name__ == "__main__":
    main()
