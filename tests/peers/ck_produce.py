"""Produce JSON-lines records from stdin with confluent-kafka (librdkafka).

Prints one JSON line per record, in input order: {"index": i, "partition": p, "offset": o}.
Exits 1 if any record was not delivered.
"""
import argparse
import sys

from confluent_kafka import Producer

from common import emit, parse_config, read_records


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--compression", default="none", choices=["none", "gzip", "snappy", "lz4", "zstd"])
    parser.add_argument("--partitioner", default=None, help="librdkafka partitioner, e.g. murmur2_random")
    parser.add_argument("-X", dest="config", action="append", help="extra librdkafka config name=value")
    parser.add_argument("--flush-timeout", type=float, default=60.0)
    args = parser.parse_args()

    config = {"bootstrap.servers": args.bootstrap, "compression.type": args.compression, "linger.ms": 5}
    if args.partitioner:
        config["partitioner"] = args.partitioner
    config.update(parse_config(args.config))
    producer = Producer(config)

    results = []
    errors = []

    def on_delivery(index):
        def report(err, msg):
            if err is not None:
                errors.append(f"record {index}: {err}")
            else:
                results[index] = {"index": index, "partition": msg.partition(), "offset": msg.offset()}
        return report

    for index, record in enumerate(read_records()):
        results.append(None)
        kwargs = {"key": record["key"], "value": record["value"], "on_delivery": on_delivery(index)}
        if record["headers"]:
            kwargs["headers"] = record["headers"]
        if record["timestamp"] is not None:
            kwargs["timestamp"] = record["timestamp"]
        if record["partition"] is not None:
            kwargs["partition"] = record["partition"]
        while True:
            try:
                producer.produce(args.topic, **kwargs)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)

    remaining = producer.flush(args.flush_timeout)
    if remaining:
        errors.append(f"{remaining} records still undelivered after {args.flush_timeout}s")
    for result in results:
        if result is not None:
            emit(result)
    if errors:
        for error in errors[:20]:
            print(error, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
