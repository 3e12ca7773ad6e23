"""Every flag of every command has a test that asserts its effect.

`EFFECTS` maps each command-line argument (walked from the parser, so a
new flag without an entry fails `test_every_flag_has_a_test_of_its_effect`)
to the tests that show what it does. Most live here; flags whose effect
another file already checks point there.
"""

import argparse
import contextlib
import csv
import importlib
import io
import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gmsa
from keras_gmsa import analysis
from keras_gmsa import cli
from keras_gmsa import data
from keras_gmsa import metrics
from keras_gmsa import training
from keras_gmsa.cli import train as train_cli
from keras_gmsa.cli._main import build_parser
from keras_gmsa.data import synthetic
from tests import helpers

# what a flag changes does not depend on the Keras backend (the models run on
# every backend in tests/models): one backend.
pytestmark = pytest.mark.backends("torch")

CLASSES = 6
FRAMES = 10
SIZES = {"rgb": 16, "audio": 8}
FEATURES = "rgb:16,audio:8"
HERE = "tests/test_cli_flags.py::"


def _here(*names):
    return [HERE + n for n in names]


TRAIN_RUN = _here("test_one_train_run_takes_every_flag_it_is_given")
TRAIN_KEYS = _here("test_each_train_flag_sets_its_config_key")
SCHEDULE = "tests/test_schedule.py::" + (
    "test_a_run_that_cannot_improve_stops_and_drops_its_learning_rate"
)
PROTOCOLS = "tests/test_protocols.py::"
ID_SPLITS = PROTOCOLS + (
    "test_train_validates_on_the_holdout_and_evaluate_reads_the_rest"
)
EVALUATE = _here("test_evaluate_flags")
PREDICT = _here("test_predict_flags")
TUNE = _here("test_tune_flags_shape_the_search")
INSPECT = "tests/test_analysis.py::test_inspect_command_writes_the_figures"
SYNTH = _here("test_synth_flags")
SEGMENTS = "tests/test_segments.py::"
EXPORT = "tests/test_export.py::"
PRESETS = "tests/models/test_preset_io.py::"

