"""Read a topic from the beginning with confluent-kafka (librdkafka) and print one JSON line per record:
  {"topic", "partition", "offset", "key", "value", "headers", "timestamp", "timestamp_type"}
with bytes as hex (see common.py). Stops after --count records, or, without --count, once every partition's
end has been reached. Exits 2 if --timeout passes first (after printing what it read).
"""
import argparse
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from common import emit, parse_config, tohex


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before giving up")
    parser.add_argument("-X", dest="config", action="append", help="extra librdkafka config name=value")
    args = parser.parse_args()

    config = {
        "bootstrap.servers": args.bootstrap,
        "group.id": "pipewright-test-peer",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    }
    config.update(parse_config(args.config))
    consumer = Consumer(config)
    deadline = time.monotonic() + args.timeout

    metadata = consumer.list_topics(args.topic, timeout=args.timeout)
    topic_md = metadata.topics.get(args.topic)
    if topic_md is None or topic_md.error is not None or not topic_md.partitions:
        sys.exit(f"topic {args.topic}: no metadata ({topic_md.error if topic_md else 'missing'})")
    partitions = sorted(topic_md.partitions)
    consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in partitions])

    at_end = set()
    read = 0
    while True:
        if args.count is not None and read >= args.count:
            break
        if args.count is None and at_end.issuperset(partitions):
            break
        if time.monotonic() > deadline:
            print(f"timeout after {args.timeout}s: read {read} records, partitions at end: {sorted(at_end)}",
                  file=sys.stderr)
            sys.stdout.flush()
            sys.exit(2)
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                at_end.add(msg.partition())
                continue
            sys.exit(f"consume error: {msg.error()}")
        at_end.discard(msg.partition())
        ts_type, ts = msg.timestamp()
        emit({
            "topic": msg.topic(),
            "partition": msg.partition(),
            "offset": msg.offset(),
            "key": tohex(msg.key()),
            "value": tohex(msg.value()),
            "headers": [[name, tohex(value)] for name, value in (msg.headers() or [])],
            "timestamp": ts,
            "timestamp_type": ts_type,
        })
        read += 1
    consumer.close()


if __name__ == "__main__":
    main()
