"""Topic administration with confluent-kafka's AdminClient.

  ck_admin.py --bootstrap B create-topic NAME --partitions N [--config KEY=VALUE ...]
creates the topic (with those topic configs) (an existing topic with the same partition count is fine) and waits until metadata shows
all N partitions with a leader.
"""
import argparse
import sys
import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic


def create_topic(admin, name, partitions, timeout, config=()):
    configs = dict(pair.split("=", 1) for pair in config)
    futures = admin.create_topics([NewTopic(name, partitions, 1, config=configs)], operation_timeout=timeout)
    try:
        futures[name].result(timeout)
    except KafkaException as err:
        if err.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            sys.exit(f"create topic {name}: {err}")
    deadline = time.monotonic() + timeout
    while True:
        topic = admin.list_topics(name, timeout=timeout).topics.get(name)
        if topic is not None and topic.error is None and len(topic.partitions) == partitions \
                and all(p.leader >= 0 for p in topic.partitions.values()):
            return
        if time.monotonic() > deadline:
            found = None if topic is None else (topic.error, len(topic.partitions))
            sys.exit(f"topic {name}: metadata does not show {partitions} partitions after {timeout}s: {found}")
        time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--timeout", type=float, default=30.0)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-topic")
    create.add_argument("name")
    create.add_argument("--partitions", type=int, required=True)
    create.add_argument("--config", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    if args.command == "create-topic":
        create_topic(admin, args.name, args.partitions, args.timeout, args.config)


if __name__ == "__main__":
    main()
