"""The `CiwTrainer` TFX component: a thin wrapper around `train.fit_ciw`."""

from __future__ import annotations

import json
from collections.abc import Sequence

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts

from frontier.components.ciw import spec
from frontier.components.ciw.executor import Executor, check_parameters
from frontier.components.common.versioning import COMPONENT_VERSION_KEY, code_version
from frontier.components.trainer.modules import (
    module_parameters,
    package_module_file,
    with_module_version,
)
from frontier.schemas.artifacts import HtmlReport


class CiwTrainer(base_component.BaseComponent):
    """Trains the baseline classifier robustly to label noise (CIW, CICW, CICW-Mixup).

    Constrained Instance (and Class) reWeighting (Kumar & Amid, 2021): each
    mini-batch's examples are weighted by the closed-form solution of a
    divergence-constrained problem, so that high-loss (likely mislabelled)
    examples count less; `cicw` also moves part of each label's mass to the
    model's most likely class, and `cicw_mixup` mixes low-weight examples
    with high-weight partners. `ce` (plain cross-entropy) and `mixup` are the
    controls, trained by the same step. The network is the Trainer's (a
    built-in `model_type` or the user's model module, streamed data and
    every local accelerator alike) and the outputs are the Trainer's
    (same keys, same SavedModel contract), so the stock Evaluator and Pusher
    and `EvaluationReport` take the model as they take the Trainer's.

    When the examples carry `true_label` (Ingest with `label_noise`), the
    executor reports how the weights split between clean and flipped
    training labels and scores the eval split against its clean labels; the
    true labels are never trained on.

    Outputs: `model` (SavedModel at `<uri>/Format-Serving`), `model_run`
    (TensorBoard logs) and `visualization` (an `HtmlReport` with the
    histogram of the last epoch's instance weights, clean vs flipped, and
    the training curves).

    Example:
      ingest = Ingest(source="sklearn:digits", label_noise="symmetric", noise_rate=0.4)
      ce = CiwTrainer(examples=ingest.outputs["examples"], method="ce").with_id("TrainCe")
      ciw = CiwTrainer(examples=ingest.outputs["examples"], method="ciw", lam=1.0)
      evaluator = make_evaluator(ingest.outputs["examples"], ciw.outputs["model"],
                                 ce.outputs["model"], num_classes=10, min_accuracy=None)
    """

    SPEC_CLASS = spec.CiwTrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        *,
        method: str = spec.DEFAULT_METHOD,
        alpha: float = spec.DEFAULT_ALPHA,
        lam: float = spec.DEFAULT_LAM,
        divergence: str = spec.DEFAULT_DIVERGENCE,
        gamma: float = spec.DEFAULT_GAMMA,
        burn_in_fraction: float = spec.DEFAULT_BURN_IN_FRACTION,
        anneal_fraction: float = spec.DEFAULT_ANNEAL_FRACTION,
        burn_in: int | None = spec.DEFAULT_BURN_IN,
        schedule: str = spec.DEFAULT_SCHEDULE,
        anneal_steps: int | None = spec.DEFAULT_ANNEAL_STEPS,
        mixup_alpha: float = spec.DEFAULT_MIXUP_ALPHA,
        epochs: int = spec.DEFAULT_EPOCHS,
        batch_size: int = spec.DEFAULT_BATCH_SIZE,
        learning_rate: float = spec.DEFAULT_LEARNING_RATE,
        seed: int = spec.DEFAULT_SEED,
        train_steps: int | None = spec.DEFAULT_TRAIN_STEPS,
        model_type: str = spec.DEFAULT_MODEL_TYPE,
        hidden_units: Sequence[int] | str = spec.DEFAULT_HIDDEN_UNITS,
        label_key: str = spec.DEFAULT_LABEL_KEY,
        module_file: str | None = None,
        module_path: str | None = None,
        custom_config: dict | str | None = None,
    ) -> None:
        """Builds the component; invalid parameters fail here, not at run time.

        Args:
          examples: channel of frontier `Examples` with a non-empty `train`
            split (and optionally an `eval` split for validation curves and
            final eval metrics; an empty one counts as absent).
          method: `ce`, `mixup`, `ciw` (instance reweighting), `cicw`
            (instance and class reweighting) or `cicw_mixup`.
          alpha: alpha of the instance-weight divergence (> 0; 1 = KL).
          lam: final lambda (> 0); smaller down-weights high losses more sharply.
          divergence: the class-reweighting ball, `kl` or `tv` (cicw, cicw_mixup).
          gamma: its radius (>= 0; <= 2 for `tv`).
          burn_in_fraction: the share of the run's steps (mini-batches) of
            plain cross-entropy before any reweighting (in [0, 1)).
          anneal_fraction: the share of the run's steps over which the linear
            schedule brings lambda down after the burn-in (in [0, 1]).
          burn_in: optional burn-in in absolute steps (>= 0), instead of
            `burn_in_fraction`.
          schedule: `linear` (lambda from 10 x lam down to lam over the
            annealing after the burn-in) or `constant`.
          anneal_steps: optional annealing in absolute steps (>= 0), instead
            of `anneal_fraction`.
          mixup_alpha: Beta(a, a) parameter of plain mixup's ratio (> 0).
          epochs: passes over the training split (>= 1).
          batch_size: examples per gradient step (>= 1).
          learning_rate: Adam step size (> 0).
          seed: seeds initialisation, shuffling and the mixup draws.
          train_steps: optional bound on the gradient steps (>= 1); the run's
            length (which the fractions are shares of) is the smaller of it
            and `epochs` passes.
          model_type: "mlp" or "convnet" (the latter needs image examples).
          hidden_units: sizes of the hidden Dense layers, as a list or a JSON
            list string.
          label_key: int role column to train on (`label`, `weak_label` or
            `true_label`); `label` holds the noisy labels of a noisy Ingest.
          module_file, module_path, custom_config: the user's model, as the
            Trainer takes it (`trainer.modules`); replaces `model_type` and
            `hidden_units`. CIW reweights that model's per-example losses.

        Raises:
          InputError: for an invalid parameter, naming it.
        """
        config, units = check_parameters(
            method=method,
            alpha=alpha,
            lam=lam,
            divergence=divergence,
            gamma=gamma,
            burn_in_fraction=burn_in_fraction,
            anneal_fraction=anneal_fraction,
            burn_in=burn_in,
            schedule=schedule,
            anneal_steps=anneal_steps,
            mixup_alpha=mixup_alpha,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            train_steps=train_steps,
            model_type=model_type,
            hidden_units=hidden_units,
            label_key=label_key,
        )
        parameters = {
            key: spec.CiwTrainerSpec.PARAMETERS[key].type(getattr(config, key))
            for key in spec.CONFIG_KEYS
            if getattr(config, key) is not None  # an unset optional parameter
        }
        module = module_parameters(module_file, module_path, custom_config)
        version = code_version(spec.COMPONENT_PACKAGE, *spec.DEPENDS_ON)
        component_spec = spec.CiwTrainerSpec(
            **{
                spec.EXAMPLES_KEY: examples,
                **parameters,
                spec.MODEL_TYPE_KEY: model_type,
                spec.HIDDEN_UNITS_KEY: json.dumps(list(units)),
                spec.LABEL_KEY_KEY: label_key,
                **module,
                COMPONENT_VERSION_KEY: with_module_version(version, module),
                spec.MODEL_KEY: types.Channel(type=standard_artifacts.Model),
                spec.MODEL_RUN_KEY: types.Channel(type=standard_artifacts.ModelRun),
                spec.VISUALIZATION_KEY: types.Channel(type=HtmlReport),
            }
        )
        super().__init__(spec=component_spec)
        package_module_file(self)
