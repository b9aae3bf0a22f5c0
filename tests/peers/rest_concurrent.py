"""Holds a half-sent request open on one connection while `--count` clients (requests, one thread each) ask
`--path` at once, then finishes the half-sent request on its connection.

stdout: {"statuses": [...], "burst_seconds": s, "held_answer": "<status line of the held request's answer, or
what ended the connection>"}. The held request's answer only comes if the server kept that connection while it
answered the others.
"""
import argparse
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import requests


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--path", default="/connectors")
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    address = urlparse(args.url)
    held = socket.create_connection((address.hostname, address.port), timeout=30)
    held.sendall(b"GET / HTTP/1.1\r\nHost: held\r\n")  # no blank line: the head is not complete

    def ask(_):
        return requests.get(args.url + args.path, timeout=30).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.count) as pool:
        statuses = list(pool.map(ask, range(args.count)))
    burst_seconds = time.monotonic() - started

    try:
        held.sendall(b"Connection: close\r\n\r\n")
        answer = b""
        while True:
            chunk = held.recv(65536)
            if not chunk:
                break
            answer += chunk
        held_answer = answer.split(b"\r\n", 1)[0].decode(errors="replace") or "connection closed, no answer"
    except OSError as error:
        held_answer = f"connection failed: {error}"
    finally:
        held.close()
    print(json.dumps({"statuses": statuses, "burst_seconds": burst_seconds, "held_answer": held_answer}))


if __name__ == "__main__":
    main()
