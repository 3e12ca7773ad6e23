"""`keras-gmsa verify` at the frame-level set's record size: MB/s.

python benchmarks/verify.py                     # 4 shards x 120 videos
python benchmarks/verify.py --shards 2 --videos 60 --name verify_small

Writes ``--shards`` frame-level shards of ``--videos`` videos each under
``benchmarks/.data/verify/`` (once; kept for later runs): full-shape
records, 300 frames of 1024 rgb + 128 audio random bytes per video (about
350 KB a record, as in the 2018 release), written by
`keras_gmsa.data.synthetic.frame_example`. Then times the command in this
process, best of ``--repeats`` passes (the files are in the page cache
after the first, so the figures are the checker's, not the disk's):

- ``verify`` with google-crc32c (the default when it is installed);
- ``verify --fast`` (framing only: 12 bytes read per record);
- ``verify`` with the pure-Python fallback, on the first ``--part-mb`` MB
  of a shard only (it is slow), and google-crc32c on the same part.

Prints a table and writes ``benchmarks/results/<name>.json`` and ``.md``.
"""

import argparse
import contextlib
import io
import json
import os
import platform
import time

import numpy as np

FRAMES = 300
SIZES = {"rgb": 1024, "audio": 128}
# The 2018 frame-level set (yt8m-format.md: ~1.53 TB).
FRAME_LEVEL_TB = 1.53


def write_shards(directory, shards, videos, seed=0):
    """Full-shape frame-level shards of random bytes; returns their paths."""
    import tensorflow as tf

    from keras_gmsa.data import synthetic

    stamp = os.path.join(directory, "stamp.json")
    paths = [
        os.path.join(directory, f"train{s:04d}.tfrecord") for s in range(shards)
    ]
    wanted = {"shards": shards, "videos": videos, "seed": seed}
    if os.path.exists(stamp):
        with open(stamp) as f:
            if json.load(f) == wanted:
                return paths
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    for s, path in enumerate(paths):
        with tf.io.TFRecordWriter(path) as writer:
            for v in range(videos):
                rgb, audio = (
                    rng.integers(0, 256, (FRAMES, size), dtype=np.uint8)
                    for size in SIZES.values()
                )
                labels = rng.choice(3862, 3, replace=False)
                writer.write(
                    synthetic.frame_example(
                        f"v{s:03d}{v:05d}", labels, rgb, audio
                    )
                )
    with open(stamp, "w") as f:
        json.dump(wanted, f)
    return paths


def write_part(source, path, megabytes):
    """The whole records of `source` in its first `megabytes` MB."""
    import struct

    with open(source, "rb") as f, open(path, "wb") as out:
        written = 0
        while written < megabytes * 1e6:
            header = f.read(12)
            if len(header) < 12:
                break
            (length,) = struct.unpack("<Q", header[:8])
            out.write(header + f.read(length + 4))
            written += 12 + length + 4
    return path


def time_verify(argv, repeats):
    """Best wall time of ``keras-gmsa verify ARGV`` in this process."""
    from keras_gmsa import cli

    best = float("inf")
    for _ in range(repeats):
        out = io.StringIO()
        tick = time.perf_counter()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = cli.main(["verify", *argv])
        best = min(best, time.perf_counter() - tick)
        assert code == 0, out.getvalue()
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--videos", type=int, default=120)
    parser.add_argument("--part-mb", type=float, default=16.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", default="verify")
    args = parser.parse_args()

    from keras_gmsa.data import records

    directory = os.path.join("benchmarks", ".data", "verify")
    paths = write_shards(directory, args.shards, args.videos)
    pattern = os.path.join(directory, "train*.tfrecord")
    part = write_part(
        paths[0], os.path.join(directory, "part.tfrecord"), args.part_mb
    )
    total = sum(os.path.getsize(p) for p in paths) / 1e6
    part_mb = os.path.getsize(part) / 1e6
    assert records.crc32c_implementation() == "google-crc32c", (
        "pip install google-crc32c"
    )
    rows = []

    def row(what, data, megabytes, seconds):
        rows.append(
            {
                "verify": what,
                "data": data,
                "mb": round(megabytes, 1),
                "seconds": round(seconds, 3),
                "mb_per_s": round(megabytes / seconds, 1),
            }
        )

    row(
        "CRCs, google-crc32c",
        f"{len(paths)} shards",
        total,
        time_verify([pattern], args.repeats),
    )
    row(
        "--fast (framing only)",
        f"{len(paths)} shards",
        total,
        time_verify([pattern, "--fast"], args.repeats),
    )
    row(
        "CRCs, google-crc32c",
        "part of a shard",
        part_mb,
        time_verify([part], args.repeats),
    )
    chosen = records._crc32c
    records._crc32c = records.python_crc32c
    try:
        row(
            "CRCs, pure-Python fallback",
            "part of a shard",
            part_mb,
            time_verify([part], 1),
        )
    finally:
        records._crc32c = chosen
    fallback = rows[-1]["mb_per_s"]
    for r in rows:
        r["x_fallback"] = round(r["mb_per_s"] / fallback, 1)
        r["frame_level_set_hours"] = round(
            FRAME_LEVEL_TB * 1e6 / r["mb_per_s"] / 3600, 1
        )
    keys = ["verify", "data", "mb", "seconds", "mb_per_s", "x_fallback"]
    keys.append("frame_level_set_hours")
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    print("\n".join(lines))
    machine = f"{platform.processor() or platform.machine()}, "
    machine += f"{os.cpu_count()} cores"
    print(f"({machine}; best of {args.repeats} passes, files in page cache)")
    os.makedirs("benchmarks/results", exist_ok=True)
    with open(f"benchmarks/results/{args.name}.json", "w") as f:
        json.dump({"machine": machine, "rows": rows}, f, indent=1)
    with open(f"benchmarks/results/{args.name}.md", "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
