"""Produce JSON-lines records from stdin with kafka-python (a pure-Python client, independent of librdkafka).

Prints one JSON line per record, in input order: {"index": i, "partition": p, "offset": o}.
Exits 1 if any record was not delivered.
"""
import argparse
import sys

from kafka import KafkaProducer

from common import emit, read_records


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--compression", default=None, choices=["none", "gzip", "snappy", "lz4", "zstd"])
    args = parser.parse_args()

    compression = None if args.compression in (None, "none") else args.compression
    producer = KafkaProducer(bootstrap_servers=args.bootstrap, compression_type=compression, linger_ms=5)
    futures = []
    for record in read_records():
        futures.append(producer.send(
            args.topic,
            key=record["key"],
            value=record["value"],
            headers=record["headers"] or None,
            partition=record["partition"],
            timestamp_ms=record["timestamp"],
        ))
    producer.flush(timeout=60)
    failed = 0
    for index, future in enumerate(futures):
        try:
            meta = future.get(timeout=60)
        except Exception as err:  # noqa: BLE001 - report every failure kind the same way
            failed += 1
            print(f"record {index}: {err!r}", file=sys.stderr)
            continue
        emit({"index": index, "partition": meta.partition, "offset": meta.offset})
    producer.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
