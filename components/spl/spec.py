"""Names shared by the SplLabeler component, its executor and tests (ARCHITECTURE.md rule 2)."""

from __future__ import annotations

from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from frontier.components.common.record_batches import DEFAULT_BATCH_SIZE  # noqa: F401 (re-exported)
from frontier.components.common.versioning import COMPONENT_VERSION_KEY
from frontier.components.spl.labels import (  # noqa: F401 (re-exported)
    DEFAULT_MIN_COUNT,
    DEFAULT_STRATEGY,
    STRATEGIES,
)
from frontier.schemas.artifacts import HtmlReport, SplLabelMap
from frontier.schemas.dataset import SPL_LABEL_KEY, TEACHER_LABEL_KEY  # noqa: F401

COMPONENT_PACKAGE = "spl"  # folder name, for code_version()

# Inputs / outputs (outputs named like stock Transform's `transformed_examples`).
EXAMPLES_KEY = "examples"  # the weakly-labeled pool
TEACHER_KEY = "teacher"
RELABELED_EXAMPLES_KEY = "relabeled_examples"
LABEL_MAP_KEY = "label_map"
VISUALIZATION_KEY = "visualization"

# Execution parameters.
STRATEGY_KEY = "strategy"
MIN_COUNT_KEY = "min_count"
BATCH_SIZE_KEY = "batch_size"

# Custom properties of the output artifacts.
STRATEGY_PROPERTY = "strategy"
NUM_CLASSES_PROPERTY = "num_classes"
DROPPED_PROPERTY = "dropped"
AGREEMENT_PROPERTY = "teacher_agreement"  # share of the pool where teacher == weak label


class SplLabelerSpec(ComponentSpec):
    """ComponentSpec of `SplLabeler` (see executor.Executor for meanings)."""

    PARAMETERS = {
        STRATEGY_KEY: ExecutionParameter(type=str),
        MIN_COUNT_KEY: ExecutionParameter(type=int),
        BATCH_SIZE_KEY: ExecutionParameter(type=int),
        COMPONENT_VERSION_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        TEACHER_KEY: ChannelParameter(type=standard_artifacts.Model),
    }
    OUTPUTS = {
        RELABELED_EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        LABEL_MAP_KEY: ChannelParameter(type=SplLabelMap),
        VISUALIZATION_KEY: ChannelParameter(type=HtmlReport),
    }
