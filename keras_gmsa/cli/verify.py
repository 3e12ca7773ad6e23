"""`keras-gmsa verify`: check TFRecord files (framing and checksums)."""

import sys


def add_parser(sub, parents):
    p = sub.add_parser(
        "verify",
        help="check TFRecord files (framing and CRCs)",
        description="Walks every record of every file of PATTERN and prints "
        "each problem with its file and record; exit status 1 if any. "
        "CRC-32C with google-crc32c (GB/s; a pure-Python fallback, a few "
        "MB/s, without it).",
    )
    p.add_argument("pattern", help="file pattern (gs:// works)")
    p.add_argument(
        "--fast",
        action="store_true",
        help="check framing only, not payload CRCs",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar (one is drawn on standard error when it is "
        "a terminal)",
    )
    p.set_defaults(run=run)
    return p


def run(args):
    from keras_gmsa.data import resolve_files
    from keras_gmsa.data import verify_records
    from keras_gmsa.data.records import crc32c_implementation

    files = resolve_files(args.pattern)
    if not args.fast and crc32c_implementation() == "python":
        print(
            "keras-gmsa verify: google-crc32c is not installed: checking "
            "CRCs in pure Python, a few MB/s (pip install google-crc32c)",
            file=sys.stderr,
        )
    from keras_gmsa.progress import Progress

    progress = Progress(
        target=len(files), unit_name="file", enabled=not args.quiet
    )
    problems = verify_records(
        args.pattern, check_crc=not args.fast, progress=progress
    )
    for problem in problems:
        print(problem)
    print(f"{len(files)} files checked, {len(problems)} with problems")
    return 1 if problems else 0
