"""`keras-gmsa verify`: check TFRecord files (framing and checksums)."""


def add_parser(sub, parents):
    p = sub.add_parser(
        "verify",
        help="check TFRecord files (framing and CRCs)",
        description="Walks every record of every file of PATTERN and prints "
        "each problem with its file and record; exit status 1 if any.",
    )
    p.add_argument("pattern", help="file pattern (gs:// works)")
    p.add_argument(
        "--fast",
        action="store_true",
        help="check framing only, not payload CRCs",
    )
    p.set_defaults(run=run)
    return p


def run(args):
    from keras_gmsa.data import resolve_files
    from keras_gmsa.data import verify_records

    files = resolve_files(args.pattern)
    problems = verify_records(args.pattern, check_crc=not args.fast)
    for problem in problems:
        print(problem)
    print(f"{len(files)} files checked, {len(problems)} with problems")
    return 1 if problems else 0