EFFECTS = {
    "--debug": ["tests/test_cli_errors.py::test_debug_shows_the_traceback"],
    "--version": ["tests/test_cli_errors.py::test_version_names_both_versions"],
    # demo
    **{
        f"demo {flag}": _here("test_demo_flags")
        for flag in (
            "--cache-dir",
            "--output-dir",
            "--epochs",
            "--train-videos",
            "--test-videos",
            "--seed",
            "--quiet",
            "--models",
        )
    },
    # train
    "train --run-dir": TRAIN_RUN,
    "train --config": TRAIN_RUN
    + [
        "tests/test_train.py::"
        "test_config_file_flags_mixed_precision_and_stored_config"
    ],
    "train --overwrite": _here("test_train_overwrite_and_seed"),
    "train --seed": TRAIN_KEYS + _here("test_train_overwrite_and_seed"),
    "train --no-tensorboard": _here("test_train_overwrite_and_seed"),
    "train --verbose": TRAIN_RUN,
    "verify --quiet": [
        "tests/test_progress.py::"
        "test_verify_counts_the_files_against_their_total"
    ],
    "tune --verbose": TUNE,
    **{
        f"{command} --quiet": [
            "tests/test_progress.py::"
            "test_evaluate_and_predict_draw_progress_on_a_terminal"
        ]
        for command in ("evaluate", "predict")
    },
    "train --option": TRAIN_RUN,
    **{
        f"train --{key.replace('_', '-')}": TRAIN_KEYS + TRAIN_RUN
        for key in (
            "train",
            "validation",
            "model",
            "mask",
            "W",
            "L",
            "features",
            "num_classes",
            "max_frames",
            "learning_rate",
            "steps_per_validation",
            "max_validations",
            "validation_batch_size",
            "validation_steps",
            "on_error",
        )
    },
    "train --batch-size": TRAIN_KEYS + _here("test_train_input_follows_flags"),
    "train --shuffle-buffer": TRAIN_KEYS
    + _here("test_train_input_follows_flags"),
    "train --train-id-split": TRAIN_KEYS + [ID_SPLITS],
    "train --validation-id-split": TRAIN_KEYS + [ID_SPLITS],
    "train --patience": TRAIN_KEYS + [SCHEDULE],
    "train --lr-patience": TRAIN_KEYS + [SCHEDULE],
    "train --lr-factor": TRAIN_KEYS + [SCHEDULE],
    "train --plateau": TRAIN_KEYS
    + [
        "tests/test_schedule.py::"
        "test_train_plateau_pytorch_drops_one_interval_later"
    ],
    "train --schedule": TRAIN_KEYS
    + [PROTOCOLS + "test_train_with_the_decay_schedule"],
    "train --lr-decay": TRAIN_KEYS
    + [PROTOCOLS + "test_train_with_the_decay_schedule"],
    "train --lr-decay-examples": TRAIN_KEYS
    + [PROTOCOLS + "test_train_with_the_decay_schedule"],
    "train --mixed-precision": TRAIN_KEYS
    + [
        "tests/test_train.py::"
        "test_config_file_flags_mixed_precision_and_stored_config"
    ],
    "train --distribute": [
        "tests/test_train.py::test_sigkill_then_the_same_command_resumes",
        "tests/test_multihost.py::"
        "test_two_hosts_train_resume_after_sigkill_and_finish",
    ],
    "train --cpu-devices": [
        "tests/test_train.py::test_sigkill_then_the_same_command_resumes"
    ],
    # evaluate and predict
    "evaluate <model>": EVALUATE + [PRESETS + "test_commands_take_a_preset"],
    "evaluate <pattern>": EVALUATE,
    "evaluate --batch-size": EVALUATE,
    "evaluate --on-error=raise": EVALUATE,
    "evaluate --on-error=skip": EVALUATE,
    "evaluate --top-k": EVALUATE,
    "evaluate --json": EVALUATE,
    "evaluate --id-split": [ID_SPLITS],
    "predict <model>": PREDICT + [PRESETS + "test_commands_take_a_preset"],
    "predict <pattern>": PREDICT,
    "predict --batch-size": PREDICT,
    "predict --on-error=raise": PREDICT,
    "predict --on-error=skip": PREDICT,
    "predict --id-split": PREDICT,
    # What reads the records (keras_gmsa.loaders): every loader gives the
    # same output, --segments too; without TensorFlow, train takes the
    # backend's.
    **{
        f"{command} {flag}": [
            "tests/loaders/test_commands.py::"
            "test_every_loader_gives_the_same_output",
            "tests/loaders/test_commands.py::"
            "test_every_loader_gives_the_same_segment_output",
        ]
        for command in ("evaluate", "predict")
        for flag in (
            "--loader=auto",
            "--loader=tf",
            "--loader=grain",
            "--loader=torch",
            "--loader-workers",
        )
    },
    **{
        f"train {flag}": TRAIN_KEYS
        + [
            "tests/loaders/test_commands.py::"
            "test_train_evaluate_and_predict_without_tensorflow"
        ]
        for flag in ("--loader", "--loader-workers")
    },
    "predict --top-k": PREDICT,
    "predict --format=kaggle": PREDICT,
    "predict --format=jsonl": PREDICT,
    "predict --vocabulary": [
        "tests/test_cli.py::test_predict_writes_kaggle_csv_and_named_json_lines",
        PRESETS + "test_commands_take_a_preset",
    ],
    "predict --output": PREDICT,
    # ensemble-select
    **{
        f"ensemble-select {flag}": _here("test_ensemble_select_flags")
        for flag in (
            "<models>",
            "--validation",
            "--beam-width",
            "--size",
            "--combine=logits",
            "--combine=probabilities",
            "--top-k",
            "--json",
            "--batch-size",
            "--on-error=raise",
            "--on-error=skip",
            "--id-split",
        )
    },
    # tune
    **{
        f"tune {flag}": TUNE
        for flag in (
            "--num-classes",
            "--max-frames",
            "--features",
            "--option",
            "--directory",
            "--project",
            "--train",
            "--validation",
            "--tuner=bayesian",
            "--max-trials",
            "--epochs",
            "--steps-per-epoch",
            "--batch-size",
            "--validation-batch-size",
            "--validation-steps",
            "--patience",
            "--combinations",
            "--masks",
            "--w-values",
            "--learning-rate",
            "--seed",
            "--num-best",
            "--overwrite",
        )
    },
    "tune --tuner=random": [
        "tests/test_tuning.py::"
        "test_two_trial_search_resumes_and_writes_its_summary"
    ],
    "tune --tuner=hyperband": _here("test_tune_hyperband_runs_its_brackets"),
    "tune --l-values": [
        "tests/test_tuning.py::"
        "test_two_trial_search_resumes_and_writes_its_summary"
    ],
    # inspect
    "inspect <kind>=similarity": _here("test_inspect_similarity"),
    "inspect <kind>=profiles": [INSPECT],
    "inspect <kind>=sensitivity": _here("test_inspect_sensitivity"),
    "inspect <kind>=clusters": _here("test_inspect_clusters"),
    "inspect <model>": _here("test_inspect_similarity"),
    "inspect <pattern>": _here("test_inspect_similarity"),
    "inspect --video": _here("test_inspect_similarity"),
    "inspect --modality": _here("test_inspect_similarity"),
    "inspect --heads": _here("test_inspect_similarity"),
    "inspect --baseline": [INSPECT],
    "inspect --vocabulary": _here("test_inspect_profiles_names_labels"),
    "inspect --compare": _here("test_inspect_sensitivity"),
    "inspect --videos": _here("test_inspect_sensitivity"),
    "inspect --neighbourhood": _here("test_inspect_sensitivity"),
    "inspect --probes": _here("test_inspect_sensitivity"),
    "inspect --out": _here("test_inspect_similarity"),
    # export, synth, verify, models
    "export <model>": [
        EXPORT + "test_export_serves_uint8_frames",
        PRESETS + "test_export_takes_a_preset",
    ],
    **{
        f"export {flag}": [EXPORT + "test_export_serves_uint8_frames"]
        for flag in ("<path>", "--format=saved_model", "--signature=keras")
    },
    **{
        f"export --format={fmt}": [
            EXPORT + "test_export_format_from_the_command_line",
            EXPORT + "test_refusals_say_why_in_one_line",
        ]
        for fmt in ("onnx", "litert")
    },
    "export --signature=starter": [
        EXPORT + "test_starter_signature_serves_serialized_records"
    ],
    "export --signature=mediapipe": [
        EXPORT + "test_mediapipe_signature_serves_dequantized_frames"
    ],
    **{
        f"synth {flag}": SYNTH
        for flag in (
            "<directory>",
            "--videos",
            "--shards",
            "--split",
            "--num-classes",
            "--local-classes",
            "--max-frames",
            "--features",
            "--layouts",
            "--seed",
            "--start-index",
        )
    },
    **{
        f"synth {flag}": _here("test_synth_shape_flags")
        for flag in (
            "--videos-per-shard",
            "--min-frames",
            "--labels-per-video",
        )
    },
    "synth --full-shape": _here("test_synth_full_shape"),
    "verify <pattern>": _here("test_verify_fast_checks_framing_only"),
    "verify --fast": _here("test_verify_fast_checks_framing_only"),
    # the 2019 segment task
    "train --segments": [
        SEGMENTS + "test_fine_tuning_on_segments_starts_"
        "from_the_model_and_beats_it"
    ],
    "train --init-from": TRAIN_KEYS
    + [
        SEGMENTS
        + "test_fine_tuning_on_segments_starts_from_the_model_and_beats_it",
        PRESETS + "test_train_init_from_a_preset_starts_from_its_weights",
    ],
    # presets
    **{
        f"preset save {flag}": [PRESETS + "test_preset_save_flags"]
        for flag in (
            "<source>",
            "<directory>",
            "--vocabulary",
            "--description",
            "--overwrite",
        )
    },
    **{
        f"{command} {flag}": [
            SEGMENTS + "test_evaluate_and_predict_segments",
            SEGMENTS + "test_evaluate_equals_predicts_submission_scored_"
            "officially",
        ]
        for command in ("evaluate", "predict")
        for flag in ("--segments", "--scorer=windows", "--scorer=pooled")
    },
    **{
        f"{command} --ranking={ranking}": [
            SEGMENTS + "test_evaluate_equals_predicts_submission_scored_"
            "officially",
            "tests/test_segment_metrics.py::test_the_starters_lists_by_hand",
        ]
        for command in ("evaluate", "predict")
        for ranking in ("exact", "starter")
    },
    "predict --segment-classes": [
        SEGMENTS + "test_evaluate_and_predict_segments",
        SEGMENTS + "test_evaluate_equals_predicts_submission_scored_officially",
    ],
    "evaluate --segment-classes": [
        SEGMENTS + "test_evaluate_equals_predicts_submission_scored_officially"
    ],
    "models": [
        "tests/test_cli_errors.py::"
        "test_models_prints_an_aligned_table_without_tensorflow"
    ],
}


def _arguments(parser, prefix=()):
    """``"command --flag"`` for every argument a user can type; a choice
    of a single-valued argument is its own entry (``--format=kaggle``)."""
    found = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.add(name) if not _arguments(sub) else None
                found |= _arguments(sub, (*prefix, name))
            continue
        if isinstance(action, argparse._HelpAction):
            continue
        name = action.option_strings[-1] if action.option_strings else None
        name = name or f"<{action.dest}>"
        key = " ".join((*prefix, name))
        if action.choices and action.nargs is None:
            found |= {f"{key}={choice}" for choice in action.choices}
        else:
            found.add(key)
    return found


def test_every_flag_has_a_test_of_its_effect():
    assert _arguments(build_parser()) == set(EFFECTS)
    for nodes in EFFECTS.values():
        assert nodes
        for node in nodes:
            path, _, name = node.partition("::")
            module = importlib.import_module(
                path.removesuffix(".py").replace("/", ".")
            )
            assert callable(getattr(module, name, None)), node


