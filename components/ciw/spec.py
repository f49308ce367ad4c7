"""Names shared by the CiwTrainer component, its executor and tests (ARCHITECTURE.md rule 2).

The hyper-parameter defaults are `CiwConfig`'s (the plain algorithm's), and
the network's and the label column's are the baseline Trainer's, so that the
component, the plain function and the Trainer cannot drift apart.
"""

from __future__ import annotations

from tfx.types.component_spec import ComponentSpec, ExecutionParameter

from frontier.components.ciw.train import METHODS, CiwConfig  # noqa: F401 (METHODS re-exported)
from frontier.components.trainer import spec as trainer_spec
from frontier.schemas.dataset import TRUE_LABEL_KEY  # noqa: F401 (re-exported)

COMPONENT_PACKAGE = "ciw"  # folder name, for code_version()
# Other component packages whose code the executor runs: the network
# (`trainer.model.build_model`) and the serving contract (`trainer.export`),
# so their code is part of the cache key too.
DEPENDS_ON = (trainer_spec.COMPONENT_PACKAGE,)

# Inputs / outputs (the Trainer's names: the outputs are interchangeable).
EXAMPLES_KEY = trainer_spec.EXAMPLES_KEY
MODEL_KEY = trainer_spec.MODEL_KEY
MODEL_RUN_KEY = trainer_spec.MODEL_RUN_KEY
VISUALIZATION_KEY = trainer_spec.VISUALIZATION_KEY

# Execution parameters: the fields of `CiwConfig` ...
METHOD_KEY = "method"
ALPHA_KEY = "alpha"
LAM_KEY = "lam"
DIVERGENCE_KEY = "divergence"
GAMMA_KEY = "gamma"
BURN_IN_FRACTION_KEY = "burn_in_fraction"
ANNEAL_FRACTION_KEY = "anneal_fraction"
BURN_IN_KEY = "burn_in"  # optional: absolute steps instead of the fraction
SCHEDULE_KEY = "schedule"
ANNEAL_STEPS_KEY = "anneal_steps"  # optional: absolute steps instead of the fraction
MIXUP_ALPHA_KEY = "mixup_alpha"
EPOCHS_KEY = trainer_spec.EPOCHS_KEY
BATCH_SIZE_KEY = trainer_spec.BATCH_SIZE_KEY
LEARNING_RATE_KEY = trainer_spec.LEARNING_RATE_KEY
SEED_KEY = trainer_spec.SEED_KEY
TRAIN_STEPS_KEY = trainer_spec.TRAIN_STEPS_KEY  # optional bound on the gradient steps
# ... in the order of `CiwConfig`'s fields (the executor rebuilds the config from them).
CONFIG_KEYS = (
    METHOD_KEY,
    ALPHA_KEY,
    LAM_KEY,
    DIVERGENCE_KEY,
    GAMMA_KEY,
    BURN_IN_FRACTION_KEY,
    ANNEAL_FRACTION_KEY,
    BURN_IN_KEY,
    SCHEDULE_KEY,
    ANNEAL_STEPS_KEY,
    MIXUP_ALPHA_KEY,
    EPOCHS_KEY,
    BATCH_SIZE_KEY,
    LEARNING_RATE_KEY,
    SEED_KEY,
    TRAIN_STEPS_KEY,
)
# ... and the network and the target, as the Trainer takes them.
MODEL_TYPE_KEY = trainer_spec.MODEL_TYPE_KEY
HIDDEN_UNITS_KEY = trainer_spec.HIDDEN_UNITS_KEY  # JSON list of ints, e.g. "[128]"
LABEL_KEY_KEY = trainer_spec.LABEL_KEY_KEY  # the int role column trained on (noisy labels)

