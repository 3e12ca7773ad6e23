"""The parser of every command, quiet start-up and one-line errors."""

import argparse
import os
import sys

COMMANDS = (
    "demo",
    "train",
    "evaluate",
    "predict",
    "ensemble_select",
    "tune",
    "inspect",
    "export",
    "preset",
    "synth",
    "verify",
    "models",
)


def build_parser():
    import importlib

    from keras_gmsa.cli import _common

    parser = argparse.ArgumentParser(
        prog="keras-gmsa",
        description="GMSA and friends: video classification on YouTube-8M "
        "features with Keras 3.",
        formatter_class=_common.Formatter,
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an error instead of one line",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=_version(),
        help="print the versions of keras-gmsa and Keras, and exit",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    parents = _common.parents()
    _add_parser = sub.add_parser

    def add_parser(name, **kwargs):
        kwargs.setdefault("formatter_class", _common.Formatter)
        return _add_parser(name, **kwargs)

    sub.add_parser = add_parser
    for name in COMMANDS:
        importlib.import_module(f"keras_gmsa.cli.{name}").add_parser(
            sub, parents
        )
    return parser


def _version():
    """``keras-gmsa X (keras Y)``, without importing Keras."""
    from importlib import metadata

    from keras_gmsa.version import __version__

    try:
        keras_version = metadata.version("keras")
    except metadata.PackageNotFoundError:
        keras_version = "not installed"
    return f"keras-gmsa {__version__} (keras {keras_version})"


def _user_errors():
    from keras_gmsa.cli._common import UserError

    errors = [UserError, ValueError, FileNotFoundError, OSError, ImportError]
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        errors.append(tf.errors.OpError)
    return tuple(errors)


def main(argv=None):
    from keras_gmsa.cli._common import one_line

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "models" and sys.modules.get("tensorflow"):
        # tf.data feeds every backend; a TensorFlow that sees the GPUs
        # would reserve their memory for nothing on JAX and PyTorch.
        # Without TensorFlow, records are read by keras_gmsa.loaders, and
        # what needs TensorFlow says so in one line (an ImportError).
        from keras_gmsa.data import hide_gpus_from_tensorflow

        hide_gpus_from_tensorflow()
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print(f"keras-gmsa {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): stop quietly, and
        # keep Python from complaining again when it flushes at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except _user_errors() as error:
        if args.debug:
            raise
        message = one_line(error)
        if "Data types don't match" in str(error):
            message = _name_wrong_types(args) or message
        print(f"keras-gmsa {args.command}: error: {message}", file=sys.stderr)
        return 2


def _name_wrong_types(args):
    """The record TensorFlow's "Data types don't match" is about: the
    parser does not say; the command's record patterns are searched."""
    from keras_gmsa import data

    patterns = [getattr(args, key, None) for key in ("pattern", "train")]
    patterns.append(getattr(args, "validation", None))
    if getattr(args, "config", None):
        from keras_gmsa import training

        config = training.load_config_file(args.config)
        patterns += [config.get("train"), config.get("validation")]
    for pattern in patterns:
        if not pattern:
            continue
        problems = data.find_wrong_types(pattern)
        if problems:
            return (
                f"{problems[0]} (pass --on-error skip to skip and count "
                "such records)"
            )
    return None
