"""Executor of `CiwTrainer`: read Examples, `train_ciw`, export like the Trainer, report."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from frontier.components.ciw import spec
from frontier.components.ciw.report import TITLE, ciw_page
from frontier.components.ciw.train import (
    REWEIGHTING_METHODS,
    CiwConfig,
    cross_entropy_and_accuracy,
    train_ciw,
)
from frontier.components.common import html
from frontier.components.common.errors import InputError
from frontier.components.common.examples_io import (
    FEATURES,
    check_label_column,
    load_train_and_eval,
    split_uri,
)
from frontier.components.trainer.export import save_model_artifact
from frontier.components.trainer.model import (
    check_label_key,
    check_labels,
    check_model_type,
    parse_hidden_units,
)
from frontier.schemas.dataset import (
    EVAL_SPLIT,
    TRAIN_SPLIT,
    TRUE_LABEL_KEY,
    DatasetInfo,
)

OWNER = "CiwTrainer"


def check_parameters(
    *,
    model_type: str,
    hidden_units: Sequence[int] | str,
    label_key: str,
    **config: Any,
) -> tuple[CiwConfig, tuple[int, ...]]:
    """Validates every CiwTrainer parameter.

    Args:
      model_type, hidden_units, label_key: the network and the target column
        (as the Trainer takes them; `hidden_units` a list or a JSON string).
      **config: the `CiwConfig` fields by name (`spec.CONFIG_KEYS`), all of them.

    Returns:
      (the `CiwConfig`, the hidden layer sizes).

    Raises:
      InputError: naming the first invalid parameter.
    """
    check_model_type(model_type)
    units = parse_hidden_units(hidden_units)
    check_label_key(label_key)
    return CiwConfig(**{k: config[k] for k in spec.CONFIG_KEYS}), units


def _typed(key: str, value: Any) -> Any:
    """An execution property as its declared type (int / float / str)."""
    kind = spec.CiwTrainerSpec.PARAMETERS[key].type
    return kind(value) if value is not None else value


class _EpochLogger:
    """After each epoch: a progress line, and the scalars for TensorBoard.

    TensorBoard layout as Keras' callback writes it: `<model_run>/train/` and
    `<model_run>/validation/` with scalars `epoch_<metric>` (validation
    metrics without their `val_` prefix).
    """

    def __init__(self, log_dir: str, method: str, epochs: int, validation: bool) -> None:
        import tensorflow as tf

        self._tf = tf
        self.method, self.epochs = method, epochs
        self.train = tf.summary.create_file_writer(os.path.join(log_dir, spec.TRAIN_LOG_DIR))
        self.validation = (
            tf.summary.create_file_writer(os.path.join(log_dir, spec.VALIDATION_LOG_DIR))
            if validation
            else None
        )

    def __call__(self, epoch: int, logs: Mapping[str, float]) -> None:
        metrics = " ".join(f"{k}={v:.4f}" for k, v in sorted(logs.items()))
        logging.info(
            "%s (%s): epoch %d/%d: %s", OWNER, self.method, epoch + 1, self.epochs, metrics
        )
        tf = self._tf
        with self.train.as_default(step=epoch):
            for key, value in logs.items():
                if not key.startswith("val_"):
                    tf.summary.scalar(f"epoch_{key}", value)
        if self.validation is not None:
            with self.validation.as_default(step=epoch):
                for key, value in logs.items():
                    if key.startswith("val_"):
                        tf.summary.scalar(f"epoch_{key[len('val_') :]}", value)

    def close(self, example_weights: np.ndarray, flipped: np.ndarray | None) -> None:
        """Writes the last epoch's weight histograms, then flushes and closes."""
        tf = self._tf
        with self.train.as_default(step=max(self.epochs - 1, 0)):
            tf.summary.histogram("example_weights", example_weights)
            if flipped is not None:
                for name, mask in (("clean", ~flipped), ("flipped", flipped)):
                    if mask.any():
                        tf.summary.histogram(f"example_weights_{name}", example_weights[mask])
        for writer in (self.train, self.validation):
            if writer is not None:
                writer.close()


