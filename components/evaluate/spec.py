"""Names shared by the EvaluationReport component, its executor and tests (ARCHITECTURE.md rule 2)."""

from __future__ import annotations

from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from frontier.components.common.versioning import COMPONENT_VERSION_KEY
from frontier.components.trainer.spec import COMPONENT_PACKAGE as TRAINER_PACKAGE
from frontier.schemas.artifacts import HtmlReport
from frontier.schemas.dataset import EVAL_SPLIT

COMPONENT_PACKAGE = "evaluate"  # folder name, for code_version()
# Other component packages whose code the executor runs (trainer.export.predict_examples,
# the serving contract): their code is part of the cache key too.
DEPENDS_ON = (TRAINER_PACKAGE,)

# Inputs / outputs.
EXAMPLES_KEY = "examples"
MODEL_KEY = "model"
EVALUATION_KEY = "evaluation"
BLESSING_KEY = "blessing"
VISUALIZATION_KEY = "visualization"

# Execution parameters.
EVAL_SPLIT_KEY = "eval_split"
NUM_BINS_KEY = "num_bins"
BATCH_SIZE_KEY = "batch_size"

DEFAULT_EVAL_SPLIT = EVAL_SPLIT
DEFAULT_NUM_BINS = 15
DEFAULT_BATCH_SIZE = 1024

METRICS_FILE = "metrics.json"  # written beside index.html in the visualization

# Custom properties of the visualization artifact.
BLESSED_PROPERTY = "blessed"  # int 1 / 0; absent when no threshold was configured
ACCURACY_PROPERTY = "accuracy"  # float, Overall slice
BASELINE_ACCURACY_PROPERTY = "baseline_accuracy"  # float, Overall slice; only with a baseline
ECE_PROPERTY = "ece"  # float, Overall slice
LOG_LOSS_PROPERTY = "log_loss"  # float, Overall slice
EXAMPLES_PROPERTY = "examples"  # int, examples scored (Overall slice)
# Only with a baseline model: both models scored on the same examples here,
# the paired difference of their per-example correctness (metrics.paired_difference).
ACCURACY_DIFFERENCE_PROPERTY = "accuracy_difference"  # float, model minus baseline
ACCURACY_DIFFERENCE_SE_PROPERTY = "accuracy_difference_se"  # float, its standard error


class EvaluationReportSpec(ComponentSpec):
    """ComponentSpec of `EvaluationReport` (see executor.Executor for meanings)."""

    PARAMETERS = {
        EVAL_SPLIT_KEY: ExecutionParameter(type=str),
        NUM_BINS_KEY: ExecutionParameter(type=int),
        BATCH_SIZE_KEY: ExecutionParameter(type=int),
        COMPONENT_VERSION_KEY: ExecutionParameter(type=str),
    }
    DEFAULTS = {
        EVAL_SPLIT_KEY: DEFAULT_EVAL_SPLIT,
        NUM_BINS_KEY: DEFAULT_NUM_BINS,
        BATCH_SIZE_KEY: DEFAULT_BATCH_SIZE,
    }
    INPUTS = {
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation),
        BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing, optional=True),
    }
    OUTPUTS = {
        VISUALIZATION_KEY: ChannelParameter(type=HtmlReport),
    }
