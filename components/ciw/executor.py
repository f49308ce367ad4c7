"""Executor of `CiwTrainer`: stream Examples, `fit_ciw` the model module's classifier,
export like the Trainer, report."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from frontier.components.ciw import spec
from frontier.components.ciw.report import TITLE, ciw_page
from frontier.components.ciw.train import REWEIGHTING_METHODS, CiwConfig, CiwResult, fit_ciw
from frontier.components.common import html, progress
from frontier.components.common.checks import check_label_key
from frontier.components.common.errors import InputError
from frontier.components.common.executor import (
    ComponentExecutor,
    Job,
    page_parameters,
    publish_model,
    source_of,
)
from frontier.components.common.progress import keras_progress
from frontier.components.common.streaming import StreamedSplits, open_labelled_splits, summarize
from frontier.components.trainer.export import save_model_artifact
from frontier.components.trainer.model import (
    check_model_type,
    parse_hidden_units,
)
from frontier.components.trainer.modules import ModelSpec, describe_model, model_functions
from frontier.components.trainer.step import local_strategy, preprocessed
from frontier.schemas.dataset import (
    DATASET_INFO_FILE,
    EVAL_SPLIT,
    TRAIN_SPLIT,
    TRUE_LABEL_KEY,
    DatasetInfo,
)

OWNER = "CiwTrainer"
# As the Trainer's: a split whose float32 features fit in this is cached after one pass.
CACHE_BYTES = 64 * 2**20
NOISE_LOGS = ("true_accuracy", "mean_weight_clean", "mean_weight_flipped")


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
      **config: the `CiwConfig` fields by name (`spec.CONFIG_KEYS`); one that
        is missing or None takes `CiwConfig`'s default, and `train_steps` 0
        means unset (the Trainer's convention).

    Returns:
      (the `CiwConfig`, the hidden layer sizes).

    Raises:
      InputError: naming the first invalid parameter.
    """
    check_model_type(model_type)
    units = parse_hidden_units(hidden_units)
    check_label_key(label_key)
    fields = {k: config[k] for k in spec.CONFIG_KEYS if config.get(k) is not None}
    if fields.get(spec.TRAIN_STEPS_KEY) == 0:
        del fields[spec.TRAIN_STEPS_KEY]
    return CiwConfig(**fields), units


class Executor(ComponentExecutor):
    """Trains the model module's classifier with CIW (or a control) and exports it.

    The splits are read as `tf.data` streams, as the Trainer reads them (one
    checking pass per split, then batches; nothing held in memory), and the
    classifier is trained by `ciw.train.fit_ciw` on every local accelerator
    (`trainer.step.local_strategy`; `batch_size` is the global batch, and
    the weights are normalised over it).

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
        `mean_weight_flipped` (with `true_label`; the mean weights over the
        last epoch's steps, times the batch size, 1 = uniform; each only
        when the group is not empty).
      model_run: `ModelRun`; TensorBoard logs (Keras' `train/` and
        `validation/` scalars).
      visualization: `HtmlReport`; the last epoch's weight histogram (clean
        vs flipped labels when known), training curves, final metrics,
        parameters.

    Parameters:
      method: `ce`, `mixup`, `ciw`, `cicw` or `cicw_mixup`.
      alpha, lam, divergence, gamma, burn_in_fraction, anneal_fraction,
        burn_in, schedule, anneal_steps, mixup_alpha, epochs, batch_size,
        learning_rate, seed, train_steps: `CiwConfig`.
      model_type: "mlp" or "convnet" (needs `image_shape` in the data).
      hidden_units: JSON list of ints, the hidden Dense layer sizes.
      module_file, module_path, custom_config: the user's model module.
      label_key: int role column trained on (default `label`).
      component_version: code hash, only for the cache key.
    """

    SPEC_CLASS = spec.CiwTrainerSpec

    def run(self, job: Job) -> None:
        p = job.params
        config, _ = check_parameters(
            model_type=p[spec.MODEL_TYPE_KEY],
            hidden_units=p[spec.HIDDEN_UNITS_KEY],
            label_key=p[spec.LABEL_KEY_KEY],
            **{k: p.get(k) for k in spec.CONFIG_KEYS},
        )
        owner = f"{OWNER} ({config.method})"
        data = _open(job.input(spec.EXAMPLES_KEY), p[spec.LABEL_KEY_KEY], owner)
        noisy = data.info.has(TRUE_LABEL_KEY)
        strategy = local_strategy()
        with strategy.scope():
            classifier, preprocess = _classifier(p, data, config.seed)
        log_dir = job.output(spec.MODEL_RUN_KEY).uri
        name = f"{job.node or OWNER} ({config.method})"
        result = _train(classifier, data, config, noisy, log_dir, preprocess, name)
        final = _final_metrics(classifier, data, noisy, preprocess)
        properties = {
            spec.METHOD_PROPERTY: config.method,
            spec.MODEL_TYPE_PROPERTY: describe_model(p),
            **_noise_properties(final, result, noisy),
        }
        publish_model(
            job.output(spec.MODEL_KEY),
            lambda uri: save_model_artifact(classifier, data.label_info, uri, preprocess),
            final,
            properties,
            owner,
        )
        document = _page(result, final, noisy, config, p, data)
        html.write_report(
            job.output(spec.VISUALIZATION_KEY), f"{TITLE} ({config.method})", document
        )


