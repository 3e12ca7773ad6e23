"""CRC-32C: google-crc32c's C code and the pure-Python fallback agree, and
`verify` finds the same problems with either (issue 26, item 4)."""

import struct

import numpy as np
import pytest
import tensorflow as tf

from keras_gmsa import cli
from keras_gmsa import data
from keras_gmsa.data import records
from tests.data import independent_writer as iw

# record checks do not depend on the Keras backend: one backend.
pytestmark = pytest.mark.backends("tensorflow")

IMPLEMENTATIONS = {
    "google-crc32c": records._c_crc32c,
    "python": records.python_crc32c,
}

# The check value of CRC-32C, and RFC 3720 (iSCSI) B.4's vectors.
KNOWN = [
    (b"", 0x00000000),
    (b"123456789", 0xE3069283),
    (bytes(32), 0x8A9136AA),
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
]


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def implementation(request, monkeypatch):
    """Selects the CRC-32C code `records` runs (both are real)."""
    monkeypatch.setattr(records, "_crc32c", IMPLEMENTATIONS[request.param])
    assert records.crc32c_implementation() == request.param
    return request.param


def test_google_crc32c_is_the_default():
    # A dependency of the readers' extras: verify runs at GB/s.
    assert records.crc32c_implementation() == "google-crc32c"


@pytest.mark.parametrize("name", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("payload, expected", KNOWN)
def test_known_vectors(name, payload, expected):
    assert IMPLEMENTATIONS[name](payload) == expected


def test_the_two_agree_on_random_payloads():
    rng = np.random.default_rng(0)
    sizes = [0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 1000, 4097, 100_003]
    sizes += list(rng.integers(0, 5000, 20))
    for size in sizes:
        payload = rng.integers(0, 256, int(size), dtype=np.uint8).tobytes()
        assert records.python_crc32c(payload) == records._c_crc32c(payload), (
            size
        )


def test_masked_crcs_are_tensorflows(tmp_path, implementation):
    # The framing TensorFlow's own writer stores, byte for byte.
    path = str(tmp_path / "tf.tfrecord")
    payloads = [b"", b"x", bytes(range(256)) * 40]
    with tf.io.TFRecordWriter(path) as writer:
        for payload in payloads:
            writer.write(payload)
    blob = (tmp_path / "tf.tfrecord").read_bytes()
    at = 0
    for payload in payloads:
        length = blob[at : at + 8]
        assert struct.unpack("<Q", length)[0] == len(payload)
        stored = struct.unpack("<I", blob[at + 8 : at + 12])[0]
        assert stored == records.masked_crc32c(length)
        end = at + 12 + len(payload)
        assert blob[at + 12 : end] == payload
        stored = struct.unpack("<I", blob[end : end + 4])[0]
        assert stored == records.masked_crc32c(payload)
        at = end + 4
    assert at == len(blob)


def _shard(path):
    """Three records; returns the byte offset of each."""
    payloads = [
        iw.sequence_example(
            {"id": iw.bytes_feature([f"v{n}".encode()])},
            {"rgb": [iw.bytes_feature([bytes([n]) * 16])] * 3},
        )
        for n in range(3)
    ]
    iw.write_records(path, payloads)
    offsets, at = [], 0
    for payload in payloads:
        offsets.append(at)
        at += 12 + len(payload) + 4
    return offsets


def _damaged(blob, offsets, case):
    blob = bytearray(blob)
    second = offsets[1]
    if case == "payload":
        blob[second + 12 + 5] ^= 0x10
    elif case == "data_crc":
        blob[offsets[2] - 1] ^= 0x01
    elif case == "length":
        blob[second + 1] ^= 0x01
    elif case == "length_crc":
        blob[second + 9] ^= 0x80
    elif case == "truncated_payload":
        blob = blob[: offsets[2] - 6]
    elif case == "truncated_header":
        blob = blob[: offsets[2] + 5]
    return bytes(blob)


CASES = {
    "intact": None,
    "payload": "record 1 is corrupt (bad data checksum)",
    "data_crc": "record 1 is corrupt (bad data checksum)",
    "length": "record 1 is corrupt (bad length checksum at byte {second})",
    "length_crc": "record 1 is corrupt (bad length checksum at byte {second})",
    "truncated_payload": "record 1 is truncated (needs {length} bytes, file "
    "ends at {size})",
    "truncated_header": "record 2 is truncated (file ends inside its header "
    "at byte {third})",
}


def test_verify_finds_the_same_problems_with_either(tmp_path, implementation):
    clean = tmp_path / "clean.tfrecord"
    offsets = _shard(clean)
    blob = clean.read_bytes()
    for case, expected in CASES.items():
        path = tmp_path / f"{case}.tfrecord"
        damaged = _damaged(blob, offsets, case)
        path.write_bytes(damaged)
        problems = data.verify_records(str(path))
        if expected is None:
            assert problems == [], case
            continue
        expected = expected.format(
            second=offsets[1],
            third=offsets[2],
            length=offsets[2] - offsets[1] - 16,
            size=len(damaged),
        )
        assert problems == [f"{path}: {expected}"], case
    # The framing-only check does not read payloads: a flipped payload
    # byte or data CRC passes it, the rest does not.
    fast = {
        case: data.verify_records(str(tmp_path / f"{case}.tfrecord"), False)
        for case in CASES
    }
    assert [c for c, p in fast.items() if not p] == [
        "intact",
        "payload",
        "data_crc",
    ]


def test_verify_says_when_it_runs_the_fallback(
    tmp_path, capsys, implementation
):
    path = tmp_path / "one.tfrecord"
    _shard(path)
    capsys.readouterr()
    assert cli.main(["verify", str(path)]) == 0
    captured = capsys.readouterr()
    assert "1 files checked, 0 with problems" in captured.out
    said = "google-crc32c is not installed" in captured.err
    assert said == (implementation == "python")
    assert cli.main(["verify", str(path), "--fast"]) == 0
    assert "not installed" not in capsys.readouterr().err
