"""Reads /metrics with `requests` and parses it with prometheus_client's own text parser (which rejects what is
not the exposition format). stdout: {"content_type": ..., "families": [{"name", "type", "samples": [{"name",
"labels", "value"}]}]}.
"""
import argparse
import json

import requests
from prometheus_client.parser import text_string_to_metric_families


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
                {"name": s.name, "labels": dict(s.labels), "value": s.value} for s in family.samples
            ],
        }
        for family in text_string_to_metric_families(response.text)
    ]
    print(json.dumps({"content_type": response.headers.get("Content-Type"), "families": families}))


if __name__ == "__main__":
    main()
