"""Sends REST requests with `requests` and prints what came back, one JSON line per request.

stdin: a JSON array of requests, each {"method": "GET", "path": "/connectors", "json": <body>?, "data": "<raw
body>"?, "params": {..}?, "headers": {..}?}. stdout, one line each, in order: {"status": 200, "location": ...,
"content_type": ..., "json": <parsed body, or null>, "text": "<the body>"}.
"""
import argparse
import json
import sys

import requests


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()
    calls = json.load(sys.stdin)
    with requests.Session() as session:
        for call in calls:
            kwargs = {"params": call.get("params"), "headers": call.get("headers"), "timeout": args.timeout}
            if "json" in call:
                kwargs["json"] = call["json"]
            if "data" in call:
                kwargs["data"] = call["data"].encode()
            response = session.request(call["method"], args.url + call["path"], **kwargs)
            try:
                body = response.json() if response.content else None
            except ValueError:
                body = None
            print(json.dumps({
                "status": response.status_code,
                "location": response.headers.get("Location"),
                "content_type": response.headers.get("Content-Type"),
                "json": body,
                "text": response.text,
            }), flush=True)


if __name__ == "__main__":
    main()
