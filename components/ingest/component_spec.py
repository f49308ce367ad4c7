"""`IngestSpec`: the TFX component spec of Ingest (its parameters and outputs).

Apart from `spec.py`, whose names and `IngestConfig` the plain functions use
without TFX, and from `component.py`, which imports the executor whose
`SPEC_CLASS` this is.
"""

from __future__ import annotations

from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from frontier.components.common.versioning import COMPONENT_VERSION_KEY
from frontier.components.ingest import spec
from frontier.schemas.artifacts import HtmlReport


class IngestSpec(ComponentSpec):
    """Parameters and outputs of `Ingest` (names from `frontier.components.ingest.spec`)."""

    PARAMETERS = {
        spec.SOURCE_KEY: ExecutionParameter(type=str),
        spec.FORMAT_KEY: ExecutionParameter(type=str),
        spec.FEATURE_COLUMNS_KEY: ExecutionParameter(type=str),  # JSON list or "null"
        spec.LABEL_COLUMN_KEY: ExecutionParameter(type=str),
        spec.WEAK_LABEL_COLUMN_KEY: ExecutionParameter(type=str, optional=True),
        spec.CLIENT_ID_COLUMN_KEY: ExecutionParameter(type=str, optional=True),
        spec.EXAMPLE_ID_COLUMN_KEY: ExecutionParameter(type=str, optional=True),
        spec.VIDEO_ID_COLUMN_KEY: ExecutionParameter(type=str, optional=True),
        spec.SPLIT_COLUMN_KEY: ExecutionParameter(type=str, optional=True),
        spec.CLASSES_KEY: ExecutionParameter(type=str),  # JSON list or "null"
        spec.EVAL_FRACTION_KEY: ExecutionParameter(type=float),
        spec.SEED_KEY: ExecutionParameter(type=int),
        spec.COLOR_MODE_KEY: ExecutionParameter(type=str),
        spec.LABEL_NOISE_KEY: ExecutionParameter(type=str),
        spec.NOISE_RATE_KEY: ExecutionParameter(type=float),
        spec.NOISE_SEED_KEY: ExecutionParameter(type=int),
        spec.CLIENT_PARTITION_KEY: ExecutionParameter(type=str),
        spec.NUM_CLIENTS_KEY: ExecutionParameter(type=int),
        spec.PARTITION_ALPHA_KEY: ExecutionParameter(type=float),
        spec.PARTITION_SEED_KEY: ExecutionParameter(type=int),
        spec.ENCODING_KEY: ExecutionParameter(type=str),
        COMPONENT_VERSION_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {}
    OUTPUTS = {
        spec.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        spec.VISUALIZATION_KEY: ChannelParameter(type=HtmlReport),
    }
