"""The baseline `Trainer` TFX component: a thin wrapper around `model.train`."""

from __future__ import annotations

import json
from collections.abc import Sequence

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts

from frontier.components.common.checks import check_int, check_label_key
from frontier.components.common.versioning import COMPONENT_VERSION_KEY, code_version
from frontier.components.trainer import spec
from frontier.components.trainer.executor import Executor
from frontier.components.trainer.model import check_hyperparameters, parse_hidden_units
from frontier.components.trainer.modules import (
    module_parameters,
    package_module_file,
    with_module_version,
)
from frontier.schemas.artifacts import HtmlReport


class Trainer(base_component.BaseComponent):
    """Trains frontier's baseline Keras classifier on `Examples`.

    A plain Keras classifier (MLP, or a small ConvNet for image data) trained
    with cross-entropy; the control that CIW, KIP and DP-FTRL are compared
    against and the teacher for SPL. Not the stock `tfx.components.Trainer`:
    it needs no module file, reading feature names from `dataset_info.json`.

    Outputs: `model` (SavedModel at `<uri>/Format-Serving`, usable by the
    stock Evaluator and Pusher), `model_run` (TensorBoard logs) and
    `visualization` (an `HtmlReport` with learning curves).

    Example:
      trainer = Trainer(examples=ingest.outputs["examples"], epochs=20)
      evaluator = make_evaluator(ingest.outputs["examples"], trainer.outputs["model"], ...)
    """

    SPEC_CLASS = spec.TrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        *,
        base_model: types.BaseChannel | None = None,
        epochs: int = spec.DEFAULT_EPOCHS,
        batch_size: int = spec.DEFAULT_BATCH_SIZE,
        learning_rate: float = spec.DEFAULT_LEARNING_RATE,
        seed: int = spec.DEFAULT_SEED,
        model_type: str = spec.DEFAULT_MODEL_TYPE,
        hidden_units: Sequence[int] | str = spec.DEFAULT_HIDDEN_UNITS,
        label_key: str = spec.DEFAULT_LABEL_KEY,
        train_steps: int | None = None,
        module_file: str | None = None,
        module_path: str | None = None,
        custom_config: dict | str | None = None,
    ) -> None:
        """Builds the component; invalid parameters fail here, not at run time.

        Args:
          examples: channel of frontier `Examples` with a non-empty `train`
            split (and optionally an `eval` split for validation curves; an
            empty one counts as absent).
          base_model: optional channel of a frontier `Model` to fine-tune:
            its body (all layers below the softmax head, with their weights)
            is trained further under a fresh head sized for `label_key`'s
            classes (pre-train then fine-tune, as SPL does).
            `model_type` and `hidden_units` are then the base model's.
          epochs: passes over the training split (>= 1).
          batch_size: examples per gradient step (>= 1).
          learning_rate: Adam step size (> 0).
          seed: seed of weight initialisation and shuffling.
          model_type: "mlp" or "convnet" (the latter needs image examples).
          hidden_units: sizes of the hidden Dense layers, as a list or a JSON
            list string.
          label_key: int role column to train on (`label`, `weak_label`,
            `true_label`, `teacher_label` or `spl_label`).
          train_steps: optional bound on the gradient steps (>= 1): training
            stops after that many, inside an epoch if need be.
          module_file: a Python file with `build_model(spec, config)` (the
            model-module contract, `trainer.modules`); the TFX runner
            packages it with the pipeline, as the stock Trainer's. Replaces
            `model_type` and `hidden_units`.
          module_path: an importable `package.module` with `build_model`
            instead (one of the two).
          custom_config: the module's hyperparameters, a dict or JSON object.
            Its source is part of the cache key: editing it re-runs the step.

        Raises:
          InputError: for an invalid parameter.
        """
        check_hyperparameters(
            epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, model_type=model_type
        )
        units = parse_hidden_units(hidden_units)
        check_label_key(label_key)
        module = module_parameters(module_file, module_path, custom_config)
        steps = (
            spec.NO_STEP_BOUND if train_steps is None else check_int(train_steps, "train_steps", 1)
        )
        component_spec = spec.TrainerSpec(
            **{
                spec.EXAMPLES_KEY: examples,
                spec.BASE_MODEL_KEY: base_model,
                spec.EPOCHS_KEY: int(epochs),
                spec.BATCH_SIZE_KEY: int(batch_size),
                spec.LEARNING_RATE_KEY: float(learning_rate),
                spec.SEED_KEY: int(seed),
                spec.MODEL_TYPE_KEY: model_type,
                spec.HIDDEN_UNITS_KEY: json.dumps(list(units)),
                spec.LABEL_KEY_KEY: label_key,
                spec.TRAIN_STEPS_KEY: steps,
                **module,
                COMPONENT_VERSION_KEY: with_module_version(
                    code_version(spec.COMPONENT_PACKAGE), module
                ),
                spec.MODEL_KEY: types.Channel(type=standard_artifacts.Model),
                spec.MODEL_RUN_KEY: types.Channel(type=standard_artifacts.ModelRun),
                spec.VISUALIZATION_KEY: types.Channel(type=HtmlReport),
            }
        )
        super().__init__(spec=component_spec)
        package_module_file(self)