def test_the_demo_rows_are_the_demos():
    from keras_gmsa import demo
    from keras_gmsa.cli import demo as demo_cli

    assert list(demo_cli.ROWS) == [row for row, _, _ in demo.MODELS]


def test_the_demo_names_the_papers_configuration_next_to_its_numbers():
    # The demo trains its local-attention models with TP2; the numbers it
    # prints next to them are Table 1's columns of other masks (GateAtt:
    # TD80^5), and each row says which.
    from keras_gmsa import demo
    from keras_gmsa.models import presets

    columns = {
        "shareatt": ("ShareAtt TP10/30/60/80", "shareatt_tp"),
        "gateatt": ("GateAtt TD80^5", "gateatt_td80_5"),
        "gateop": ("GateOp TP30", "gateop_tp30"),
    }
    assert demo.paper_row("baseline")["model"] == "Baseline"
    for name, (label, preset) in columns.items():
        paper = demo.paper_row(name)
        assert paper["model"] == label
        scores = f"{paper['gap']:.2f} / {paper['map']:.2f}"
        assert scores in presets.PRESETS[preset].description, name
    row = dict(
        label="gateatt TP2",
        gap=0.5,
        map=0.5,
        perr=0.5,
        hit_at_one=0.5,
        local_gap=0.5,
        seconds_per_epoch=1.0,
        weights_mb=1.0,
        paper=demo.paper_row("gateatt"),
    )
    line = demo._table([row]).splitlines()[-1]
    assert line.startswith("| gateatt TP2 |")
    assert "|| GateAtt TD80^5 | 85.30 | 45.31 |" in line


# ----------------------------------------------------------------- records