_DEFAULTS = CiwConfig()
DEFAULT_METHOD = _DEFAULTS.method
DEFAULT_ALPHA = _DEFAULTS.alpha
DEFAULT_LAM = _DEFAULTS.lam
DEFAULT_DIVERGENCE = _DEFAULTS.divergence
DEFAULT_GAMMA = _DEFAULTS.gamma
DEFAULT_BURN_IN_FRACTION = _DEFAULTS.burn_in_fraction
DEFAULT_ANNEAL_FRACTION = _DEFAULTS.anneal_fraction
DEFAULT_BURN_IN = _DEFAULTS.burn_in
DEFAULT_SCHEDULE = _DEFAULTS.schedule
DEFAULT_ANNEAL_STEPS = _DEFAULTS.anneal_steps
DEFAULT_MIXUP_ALPHA = _DEFAULTS.mixup_alpha
DEFAULT_EPOCHS = _DEFAULTS.epochs
DEFAULT_BATCH_SIZE = _DEFAULTS.batch_size
DEFAULT_LEARNING_RATE = _DEFAULTS.learning_rate
DEFAULT_SEED = _DEFAULTS.seed
DEFAULT_TRAIN_STEPS = _DEFAULTS.train_steps
DEFAULT_MODEL_TYPE = trainer_spec.DEFAULT_MODEL_TYPE
DEFAULT_HIDDEN_UNITS = trainer_spec.DEFAULT_HIDDEN_UNITS
DEFAULT_LABEL_KEY = trainer_spec.DEFAULT_LABEL_KEY

# Custom properties set on the output Model artifact.
METHOD_PROPERTY = "method"  # string
MODEL_TYPE_PROPERTY = trainer_spec.MODEL_TYPE_PROPERTY  # string
TRAIN_ACCURACY_PROPERTY = trainer_spec.TRAIN_ACCURACY_PROPERTY  # float, against `label_key`
EVAL_ACCURACY_PROPERTY = trainer_spec.EVAL_ACCURACY_PROPERTY  # float; only with eval examples
EVAL_LOSS_PROPERTY = trainer_spec.EVAL_LOSS_PROPERTY  # float; only with eval examples
# Only when the examples carry `true_label` (e.g. Ingest with label noise):
TRUE_TRAIN_ACCURACY_PROPERTY = "true_train_accuracy"  # float, train split against true_label
FLIPPED_FRACTION_PROPERTY = "flipped_fraction"  # float, train labels != true_label
MEAN_WEIGHT_CLEAN_PROPERTY = "mean_weight_clean"  # float, last epoch; with clean examples
MEAN_WEIGHT_FLIPPED_PROPERTY = "mean_weight_flipped"  # float, last epoch; with flipped ones

# TensorBoard (in the ModelRun artifact): one writer per split, Keras' layout.
TRAIN_LOG_DIR = "train"
VALIDATION_LOG_DIR = "validation"


class CiwTrainerSpec(ComponentSpec):
    """ComponentSpec of `CiwTrainer` (see executor.Executor for meanings)."""

    # The CIW hyper-parameters, then the Trainer's own parameters (network,
    # optimisation, label column, component_version) and its inputs and
    # outputs: a CiwTrainer is a drop-in for a Trainer.
    PARAMETERS = {
        METHOD_KEY: ExecutionParameter(type=str),
        ALPHA_KEY: ExecutionParameter(type=float),
        LAM_KEY: ExecutionParameter(type=float),
        DIVERGENCE_KEY: ExecutionParameter(type=str),
        GAMMA_KEY: ExecutionParameter(type=float),
        BURN_IN_FRACTION_KEY: ExecutionParameter(type=float),
        ANNEAL_FRACTION_KEY: ExecutionParameter(type=float),
        BURN_IN_KEY: ExecutionParameter(type=int, optional=True),
        SCHEDULE_KEY: ExecutionParameter(type=str),
        ANNEAL_STEPS_KEY: ExecutionParameter(type=int, optional=True),
        MIXUP_ALPHA_KEY: ExecutionParameter(type=float),
        **trainer_spec.TrainerSpec.PARAMETERS,
    }
    # Not the Trainer's optional base_model: CIW always trains from scratch.
    DEFAULTS = trainer_spec.TrainerSpec.DEFAULTS
    INPUTS = {EXAMPLES_KEY: trainer_spec.TrainerSpec.INPUTS[EXAMPLES_KEY]}
    OUTPUTS = trainer_spec.TrainerSpec.OUTPUTS
