"""The command line answers user errors in one line, exit status 2, and
documents every flag (issue: package structure and the command line)."""

import argparse
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from keras_gmsa import cli
from keras_gmsa.data import synthetic

# the command line's errors do not depend on the Keras backend: one backend.
pytestmark = pytest.mark.backends("torch")

CLASSES = 5
FRAMES = 6


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """A good shard, a shard written with float frames, one with float
    labels in its fourth record, and a saved model."""
    import keras_gmsa

    root = tmp_path_factory.mktemp("shards")
    gen = synthetic.SyntheticYT8M(
        num_classes=CLASSES, max_frames=FRAMES, min_frames=3, seed=0
    )
    good = root / "good.tfrecord"
    floats = root / "float_frames.tfrecord"
    labels = root / "float_labels.tfrecord"
    with (
        tf.io.TFRecordWriter(str(good)) as g,
        tf.io.TFRecordWriter(str(floats)) as f,
        tf.io.TFRecordWriter(str(labels)) as b,
    ):
        for n, (vid, labs, rgb, audio) in enumerate(gen.videos(6)):
            record = synthetic.frame_example(vid, labs, rgb, audio)
            g.write(record)
            example = tf.train.SequenceExample.FromString(record)
            for frame in example.feature_lists.feature_list["rgb"].feature:
                values = list(frame.bytes_list.value[0])
                frame.ClearField("bytes_list")
                frame.float_list.value.extend(float(v) for v in values)
            f.write(example.SerializeToString())
            example = tf.train.SequenceExample.FromString(record)
            if n == 3:
                feature = example.context.feature["labels"]
                values = list(feature.int64_list.value)
                feature.ClearField("int64_list")
                feature.float_list.value.extend(float(v) for v in values)
            b.write(example.SerializeToString())
    model = keras_gmsa.build_model(
        "frame_logistic",
        num_classes=CLASSES,
        max_frames=FRAMES,
        compile=False,
    )
    model.save(root / "model.keras")
    (root / "corrupt.keras").write_bytes(
        (root / "model.keras").read_bytes()[:300]
    )
    return root


def _error(capsys, argv):
    capsys.readouterr()
    code = cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1, err
    return err[0]


def test_a_corrupt_or_missing_model_is_one_line(shards, capsys):
    good = str(shards / "good.tfrecord")
    line = _error(capsys, ["evaluate", str(shards / "corrupt.keras"), good])
    assert "corrupt.keras: not a .keras model file" in line
    line = _error(capsys, ["evaluate", str(shards / "none.keras"), good])
    assert "none.keras: no such file" in line


def test_a_pattern_matching_nothing_is_one_line(shards, capsys):
    model = str(shards / "model.keras")
    line = _error(capsys, ["evaluate", model, str(shards / "nothing*")])
    assert "No file matches" in line and "nothing*" in line


def test_records_of_the_wrong_types_are_named(shards, capsys):
    model = str(shards / "model.keras")
    # A shard with float frames: named when the file is opened.
    floats = str(shards / "float_frames.tfrecord")
    line = _error(capsys, ["evaluate", model, floats])
    assert "float_frames.tfrecord: record 0" in line
    assert "float_list" in line and "not bytes" in line
    # Float labels in the fourth record: named by the diagnosis.
    labels = str(shards / "float_labels.tfrecord")
    line = _error(capsys, ["predict", model, labels])
    assert "float_labels.tfrecord, record 3" in line and "'labels'" in line
    # Or skipped and counted.
    capsys.readouterr()
    assert cli.main(["evaluate", model, labels, "--on-error", "skip"]) == 0
    out = capsys.readouterr().out
    assert "videos      5" in out and "feature_type=1" in out


