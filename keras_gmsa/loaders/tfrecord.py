"""TFRecord files without TensorFlow: patterns, framing, CRC, counters.

The framing of a TFRecord file is four fields per record::

    uint64 length (little endian) | uint32 masked crc32c(length)
    | length bytes of data | uint32 masked crc32c(data)

A file is scanned when it is opened (12 bytes read per record, the
payload skipped), as `keras_gmsa.data`'s readers do, so a truncated or
corrupt file is named with its record before any of it is read; each
payload's CRC-32C is checked when it is read (google-crc32c's C code,
GB/s; without its C code, the framing only: `PAYLOAD_CRC`), as
TensorFlow's reader does. Grain's own TFRecord reader
(`grain.experimental.TFRecordIterDataset`) checks no CRC and names no
record, so it is not used. Local files only: a ``scheme://`` pattern is
refused in one line (TensorFlow's filesystems read them).
"""

import glob
import os
import struct
import warnings

with warnings.catch_warnings():
    # Without its C extension google-crc32c warns at import; the loaders
    # then check the framing only (below), and say so in `PAYLOAD_CRC`.
    warnings.simplefilter("ignore", RuntimeWarning)
    import google_crc32c

# Each payload's CRC is checked when google-crc32c has its C code (GB/s);
# its pure-Python fallback (a few MB/s) would cost more than the parsing,
# so then only the framing (the length fields' CRCs) is checked.
PAYLOAD_CRC = google_crc32c.implementation == "c"

_MASK_DELTA = 0xA282EAD8

# What `keras_gmsa.data.ReadStats` counts, in the same order.
REASONS = (
    "truncated_files",
    "missing_id",
    "no_frames",
    "frame_size",
    "length_mismatch",
    "label_range",
    "feature_size",
    "segment_range",
    "feature_type",
)


class RecordFileError(ValueError):
    """A TFRecord file is truncated, corrupt or otherwise unreadable."""


class RecordError(ValueError):
    """A record that the readers cannot use (its file and index named)."""


def masked_crc32c(data):
    """The masked CRC-32C TFRecord framing stores for `data`."""
    crc = google_crc32c.value(bytes(data))
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def resolve_files(pattern):
    """A pattern, a list of patterns or paths -> a sorted list of files.

    Raises:
        FileNotFoundError: when nothing matches, naming the pattern.
        ValueError: for a ``scheme://`` pattern (local files only).
    """
    patterns = [pattern] if isinstance(pattern, (str, bytes)) else pattern
    patterns = [
        p.decode() if isinstance(p, bytes) else os.fspath(p) for p in patterns
    ]
    if not patterns:
        raise FileNotFoundError("No file pattern given.")
    files = []
    for p in patterns:
        if "://" in p:
            raise ValueError(
                f"{p}: the loaders without TensorFlow read local files "
                "only; copy the shards to a local disk, or read them with "
                "loader='tf' (TensorFlow's filesystems)."
            )
        matched = [m for m in glob.glob(p) if os.path.isfile(m)]
        if not matched:
            raise FileNotFoundError(
                f"No file matches {p!r}. Check the path; YouTube-8M shards "
                "are named like train0000.tfrecord (pattern "
                "'.../train*.tfrecord')."
            )
        files.extend(matched)
    return sorted(set(files))


def scan_framing(path):
    """The records of one file, up to its first broken one.

    Returns:
        ``(records, problem)``: a list of ``(payload offset, length)`` of
        the intact records from the start of the file, and None or a
        sentence naming the file and the record of the first problem (the
        sentences of `keras_gmsa.data.records.scan_framing`).
    """
    records = []
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        offset = 0
        while offset < size:
            header = f.read(12)
            count = len(records)
            if len(header) < 12:
                return records, (
                    f"{path}: record {count} is truncated (file "
                    f"ends inside its header at byte {offset})"
                )
            length_bytes = header[:8]
            (length_crc,) = struct.unpack("<I", header[8:])
            if length_crc != masked_crc32c(length_bytes):
                return records, (
                    f"{path}: record {count} is corrupt (bad "
                    f"length checksum at byte {offset})"
                )
            (length,) = struct.unpack("<Q", length_bytes)
            end = offset + 12 + length + 4
            if end > size:
                return records, (
                    f"{path}: record {count} is truncated (needs "
                    f"{length} bytes, file ends at {size})"
                )
            records.append((offset + 12, length))
            f.seek(end)
            offset = end
    return records, None


class Payloads:
    """Reads record payloads by position, checking each one's CRC.

    Keeps one open file per path (`close` closes them).
    """

    def __init__(self):
        self._files = {}

    def read(self, path, index, offset, length):
        """The payload of record `index` of `path`; a `RecordFileError`
        naming both when its data checksum is wrong."""
        fd = self._files.get(path)
        if fd is None:
            fd = self._files[path] = os.open(path, os.O_RDONLY)
        blob = os.pread(fd, length + 4, offset)
        payload = blob[:length]
        if len(blob) != length + 4:
            raise RecordFileError(f"{path}: record {index} is truncated")
        (crc,) = struct.unpack("<I", blob[length:])
        if PAYLOAD_CRC and crc != masked_crc32c(payload):
            raise RecordFileError(
                f"{path}: record {index} is corrupt (bad data checksum)"
            )
        return payload

    def close(self):
        for fd in self._files.values():
            os.close(fd)
        self._files.clear()


class ReadStats:
    """Counts what a loader read and skipped (``on_error="skip"``), by
    reason: `keras_gmsa.data.ReadStats` without TensorFlow.

    Batches made in worker processes carry their counts to the process
    that iterates, which adds them here: the counts are those of the
    batches delivered so far.
    """

    REASONS = REASONS

    def __init__(self):
        self.counts = dict.fromkeys(REASONS, 0)
        self.read = 0

    def add(self, reason, count=1):
        self.counts[reason] += int(count)

    def merge(self, delta):
        """Adds a `delta` dict (reasons and ``"records_read"``)."""
        for key, value in delta.items():
            if key == "records_read":
                self.read += value
            else:
                self.counts[key] += value

    def as_dict(self):
        out = dict(self.counts)
        out["records_read"] = self.read
        out["skipped"] = sum(self.counts.values())
        return out

    def __str__(self):
        d = self.as_dict()
        parts = [f"{k}={v}" for k, v in self.counts.items() if v]
        return f"read {d['records_read']} records, skipped {d['skipped']}" + (
            f" ({', '.join(parts)})" if parts else ""
        )


def write_records(path, payloads):
    """Writes serialized records to a TFRecord file (what
    `tf.io.TFRecordWriter` writes), without TensorFlow."""
    with open(path, "wb") as f:
        for payload in payloads:
            length = struct.pack("<Q", len(payload))
            f.write(length)
            f.write(struct.pack("<I", masked_crc32c(length)))
            f.write(payload)
            f.write(struct.pack("<I", masked_crc32c(payload)))
