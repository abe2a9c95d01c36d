"""Reads TensorBoard event files apart from pcam: the TFRecord framing and both masked CRC-32Cs of
every record (a bit-at-a-time CRC, not pcam's table), each record parsed as an Event by the class
Debian's protoc compiled from event.proto (its folder on PYTHONPATH). Argument: the files. Prints
{"files": [{"path", "events": [...]}]} as JSON; any framing or checksum error exits non-zero."""
import base64
import json
import struct
import sys

import event_pb2


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(crc):
    rotated = ((crc >> 15) | (crc << 17)) & 0xFFFFFFFF
    return (rotated + 0xA282EAD8) & 0xFFFFFFFF


def records(path):
    with open(path, "rb") as f:
        data = f.read()
    at = 0
    while at < len(data):
        if len(data) - at < 12:
            sys.exit(f"{path}: {len(data) - at} trailing bytes at {at}")
        header = data[at : at + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[at + 8 : at + 12])
        if length_crc != masked(crc32c(header)):
            sys.exit(f"{path}: bad length CRC at {at}")
        body = data[at + 12 : at + 12 + length]
        if len(body) != length or len(data) < at + 16 + length:
            sys.exit(f"{path}: record at {at} is cut short")
        (data_crc,) = struct.unpack("<I", data[at + 12 + length : at + 16 + length])
        if data_crc != masked(crc32c(body)):
            sys.exit(f"{path}: bad data CRC at {at}")
        yield body
        at += 16 + length


def value_json(value):
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return {"tag": value.tag, "simple_value": value.simple_value}
    if kind == "image":
        image = value.image
        return {
            "tag": value.tag,
            "image": {
                "height": image.height,
                "width": image.width,
                "colorspace": image.colorspace,
                "png": base64.b64encode(image.encoded_image_string).decode("ascii"),
            },
        }
    sys.exit(f"unexpected value kind {kind} for {value.tag}")


def event_json(body):
    event = event_pb2.Event()
    event.ParseFromString(body)
    out = {"wall_time": event.wall_time, "step": event.step}
    kind = event.WhichOneof("what")
    if kind == "file_version":
        out["file_version"] = event.file_version
    elif kind == "summary":
        out["values"] = [value_json(v) for v in event.summary.value]
    return out


files = [{"path": p, "events": [event_json(r) for r in records(p)]} for p in sys.argv[1:]]
print(json.dumps({"files": files}))
