"""A second writer of the native format, sharing no code with keras_gmsa.

Protobuf wire format and TFRecord framing are encoded by hand, so the
readers are tested against bytes that TensorFlow's own writer did not make.
"""

import struct


def _varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, payload):
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def bytes_feature(values):
    return _field(1, b"".join(_field(1, v) for v in values))


def int64_feature(values):
    return _field(3, _field(1, b"".join(_varint(v) for v in values)))


def float_feature(values):
    return _field(2, _field(1, struct.pack(f"<{len(values)}f", *values)))


def _map(entries):
    return b"".join(
        _field(1, _field(1, k.encode()) + _field(2, v))
        for k, v in entries.items()
    )


def sequence_example(context, feature_lists):
    """context: {key: encoded Feature}; feature_lists: {key: [Feature]}."""
    lists = {
        k: b"".join(_field(1, f) for f in v) for k, v in feature_lists.items()
    }
    return _field(1, _map(context)) + _field(2, _map(lists))


def example(features):
    return _field(1, _map(features))


def _crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def _masked(data):
    crc = _crc32c(data)
    return (
        (((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8
    ) & 0xFFFFFFFF


def write_records(path, records):
    with open(path, "wb") as f:
        for r in records:
            length = struct.pack("<Q", len(r))
            f.write(
                length
                + struct.pack("<I", _masked(length))
                + r
                + struct.pack("<I", _masked(r))
            )