class Executor(base_executor.BaseExecutor):
    """Trains the baseline classifier with CIW (or a control) and exports it.

    Inputs:
      examples: exactly one frontier `Examples` artifact with a non-empty
        `train` split and `dataset_info.json`; an `eval` split, when present
        and not empty, is evaluated after each epoch. When the examples carry
        `true_label` (Ingest with label noise), the train split's true labels
        give the weight statistics of clean and flipped examples (never used
        for training), and the eval split is scored against its `true_label`
        (clean); otherwise against `label_key`.

    Outputs:
      model: `Model`, exactly the Trainer's layout (`trainer.export`):
        SavedModel at `<uri>/Format-Serving` with signature `serving_default`
        (serialized `tf.Example` strings `examples` -> `probabilities`
        float32 [N, C], `classes` int64 [N]) and `dataset_info.json` beside
        it; the Keras model at `<uri>/keras/model.keras`. Custom properties:
        `method`, `model_type` (string); `train_accuracy` (against
        `label_key`); `eval_accuracy`, `eval_loss` (with eval examples);
        `true_train_accuracy`, `flipped_fraction`, `mean_weight_clean`,
        `mean_weight_flipped` (with `true_label`; the weights of the last
        epoch, times the batch size, 1 = uniform; each only when the group
        is not empty).
      model_run: `ModelRun`; TensorBoard logs: per-epoch scalars in `train/`
        and `validation/`, and histograms of the last epoch's weights.
      visualization: `HtmlReport`; the weight histogram (clean vs flipped
        labels when known), training curves, final metrics, parameters.

    Parameters:
      method: `ce`, `mixup`, `ciw`, `cicw` or `cicw_mixup`.
      alpha, lam, divergence, gamma, burn_in, schedule, anneal_steps,
        mixup_alpha, epochs, batch_size, learning_rate, seed: `CiwConfig`.
      model_type: "mlp" or "convnet" (needs `image_shape` in the data).
      hidden_units: JSON list of ints, the hidden Dense layer sizes.
      label_key: int role column trained on (default `label`).
      component_version: code hash, only for the cache key.
    """

    def Do(
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],
        exec_properties: dict[str, Any],
    ) -> None:
        examples = artifact_utils.get_single_instance(input_dict[spec.EXAMPLES_KEY])
        model_artifact = artifact_utils.get_single_instance(output_dict[spec.MODEL_KEY])
        model_run = artifact_utils.get_single_instance(output_dict[spec.MODEL_RUN_KEY])
        report = artifact_utils.get_single_instance(output_dict[spec.VISUALIZATION_KEY])

        model_type = str(exec_properties[spec.MODEL_TYPE_KEY])
        hidden_json = str(exec_properties[spec.HIDDEN_UNITS_KEY])
        label_key = str(exec_properties.get(spec.LABEL_KEY_KEY) or spec.DEFAULT_LABEL_KEY)
        config, hidden_units = check_parameters(
            model_type=model_type,
            hidden_units=hidden_json,
            label_key=label_key,
            **{k: _typed(k, exec_properties[k]) for k in spec.CONFIG_KEYS},
        )

        info = DatasetInfo.read(examples.uri)
        check_label_column(info, label_key, examples.uri)
        if label_key in info.label_spaces:
            # Clean-label scoring and the flipped-label page assume `label`'s classes.
            raise InputError(
                f"label_key {label_key!r} has its own label space",
                file=examples.uri,
                column="label_key",
                expected="a column in the data's classes (label, weak_label or true_label)",
            )
        owner = f"{OWNER} ({config.method})"
        has_true = info.has(TRUE_LABEL_KEY)
        data = load_train_and_eval(examples, info, owner)
        for split, arrays in data.items():
            for key in {label_key, *([TRUE_LABEL_KEY] if has_true else [])}:
                arrays[key] = check_labels(
                    arrays[key], info.num_classes, column=key, file=split_uri(examples.uri, split)
                )
        train_data = data[TRAIN_SPLIT]
        eval_data = data.get(EVAL_SPLIT)
        eval_key = TRUE_LABEL_KEY if has_true else label_key

        true_labels = flipped = None
        if has_true:
            true_labels = train_data[TRUE_LABEL_KEY]
            flipped = true_labels != train_data[label_key]
            logging.info(
                "%s: %d of %d training labels (%s) differ from %s",
                owner,
                int(flipped.sum()),
                len(flipped),
                label_key,
                TRUE_LABEL_KEY,
            )
        validation_data = None
        if eval_data is not None:
            validation_data = (eval_data[FEATURES], eval_data[eval_key])

        logger = _EpochLogger(model_run.uri, config.method, config.epochs, eval_data is not None)
        result = train_ciw(
            train_data[FEATURES],
            train_data[label_key],
            info,
            config,
            model_type=model_type,
            hidden_units=hidden_units,
            true_labels=true_labels,
            validation_data=validation_data,
            on_epoch_end=logger,
        )
        logger.close(result.example_weights, flipped)

        path = save_model_artifact(result.model, info, model_artifact.uri)
        logging.info("%s: SavedModel written to %s", owner, path)

        final: dict[str, dict[str, Any]] = {}
        for split, arrays in data.items():
            target = label_key if split == TRAIN_SPLIT else eval_key
            probabilities = result.model.predict(arrays[FEATURES], batch_size=1024, verbose=0)
            loss, accuracy = cross_entropy_and_accuracy(probabilities, arrays[target])
            final[split] = {
                "examples": len(arrays[target]),
                "labels": target,
                "loss": loss,
                "accuracy": accuracy,
            }
            if has_true:
                final[split]["true_accuracy"] = cross_entropy_and_accuracy(
                    probabilities, arrays[TRUE_LABEL_KEY]
                )[1]

        properties: dict[str, float] = {
            spec.TRAIN_ACCURACY_PROPERTY: final[TRAIN_SPLIT]["accuracy"]
        }
        if EVAL_SPLIT in final:
            properties[spec.EVAL_ACCURACY_PROPERTY] = final[EVAL_SPLIT]["accuracy"]
            properties[spec.EVAL_LOSS_PROPERTY] = final[EVAL_SPLIT]["loss"]
        if flipped is not None:
            properties[spec.TRUE_TRAIN_ACCURACY_PROPERTY] = final[TRAIN_SPLIT]["true_accuracy"]
            properties[spec.FLIPPED_FRACTION_PROPERTY] = float(flipped.mean())
            # train_ciw's history holds the last epoch's mean weight per group
            # (a group only when it has examples).
            for key, metric in (
                (spec.MEAN_WEIGHT_CLEAN_PROPERTY, "mean_weight_clean"),
                (spec.MEAN_WEIGHT_FLIPPED_PROPERTY, "mean_weight_flipped"),
            ):
                if metric in result.history:
                    properties[key] = result.history[metric][-1]
        model_artifact.set_string_custom_property(spec.METHOD_PROPERTY, config.method)
        model_artifact.set_string_custom_property(spec.MODEL_TYPE_PROPERTY, model_type)
        for key, value in properties.items():
            model_artifact.set_float_custom_property(key, value)

        params = {
            **{k: getattr(config, k) for k in spec.CONFIG_KEYS},
            spec.MODEL_TYPE_KEY: model_type,
            spec.HIDDEN_UNITS_KEY: json.dumps(list(hidden_units)),
            spec.LABEL_KEY_KEY: label_key,
            "classes": ", ".join(info.class_names),
            "input_dim": info.input_dim,
        }
        reweights = config.method in REWEIGHTING_METHODS
        steps_per_epoch = math.ceil(len(train_data[label_key]) / config.batch_size)
        document = ciw_page(
            history=result.history,
            example_weights=result.example_weights,
            flipped=flipped,
            final=final,
            params=params,
            reweights=reweights,
            burn_in_epochs=config.burn_in / steps_per_epoch if reweights else None,
            subtitle=f"method {config.method}; data: {info.source or examples.uri}",
        )
        html.write_report(report, f"{TITLE} ({config.method})", document)
