"""The `keras-gmsa` command line: one module per command.

keras-gmsa demo                 synthetic data -> the GMSA models -> table
keras-gmsa train --run-dir DIR  train (or resume) one model on record files
keras-gmsa evaluate MODEL PAT   exact official metrics of a saved model
keras-gmsa predict MODEL PAT    top-k labels, Kaggle CSV or JSON lines
keras-gmsa ensemble-select M... beam search of ensemble members (val. GAP)
keras-gmsa tune --directory DIR KerasTuner search of the GMSA masks
keras-gmsa inspect KIND M PAT   the papers' figures (PNG) of a saved model
keras-gmsa export MODEL DIR     TensorFlow SavedModel serving uint8 frames
keras-gmsa synth DIR            write synthetic shards in the native formats
keras-gmsa verify PATTERN       check TFRecord files (framing and CRCs)
keras-gmsa models               list the model zoo and the presets

A user error (a missing or corrupt file, a pattern that matches nothing, a
bad record, a bad option) prints one line naming the file and the problem
and exits with status 2; ``--debug`` shows the traceback instead.
"""

from keras_gmsa.cli._common import UserError
from keras_gmsa.cli._common import parse_options
from keras_gmsa.cli._main import build_parser
from keras_gmsa.cli._main import main

__all__ = ["UserError", "build_parser", "main", "parse_options"]