def test_bad_options_are_one_line(shards, capsys):
    line = _error(
        capsys,
        [
            "train",
            "--run-dir",
            str(shards / "run"),
            "--train",
            str(shards / "good.tfrecord"),
            "--validation",
            str(shards / "good.tfrecord"),
            "--option",
            "num_heads",
        ],
    )
    assert "--option expects KEY=VALUE" in line
    line = _error(
        capsys,
        [
            "evaluate",
            str(shards / "model.keras"),
            str(shards / "good.tfrecord"),
            "--id-split",
            "middle:2",
        ],
    )
    assert "id split" in line


def test_debug_shows_the_traceback(shards):
    with pytest.raises(ValueError, match="not a .keras model file"):
        cli.main(
            [
                "--debug",
                "evaluate",
                str(shards / "corrupt.keras"),
                str(shards / "good.tfrecord"),
            ]
        )


def test_version_names_both_versions(capsys):
    import keras

    import keras_gmsa

    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == (
        f"keras-gmsa {keras_gmsa.__version__} (keras {keras.__version__})"
    )


def test_every_flag_of_every_command_has_help_and_shows_its_default():
    parser = cli.build_parser()
    commands = next(
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    )
    assert set(commands.choices) == {
        "demo",
        "train",
        "evaluate",
        "predict",
        "ensemble-select",
        "tune",
        "inspect",
        "export",
        "preset",
        "synth",
        "verify",
        "models",
    }
    for name, sub in commands.choices.items():
        text = " ".join(sub.format_help().split())
        for action in sub._actions:
            assert action.help, (name, action.dest)
            shown = action.default not in (None, False, argparse.SUPPRESS)
            if shown and action.option_strings:
                default = action.default
                if isinstance(default, list):
                    default = " ".join(map(str, default))
                assert f"(default: {action.default}" in text or (
                    "default:" in action.help
                ), (name, action.dest)
    train = " ".join(commands.choices["train"].format_help().split())
    assert "(default: 10000)" in train  # the paper's validation interval


def _as_the_command(argv, backend="tensorflow"):
    """Runs ``keras-gmsa ARGV`` in a fresh process, as the console script
    does (``sys.argv[0]`` is the command); prints whether TensorFlow was
    imported after the command's own output."""
    code = (
        "import sys; sys.argv = ['keras-gmsa'] + sys.argv[1:]; "
        "from keras_gmsa import cli; code = cli.main(); "
        "print('tensorflow' in sys.modules); sys.exit(code)"
    )
    env = dict(os.environ, KERAS_BACKEND=backend)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )


def test_models_prints_an_aligned_table_without_tensorflow():
    out = _as_the_command(["models"])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "False"  # TensorFlow was not imported
    import keras_gmsa

    rows = [line for line in lines[:-1] if line.strip()]
    names = {row.split()[0] for row in rows}
    assert set(keras_gmsa.list_models()) <= names
    assert set(keras_gmsa.list_presets()) <= names
    # Aligned: every description starts in the same column.
    columns = {len(row) - len(row.split(None, 1)[1]) for row in rows}
    assert len(columns) == 1
    assert out.stderr.strip() == ""


def test_no_start_up_log_lines_on_the_tensorflow_backend(shards):
    out = _as_the_command(["verify", str(shards / "good.tfrecord"), "--fast"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "True"  # TensorFlow was loaded
    assert out.stderr.strip() == "", out.stderr


def test_predict_into_a_closed_pipe_stops_quietly(shards):
    # `keras-gmsa predict ... | head -1`: the reader goes away after one
    # line; the command ends with status 0 and no error line.
    code = (
        "import sys; sys.argv = ['keras-gmsa'] + sys.argv[1:]; "
        "from keras_gmsa import cli; sys.exit(cli.main())"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(__file__))
    argv = [
        "predict",
        str(shards / "model.keras"),
        str(shards / "good.tfrecord"),
    ]
    first = subprocess.Popen(
        [sys.executable, "-c", code, *argv, "--batch-size", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    first.stdout.readline()
    first.stdout.close()  # the reader goes away
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err.decode()
    assert "Broken pipe" not in err.decode() and "error" not in err.decode()
