"""The keras_gmsa logger: one process of a multi-host run speaks, and
library messages can be silenced or routed."""

import logging

import pytest

from keras_gmsa import log

# logging does not depend on the Keras backend: one backend.
pytestmark = pytest.mark.backends("torch")


@pytest.fixture(autouse=True)
def _level():
    level = log.logger.level
    yield
    log.logger.setLevel(level)


def test_only_process_zero_speaks(monkeypatch, capsys):
    log.logger.info("from the chief")
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "1")
    log.logger.info("from a worker")
    log.logger.info("everywhere", extra={"all_processes": True})
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "0")
    log.logger.info("the chief again")
    assert capsys.readouterr().out.splitlines() == [
        "from the chief",
        "everywhere",
        "the chief again",
    ]


def test_verbosity_and_routing(capsys):
    log.set_verbosity(0)
    log.logger.info("hidden")
    log.logger.warning("a warning still shows")
    log.set_verbosity(2)
    log.logger.info("shown")
    assert capsys.readouterr().out.splitlines() == [
        "a warning still shows",
        "shown",
    ]
    # Routed: a user's handler receives the records as well.
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    log.logger.addHandler(handler)
    try:
        log.logger.info("routed")
    finally:
        log.logger.removeHandler(handler)
    assert [r.getMessage() for r in records] == ["routed"]


@pytest.mark.parametrize(
    "text, value", [("auto", "auto"), ("0", 0), ("1", 1), ("2", 2)]
)
def test_parse_verbose(text, value):
    assert log.parse_verbose(text) == value


def test_parse_verbose_refuses_other_values():
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="'3' is not one"):
        log.parse_verbose("3")
