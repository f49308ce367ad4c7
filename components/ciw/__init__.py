"""CIW: constrained instance and class reweighting against label noise.

Plain functions (no TFX): `weights` (instance weights, class-reweighted
losses, the lambda schedule) and `train` (`ciw_objective`, the reusable
Keras piece: CIW's objective for any classifier through
`trainer.step.objective_model`; `fit_ciw` on streamed batches, `train_ciw`
on arrays; `CiwConfig`). The
`CiwTrainer` component is imported lazily, so `from frontier.components.ciw
import train_ciw` stays light (no TFX import).
"""

from frontier.components.ciw.train import (
    CE,
    CICW,
    CICW_MIXUP,
    CIW,
    METHODS,
    MIXUP,
    CiwConfig,
    CiwResult,
    check_config,
    ciw_objective,
    fit_ciw,
    schedule_warnings,
    train_ciw,
)
from frontier.components.ciw.weights import (
    DIVERGENCES,
    KL,
    TV,
    annealed_lambda,
    class_reweighted_losses,
    class_weights,
    instance_weights,
    per_class_losses,
    weighted_loss,
)
from frontier.components.common.lazy import lazy_exports

__all__ = [
    "CE",
    "CICW",
    "CICW_MIXUP",
    "CIW",
    "DIVERGENCES",
    "KL",
    "METHODS",
    "MIXUP",
    "TV",
    "CiwConfig",
    "CiwResult",
    "CiwTrainer",
    "annealed_lambda",
    "check_config",
    "ciw_objective",
    "class_reweighted_losses",
    "class_weights",
    "instance_weights",
    "fit_ciw",
    "schedule_warnings",
    "per_class_losses",
    "train_ciw",
    "weighted_loss",
]

# The component needs TFX (seconds to import); the plain functions do not.
__getattr__ = lazy_exports(__name__, {"CiwTrainer": "frontier.components.ciw.component"})
