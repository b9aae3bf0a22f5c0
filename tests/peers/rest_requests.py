"""Sends REST requests with `requests` and prints what came back, one JSON line per request.

stdin: a JSON array of requests, each {"method": "GET", "path": "/connectors", "json": <body>?, "data": "<raw
body>"?, "params": {..}?, "headers": {..}?}. stdout, one line each, in order: {"status": 200, "location": ...,
"content_type": ..., "www_authenticate": ..., "json": <parsed body, or null>, "text": "<the body>"}; with
--errors, a request that fails before an answer (TLS refused, connection reset) prints {"error": "<exception
class>", "message": "..."} instead of ending the script.

HTTPS: --ca FILE (the CA to trust; without it, requests' own bundle), --cert FILE --key FILE (a client
certificate). Basic auth: --auth USER:PASSWORD.
"""
import argparse
import json
import sys

import requests


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("--ca")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--auth")
    parser.add_argument("--errors", action="store_true")
    args = parser.parse_args()
    calls = json.load(sys.stdin)
    with requests.Session() as session:
        if args.cert:
            session.cert = (args.cert, args.key)
        if args.auth:
            user, _, password = args.auth.partition(":")
            session.auth = (user, password)
        for call in calls:
            kwargs = {"params": call.get("params"), "headers": call.get("headers"), "timeout": args.timeout}
            if args.ca:
                # Per request: a session's verify loses to REQUESTS_CA_BUNDLE from the environment.
                kwargs["verify"] = args.ca
            if "json" in call:
                kwargs["json"] = call["json"]
            if "data" in call:
                kwargs["data"] = call["data"].encode()
            try:
                response = session.request(call["method"], args.url + call["path"], **kwargs)
            except requests.exceptions.RequestException as e:
                if not args.errors:
                    raise
                print(json.dumps({"error": type(e).__name__, "message": str(e)}), flush=True)
                continue
            try:
                body = response.json() if response.content else None
            except ValueError:
                body = None
            print(json.dumps({
                "status": response.status_code,
                "location": response.headers.get("Location"),
                "content_type": response.headers.get("Content-Type"),
                "www_authenticate": response.headers.get("WWW-Authenticate"),
                "json": body,
                "text": response.text,
            }), flush=True)


if __name__ == "__main__":
    main()
