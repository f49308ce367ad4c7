"""Names shared by the KipDistill component, its executor and tests (ARCHITECTURE.md rule 2)."""

from __future__ import annotations

from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from frontier.components.common.versioning import COMPONENT_VERSION_KEY
from frontier.components.kip import export
from frontier.components.kip.distill import DEFAULT_REG  # noqa: F401 (re-exported)
from frontier.components.kip.kernels import FC, NTK
from frontier.components.kip.support import (  # noqa: F401 (re-exported)
    DEFAULT_IMAGES_PER_CLASS,
    DEFAULT_LEARNING_RATE,
    DEFAULT_METHOD,
    DEFAULT_SEED,
    DEFAULT_STANDARDIZE,
    DEFAULT_STEPS,
    DEFAULT_TARGET_BATCH_SIZE,
    EVAL_EVERY,
    KIP,
    LABEL_SOLVE,
    METHODS,
    RANDOM,
)
from frontier.components.trainer.spec import COMPONENT_PACKAGE as TRAINER_PACKAGE
from frontier.schemas.artifacts import HtmlReport

COMPONENT_PACKAGE = "kip"  # folder name, for code_version()
# Other component packages whose code the executor runs: the serving contract
# (signature, input and output names, the `Format-Serving` layout) comes from
# `trainer.export`, so its code is part of the cache key too.
DEPENDS_ON = (TRAINER_PACKAGE,)

# Inputs / outputs.
EXAMPLES_KEY = "examples"
DISTILLED_KEY = "distilled"
MODEL_KEY = "model"
VISUALIZATION_KEY = "visualization"

# Execution parameters.
IMAGES_PER_CLASS_KEY = "images_per_class"
METHOD_KEY = "method"
KERNEL_KEY = "kernel"  # the architecture: "fc" or "conv"
KERNEL_KIND_KEY = "kernel_kind"  # "ntk" or "nngp"
DEPTH_KEY = "depth"  # optional; absent: the architecture's default
STEPS_KEY = "steps"
LEARNING_RATE_KEY = "learning_rate"
TARGET_BATCH_SIZE_KEY = "target_batch_size"
LEARN_LABELS_KEY = "learn_labels"  # int 0 / 1
STANDARDIZE_KEY = "standardize"  # int 0 / 1: per-channel / per-feature standardisation
USE_ZCA_KEY = "use_zca"  # int 0 / 1: ZCA whitening after the standardisation
REG_KEY = "reg"
SEED_KEY = "seed"

# Methods and the defaults of the algorithm: the plain `support` module's (imported above).

DEFAULT_KERNEL = FC
DEFAULT_KERNEL_KIND = NTK

LOG_EVERY = 25  # steps between progress lines

# File inside the `distilled` Examples artifact, beside the splits (export.save_kip_result).
KIP_RESULT_FILE = export.KIP_RESULT_FILE

# Custom properties set on the `distilled` Examples artifact.
METHOD_PROPERTY = "method"  # string
IMAGES_PER_CLASS_PROPERTY = "images_per_class"  # int
KERNEL_PROPERTY = "kernel"  # string, e.g. "fc-ntk-1" (architecture-kind-depth)
STANDARDIZE_PROPERTY = "standardize"  # int 0 / 1
USE_ZCA_PROPERTY = "use_zca"  # int 0 / 1
FINAL_LOSS_PROPERTY = "final_loss"  # float, KRR loss of the support on the train split
# Custom properties set on both outputs when there is an eval split.
EVAL_LOSS_PROPERTY = "eval_loss"  # float, KRR loss on the eval split
EVAL_ACCURACY_PROPERTY = "eval_accuracy"  # float, KRR accuracy on the eval split
# Custom properties set on the `model` artifact (the Trainer's names).
TRAIN_ACCURACY_PROPERTY = "train_accuracy"  # float, KRR accuracy on the train split
MODEL_TYPE_PROPERTY = "model_type"  # string, "krr"
MODEL_TYPE = "krr"


class KipDistillSpec(ComponentSpec):
    """ComponentSpec of `KipDistill` (see executor.Executor for meanings)."""

    PARAMETERS = {
        IMAGES_PER_CLASS_KEY: ExecutionParameter(type=int),
        METHOD_KEY: ExecutionParameter(type=str),
        KERNEL_KEY: ExecutionParameter(type=str),
        KERNEL_KIND_KEY: ExecutionParameter(type=str),
        DEPTH_KEY: ExecutionParameter(type=int, optional=True),
        STEPS_KEY: ExecutionParameter(type=int),
        LEARNING_RATE_KEY: ExecutionParameter(type=float),
        TARGET_BATCH_SIZE_KEY: ExecutionParameter(type=int),
        LEARN_LABELS_KEY: ExecutionParameter(type=int),
        STANDARDIZE_KEY: ExecutionParameter(type=int),
        USE_ZCA_KEY: ExecutionParameter(type=int),
        REG_KEY: ExecutionParameter(type=float),
        SEED_KEY: ExecutionParameter(type=int),
        COMPONENT_VERSION_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
    }
    OUTPUTS = {
        DISTILLED_KEY: ChannelParameter(type=standard_artifacts.Examples),
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        VISUALIZATION_KEY: ChannelParameter(type=HtmlReport),
    }
