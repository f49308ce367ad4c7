"""Executor of `CiwTrainer`: read Examples, `train_ciw`, export like the Trainer, report."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from absl import logging

from frontier.components.ciw import spec
from frontier.components.ciw.report import TITLE, ciw_page
from frontier.components.ciw.train import REWEIGHTING_METHODS, CiwConfig, CiwResult, train_ciw
from frontier.components.common import html
from frontier.components.common.checks import check_label_key
from frontier.components.common.errors import InputError
from frontier.components.common.examples_io import FEATURES, check_label_column
from frontier.components.common.executor import (
    ComponentExecutor,
    Job,
    LabelledSplits,
    keras_split_metrics,
    load_labelled_splits,
    page_parameters,
    publish_model,
    source_of,
)
from frontier.components.trainer.export import save_model_artifact
from frontier.components.trainer.model import check_model_type, parse_hidden_units
from frontier.components.trainer.modules import describe_model, model_builder, model_spec
from frontier.schemas.dataset import (
    DATASET_INFO_FILE,
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


class Executor(ComponentExecutor):
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

    SPEC_CLASS = spec.CiwTrainerSpec

    def run(self, job: Job) -> None:
        p = job.params
        label_key = p[spec.LABEL_KEY_KEY]
        config, hidden_units = check_parameters(
            model_type=p[spec.MODEL_TYPE_KEY],
            hidden_units=p[spec.HIDDEN_UNITS_KEY],
            label_key=label_key,
            **{k: p[k] for k in spec.CONFIG_KEYS},
        )
        owner = f"{OWNER} ({config.method})"
        data = _load(job.input(spec.EXAMPLES_KEY), label_key, owner)
        flipped = _flipped(data, owner)
        eval_key = label_key if flipped is None else TRUE_LABEL_KEY
        result = _train(data, config, p, hidden_units, flipped, job.output(spec.MODEL_RUN_KEY).uri)
        final = keras_split_metrics(
            result.model,
            data,
            targets={EVAL_SPLIT: eval_key},
            also=None if flipped is None else {"true_accuracy": TRUE_LABEL_KEY},
        )
        properties = {
            spec.METHOD_PROPERTY: config.method,
            spec.MODEL_TYPE_PROPERTY: describe_model(p),
            **_noise_properties(final, flipped, result.history),
        }
        save = functools.partial(save_model_artifact, result.model, data.info)
        publish_model(job.output(spec.MODEL_KEY), save, final, properties, owner)
        document = _page(result, final, flipped, config, p, data)
        html.write_report(
            job.output(spec.VISUALIZATION_KEY), f"{TITLE} ({config.method})", document
        )


def _train(
    data: LabelledSplits,
    config: CiwConfig,
    p: Mapping[str, Any],
    hidden_units: tuple[int, ...],
    flipped: np.ndarray | None,
    log_dir: str,
) -> CiwResult:
    """`train_ciw` on the train split, validated on the eval split (against
    `true_label` when known), with TensorBoard logs in `log_dir`."""
    eval_key = data.label_key if flipped is None else TRUE_LABEL_KEY
    logger = _EpochLogger(log_dir, config.method, config.epochs, data.eval is not None)
    result = train_ciw(
        *data.xy(TRAIN_SPLIT),
        data.info,
        config,
        model_type=p[spec.MODEL_TYPE_KEY],
        hidden_units=hidden_units,
        build=model_builder(p, model_spec(data.info, data.train[FEATURES])),
        true_labels=None if flipped is None else data.train[TRUE_LABEL_KEY],
        validation_data=None if data.eval is None else data.xy(EVAL_SPLIT, eval_key),
        on_epoch_end=logger,
    )
    logger.close(result.example_weights, flipped)
    return result


def _load(examples: Any, label_key: str, owner: str) -> LabelledSplits:
    """The splits, with `true_label` checked too when the examples carry it."""
    info = DatasetInfo.read(examples.uri)
    check_label_column(info, label_key, examples.uri)
    if label_key in info.label_spaces:
        # Clean-label scoring and the flipped-label page assume `label`'s classes.
        raise InputError(
            f"label_key {label_key!r} has its own label space",
            file=os.path.join(examples.uri, DATASET_INFO_FILE),
            column="label_key",
            expected="a column in the data's classes (label, weak_label or true_label)",
        )
    also = (TRUE_LABEL_KEY,) if info.has(TRUE_LABEL_KEY) else ()
    return load_labelled_splits(examples, label_key, owner, also_check=also)


def _flipped(data: LabelledSplits, owner: str) -> np.ndarray | None:
    """bool [N]: which training labels differ from `true_label` (None without it)."""
    if not data.info.has(TRUE_LABEL_KEY):
        return None
    flipped = data.train[TRUE_LABEL_KEY] != data.train[data.label_key]
    logging.info(
        "%s: %d of %d training labels (%s) differ from %s",
        owner,
        int(flipped.sum()),
        len(flipped),
        data.label_key,
        TRUE_LABEL_KEY,
    )
    return flipped


def _noise_properties(
    final: Mapping[str, Mapping[str, Any]],
    flipped: np.ndarray | None,
    history: Mapping[str, list[float]],
) -> dict[str, float]:
    """The properties that need `true_label`: clean accuracy, the flipped share,
    and the last epoch's mean weight per group (a group only when it has examples)."""
    if flipped is None:
        return {}
    properties = {
        spec.TRUE_TRAIN_ACCURACY_PROPERTY: final[TRAIN_SPLIT]["true_accuracy"],
        spec.FLIPPED_FRACTION_PROPERTY: float(flipped.mean()),
    }
    for key, metric in (
        (spec.MEAN_WEIGHT_CLEAN_PROPERTY, "mean_weight_clean"),
        (spec.MEAN_WEIGHT_FLIPPED_PROPERTY, "mean_weight_flipped"),
    ):
        if metric in history:
            properties[key] = history[metric][-1]
    return properties


def _page(
    result: CiwResult,
    final: Mapping[str, Mapping[str, Any]],
    flipped: np.ndarray | None,
    config: CiwConfig,
    p: Mapping[str, Any],
    data: LabelledSplits,
) -> str:
    """The CiwTrainer page: weights, curves, final metrics, parameters."""
    reweights = config.method in REWEIGHTING_METHODS
    steps_per_epoch = math.ceil(len(data.train[data.label_key]) / config.batch_size)
    params = page_parameters(
        p, classes=", ".join(data.info.class_names), input_dim=data.info.input_dim
    )
    return ciw_page(
        history=result.history,
        example_weights=result.example_weights,
        flipped=flipped,
        final=final,
        params=params,
        reweights=reweights,
        burn_in_epochs=config.burn_in / steps_per_epoch if reweights else None,
        subtitle=f"method {config.method}; {source_of(data.info, data.uri)}",
    )
