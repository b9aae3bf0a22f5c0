"""Reads /metrics with `requests` and parses it with prometheus_client's own text parser (which rejects what is
not the exposition format). stdout: {"content_type": ..., "families": [{"name", "type", "samples": [{"name",
"labels", "value"}]}]}.
"""
import argparse
import json
import math

import requests
from prometheus_client.parser import text_string_to_metric_families


def number(value):
    """A sample's value as JSON can hold it: NaN and ±Inf (valid in the exposition format, e.g. a quantile of
    a histogram that holds nothing yet) as the strings Prometheus writes for them."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    args = parser.parse_args()
    response = requests.get(args.url + "/metrics", timeout=30)
    response.raise_for_status()
    families = [
        {
            "name": family.name,
            "type": family.type,
            "samples": [
                {"name": s.name, "labels": dict(s.labels), "value": number(s.value)} for s in family.samples
            ],
        }
        for family in text_string_to_metric_families(response.text)
    ]
    print(json.dumps({"content_type": response.headers.get("Content-Type"), "families": families}))


if __name__ == "__main__":
    main()
