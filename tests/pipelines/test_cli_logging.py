"""What `frontier run` lets through to the terminal: the runner's finished lines
(both runners), its start lines only with --verbose."""

from __future__ import annotations

import logging

import pytest

from frontier.pipelines import cli


def _record(path: str, message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("absl", level, path, 1, message, None, None)


@pytest.mark.parametrize("verbose", [False, True])
def test_runner_lines_are_finished_lines_unless_verbose(verbose):
    keep = cli._ProgressFilter(verbose).filter
    local = "/x/tfx/orchestration/local/local_dag_runner.py"
    beam = "/x/tfx/orchestration/beam/beam_dag_runner.py"
    assert keep(_record(local, "Component Trainer is finished."))
    assert keep(_record(beam, "node Trainer is finished."))
    assert keep(_record(local, "Component Trainer is running.")) is verbose
    assert keep(_record(beam, "node Trainer is running.")) is verbose
    assert not keep(_record(beam, "Using deployment config: ..."))
    assert not keep(_record("/x/tfx/other.py", "chatter"))
    assert keep(_record("/x/tfx/other.py", "real trouble", logging.WARNING))


def test_verbose_turns_on_detail_lines(monkeypatch):
    from frontier.components.common import progress

    monkeypatch.delenv(progress.VERBOSE_ENV, raising=False)
    absl_logger = logging.getLogger("absl")
    handlers, propagate = list(absl_logger.handlers), absl_logger.propagate
    try:
        cli._configure_logging(verbose=True)
        assert progress.verbose()
    finally:
        absl_logger.handlers[:], absl_logger.propagate = handlers, propagate
