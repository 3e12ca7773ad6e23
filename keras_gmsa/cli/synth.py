"""`keras-gmsa synth`: synthetic shards in the native YouTube-8M formats."""

import argparse
import math
import os
import zlib

from keras_gmsa import constants
from keras_gmsa.cli._common import UserError
from keras_gmsa.cli._common import parse_features
from keras_gmsa.cli._common import positive_int

# Video ids of each split start here, so that splits never share an id.
SPLIT_START = {"train": 0, "validate": 1_000_000, "test": 2_000_000}

# --full-shape: global labels drawn per video (with the local events of
# half of the videos, 3.0 labels per video, the 2018 release's mean) and
# videos per shard (3.9 million training videos in 3844 shards).
FULL_SHAPE_LABELS = 2.6
FULL_SHAPE_VIDEOS_PER_SHARD = 1000


def _at_least_one(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value >= 1.0:
        raise argparse.ArgumentTypeError(
            f"expected a number >= 1, got {text!r}"
        )
    return value


def add_parser(sub, parents):
    p = sub.add_parser(
        "synth",
        help="write synthetic shards in the native YouTube-8M formats",
        description="Writes frame-level SequenceExamples (uint8 frames), "
        "video-level Examples and/or 2019-style segment-rated records of a "
        "synthetic world with global and local-event classes.",
    )
    p.add_argument("directory", help="where the shards and vocabulary go")
    p.add_argument("--videos", type=positive_int, default=1024, help="videos")
    shards = p.add_mutually_exclusive_group()
    shards.add_argument(
        "--shards", type=positive_int, default=None, help="files (default: 4)"
    )
    shards.add_argument(
        "--videos-per-shard",
        type=positive_int,
        default=None,
        help="at most this many videos per file (the release has about "
        "1,000); the files are as few as that allows",
    )
    p.add_argument(
        "--full-shape",
        action="store_true",
        help="the 2018 release's shape: every video 300 frames of "
        "1024 + 128 bytes, 3862 classes, about 3 labels per video, 1,000 "
        "videos per shard (flags given with it win)",
    )
    p.add_argument(
        "--split", default="train", help="split name, in the file names"
    )
    p.add_argument(
        "--num-classes",
        type=positive_int,
        default=constants.NUM_CLASSES,
        help="vocabulary size",
    )
    p.add_argument(
        "--local-classes",
        type=int,
        default=None,
        help="classes identified only by local temporal events "
        "(default num_classes // 10)",
    )
    p.add_argument(
        "--max-frames",
        type=positive_int,
        default=constants.MAX_FRAMES,
        help="longest video",
    )
    p.add_argument(
        "--min-frames",
        type=positive_int,
        default=None,
        help="shortest video (default: 1; with --full-shape, --max-frames)",
    )
    p.add_argument(
        "--labels-per-video",
        type=_at_least_one,
        default=None,
        help="mean number of long-tailed (global) classes drawn per video; "
        "about half of the videos long enough also get a local event "
        f"(default: 2.0; with --full-shape {FULL_SHAPE_LABELS}, which "
        "gives 3.0 labels per video)",
    )
    p.add_argument(
        "--features",
        type=parse_features,
        default=None,
        metavar="rgb:N,audio:M",
        help="floats per frame of each modality (default rgb:1024,audio:128;"
        " read smaller ones back with the same --features)",
    )
    p.add_argument(
        "--layouts",
        nargs="+",
        default=["frame", "video"],
        choices=["frame", "video", "segment"],
        help="record layouts to write",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="the synthetic world; write every split with the same seed",
    )
    p.add_argument(
        "--start-index",
        type=int,
        default=None,
        help="first video index (default: by split, so ids never repeat)",
    )
    p.set_defaults(run=run)
    return p


def run(args):
    from keras_gmsa.data import synthetic

    # --seed fixes the world (the classes and what identifies them): the
    # splits written with the same --seed share it and differ in videos.
    if args.features is not None and set(args.features) != {"rgb", "audio"}:
        raise UserError(
            "--features must give both rgb and audio (e.g. rgb:16,audio:8), "
            f"got {', '.join(args.features)}"
        )
    full = args.full_shape
    min_frames = args.min_frames or (args.max_frames if full else 1)
    if min_frames > args.max_frames:
        raise UserError(
            f"--min-frames {min_frames} is above --max-frames {args.max_frames}"
        )
    labels = args.labels_per_video or (FULL_SHAPE_LABELS if full else 2.0)
    shards = args.shards or 4
    per_shard = args.videos_per_shard
    if per_shard is None and args.shards is None and full:
        per_shard = FULL_SHAPE_VIDEOS_PER_SHARD
    if per_shard is not None:
        shards = math.ceil(args.videos / per_shard)
    gen = synthetic.SyntheticYT8M(
        num_classes=args.num_classes,
        num_local_classes=args.local_classes,
        max_frames=args.max_frames,
        min_frames=min_frames,
        labels_per_video=labels,
        seed=args.seed,
        feature_sizes=args.features,
    )
    start = args.start_index
    if start is None:
        start = SPLIT_START.get(args.split, 3_000_000)
    paths = synthetic.write_dataset(
        args.directory,
        num_videos=args.videos,
        num_shards=shards,
        split=args.split,
        generator=gen,
        layouts=tuple(args.layouts),
        seed=(args.seed * 1_000_003 + zlib.crc32(args.split.encode())),
        start_index=start,
    )
    for layout, files in paths.items():
        print(f"{layout:<8} {len(files)} shards, e.g. {files[0]}")
    print(f"vocabulary {os.path.join(args.directory, 'vocabulary.csv')}")
