"""frontier.components: the components, and the plain algorithms behind them.

The public components are re-exported here, imported on first use so that
`import frontier.components` costs nothing (TFX takes seconds to import):

    from frontier.components import Ingest, Trainer, make_evaluator, EvaluationReport, Pusher
    from frontier.components import KipDistill, CiwTrainer, SplLabeler, DpFtrlTrainer
"""

import importlib

_EXPORTS = {
    "Ingest": "frontier.components.ingest",
    "Trainer": "frontier.components.trainer",
    "make_evaluator": "frontier.components.evaluate",
    "baseline_resolver": "frontier.components.evaluate",
    "EvaluationReport": "frontier.components.evaluate",
    "Pusher": "frontier.components.pusher",
    "KipDistill": "frontier.components.kip",
    "CiwTrainer": "frontier.components.ciw",
    "SplLabeler": "frontier.components.spl",
    "DpFtrlTrainer": "frontier.components.dp_ftrl",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
