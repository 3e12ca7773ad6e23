"""TFRecord file handling: patterns, framing checks and error bookkeeping.

(About 500 lines: the framing walk, the CRC check and the error
bookkeeping are one reader of the TFRecord format, kept together.)

A TFRecord file is a sequence of records, each framed as::

    uint64 length (little endian) | uint32 masked crc32c(length)
    | length bytes of data | uint32 masked crc32c(data)

TensorFlow's reader reports a truncated or corrupt file without naming it,
so the readers walk the framing of each file once when they open it (12
bytes read per record, the payload is skipped) and report problems with the
file name and record index. `verify_records` also checks every payload's
CRC-32C, with google-crc32c's C code when it is installed (GB/s) and a
pure-Python table otherwise (a few MB/s).
"""

import struct

import tensorflow as tf

try:
    import google_crc32c
except ImportError:  # pragma: no cover - an optional speed-up
    google_crc32c = None

_MASK_DELTA = 0xA282EAD8


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def python_crc32c(data):
    """CRC-32C (Castagnoli) of `data` in pure Python (the fallback)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _c_crc32c(data):
    return google_crc32c.value(bytes(data))


# What `crc32c` runs: google-crc32c's C code when it is installed with it
# (its own fallback is pure Python too), else the table above.
if google_crc32c is not None and google_crc32c.implementation == "c":
    _crc32c = _c_crc32c
else:  # pragma: no cover - depends on the installation
    _crc32c = python_crc32c


def crc32c_implementation():
    """``"google-crc32c"`` (C, GB/s) or ``"python"`` (the fallback, a few
    MB/s): what `crc32c` and `verify_records` use."""
    return "python" if _crc32c is python_crc32c else "google-crc32c"


def crc32c(data):
    """CRC-32C (Castagnoli) of `data`, as TFRecord framing uses it.

    Args:
        data: bytes.

    Returns:
        The checksum, an int below 2**32.
    """
    return _crc32c(data)


def masked_crc32c(data):
    """The masked CRC-32C TFRecord framing stores for `data`."""
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


class RecordFileError(ValueError):
    """A TFRecord file is truncated, corrupt or otherwise unreadable."""


def resolve_files(pattern):
    """Expands a pattern, a list of patterns or paths into a sorted file list.

    Works for any filesystem `tf.io.gfile` reads (local, ``gs://``, ...).

    Raises:
        FileNotFoundError: when nothing matches, naming the pattern(s).
    """
    patterns = [pattern] if isinstance(pattern, (str, bytes)) else pattern
    patterns = [
        p.decode() if isinstance(p, bytes) else str(p) for p in patterns
    ]
    if not patterns:
        raise FileNotFoundError("No file pattern given.")
    files = []
    for p in patterns:
        matched = tf.io.gfile.glob(p)
        if not matched:
            raise FileNotFoundError(
                f"No file matches {p!r}. Check the path; YouTube-8M shards "
                "are named like train0000.tfrecord (pattern "
                "'.../train*.tfrecord')."
            )
        files.extend(matched)
    return sorted(set(files))


def scan_framing(path, check_crc=False):
    """Walks the record framing of one file.

    Args:
        path: file path (any `tf.io.gfile` filesystem).
        check_crc: also read every payload and check its CRC (reads the
            whole file, through GFile's buffered reads of 512 KiB); by
            default only the length fields are checked (12 bytes read per
            record, the payload is skipped).

    Returns:
        ``(complete_records, problem)``: the number of intact records from
        the start of the file, and None or a sentence describing the first
        problem (naming the file and the record index).
    """
    count = 0
    with tf.io.gfile.GFile(path, "rb") as f:
        size = f.size()
        offset = 0
        while offset < size:
            header = f.read(12)
            if len(header) < 12:
                return count, (
                    f"{path}: record {count} is truncated (file "
                    f"ends inside its header at byte {offset})"
                )
            length_bytes, length_crc = header[:8], header[8:]
            if struct.unpack("<I", length_crc)[0] != masked_crc32c(
                length_bytes
            ):
                return count, (
                    f"{path}: record {count} is corrupt (bad "
                    f"length checksum at byte {offset})"
                )
            (length,) = struct.unpack("<Q", length_bytes)
            end = offset + 12 + length + 4
            if end > size:
                return count, (
                    f"{path}: record {count} is truncated (needs "
                    f"{length} bytes, file ends at {size})"
                )
            if check_crc:
                payload = f.read(length)
                (data_crc,) = struct.unpack("<I", f.read(4))
                if data_crc != masked_crc32c(payload):
                    return count, (
                        f"{path}: record {count} is corrupt (bad data checksum)"
                    )
            else:
                f.seek(end)
            offset = end
            count += 1
    return count, None


def verify_records(pattern, check_crc=True, progress=None):
    """Checks every file of `pattern`; returns a list of problem sentences.

    An empty list means every record of every file is intact. `progress`
    (a `keras_gmsa.progress.Progress` whose target is the number of
    files) counts the files checked.
    """
    problems = []
    for path in resolve_files(pattern):
        _, problem = scan_framing(path, check_crc=check_crc)
        if problem:
            problems.append(problem)
        if progress is not None:
            progress.add(1)
    if progress is not None:
        progress.close()
    return problems


class ReadStats:
    """Counts what a reader skipped (``on_error="skip"``), by reason.

    The counters are TensorFlow variables updated inside the tf.data
    pipeline; read them after (or during) iteration with `as_dict()` or
    `str()`.
    """

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

    def __init__(self):
        self._vars = {
            r: tf.Variable(
                0, dtype=tf.int64, trainable=False, name=f"skipped_{r}"
            )
            for r in self.REASONS
        }
        self.read = tf.Variable(
            0, dtype=tf.int64, trainable=False, name="records_read"
        )

    def add(self, reason, count):
        return self._vars[reason].assign_add(tf.cast(count, tf.int64))

    def as_dict(self):
        out = {r: int(v.numpy()) for r, v in self._vars.items()}
        out["records_read"] = int(self.read.numpy())
        out["skipped"] = sum(out[r] for r in self.REASONS)
        return out

    def __str__(self):
        d = self.as_dict()
        parts = [
            f"{k}={v}"
            for k, v in d.items()
            if v and k not in ("records_read", "skipped")
        ]
        return f"read {d['records_read']} records, skipped {d['skipped']}" + (
            f" ({', '.join(parts)})" if parts else ""
        )


# What a record whose features have the wrong proto type is told.
WRONG_TYPE = (
    "keras_gmsa: a feature of the record has the wrong type (frames must "
    "be bytes, one string per frame; labels int64; video-level features "
    "floats): written by another tool?"
)


def _typed_records(path, records, count, probe, on_error, stats):
    """Drops (and names, or counts) the records `probe` cannot parse.

    `probe` parses one record with the reader's feature types; a record
    whose features have another type (floats where bytes are expected,
    floats for labels) makes it fail. Those records are dropped, and the
    gap they leave in the record indices names them: the first one in an
    error (``on_error="raise"``), all of them in ``stats.feature_type``.
    """
    typed = records.map(lambda i, r: (i, r, probe(r))).ignore_errors()
    # A sentinel past the last record finds dropped records at the end.
    end = tf.data.Dataset.from_tensors(
        (count, tf.constant(b""), tf.constant(0, tf.int64))
    )

    def gap(expected, element):
        index, record, _ = element
        return index + 1, (index, record, index - expected)

    def check(index, record, missing):
        if on_error == "raise":
            first = tf.strings.as_string(index - missing)
            op = tf.debugging.Assert(
                tf.equal(missing, 0),
                [
                    tf.strings.join(
                        [WRONG_TYPE, " (file ", path, ", record ", first, ")"]
                    )
                ],
            )
        else:
            op = tf.group(
                stats.add("feature_type", missing),
                stats.read.assign_add(missing),
            )
        with tf.control_dependencies([op]):
            return tf.identity(index), record

    return (
        typed.concatenate(end)
        .scan(tf.constant(0, tf.int64), gap)
        .map(check)
        .filter(lambda index, record: index < count)
    )


# The proto kind every reader expects of a key (yt8m-format.md 3-5).
_KINDS = {
    "id": "bytes_list",
    "labels": "int64_list",
    "segment_start_times": "int64_list",
    "segment_end_times": "int64_list",
    "segment_labels": "int64_list",
    "segment_scores": "float_list",
}


def _kind(feature):
    return feature.WhichOneof("kind")


def wrong_type(payload):
    """What is wrong with the feature types of one serialized record, or
    None: frames must be bytes (one string per frame), labels int64,
    video-level features floats. Python (protobuf): for diagnosis only."""
    sequence = tf.train.SequenceExample.FromString(payload)
    lists = sequence.feature_lists.feature_list
    context = sequence.context.feature
    if not lists:
        # A video-level tf.train.Example parses as a SequenceExample with
        # its features as the context.
        example = tf.train.Example.FromString(payload)
        context = example.features.feature
    for key, feature in context.items():
        expected = _KINDS.get(key, None if lists else "float_list")
        found = _kind(feature)
        if expected and found and found != expected:
            return f"feature {key!r} is a {found}, not a {expected}"
    for key, feature_list in lists.items():
        for frame in feature_list.feature:
            found = _kind(frame)
            if found and found != "bytes_list":
                return (
                    f"frames of {key!r} are {found}s, not bytes (one "
                    "uint8 string per frame)"
                )
    return None


def find_wrong_types(pattern, limit=1):
    """Records of `pattern` whose features have the wrong types.

    Reads every record in Python: a diagnosis for when TensorFlow's parser
    reports "Data types don't match" without naming the record.

    Returns:
        Up to `limit` sentences naming the file and the record.
    """
    problems = []
    for path in resolve_files(pattern):
        for index, record in enumerate(tf.data.TFRecordDataset(path)):
            problem = wrong_type(record.numpy())
            if problem:
                problems.append(f"{path}, record {index}: {problem}")
                if len(problems) >= limit:
                    return problems
    return problems


def _first_record(path, size):
    """The payload of record 0 of a file whose framing is intact."""
    with tf.io.gfile.GFile(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12:
            return None
        (length,) = struct.unpack("<Q", header[:8])
        if 12 + length + 4 > size:
            return None
        return f.read(length)


def record_stream(
    files,
    on_error,
    stats,
    shuffle_files,
    seed,
    cycle_length,
    deterministic,
    probe=None,
    repeat=False,
):
    """(file, index, serialized) triples, interleaved across shards.

    ``repeat`` (True: endlessly, or a number of passes) reads the files
    again, in a new order each pass when shuffling. With a ``seed`` the
    order of pass ``p`` is a stateless permutation of ``(seed, p)``, so
    every read of the dataset (every ``iter``, every run) gives the same
    sequence; without one, a new order each time.

    Each file's framing is checked when it is opened: a truncated file
    raises `RecordFileError` naming file and record (``on_error="raise"``),
    or its intact records are read and the file is counted in `stats`.
    Records whose features have other types than the readers expect
    (floats where bytes are, float labels): with ``on_error="raise"`` the
    first record of each file is checked when it is opened and a wrong one
    names its file (a later one fails TensorFlow's parser, and
    `find_wrong_types` names it); with ``on_error="skip"`` and `probe` (a
    function of one serialized record that parses it with the reader's
    types) every record is probed, and those that fail are skipped and
    counted (`_typed_records`; it costs about a third of the reading rate).
    """

    def check(path):
        path = path.numpy().decode()
        count, problem = scan_framing(path)
        if problem and on_error == "raise":
            raise RecordFileError(
                f"{problem}. Re-download the shard, or pass "
                "on_error='skip' to read its intact records and count it."
            )
        if count and on_error == "raise":
            # A shard written with other feature types (floats for frames
            # or labels) is named here; TensorFlow's parser would not.
            size = tf.io.gfile.GFile(path, "rb").size()
            payload = _first_record(path, size)
            wrong = payload is not None and wrong_type(payload)
            if wrong:
                raise RecordFileError(
                    f"{path}: record 0 has features of the wrong type "
                    f"({wrong}). Pass on_error='skip' to skip and count "
                    "such records."
                )
        return count, problem is not None

    def open_file(path):
        count, broken = tf.py_function(check, [path], [tf.int64, tf.bool])
        if stats is not None:
            with tf.control_dependencies(
                [stats.add("truncated_files", tf.cast(broken, tf.int64))]
            ):
                count = tf.identity(count)
        records = tf.data.TFRecordDataset(path).take(count).enumerate()
        if probe is not None and on_error == "skip":
            records = _typed_records(
                path, records, count, probe, on_error, stats
            )
        return records.map(lambda i, r: (path, i, r), num_parallel_calls=None)

    dataset = file_order(files, shuffle_files, seed, repeat)
    return dataset.interleave(
        open_file,
        cycle_length=min(cycle_length, len(files)),
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic,
    )


def file_order(files, shuffle, seed, repeat=False):
    """The files of every pass, as a dataset of paths (see
    `record_stream`)."""
    paths = tf.constant(list(files))
    if repeat is True:
        passes = tf.data.Dataset.range(2**62)
    else:
        passes = tf.data.Dataset.range(int(repeat or 1))
    if not shuffle:
        return passes.flat_map(
            lambda _: tf.data.Dataset.from_tensor_slices(paths)
        )
    if seed is None:
        # No seed: a new order each pass and each read.
        return passes.flat_map(
            lambda _: tf.data.Dataset.from_tensor_slices(paths).shuffle(
                len(files), reshuffle_each_iteration=True
            )
        )

    def permuted(p):
        key = tf.stack([tf.constant(seed, tf.int64), p])
        return tf.data.Dataset.from_tensor_slices(
            tf.random.experimental.stateless_shuffle(paths, seed=key)
        )

    return passes.flat_map(permuted)


def check_segment_rated(pattern):
    """Raises unless the first record of `pattern` is segment-rated.

    The 2019 segment-rated records carry ``segment_start_times`` (and the
    labels and scores of their rated segments); frame-level records of the
    2018 release do not, and training on their (absent) ratings would
    read nothing forever.
    """
    for path in resolve_files(pattern):
        size = tf.io.gfile.GFile(path, "rb").size()
        payload = _first_record(path, size)
        if payload is None:
            continue
        example = tf.train.SequenceExample.FromString(payload)
        if "segment_start_times" not in example.context.feature:
            raise RecordFileError(
                f"{path}: record 0 has no segment_start_times: --segments "
                "trains on 2019 segment-rated records (the validate "
                "records of partition 3/, or `keras-gmsa synth --layouts "
                "segment`), not on frame-level records."
            )
        return
