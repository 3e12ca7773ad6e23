"""Progress bars of the long passes: drawn on a real terminal (a pty),
never into pipes or files, and off with --quiet."""

import os
import select
import sys

import pytest

from keras_gmsa import cli
from keras_gmsa import segments
from keras_gmsa.data import synthetic
from keras_gmsa.progress import Progress
from tests import helpers

# progress bars do not depend on the Keras backend: one backend.
pytestmark = pytest.mark.backends("torch")

SIZES = {"rgb": 16, "audio": 8}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("progress")
    gen = synthetic.SyntheticYT8M(
        num_classes=helpers.SMALL_CLASSES,
        num_local_classes=1,
        max_frames=helpers.SMALL_FRAMES,
        min_frames=6,
        feature_sizes=SIZES,
    )
    synthetic.write_dataset(
        root, 24, num_shards=2, generator=gen, layouts=("frame", "segment")
    )
    model = helpers.build_small("frame_logistic", compile=False)
    path = root / "model.keras"
    model.save(path)
    return root, str(path)


class Terminal:
    """A pseudo-terminal: `stream` writes to it, `drawn` reads what was
    drawn since the last call."""

    def __init__(self):
        self.master, slave = os.openpty()
        self.stream = os.fdopen(slave, "w", buffering=1, encoding="utf-8")

    def drawn(self):
        self.stream.flush()
        out = b""
        while select.select([self.master], [], [], 0.2)[0]:
            out += os.read(self.master, 65536)
        return out.decode("utf-8", "replace")

    def close(self):
        self.stream.close()
        os.close(self.master)


@pytest.fixture
def terminal(monkeypatch):
    """Call it in the test body to put standard error on a terminal (in
    the body: pytest's capture resets sys.stderr between phases)."""
    opened = []

    def attach():
        opened.append(Terminal())
        monkeypatch.setattr(sys, "stderr", opened[-1].stream)
        return opened[-1].drawn

    yield attach
    for term in opened:
        term.close()


def test_evaluate_and_predict_draw_progress_on_a_terminal(
    saved, terminal, capsys, tmp_path
):
    root, model = saved
    pattern = str(root / "frame" / "train*.tfrecord")
    terminal = terminal()
    assert cli.main(["evaluate", model, pattern, "--batch-size", "8"]) == 0
    drawn = terminal()
    # Keras' bar: the count of videos (the total is not known ahead), the
    # time and the rate per video.
    assert "24/Unknown" in drawn and "/video" in drawn, drawn
    assert "gap" in capsys.readouterr().out
    # predict writes its predictions to standard output: the bar stays on
    # standard error.
    assert cli.main(["predict", model, pattern, "--format", "kaggle"]) == 0
    assert "24/Unknown" in terminal()
    out = capsys.readouterr().out
    assert out.startswith("VideoId,LabelConfidencePairs\n")
    assert "Unknown" not in out and "\x1b" not in out
    # --quiet: nothing drawn, even on a terminal.
    for command in ("evaluate", "predict"):
        argv = [command, model, pattern, "--quiet"]
        assert (
            cli.main(
                argv
                + ["--output", str(tmp_path / "p")] * (command == "predict")
            )
            == 0
        )
        assert terminal() == "", command


def test_verify_counts_the_files_against_their_total(saved, terminal, capsys):
    root, _ = saved
    pattern = str(root / "frame" / "train*.tfrecord")
    terminal = terminal()
    assert cli.main(["verify", pattern]) == 0
    # The total is known: "2/2" files, and a bar.
    drawn = terminal()
    assert "2/2" in drawn and "━" in drawn, drawn
    assert "2 files checked, 0 with problems" in capsys.readouterr().out
    assert cli.main(["verify", pattern, "--quiet"]) == 0
    assert terminal() == ""


def test_no_progress_into_a_pipe_or_a_file(saved, capsys):
    root, model = saved
    pattern = str(root / "frame" / "train*.tfrecord")
    assert cli.main(["evaluate", model, pattern, "--batch-size", "8"]) == 0
    captured = capsys.readouterr()
    assert "Unknown" not in captured.err + captured.out
    assert "\x1b" not in captured.err + captured.out


def test_segment_scoring_counts_every_segment(saved, terminal):
    root, model_path = saved
    import keras

    model = keras.saving.load_model(model_path)
    pattern = str(root / "segment" / "train*.tfrecord")
    terminal = terminal()
    for scorer in ("windows",):
        progress = Progress(unit_name="segment")
        lists = segments.rank_segments(
            model, pattern, scorer=scorer, batch_size=16, progress=progress
        )
        ranked = lists.ranked()
        assert progress.count == len(ranked[0]) > 24

        assert f"{progress.count}/Unknown" in terminal()
    # Off the terminal (a StringIO), nothing is drawn.
    import io

    quiet = Progress(stream=io.StringIO())
    quiet.add(5)
    quiet.close()
    assert quiet.count == 5 and quiet.stream.getvalue() == ""
