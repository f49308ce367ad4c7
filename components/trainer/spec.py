"""Names shared by the Trainer component, its executor and tests (ARCHITECTURE.md rule 2)."""

from __future__ import annotations

from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from frontier.components.common import executor as executor_base
from frontier.components.common.versioning import COMPONENT_VERSION_KEY
from frontier.components.trainer import modules
from frontier.schemas.artifacts import HtmlReport
from frontier.schemas.dataset import LABEL_KEY

COMPONENT_PACKAGE = "trainer"  # folder name, for code_version()

# Inputs / outputs.
EXAMPLES_KEY = "examples"
BASE_MODEL_KEY = "base_model"  # optional: warm-start its body under a new head
MODEL_KEY = "model"
MODEL_RUN_KEY = "model_run"
VISUALIZATION_KEY = "visualization"

# Execution parameters.
EPOCHS_KEY = "epochs"
BATCH_SIZE_KEY = "batch_size"
LEARNING_RATE_KEY = "learning_rate"
SEED_KEY = "seed"
MODEL_TYPE_KEY = "model_type"
HIDDEN_UNITS_KEY = "hidden_units"  # JSON list of ints, e.g. "[128]"
LABEL_KEY_KEY = "label_key"  # which int role column is the training target
TRAIN_STEPS_KEY = "train_steps"  # optional bound on gradient steps (0: the epochs decide)
# The user's model (`modules`): a file or an importable module, and its hyperparameters.
MODULE_FILE_KEY = modules.MODULE_FILE_KEY
MODULE_PATH_KEY = modules.MODULE_PATH_KEY
CUSTOM_CONFIG_KEY = modules.CUSTOM_CONFIG_KEY  # JSON object

DEFAULT_EPOCHS = 10
DEFAULT_BATCH_SIZE = 32
DEFAULT_LEARNING_RATE = 1e-3
DEFAULT_SEED = 0
DEFAULT_MODEL_TYPE = "mlp"
DEFAULT_HIDDEN_UNITS = (128,)
DEFAULT_LABEL_KEY = LABEL_KEY
NO_STEP_BOUND = 0

# Custom properties set on the output Model artifact.
TRAIN_ACCURACY_PROPERTY = executor_base.TRAIN_ACCURACY_PROPERTY
EVAL_ACCURACY_PROPERTY = executor_base.EVAL_ACCURACY_PROPERTY
EVAL_LOSS_PROPERTY = executor_base.EVAL_LOSS_PROPERTY
MODEL_TYPE_PROPERTY = "model_type"


class TrainerSpec(ComponentSpec):
    """ComponentSpec of the baseline `Trainer` (see executor.Executor for meanings)."""

    PARAMETERS = {
        EPOCHS_KEY: ExecutionParameter(type=int),
        BATCH_SIZE_KEY: ExecutionParameter(type=int),
        LEARNING_RATE_KEY: ExecutionParameter(type=float),
        SEED_KEY: ExecutionParameter(type=int),
        MODEL_TYPE_KEY: ExecutionParameter(type=str),
        HIDDEN_UNITS_KEY: ExecutionParameter(type=str),
        LABEL_KEY_KEY: ExecutionParameter(type=str),
        TRAIN_STEPS_KEY: ExecutionParameter(type=int, optional=True),
        MODULE_FILE_KEY: ExecutionParameter(type=str, optional=True),
        MODULE_PATH_KEY: ExecutionParameter(type=str, optional=True),
        CUSTOM_CONFIG_KEY: ExecutionParameter(type=str, optional=True),
        COMPONENT_VERSION_KEY: ExecutionParameter(type=str),
    }
    DEFAULTS = {LABEL_KEY_KEY: DEFAULT_LABEL_KEY}
    INPUTS = {
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        BASE_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS = {
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        MODEL_RUN_KEY: ChannelParameter(type=standard_artifacts.ModelRun),
        VISUALIZATION_KEY: ChannelParameter(type=HtmlReport),
    }
