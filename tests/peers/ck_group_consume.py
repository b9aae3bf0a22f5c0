"""A confluent-kafka (librdkafka) member of a consumer group, for the mixed-group tests.

Subscribes to --topic in --group and prints one line per record, "<partition> <offset> <value>", flushed at once.
Assignment changes go to stderr in the engine's own words, so the test reads both members alike:
  % group G: assigned t-0, t-1      % group G: revoked t-0      % group G: lost t-1
Commits what it printed (auto-commit of stored offsets) and leaves the group on SIGTERM / SIGINT or after --seconds.
"""
import argparse
import signal
import sys
import time

from confluent_kafka import Consumer

from common import parse_config


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("-X", dest="config", action="append", help="extra librdkafka config name=value")
    args = parser.parse_args()

    config = {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.offset.store": False,
    }
    config.update(parse_config(args.config))
    consumer = Consumer(config)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    def describe(partitions):
        return ", ".join(f"{p.topic}-{p.partition}" for p in partitions) or "nothing"

    def on_assign(c, partitions):
        print(f"% group {args.group}: assigned {describe(partitions)}", file=sys.stderr, flush=True)
        if config.get("partition.assignment.strategy") == "cooperative-sticky":
            c.incremental_assign(partitions)
        else:
            c.assign(partitions)

    def on_revoke(c, partitions):
        print(f"% group {args.group}: revoked {describe(partitions)}", file=sys.stderr, flush=True)
        if config.get("partition.assignment.strategy") == "cooperative-sticky":
            c.incremental_unassign(partitions)
        else:
            c.unassign()

    def on_lost(c, partitions):
        print(f"% group {args.group}: lost {describe(partitions)}", file=sys.stderr, flush=True)

    consumer.subscribe([args.topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    deadline = time.monotonic() + args.seconds
    while not stop and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None or msg.error():
            continue
        value = (msg.value() or b"").decode()
        sys.stdout.write(f"{msg.partition()} {msg.offset()} {value}\n")
        sys.stdout.flush()
        consumer.store_offsets(msg)
    consumer.close()


if __name__ == "__main__":
    main()
