#!/usr/bin/env python3
"""A Kafka capture proxy that turns real broker traffic into fuzz seeds.

    fuzz/capture_seeds.py LISTEN_PORT BROKER_PORT SEEDS_DIR

Listens on 127.0.0.1:LISTEN_PORT, forwards every connection to 127.0.0.1:BROKER_PORT, and writes each response
frame it sees, in the format of the fuzz target that reads it:

- response_decoders/: [API index in the target's CLIENT_APIS, version - client min] + frame (no size prefix)
- fetch_to_records/:  [version - client min] + Fetch response frame
- frame_decoder/:     [255, chunk size] + the first 4 KiB of a connection's response stream
- record_batch_decode/: each record batch found in a Fetch response (found by magic 2 and a matching CRC-32C)
- record_batch_compressed/: [codec, 0] + the compressed records of each compressed batch (decompress mode)

The broker must advertise this proxy's port, so that every connection comes through it. Files are named by
the SHA-1 of their content, so a rerun adds only new seeds. Stop with Ctrl-C.
"""
import asyncio
import hashlib
import os
import struct
import sys

# (API key, client min version) in the order of CLIENT_APIS in fuzz_targets/response_decoders.rs.
CLIENT_APIS = [
    (0, 3), (1, 4), (2, 1), (3, 4), (8, 2), (9, 1), (10, 1), (11, 2), (12, 1), (13, 1), (14, 1),
    (15, 1), (16, 1), (18, 0), (19, 2), (42, 1), (22, 0), (24, 0), (25, 0), (26, 0), (28, 3),
]
MAX_SEED_BYTES = 64 * 1024
seeds_dir = ""


def save(target, data):
    if len(data) > MAX_SEED_BYTES:
        return
    directory = os.path.join(seeds_dir, target)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, hashlib.sha1(data).hexdigest())
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def record_batches(frame):
    """Record batches inside a Fetch response, found without parsing the response."""
    at = 0
    while at + 61 <= len(frame):
        if frame[at + 16] == 2:
            (length,) = struct.unpack_from(">i", frame, at + 8)
            end = at + 12 + length
            if 49 <= length and end <= len(frame):
                (crc,) = struct.unpack_from(">I", frame, at + 17)
                if crc32c(frame[at + 21:end]) == crc:
                    yield frame[at:end]
                    at = end
                    continue
        at += 1


def save_response(api_key, version, frame):
    for index, (key, minimum) in enumerate(CLIENT_APIS):
        if key == api_key and version >= minimum:
            save("response_decoders", bytes([index, version - minimum]) + frame)
    if api_key == 1 and version >= 4:
        save("fetch_to_records", bytes([version - 4]) + frame)
        for batch in record_batches(frame):
            save("record_batch_decode", batch)
            (attributes,) = struct.unpack_from(">h", batch, 21)
            codec = attributes & 7
            if codec:
                save("record_batch_compressed", bytes([codec, 0]) + batch[61:])


async def pump(reader, writer, on_frame, on_bytes=None):
    buffer = b""
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            if on_bytes:
                on_bytes(chunk)
            writer.write(chunk)
            await writer.drain()
            buffer += chunk
            while len(buffer) >= 4:
                (size,) = struct.unpack_from(">i", buffer, 0)
                if len(buffer) < 4 + size:
                    break
                on_frame(buffer[4:4 + size])
                buffer = buffer[4 + size:]
    finally:
        writer.close()


async def handle(client_reader, client_writer, broker_port):
    broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", broker_port)
    in_flight = {}
    stream = bytearray()

    def on_request(frame):
        api_key, version, correlation_id = struct.unpack_from(">hhi", frame, 0)
        in_flight[correlation_id] = (api_key, version)

    def on_response(frame):
        (correlation_id,) = struct.unpack_from(">i", frame, 0)
        request = in_flight.pop(correlation_id, None)
        if request:
            save_response(request[0], request[1], frame)

    def on_response_bytes(chunk):
        if len(stream) < 4096:
            stream.extend(chunk[: 4096 - len(stream)])

    await asyncio.gather(
        pump(client_reader, broker_writer, on_request),
        pump(broker_reader, client_writer, on_response, on_response_bytes),
        return_exceptions=True,
    )
    if stream:
        save("frame_decoder", bytes([255, len(stream) % 31]) + bytes(stream))


async def main():
    global seeds_dir
    listen_port, broker_port, seeds_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, broker_port), "127.0.0.1", listen_port
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
