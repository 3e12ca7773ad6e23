"""`keras-gmsa synth`: synthetic shards in the native YouTube-8M formats."""

import os
import zlib

from keras_gmsa import constants
from keras_gmsa.cli._common import UserError
from keras_gmsa.cli._common import parse_features
from keras_gmsa.cli._common import positive_int

# Video ids of each split start here, so that splits never share an id.
SPLIT_START = {"train": 0, "validate": 1_000_000, "test": 2_000_000}


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
    p.add_argument("--shards", type=positive_int, default=4, help="files")
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
    gen = synthetic.SyntheticYT8M(
        num_classes=args.num_classes,
        num_local_classes=args.local_classes,
        max_frames=args.max_frames,
        seed=args.seed,
        feature_sizes=args.features,
    )
    start = args.start_index
    if start is None:
        start = SPLIT_START.get(args.split, 3_000_000)
    paths = synthetic.write_dataset(
        args.directory,
        num_videos=args.videos,
        num_shards=args.shards,
        split=args.split,
        generator=gen,
        layouts=tuple(args.layouts),
        seed=(args.seed * 1_000_003 + zlib.crc32(args.split.encode())),
        start_index=start,
    )
    for layout, files in paths.items():
        print(f"{layout:<8} {len(files)} shards, e.g. {files[0]}")
    print(f"vocabulary {os.path.join(args.directory, 'vocabulary.csv')}")
