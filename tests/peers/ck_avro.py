"""confluent-kafka's Avro serde (AvroSerializer / AvroDeserializer with its SchemaRegistryClient) as the tests'
peer. One JSON value per line in, one per line out; bytes travel as hex, other Python values Avro hands back
(Decimal, date, time, datetime) as tagged objects so the Rust side can compare exactly:
  {"$bytes": "00ff"}, {"$decimal": "12.34"}, {"$date": "2024-01-31"}, {"$time_ms": 3723004},
  {"$timestamp_ms": 1700000000123}

Commands:
  serialize   --registry URL --topic T --schema JSON   values (stdin) -> wire bytes as hex lines (stdout)
  deserialize --registry URL --topic T                 hex lines (stdin) -> values (stdout)
  produce     --registry URL --topic T --schema JSON --bootstrap B    values (stdin) -> the topic
  consume     --registry URL --topic T --bootstrap B --count N        the topic -> values (stdout)
"""
import argparse
import datetime
import decimal
import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def to_json(value):
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return {"$timestamp_ms": (value - EPOCH) // datetime.timedelta(milliseconds=1)}
    if isinstance(value, datetime.date):
        return {"$date": value.isoformat()}
    if isinstance(value, datetime.time):
        ms = ((value.hour * 60 + value.minute) * 60 + value.second) * 1000 + value.microsecond // 1000
        return {"$time_ms": ms}
    return value


def from_json(value):
    if isinstance(value, list):
        return [from_json(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            (tag, inner), = value.items()
            if tag == "$bytes":
                return bytes.fromhex(inner)
            if tag == "$decimal":
                return decimal.Decimal(inner)
            if tag == "$date":
                return datetime.date.fromisoformat(inner)
            if tag == "$time_ms":
                return (datetime.datetime.min + datetime.timedelta(milliseconds=inner)).time()
            if tag == "$timestamp_ms":
                return EPOCH + datetime.timedelta(milliseconds=inner)
        return {k: from_json(v) for k, v in value.items()}
    return value


def emit(obj):
    sys.stdout.write(json.dumps(to_json(obj), separators=(",", ":"), sort_keys=True) + "\n")
    sys.stdout.flush()


def values_in():
    for line in sys.stdin:
        line = line.strip()
        if line:
            yield from_json(json.loads(line))


def registry(args):
    conf = {"url": args.registry}
    if args.user_info:
        conf["basic.auth.user.info"] = args.user_info
    return SchemaRegistryClient(conf)


def serializer(args):
    conf = {"auto.register.schemas": not args.no_register}
    if args.use_latest:
        conf["use.latest.version"] = True
        conf["auto.register.schemas"] = False
    return AvroSerializer(registry(args), args.schema, conf=conf)


def context(args):
    return SerializationContext(args.topic, MessageField.KEY if args.key else MessageField.VALUE)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["serialize", "deserialize", "produce", "consume"])
    parser.add_argument("--registry", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--schema")
    parser.add_argument("--bootstrap")
    parser.add_argument("--count", type=int)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--key", action="store_true", help="the key's subject (<topic>-key)")
    parser.add_argument("--no-register", action="store_true")
    parser.add_argument("--use-latest", action="store_true")
    parser.add_argument("--user-info")
    args = parser.parse_args()

    if args.command == "serialize":
        serialize = serializer(args)
        for value in values_in():
            sys.stdout.write(serialize(value, context(args)).hex() + "\n")
    elif args.command == "deserialize":
        deserialize = AvroDeserializer(registry(args))
        for line in sys.stdin:
            line = line.strip()
            if line:
                emit(deserialize(bytes.fromhex(line), context(args)))
    elif args.command == "produce":
        serialize = serializer(args)
        producer = Producer({"bootstrap.servers": args.bootstrap, "acks": "all"})
        failures = []
        for value in values_in():
            producer.produce(
                args.topic,
                value=serialize(value, context(args)),
                on_delivery=lambda err, _msg: err and failures.append(str(err)),
            )
        producer.flush(args.timeout)
        if failures:
            sys.exit(f"delivery failed: {failures}")
    else:
        deserialize = AvroDeserializer(registry(args))
        consumer = Consumer({
            "bootstrap.servers": args.bootstrap,
            "group.id": "pipewright-avro-peer",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        })
        metadata = consumer.list_topics(args.topic, timeout=args.timeout)
        partitions = sorted(metadata.topics[args.topic].partitions)
        consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in partitions])
        deadline = time.monotonic() + args.timeout
        seen = 0
        while seen < args.count:
            if time.monotonic() > deadline:
                sys.exit(f"timed out after {seen} of {args.count} records")
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                sys.exit(f"consume failed: {message.error()}")
            emit(deserialize(message.value(), context(args)))
            seen += 1
        consumer.close()


if __name__ == "__main__":
    main()