def _write(path, records):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Small frames (16 + 8 bytes); ``bad/`` adds a record whose rgb frames
    have 1024 bytes to a copy of the training shards."""
    root = tmp_path_factory.mktemp("flags")
    gen = synthetic.SyntheticYT8M(
        num_classes=CLASSES,
        max_frames=FRAMES,
        min_frames=4,
        signal=1.0,
        feature_sizes=SIZES,
        seed=0,
    )
    synthetic.write_dataset(root, 64, num_shards=2, generator=gen)
    synthetic.write_dataset(
        root,
        24,
        num_shards=1,
        split="validate",
        generator=gen,
        seed=1,
        start_index=64,
    )
    big = synthetic.SyntheticYT8M(num_classes=CLASSES, max_frames=FRAMES)
    vid, labels, rgb, audio = next(big.videos(1, start_index=500))
    bad = root / "bad"
    bad.mkdir()
    for name in ("train0000.tfrecord", "train0001.tfrecord"):
        shutil.copy(root / "frame" / name, bad / name)
    _write(
        bad / "train0002.tfrecord",
        [synthetic.frame_example(vid, labels, rgb, audio[:, :8])],
    )
    # The validation shard with the same bad record at its end.
    good = list(
        tf.data.TFRecordDataset(str(root / "frame/validate0000.tfrecord"))
    )
    _write(
        bad / "validate0000.tfrecord",
        [r.numpy() for r in good]
        + [synthetic.frame_example(vid, labels, rgb, audio[:, :8])],
    )
    return root


# ------------------------------------------------------------------- train


def _train_argv(records, run_dir, *extra, train="frame/train*.tfrecord"):
    return [
        "train",
        "--run-dir",
        str(run_dir),
        "--model",
        "gateop",
        "--mask",
        "td",
        "--W",
        "3",
        "--L",
        "2",
        "--train",
        str(records / train),
        "--validation",
        str(records / "frame/validate*.tfrecord"),
        "--features",
        FEATURES,
        "--num-classes",
        str(CLASSES),
        "--max-frames",
        str(FRAMES),
        "--batch-size",
        "8",
        "--validation-batch-size",
        "5",
        "--validation-steps",
        "2",
        "--learning-rate",
        "0.004",
        "--steps-per-validation",
        "3",
        "--max-validations",
        "2",
        "--shuffle-buffer",
        "16",
        "--option",
        "hidden_dim=12",
        "--option",
        "num_heads=2",
        *extra,
    ]


def _history(run_dir):
    with open(os.path.join(run_dir, "history.csv")) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def train_run(records, tmp_path_factory):
    """One run with most train flags, a JSON config and a bad record
    skipped; returns (run directory, the config file, the argv)."""
    root = tmp_path_factory.mktemp("train_run")
    config = root / "config.json"
    config.write_text(
        json.dumps(
            {"schedule": "constant", "seed": 7, "model_options": {"dropout": 0}}
        )
    )
    argv = _train_argv(
        records,
        root / "run",
        "--config",
        str(config),
        "--on-error",
        "skip",
        "--no-tensorboard",
        "--verbose",
        "2",
        train="bad/train*.tfrecord",
    )
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert cli.main(argv) == 0
    return root / "run", argv, printed.getvalue()


def test_one_train_run_takes_every_flag_it_is_given(records, train_run):
    run_dir, _, printed = train_run
    # --verbose 2: one line per validation interval (Keras' epoch line),
    # no progress bar (no backspaces, carriage returns or bar glyphs).
    intervals = [x for x in printed.splitlines() if x.startswith("3/3 - ")]
    assert len(intervals) == 2 and "val_gap" in intervals[0], printed
    assert not {"\b", "\r", "━"} & set(printed), printed
    stored = json.loads((run_dir / "config.json").read_text())
    # From the JSON config file, and the flags on top of it.
    assert stored["schedule"] == "constant" and stored["seed"] == 7
    assert stored["model_options"] == {
        "dropout": 0,
        "hidden_dim": 12,
        "num_heads": 2,
    }
    model = keras.saving.load_model(run_dir / "final.keras")
    # --model, --mask, --W, --L, --option
    encoder = model.get_layer("rgb_encoder_0")
    assert type(encoder.attention_layer).__name__ == "GatedContextMHA"
    assert encoder.get_config()["masks"] == "td3/2"
    assert encoder.attention_layer.num_heads == 2
    assert model.get_layer("hidden").units == 12
    # --features, --num-classes, --max-frames
    assert tuple(model.input["rgb"].shape) == (None, FRAMES, 16)
    assert tuple(model.input["audio"].shape) == (None, FRAMES, 8)
    assert model.output_shape == (None, CLASSES)
    # --steps-per-validation x --max-validations steps at --learning-rate
    # (the schedule from the config file is constant).
    assert int(helpers.to_numpy(model.optimizer.iterations)) == 3 * 2
    rate = float(helpers.to_numpy(model.optimizer.learning_rate))
    assert rate == pytest.approx(0.004)
    rows = _history(run_dir)
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    # --validation-steps x --validation-batch-size: the last interval's
    # GAP is the final model's on the first 2 x 5 validation videos.
    features, labels = next(
        data.dataset_for_model(
            model, str(records / "frame/validate*.tfrecord"), batch_size=10
        ).as_numpy_iterator()
    )
    probs = helpers.to_numpy(model.predict_on_batch(features))
    expected = metrics.gap(probs, labels)
    assert float(rows[-1]["val_gap"]) == pytest.approx(expected, abs=1e-6)
    # --run-dir holds the run; --no-tensorboard wrote no logs.
    assert {"best.keras", "final.keras", "done.json"} <= set(
        os.listdir(run_dir)
    )
    assert not (run_dir / "logs").exists()


def test_train_on_error_raise_names_the_bad_file(records, tmp_path, capsys):
    # The same training records without --on-error skip: one line naming
    # the file and the record, exit status 2.
    capsys.readouterr()
    argv = _train_argv(
        records, tmp_path / "run", "--no-tensorboard", train="bad/train*"
    )
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train0002.tfrecord" in err[0], err


def _final_weights(run_dir):
    return keras.saving.load_model(run_dir / "final.keras").get_weights()


def test_train_overwrite_and_seed(records, train_run, tmp_path, capsys):
    run_dir, argv, _ = train_run
    first = _final_weights(run_dir)
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "left_over").write_text("from the first run")
    again = [a if a != str(run_dir) else str(copy) for a in argv]
    # With TensorBoard logs this time: without --overwrite the run is
    # complete and nothing happens; with it, it starts again from nothing.
    again.remove("--no-tensorboard")
    capsys.readouterr()
    assert cli.main(again) == 0
    assert "is complete" in capsys.readouterr().out
    assert (copy / "left_over").exists() and not (copy / "logs").exists()
    assert cli.main(again + ["--overwrite"]) == 0
    assert not (copy / "left_over").exists()
    assert (copy / "logs").is_dir()
    assert len(_history(copy)) == 2
    # The same seed gives the same run, weight for weight ...
    for a, b in zip(_final_weights(copy), first, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # ... and another seed another one.
    other = [a if a != str(run_dir) else str(tmp_path / "seed8") for a in argv]
    assert cli.main(other + ["--seed", "8"]) == 0
    moved = [
        not np.allclose(a, b)
        for a, b in zip(_final_weights(tmp_path / "seed8"), first, strict=True)
    ]
    assert all(moved)


# A value for each train flag, and the config value it must give.
FLAG_VALUES = {
    "model": ("gateatt", "gateatt"),
    "mask": ("bd", "bd"),
    "W": ("5", 5),
    "L": ("3", 3),
    "train": ("a/*.tfrecord", "a/*.tfrecord"),
    "validation": ("b/*.tfrecord", "b/*.tfrecord"),
    "train_id_split": ("rest:0.25", "rest:0.25"),
    "validation_id_split": ("holdout:0.25", "holdout:0.25"),
    "features": ("rgb:16,audio:8", SIZES),
    "num_classes": ("7", 7),
    "max_frames": ("11", 11),
    "batch_size": ("12", 12),
    "validation_batch_size": ("13", 13),
    "learning_rate": ("0.125", 0.125),
    "steps_per_validation": ("14", 14),
    "max_validations": ("15", 15),
    "validation_steps": ("16", 16),
    "patience": ("17", 17),
    "lr_patience": ("18", 18),
    "lr_factor": ("0.25", 0.25),
    "plateau": ("pytorch", "pytorch"),
    "lr_decay": ("0.5", 0.5),
    "lr_decay_examples": ("19", 19),
    "schedule": ("decay", "decay"),
    "mixed_precision": ("bfloat16", "mixed_bfloat16"),
    "seed": ("20", 20),
    "shuffle_buffer": ("21", 21),
    "on_error": ("skip", "skip"),
    "loader": ("grain", "grain"),
    "loader_workers": ("2", 2),
    "init_from": ("runs/video/best.keras", "runs/video/best.keras"),
}


@pytest.mark.parametrize("key", [key for key, _, _ in train_cli.FLAGS])
def test_each_train_flag_sets_its_config_key(key):
    text, value = FLAG_VALUES[key]
    base = ["train", "--run-dir", "r", "--train", "x", "--validation", "y"]
    flag = "--" + key.replace("_", "-")
    args = build_parser().parse_args([*base, flag, text])
    config = train_cli.config_from_args(args)
    assert config[key] == value
    default = train_cli.config_from_args(build_parser().parse_args(base))
    if key not in ("train", "validation"):
        assert default[key] != value, key


def test_train_input_follows_flags(records):
    # --batch-size and --shuffle-buffer shape what the run trains on (the
    # datasets training.train builds from the config).
    def first_batch(*flags):
        args = build_parser().parse_args(
            [
                "train",
                "--run-dir",
                "unused",
                "--model",
                "frame_logistic",
                "--train",
                str(records / "frame/train0000.tfrecord"),
                "--validation",
                str(records / "frame/validate*.tfrecord"),
                "--features",
                FEATURES,
                "--num-classes",
                str(CLASSES),
                "--max-frames",
                str(FRAMES),
                "--validation-batch-size",
                "6",
                *flags,
            ]
        )
        config = train_cli.config_from_args(args)
        model = keras_gmsa.build_model(
            "frame_logistic", **training._model_options(config)
        )
        train, validation = training._datasets(model, config, data_seed=0)
        features, _ = next(train.as_numpy_iterator())
        assert next(validation.as_numpy_iterator())[1].shape[0] == 6
        return features["rgb"]

    in_order = next(
        data.frame_dataset(
            str(records / "frame/train0000.tfrecord"),
            batch_size=5,
            features=SIZES,
            num_classes=CLASSES,
            max_frames=FRAMES,
        ).as_numpy_iterator()
    )[0]["rgb"]
    # A shuffle buffer of one record keeps the file's order.
    unshuffled = first_batch("--batch-size", "5", "--shuffle-buffer", "1")
    np.testing.assert_array_equal(unshuffled, in_order)
    shuffled = first_batch("--batch-size", "5", "--shuffle-buffer", "32")
    assert shuffled.shape == in_order.shape
    assert not np.array_equal(shuffled, in_order)


# ------------------------------------------------------ evaluate / predict


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "gateop.keras"
    helpers.build_small(
        "gateop", num_classes=CLASSES, max_frames=FRAMES, compile=False
    ).save(path)
    return path


def _good_videos(model, pattern):
    dataset = data.dataset_for_model(
        model, pattern, batch_size=100, with_ids=True
    )
    features, labels, ids = next(dataset.as_numpy_iterator())
    return helpers.to_numpy(model.predict_on_batch(features)), labels, ids


def test_evaluate_flags(records, saved_model, tmp_path, capsys):
    bad = str(records / "bad/validate*.tfrecord")
    capsys.readouterr()
    assert cli.main(["evaluate", str(saved_model), bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "validate0000.tfrecord" in err[0], err
    out = tmp_path / "metrics.json"
    argv = ["evaluate", str(saved_model), bad, "--on-error", "skip"]
    argv += ["--batch-size", "5", "--top-k", "3", "--json", str(out)]
    assert cli.main(argv) == 0
    result = json.loads(out.read_text())
    # 24 good videos in batches of 5 (the last one short), the bad one
    # skipped and counted; GAP@3.
    model = keras.saving.load_model(saved_model)
    probs, labels, _ = _good_videos(model, str(records / "frame/validate*"))
    assert result["num_videos"] == 24
    assert result["read_stats"]["skipped"] == 1
    assert result["read_stats"]["frame_size"] == 1
    assert result["gap"] == pytest.approx(
        metrics.gap(probs, labels, top_k=3), abs=1e-6
    )
    assert result["gap"] != pytest.approx(metrics.gap(probs, labels), abs=1e-6)
    printed = capsys.readouterr().out
    assert f"gap         {result['gap']:.6f}" in printed


def test_predict_flags(records, saved_model, tmp_path, capsys):
    model = keras.saving.load_model(saved_model)
    probs, _, ids = _good_videos(model, str(records / "frame/validate*"))
    bad = str(records / "bad/validate*.tfrecord")
    capsys.readouterr()
    assert (
        cli.main(["predict", str(saved_model), bad, "--on-error", "raise"]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "validate0000.tfrecord" in err[0], err
    out = tmp_path / "p.jsonl"
    argv = ["predict", str(saved_model), bad, "--on-error", "skip"]
    argv += ["--batch-size", "5", "--top-k", "2", "--output", str(out)]
    argv += ["--format", "jsonl"]
    assert cli.main(argv) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [i.decode() for i in ids]
    for row, p in zip(rows, probs, strict=True):
        best = np.argsort(-p)[:2]
        assert [label for label, _ in row["labels"]] == best.tolist()
    # Kaggle rows, top-k pairs each, only the ids of the split.
    csv_path = tmp_path / "sub.csv"
    argv = ["predict", str(saved_model), str(records / "frame/validate*")]
    argv += ["--format", "kaggle", "--top-k", "4", "--output", str(csv_path)]
    argv += ["--id-split", "holdout:0.5"]
    assert cli.main(argv) == 0
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "VideoId,LabelConfidencePairs"
    kept = [line.split(",")[0] for line in lines[1:]]
    every = [i.decode() for i in ids]
    inside = data.in_split(every, "holdout:0.5")
    assert kept == [v for v, keep in zip(every, inside, strict=True) if keep]
    assert 0 < len(kept) < len(every)
    assert all(len(line.split(",")[1].split()) == 8 for line in lines[1:])


# -------------------------------------------------------------------- tune


# -------------------------------------------------------- ensemble-select


@pytest.fixture(scope="module")
def candidates(records, tmp_path_factory):
    """Three small members, each trained a few steps, as .keras files."""
    root = tmp_path_factory.mktemp("candidates")
    shape = dict(num_classes=CLASSES, max_frames=FRAMES)
    builds = {
        "logistic": lambda: helpers.build_small(
            "frame_logistic", learning_rate=0.05, **shape
        ),
        "netvlad": lambda: keras_gmsa.build_model(
            "kakao_mc_netvlad_c128_moe4",
            features=SIZES,
            num_clusters=3,
            hidden_dim=8,
            learning_rate=0.05,
            **shape,
        ),
        "lstm": lambda: helpers.build_small("frame_lstm", **shape),
    }
    paths = []
    for name, build in builds.items():
        model = build()
        train = data.dataset_for_model(
            model,
            str(records / "frame/train*.tfrecord"),
            batch_size=16,
            repeat=True,
        )
        model.fit(train, steps_per_epoch=3, epochs=1, verbose=0)
        paths.append(str(root / f"{name}.keras"))
        model.save(paths[-1])
    return paths


def _best_by_hand(probs, labels, ids, width, size, **options):
    """The ensemble a beam search must choose, from each member's own
    predictions (``{path: (N, C)}``): every ensemble scored by the GAP of
    the mixed probabilities, the beam followed by hand."""
    combine = options.get("combine", "logits")
    top_k = options.get("top_k", 20)
    names = list(probs)
    keep = np.ones(len(ids), bool)
    if options.get("id_split"):
        keep = data.in_split([i.decode() for i in ids], options["id_split"])

    def score(members):
        p = np.stack([probs[m][keep] for m in members]).astype("float64")
        if combine == "logits":
            p = np.clip(p, 1e-6, 1 - 1e-6)
            p = 1 / (1 + np.exp(-np.mean(np.log(p) - np.log1p(-p), 0)))
        else:
            p = p.mean(0)
        return metrics.gap(p, labels[keep], top_k=top_k)

    def key(members):
        order = [names.index(m) for m in members]
        return (-score(members), len(members), order)

    beam = sorted(([m] for m in names), key=key)[:width]
    seen = list(beam)
    for _ in range(1, size):
        grown = {
            tuple(m for m in names if m in (*members, extra))
            for members in beam
            for extra in names
            if extra not in members
        }
        beam = sorted((list(g) for g in grown), key=key)[:width]
        seen += beam
    best = min(seen, key=key)
    return best, score(best), int(keep.sum())


def test_ensemble_select_flags(records, candidates, tmp_path, capsys):
    validation = str(records / "frame/validate*.tfrecord")
    out = tmp_path / "chosen.json"
    argv = ["ensemble-select", *candidates, "--validation", validation]
    # A beam of 3 over 3 candidates tries every ensemble.
    argv += ["--beam-width", "3", "--size", "3", "--json", str(out)]
    capsys.readouterr()
    assert cli.main(argv) == 0
    chosen = json.loads(out.read_text())
    probs = {}
    for path in candidates:
        model = keras.saving.load_model(path)
        probs[path], labels, ids = _good_videos(model, validation)
    best, gap, videos = _best_by_hand(probs, labels, ids, 3, 3)
    assert chosen["members"] == best
    assert chosen["gap"] == pytest.approx(gap, abs=1e-9)
    assert [len(b) for b in chosen["beams"]] == [3, 3, 1]
    assert chosen["num_videos"] == videos == 24
    printed = capsys.readouterr().out
    assert f"chosen: {len(best)} members, gap {gap:.6f}" in printed
    # The other flags: a greedy beam of at most 2, the mean probability,
    # GAP@3, half the videos by id, in batches of 5, a bad record skipped.
    bad = str(records / "bad/validate*.tfrecord")
    argv = ["ensemble-select", *candidates, "--validation", bad]
    argv += ["--beam-width", "1", "--size", "2", "--combine", "probabilities"]
    argv += ["--top-k", "3", "--id-split", "holdout:0.5", "--batch-size", "5"]
    argv += ["--on-error", "skip", "--json", str(out)]
    assert cli.main(argv) == 0
    chosen = json.loads(out.read_text())
    options = dict(combine="probabilities", top_k=3, id_split="holdout:0.5")
    best, gap, videos = _best_by_hand(probs, labels, ids, 1, 2, **options)
    assert chosen["members"] == best
    assert chosen["gap"] == pytest.approx(gap, abs=1e-9)
    assert [len(b) for b in chosen["beams"]] == [1, 1]
    assert chosen["combine"] == "probabilities" and chosen["top_k"] == 3
    assert 0 < chosen["num_videos"] == videos < 24
    # The bad record stops the search, naming its file (--on-error raise).
    capsys.readouterr()
    argv = ["ensemble-select", *candidates, "--validation", bad]
    assert cli.main([*argv, "--on-error", "raise"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "validate0000.tfrecord" in err[0], err


def _tune_argv(records, directory, *extra):
    return [
        "tune",
        "--directory",
        str(directory),
        "--train",
        str(records / "frame/train*.tfrecord"),
        "--validation",
        str(records / "frame/validate*.tfrecord"),
        "--features",
        FEATURES,
        "--num-classes",
        str(CLASSES),
        "--max-frames",
        str(FRAMES),
        "--option",
        "hidden_dim=12",
        "--option",
        "num_heads=2",
        "--batch-size",
        "8",
        "--steps-per-epoch",
        "2",
        *extra,
    ]


# KerasTuner's checkpoints hold the optimizer's state too; Keras warns
# that a fresh model's optimizer does not take it (the weights load).
@pytest.mark.filterwarnings(
    "ignore:Skipping variable loading for optimizer:UserWarning"
)
def test_tune_flags_shape_the_search(records, tmp_path, capsys):
    from keras_gmsa import tuning

    directory = tmp_path / "search"
    search = dict(
        combinations=["gateop"],
        mask_kinds=["bd"],
        w_values=[2, 4],
        learning_rate=(1e-12, 2e-12),
    )
    argv = _tune_argv(
        records,
        directory,
        "--project",
        "masks",
        "--tuner",
        "bayesian",
        "--max-trials",
        "2",
        "--epochs",
        "4",
        "--patience",
        "1",
        "--validation-batch-size",
        "5",
        "--validation-steps",
        "2",
        "--combinations",
        *search["combinations"],
        "--masks",
        *search["mask_kinds"],
        "--w-values",
        "2",
        "4",
        "--learning-rate",
        "1e-12",
        "2e-12",
        "--seed",
        "5",
        "--num-best",
        "1",
        "--verbose",
        "2",
    )
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "Trial 2 Complete" in printed and "Trial 3" not in printed
    # --verbose 2: one line per epoch, no progress bar; the keras_gmsa
    # logger's summary still speaks.
    assert not {"\b", "━"} & set(printed), printed
    assert "summary.md and summary.json" in printed
    project = directory / "masks"
    states = [
        json.loads((trial / "trial.json").read_text())
        for trial in sorted(project.iterdir())
        if trial.name.startswith("trial_")
    ]
    assert len(states) == 2  # --max-trials
    values = [state["hyperparameters"]["values"] for state in states]
    assert {v["combination"] for v in values} == {"gateop"}  # --combinations
    assert {v["mask"] for v in values} == {"bd"}  # --masks
    assert {v["W"] for v in values} <= {2, 4}  # --w-values
    assert all(1e-12 <= v["learning_rate"] <= 2e-12 for v in values)
    # At a learning rate of 1e-12 the GAP never improves: --patience 1
    # stops each trial after 2 of its --epochs 4 (Keras prints each epoch).
    assert printed.count("Epoch 2/4") == 2
    assert "Epoch 3/4" not in printed
    for state in states:
        history = state["metrics"]["metrics"]["val_gap"]["observations"]
        assert [o["step"] for o in history] == [0]  # the best epoch
    # --num-best: one trial in the summary and its table.
    rows = json.loads((project / "summary.json").read_text())
    assert len(rows) == 1
    table = (project / "summary.md").read_text()
    assert table.count("| gateop |") == 1
    # The same search, reloaded: the --tuner's oracle with --seed, and the
    # best model's score is its GAP on the first --validation-steps x
    # --validation-batch-size validation videos, read with --features.
    hypermodel = tuning.GMSAHyperModel(
        **search,
        num_classes=CLASSES,
        max_frames=FRAMES,
        features=SIZES,
        hidden_dim=12,
        num_heads=2,
    )
    tuner = tuning.make_tuner(
        "bayesian",
        hypermodel,
        str(directory),
        project_name="masks",
        max_trials=2,
        seed=5,
    )
    import keras_tuner

    assert isinstance(
        tuner.oracle, keras_tuner.oracles.BayesianOptimizationOracle
    )
    assert len(tuner.oracle.trials) == 2
    best = tuner.get_best_models(1)[0]
    assert tuple(best.input["rgb"].shape) == (None, FRAMES, 16)
    features, labels = next(
        data.dataset_for_model(
            best, str(records / "frame/validate*.tfrecord"), batch_size=10
        ).as_numpy_iterator()
    )
    gap = metrics.gap(helpers.to_numpy(best.predict_on_batch(features)), labels)
    assert rows[0]["val_gap"] == pytest.approx(gap, abs=1e-5)
    # Again: nothing left to do; with --overwrite the search starts over.
    assert cli.main(argv) == 0
    assert "Complete" not in capsys.readouterr().out
    again = list(argv)
    again[again.index("--max-trials") + 1] = "1"
    assert cli.main(again + ["--overwrite"]) == 0
    printed = capsys.readouterr().out
    assert "Trial 1 Complete" in printed and "Trial 2" not in printed
    assert (
        len([p for p in project.iterdir() if p.name.startswith("trial_")]) == 1
    )


def test_tune_hyperband_runs_its_brackets(records, tmp_path, capsys):
    # Hyperband sets each trial's epochs itself, up to --epochs.
    directory = tmp_path / "search"
    argv = _tune_argv(
        records,
        directory,
        "--tuner",
        "hyperband",
        "--epochs",
        "2",
        "--combinations",
        "shareatt",
        "--masks",
        "tp",
        "--w-values",
        "2",
        "--learning-rate",
        "0.001",
    )
    assert cli.main(argv) == 0
    oracle = json.loads((directory / "gmsa" / "oracle.json").read_text())
    assert oracle["max_epochs"] == 2 and "hyperband_iterations" in oracle
    epochs = set()
    for trial in (directory / "gmsa").iterdir():
        if trial.name.startswith("trial_"):
            state = json.loads((trial / "trial.json").read_text())
            epochs.add(state["hyperparameters"]["values"]["tuner/epochs"])
    assert epochs <= {1, 2} and 2 in epochs


# ----------------------------------------------------------------- inspect


@pytest.fixture(scope="module")
def inspect_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("inspect")
    paths = {}
    for name in ("gateop", "baseline", "attention_cluster"):
        paths[name] = root / f"{name}.keras"
        helpers.build_small(
            name, num_classes=CLASSES, max_frames=FRAMES, compile=False
        ).save(paths[name])
    return paths


def _inspect(capsys, *argv):
    capsys.readouterr()
    assert cli.main(["inspect", *map(str, argv)]) == 0
    out = capsys.readouterr().out
    return json.loads(out[: out.rindex("}") + 1]), out


def _video(model, records, index):
    pattern = str(records / "frame/validate*.tfrecord")
    dataset = data.dataset_for_model(model, pattern, batch_size=1)
    features = list(dataset.take(index + 1).as_numpy_iterator())[index][0]
    return {k: v[0] for k, v in features.items()}


def test_inspect_similarity(records, inspect_models, tmp_path, capsys):
    out = tmp_path / "fig1.png"
    pattern = records / "frame/validate*.tfrecord"
    summary, printed = _inspect(
        capsys,
        "similarity",
        inspect_models["gateop"],
        pattern,
        "--video",
        3,
        "--modality",
        "audio",
        "--heads",
        0,
        1,
        "--out",
        out,
    )
    assert out.stat().st_size > 1000 and f"Wrote {out}" in printed
    # Video 3's audio frames, and the two heads asked for.
    model = keras.saving.load_model(inspect_models["gateop"])
    video = _video(model, records, 3)
    n = int(video["num_frames"])
    frames = analysis.cosine_similarity(
        data.pipeline.dequantize(video["audio"][:n]).numpy()
    )
    assert summary["modality"] == "audio" and summary["frames"] == n
    assert summary["mean_similarity"] == pytest.approx(frames.mean(), abs=1e-5)
    assert summary["heads"] == [0, 1]
    expected = analysis.similarity_and_attention(model, video, "audio", (0, 1))
    assert expected["attention"].shape == (2, n, n)


def test_inspect_profiles_names_labels(
    records, inspect_models, tmp_path, capsys
):
    summary, _ = _inspect(
        capsys,
        "profiles",
        inspect_models["gateop"],
        records / "frame/validate*.tfrecord",
        "--vocabulary",
        records / "vocabulary.csv",
        "--out",
        tmp_path / "fig3.png",
    )
    names = {
        label for pairs in summary["predictions"].values() for label, _ in pairs
    }
    vocabulary = data.Vocabulary.load(str(records / "vocabulary.csv"))
    assert names <= {vocabulary.name(c) for c in range(CLASSES)}
    assert all(isinstance(n, str) and not n.isdigit() for n in names)


def test_inspect_sensitivity(records, inspect_models, tmp_path, capsys):
    pattern = records / "frame/validate*.tfrecord"
    argv = [
        "sensitivity",
        inspect_models["gateop"],
        pattern,
        "--compare",
        inspect_models["baseline"],
        "--video",
        1,
        "--videos",
        2,
        "--neighbourhood",
        "tp2",
        "--probes",
        3,
        "--out",
        tmp_path / "fig4.png",
    ]
    summary, _ = _inspect(capsys, *argv)
    models = {
        p.stem: keras.saving.load_model(p)
        for p in (inspect_models["gateop"], inspect_models["baseline"])
    }
    videos = [_video(models["gateop"], records, i) for i in (1, 2)]
    expected = analysis.local_sensitivity(models, videos, "rgb", "tp2", 3)
    assert set(summary) == {"gateop", "baseline"}
    for name, values in expected.items():
        assert summary[name] == pytest.approx(
            float(np.nanmean(values)), abs=1e-5
        )
    # Another neighbourhood is another statistic.
    other = analysis.local_sensitivity(models, videos, "rgb", "tp4", 3)
    assert summary["gateop"] != pytest.approx(
        float(np.nanmean(other["gateop"])), abs=1e-5
    )


def test_inspect_clusters(records, inspect_models, tmp_path, capsys):
    summary, _ = _inspect(
        capsys,
        "clusters",
        inspect_models["attention_cluster"],
        records / "frame/validate*.tfrecord",
        "--out",
        tmp_path / "fig5.png",
    )
    model = keras.saving.load_model(inspect_models["attention_cluster"])
    n = int(_video(model, records, 0)["num_frames"])
    units = helpers.SMALL_MODELS["attention_cluster"]["num_units"]
    assert summary == {"rgb": [units, n], "audio": [units, n]}
    assert (tmp_path / "fig5.png").stat().st_size > 1000


# ------------------------------------------------------------------- synth


def test_synth_flags(tmp_path, capsys):
    out = tmp_path / "synth"
    argv = ["synth", str(out), "--videos", "7", "--shards", "2"]
    argv += ["--split", "validate", "--num-classes", "9"]
    argv += ["--local-classes", "3", "--max-frames", "50", "--features"]
    argv += ["rgb:12,audio:4", "--layouts", "frame", "segment"]
    argv += ["--seed", "4", "--start-index", "100"]
    assert cli.main(argv) == 0
    assert sorted(os.listdir(out)) == ["frame", "segment", "vocabulary.csv"]
    files = sorted(os.listdir(out / "frame"))
    assert files == ["validate0000.tfrecord", "validate0001.tfrecord"]
    features, labels, ids = next(
        data.frame_dataset(
            str(out / "frame/*.tfrecord"),
            batch_size=100,
            features={"rgb": 12, "audio": 4},
            num_classes=9,
            max_frames=50,
            with_ids=True,
        ).as_numpy_iterator()
    )
    assert len(ids) == 7 and features["rgb"].shape[1:] == (50, 12)
    # Ids from --start-index; the generator's world from --seed.
    expected = synthetic.SyntheticYT8M(
        num_classes=9,
        num_local_classes=3,
        max_frames=50,
        seed=4,
        feature_sizes={"rgb": 12, "audio": 4},
    )
    assert sorted(i.decode() for i in ids) == sorted(
        synthetic._video_id(100 + n) for n in range(7)
    )
    vocabulary = data.Vocabulary.load(str(out / "vocabulary.csv"))
    local = [c for c in range(9) if vocabulary.name(c).startswith("Local")]
    assert local == [6, 7, 8] == list(range(expected.num_global_classes, 9))
    assert labels.sum() > 0
    # Another seed, another world: other frames for the same ids.
    again = tmp_path / "again"
    other = [a if a != str(out) else str(again) for a in argv]
    other[other.index("--seed") + 1] = "5"
    assert cli.main(other) == 0
    rgb = next(
        data.frame_dataset(
            str(again / "frame/*.tfrecord"),
            batch_size=100,
            features={"rgb": 12, "audio": 4},
            num_classes=9,
            max_frames=50,
        ).as_numpy_iterator()
    )[0]["rgb"]
    assert not np.array_equal(rgb, features["rgb"])
    assert "segment  2 shards" in capsys.readouterr().out
    capsys.readouterr()
    assert cli.main(["synth", str(tmp_path / "x"), "--features", "rgb:8"]) == 2
    assert "both rgb and audio" in capsys.readouterr().err


def _synth_records(directory, features, max_frames, num_classes=CLASSES):
    """``{file name: [(id, labels, frames), ...]}`` of synth's frame
    shards."""
    out = {}
    for name in sorted(os.listdir(directory / "frame")):
        rows = []
        for f, labels, ids in data.frame_dataset(
            str(directory / "frame" / name),
            batch_size=100,
            features=features,
            num_classes=num_classes,
            max_frames=max_frames,
            with_ids=True,
            cycle_length=1,
        ).as_numpy_iterator():
            rows += zip(
                ids.tolist(),
                labels.sum(1).tolist(),
                f["num_frames"].tolist(),
                strict=True,
            )
        out[name] = rows
    return out


def test_synth_shape_flags(tmp_path, capsys):
    sizes = {"rgb": 4, "audio": 2}
    base = ["--features", "rgb:4,audio:2", "--num-classes", "30"]
    base += ["--max-frames", "60", "--layouts", "frame"]
    # --videos-per-shard: as few files as hold 7 videos, 3 at most each.
    argv = ["synth", str(tmp_path / "a"), "--videos", "7", *base]
    assert cli.main([*argv, "--videos-per-shard", "3"]) == 0
    shards = _synth_records(tmp_path / "a", sizes, 60, 30)
    assert [len(rows) for rows in shards.values()] == [3, 2, 2]
    # --min-frames: every video between it and --max-frames.
    argv = ["synth", str(tmp_path / "b"), "--videos", "40", *base]
    assert cli.main([*argv, "--min-frames", "55"]) == 0
    frames = [
        n
        for r in _synth_records(tmp_path / "b", sizes, 60, 30).values()
        for _, _, n in r
    ]
    assert min(frames) >= 55 and max(frames) <= 60 and len(set(frames)) > 1
    # --labels-per-video: more classes per video.
    counts = {}
    for mean in ("1", "4"):
        out = tmp_path / f"labels{mean}"
        argv = ["synth", str(out), "--videos", "40", *base]
        assert cli.main([*argv, "--labels-per-video", mean]) == 0
        rows = _synth_records(out, sizes, 60, 30).values()
        counts[mean] = np.mean([n for r in rows for _, n, _ in r])
    assert counts["1"] < 2 and counts["4"] > counts["1"] + 1.5
    capsys.readouterr()
    for bad in (
        ["--min-frames", "61"],
        ["--labels-per-video", "0.5"],
        ["--shards", "2", "--videos-per-shard", "3"],
    ):
        with contextlib.suppress(SystemExit):
            code = cli.main(["synth", str(tmp_path / "x"), *base, *bad])
            assert code == 2
        err = capsys.readouterr().err.strip()
        assert err and not (tmp_path / "x").exists(), bad
    assert "above --max-frames" in err or "not allowed with" in err


def test_synth_full_shape(tmp_path):
    # --full-shape is the release's shape: 300 frames for every video,
    # 3862 classes, 2.6 global classes drawn per video, 1,000 videos per
    # file (the smaller --features only keep the test small).
    small = ["--videos", "3", "--features", "rgb:4,audio:2"]
    small += ["--layouts", "frame"]
    full = tmp_path / "full"
    assert cli.main(["synth", str(full), "--full-shape", *small]) == 0
    spelled = tmp_path / "spelled"
    argv = ["synth", str(spelled), *small, "--min-frames", "300"]
    argv += ["--labels-per-video", "2.6", "--videos-per-shard", "1000"]
    assert cli.main(argv) == 0
    sizes = {"rgb": 4, "audio": 2}
    records = _synth_records(full, sizes, 300, 3862)
    assert records == _synth_records(spelled, sizes, 300, 3862)
    assert list(records) == ["train0000.tfrecord"]
    assert [n for _, _, n in records["train0000.tfrecord"]] == [300] * 3
    vocabulary = data.Vocabulary.load(str(full / "vocabulary.csv"))
    assert vocabulary.num_classes == 3862
    # The flags given still win.
    again = tmp_path / "again"
    argv = ["synth", str(again), "--full-shape", *small, "--max-frames", "20"]
    assert cli.main([*argv, "--videos-per-shard", "2"]) == 0
    records = _synth_records(again, sizes, 20, 3862)
    assert [len(r) for r in records.values()] == [2, 1]
    assert {n for r in records.values() for _, _, n in r} == {20}


# ------------------------------------------------------------------ verify


def test_verify_fast_checks_framing_only(records, tmp_path, capsys):
    # A flipped payload byte keeps the framing: only the CRC check sees it.
    shard = tmp_path / "one.tfrecord"
    payload = bytearray((records / "frame/validate0000.tfrecord").read_bytes())
    payload[40] ^= 0xFF
    shard.write_bytes(bytes(payload))
    capsys.readouterr()
    assert cli.main(["verify", str(shard)]) == 1
    assert "one.tfrecord: record 0" in capsys.readouterr().out
    assert cli.main(["verify", str(shard), "--fast"]) == 0
    assert "1 files checked, 0 with problems" in capsys.readouterr().out


# -------------------------------------------------------------------- demo


def test_demo_flags(tmp_path, capsys):
    # The README's first command, on a small budget: two rows, the order-
    # aware baseline among them.
    cache, output = tmp_path / "cache", tmp_path / "out"
    argv = ["demo", "--cache-dir", str(cache), "--output-dir", str(output)]
    argv += ["--epochs", "2", "--train-videos", "40", "--test-videos", "24"]
    argv += ["--seed", "3", "--models", "baseline", "baseline+sin", "--quiet"]
    capsys.readouterr()
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    # --quiet: the table only; --models: its rows, in the demo's order.
    lines = printed.strip().splitlines()
    assert lines[0].startswith("| model")
    rows = [line for line in lines if line.startswith("| ")]
    assert len(rows) == 3
    assert rows[1].startswith("| baseline |")
    assert rows[2].startswith("| baseline + sinusoidal positions |")
    # Next to each, the paper's configuration and its Table 1 numbers.
    assert "|| paper model | GAP |" in rows[0]
    assert all("|| Baseline | 85.07 | 44.61 |" in row for row in rows[1:])
    # --cache-dir holds the shards of --train-videos/--test-videos/--seed.
    (data_dir,) = os.listdir(cache)
    assert data_dir.endswith("-n40-24-s3")
    counts = {}
    for split in ("train", "test"):
        pattern = str(cache / data_dir / "frame" / f"{split}*.tfrecord")
        counts[split] = sum(
            1 for _ in tf.data.TFRecordDataset(tf.io.gfile.glob(pattern))
        )
    assert counts == {"train": 40, "test": 24}
    # --output-dir: the report (JSON and Markdown) and the models, trained
    # --epochs epochs, that load with the positional layer where expected.
    report = json.loads((output / "report.json").read_text())
    assert [r["row"] for r in report["rows"]] == ["baseline", "baseline+sin"]
    assert report["rows"][1]["options"] == {"positional_encoding": "sinusoidal"}
    assert "| baseline + sinusoidal positions |" in (
        (output / "report.md").read_text()
    )
    steps = 2 * -(-40 // 32)
    for row in report["rows"]:
        assert str(output) in row["saved"]
        assert 0 <= row["gap"] <= 1 and 0 <= row["local_gap"] <= 1
        model = keras.saving.load_model(row["saved"])
        assert int(helpers.to_numpy(model.optimizer.iterations)) == steps
        layers = {layer.name for layer in model.layers}
        assert ("rgb_positional_encoding" in layers) == (
            row["row"] == "baseline+sin"
        )