def _open(examples: Any, label_key: str, owner: str) -> StreamedSplits:
    """The streamed splits, with `true_label`'s rows checked too when the examples carry it."""
    info = DatasetInfo.read(examples.uri)
    if label_key in info.label_spaces:
        # Clean-label scoring and the flipped-label page assume `label`'s classes.
        raise InputError(
            f"label_key {label_key!r} has its own label space",
            file=os.path.join(examples.uri, DATASET_INFO_FILE),
            parameter="label_key",
            expected="a column in the data's classes (label, weak_label or true_label)",
        )
    data = open_labelled_splits(examples, label_key, owner)
    if info.has(TRUE_LABEL_KEY):
        for split in data.summaries:  # one more checking pass: true_label's ids
            summarize(examples.uri, split, info, TRUE_LABEL_KEY)
    return data


def _classifier(p: Mapping[str, Any], data: StreamedSplits, seed: int) -> tuple[Any, Any]:
    """The model module's classifier for the data, after seeding Keras, and
    its input preprocessing (None without one)."""
    import keras

    keras.utils.set_random_seed(int(seed))
    train = data.summaries[TRAIN_SPLIT]
    module = model_functions(
        p, ModelSpec(data.label_info, train.feature_mean, train.feature_variance)
    )
    return module.build(), module.preprocess


def _train(
    classifier: Any,
    data: StreamedSplits,
    config: CiwConfig,
    noisy: bool,
    log_dir: str,
    preprocess: Any,
    name: str,
) -> CiwResult:
    """`fit_ciw` on the shuffled, repeating train stream (with `true_label`
    third when known), validated on the eval split (against `true_label`
    when known), the batches through the module's `preprocess` when it has
    one, with TensorBoard logs in `log_dir` and progress under `name`."""
    import keras

    validation = None
    if EVAL_SPLIT in data.summaries:
        validation = data.batches(
            EVAL_SPLIT,
            config.batch_size,
            cache=data.fits_in(EVAL_SPLIT, CACHE_BYTES),
            label_key=TRUE_LABEL_KEY if noisy else None,
        )
        validation = preprocessed(validation, preprocess)
    train = data.batches(
        TRAIN_SPLIT,
        config.batch_size,
        shuffle_seed=config.seed,
        cache=data.fits_in(TRAIN_SPLIT, CACHE_BYTES),
        repeat=True,
        # The weight histogram: with true labels, clean vs flipped; without,
        # the labels themselves (every example in the clean row).
        also_label=TRUE_LABEL_KEY if noisy else data.label_key,
    )
    result = fit_ciw(
        classifier,
        preprocessed(train, preprocess),
        config,
        data.label_info.num_classes,
        steps_per_epoch=math.ceil(data.summaries[TRAIN_SPLIT].count / config.batch_size),
        validation_batches=validation,
        callbacks=[
            keras.callbacks.TensorBoard(log_dir=log_dir),
            keras_progress(name, config.train_steps),
        ],
    )
    if not noisy:  # the "true" labels were the labels: nothing to say about noise
        history = {k: v for k, v in result.history.items() if k not in NOISE_LOGS}
        result = result._replace(history=history)
    return result


