"""frontier.components: the components, and the plain algorithms behind them.

The public components are re-exported here, imported on first use so that
`import frontier.components` costs nothing (TFX takes seconds to import):

    from frontier.components import Ingest, Trainer, make_evaluator, EvaluationReport, Pusher
    from frontier.components import KipDistill, CiwTrainer, SplLabeler, DpFtrlTrainer, GroupClients
"""

from frontier.components.common.lazy import lazy_exports

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
    "GroupClients": "frontier.components.group_clients",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