def _final_metrics(
    classifier: Any, data: StreamedSplits, noisy: bool, preprocess: Any
) -> dict[str, dict]:
    """Split -> {"labels", "examples", "loss", "accuracy"} of the trained
    classifier, one streamed pass each; the train split also gets
    `true_accuracy` and `flipped` (the share of labels != `true_label`) with
    true labels, and the eval split is scored against them."""
    final = {}
    for split in data.summaries:
        truth = TRUE_LABEL_KEY if noisy else None
        if split == TRAIN_SPLIT:
            batches = preprocessed(data.batches(split, 1024, also_label=truth), preprocess)
            final[split] = {"labels": data.label_key, **_scores(classifier, batches)}
        else:
            key = truth or data.label_key
            batches = preprocessed(data.batches(split, 1024, label_key=key), preprocess)
            final[split] = {"labels": key, **_scores(classifier, batches)}
    return final


def _scores(classifier: Any, batches: Any) -> dict[str, float]:
    """Mean cross-entropy and accuracy over (x, y) or (x, y, true_y) batches;
    with true labels also `true_accuracy` and the `flipped` share."""
    from frontier.components.common.scores import cross_entropy_and_accuracy

    sums = {"loss": 0.0, "accuracy": 0.0, "true_accuracy": 0.0, "flipped": 0.0}
    count, noisy = 0, False
    for batch in batches.as_numpy_iterator():
        x, y = batch[0], batch[1]
        probabilities = np.asarray(classifier.predict_on_batch(x))
        loss, accuracy = cross_entropy_and_accuracy(probabilities, y)
        sums["loss"] += loss * len(y)
        sums["accuracy"] += accuracy * len(y)
        if len(batch) > 2:
            noisy = True
            sums["true_accuracy"] += float(np.sum(probabilities.argmax(1) == batch[2]))
            sums["flipped"] += float(np.sum(y != batch[2]))
        count += len(y)
    keys = ("loss", "accuracy", "true_accuracy", "flipped") if noisy else ("loss", "accuracy")
    return {"examples": count, **{k: sums[k] / count for k in keys}}


def _noise_properties(
    final: Mapping[str, Mapping[str, Any]], result: CiwResult, noisy: bool
) -> dict[str, float]:
    """The properties that need `true_label`: clean accuracy, the flipped share,
    and the last epoch's mean weight per group (a group only when it has examples)."""
    if not noisy:
        return {}
    train = final[TRAIN_SPLIT]
    properties = {
        spec.TRUE_TRAIN_ACCURACY_PROPERTY: train["true_accuracy"],
        spec.FLIPPED_FRACTION_PROPERTY: train["flipped"],
    }
    progress.detail(
        "%s: %.1f %% of the training labels differ from %s",
        OWNER,
        100 * train["flipped"],
        TRUE_LABEL_KEY,
    )
    counts = result.weight_histogram.sum(axis=1)
    for key, metric, count in (
        (spec.MEAN_WEIGHT_CLEAN_PROPERTY, "mean_weight_clean", counts[0]),
        (spec.MEAN_WEIGHT_FLIPPED_PROPERTY, "mean_weight_flipped", counts[1]),
    ):
        if count:
            properties[key] = result.history[metric][-1]
    return properties


def _page(
    result: CiwResult,
    final: Mapping[str, Mapping[str, Any]],
    noisy: bool,
    config: CiwConfig,
    p: Mapping[str, Any],
    data: StreamedSplits,
) -> str:
    """The CiwTrainer page: weights, curves, final metrics, parameters."""
    reweights = config.method in REWEIGHTING_METHODS
    count = data.summaries[TRAIN_SPLIT].count
    steps_per_epoch = math.ceil(count / config.batch_size)
    _, burn_in, _ = config.lam_schedule(config.total_steps(count))
    params = page_parameters(
        p, classes=", ".join(data.label_info.class_names), input_dim=data.info.input_dim
    )
    return ciw_page(
        history=result.history,
        weight_histogram=result.weight_histogram,
        noisy=noisy,
        final=final,
        params={k: v for k, v in params.items() if v is not None},
        reweights=reweights,
        burn_in_epochs=burn_in / steps_per_epoch if reweights else None,
        subtitle=f"method {config.method}; {source_of(data.info, data.uri)}",
    )
