"""Executor of the baseline `Trainer`: read Examples, train, export, report."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from frontier.components.common import html, progress
from frontier.components.common.executor import (
    ComponentExecutor,
    Job,
    page_parameters,
    publish_model,
    source_of,
)
from frontier.components.common.progress import keras_progress
from frontier.components.common.streaming import (
    StreamedSplits,
    open_labelled_splits,
    stream_metrics,
)
from frontier.components.trainer import spec
from frontier.components.trainer.export import load_keras_model, save_model_artifact
from frontier.components.trainer.model import (
    HEAD_LAYER,
    check_hyperparameters,
    fit_batches,
    with_new_head,
)
from frontier.components.trainer.modules import (
    ModelSpec,
    describe_model,
    load_model_module,
    model_functions,
    uses_module,
)
from frontier.components.trainer.report import training_page
from frontier.components.trainer.step import local_strategy, preprocessed
from frontier.schemas.dataset import EVAL_SPLIT, TRAIN_SPLIT

OWNER = "Trainer"
# A split whose float32 features take at most this many bytes is cached in memory
# (its serialized examples) for the epochs after the first; memory stays bounded.
CACHE_BYTES = 64 * 2**20


class Executor(ComponentExecutor):
    """Trains a Keras classifier (the model module's) on streamed splits and exports it.

    The splits are read as `tf.data` streams (`common.streaming`): one
    checking pass per split gives the row checks, the counts and the
    standardisation statistics the model module receives (`ModelSpec`);
    training (shuffled through a seeded buffer) and the final metrics read
    the files again batch by batch. No split is held in memory. Training
    uses every accelerator of the worker (`step.local_strategy`: one replica
    per GPU, or a TPU's cores), `batch_size` being the global batch.

    Inputs:
      examples: exactly one frontier `Examples` artifact with a non-empty
        `train` split and `dataset_info.json`; an `eval` split, when present
        and not empty, is evaluated after each epoch (validation curves and
        final eval metrics). An empty `eval` split counts as absent.
      base_model: optional frontier `Model`; when given, its Keras model's
        body (everything below its head, the module's `HEAD_LAYER`, default
        `probabilities`, weights included) is fine-tuned under a fresh head
        sized for `label_key`'s classes (`model.with_new_head`); the module
        is only imported (for its custom layers and head name).

    Outputs:
      model: `Model`; SavedModel at `<uri>/Format-Serving` with signature
        `serving_default` (serialized `tf.Example` strings `examples` ->
        `probabilities` float32 [N, C], `classes` int64 [N]) and
        `dataset_info.json` beside it; the Keras model at
        `<uri>/keras/model.keras`. Custom properties `train_accuracy`,
        `eval_accuracy`, `eval_loss` (float; the eval ones only with eval
        examples) and `model_type` (string).
      model_run: `ModelRun`; TensorBoard logs (`train/`, `validation/`).
      visualization: `HtmlReport`; loss and accuracy per epoch on train and
        eval, final metrics, parameters and layers.

    Parameters:
      epochs: int >= 1, passes over the train split.
      batch_size: int >= 1, examples per gradient step.
      learning_rate: float > 0, Adam step size.
      seed: int, seeds weights initialisation and shuffling.
      model_type: "mlp" or "convnet" (needs `image_shape` in the data).
      hidden_units: JSON list of ints, the hidden Dense layer sizes.
      train_steps: int, a bound on the gradient steps (0: the epochs decide).
      module_file, module_path, custom_config: the user's model module
        (`trainer.modules`); without one, the built-in `model_type`.
      label_key: int role column used as the target (default `label`); its
        classes are `DatasetInfo.classes_of(label_key)` (e.g. the SPL classes
        for `spl_label`), and the exported `dataset_info.json` names them as
        `class_names`.
      component_version: code hash, only for the cache key.
    """

    SPEC_CLASS = spec.TrainerSpec

    def run(self, job: Job) -> None:
        p = job.params
        check_hyperparameters(
            epochs=p[spec.EPOCHS_KEY],
            batch_size=p[spec.BATCH_SIZE_KEY],
            learning_rate=p[spec.LEARNING_RATE_KEY],
            model_type=p[spec.MODEL_TYPE_KEY],
        )
        data = open_labelled_splits(job.input(spec.EXAMPLES_KEY), p[spec.LABEL_KEY_KEY], OWNER)
        base = job.optional_input(spec.BASE_MODEL_KEY)
        strategy = local_strategy()
        with strategy.scope():  # the model's variables on every replica
            model, preprocess = _initial_model(p, data, base)
        log_dir = job.output(spec.MODEL_RUN_KEY).uri
        history = _fit(model, data, p, log_dir, strategy, preprocess, job.node or OWNER)
        final = {
            split: {
                "labels": data.label_key,
                **stream_metrics(model, preprocessed(data.batches(split, 1024), preprocess)),
            }
            for split in data.summaries
        }
        described = _described(p, base)
        publish_model(
            job.output(spec.MODEL_KEY),
            lambda uri: save_model_artifact(model, data.label_info, uri, preprocess),
            final,
            {spec.MODEL_TYPE_PROPERTY: described},
            OWNER,
        )
        shown = _shown(page_parameters(p, **{spec.MODEL_TYPE_KEY: described}))
        document = training_page(
            history,
            final,
            {**shown, **_data_params(data)},
            _layers(model),
            subtitle=source_of(data.info, data.uri),
        )
        html.write_report(
            job.output(spec.VISUALIZATION_KEY), "Trainer: baseline classifier", document
        )


def _described(p: Mapping[str, Any], base: Any | None) -> str:
    """The model in a word for the page and the `model_type` property."""
    return f"fine-tuned from {base.uri}" if base is not None else describe_model(p)


def _initial_model(
    p: Mapping[str, Any], data: StreamedSplits, base: Any | None
) -> tuple[Any, Callable[[Any], Any] | None]:
    """The model to train, after seeding Keras: the model module's for the data
    (its sizes and the train split's statistics), or the body of `base` under a
    fresh head; and the module's input preprocessing (None without one)."""
    import keras

    keras.utils.set_random_seed(int(p[spec.SEED_KEY]))
    train = data.summaries[TRAIN_SPLIT]
    module = model_functions(
        p, ModelSpec(data.label_info, train.feature_mean, train.feature_variance)
    )
    if base is not None:
        progress.detail("%s: fine-tuning the body of %s under a new head", OWNER, base.uri)
        return fine_tuning_model(p, base.uri, data.label_info.num_classes), module.preprocess
    return module.build(), module.preprocess


def _fit(
    model: Any,
    data: StreamedSplits,
    p: Mapping[str, Any],
    log_dir: str,
    strategy: Any,
    preprocess: Callable[[Any], Any] | None,
    name: str,
):
    """`model.fit_batches` on the shuffled train split (seeded), validated on the
    eval split, bounded by `train_steps` when set, on every replica of
    `strategy` (`batch_size` is the global batch), the batches preprocessed
    by the module's `preprocess` when it has one; TensorBoard logs in `log_dir`,
    progress shown under `name` (`common.progress`)."""
    import keras

    epochs, batch_size = p[spec.EPOCHS_KEY], p[spec.BATCH_SIZE_KEY]
    seed = int(p[spec.SEED_KEY])
    validation = None
    if EVAL_SPLIT in data.summaries:
        validation = preprocessed(
            data.batches(EVAL_SPLIT, batch_size, cache=data.fits_in(EVAL_SPLIT, CACHE_BYTES)),
            preprocess,
        )
    # One repeating stream for the whole run: a fresh iterator per epoch costs
    # tens of milliseconds, which dominates many epochs of a small (distilled)
    # split; a split that small is also cached.
    train = data.batches(
        TRAIN_SPLIT,
        batch_size,
        shuffle_seed=seed,
        cache=data.fits_in(TRAIN_SPLIT, CACHE_BYTES),
        repeat=True,
    )
    train = preprocessed(train, preprocess)
    return fit_batches(
        model,
        train,
        steps_per_epoch=math.ceil(data.summaries[TRAIN_SPLIT].count / batch_size),
        epochs=epochs,
        learning_rate=p[spec.LEARNING_RATE_KEY],
        train_steps=p.get(spec.TRAIN_STEPS_KEY) or None,
        validation_batches=validation,
        callbacks=[
            keras.callbacks.TensorBoard(log_dir=log_dir),
            keras_progress(name, p.get(spec.TRAIN_STEPS_KEY) or None),
        ],
        seed=seed,
        strategy=strategy,
    )


def fine_tuning_model(p: Mapping[str, Any], base_uri: str, num_classes: int) -> Any:
    """The base model's body under a fresh head of `num_classes`.

    With a user module, the module is imported first (registering its custom
    Keras objects, so the saved model loads) and names the head (`HEAD_LAYER`).
    """
    head_layer = HEAD_LAYER
    if uses_module(p):
        module = load_model_module(p.get(spec.MODULE_FILE_KEY), p.get(spec.MODULE_PATH_KEY))
        head_layer = module.head_layer
    base = load_keras_model(base_uri)
    return with_new_head(base, num_classes, p[spec.SEED_KEY], head_layer=head_layer)


def _shown(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters that are set (no module file, path or config when unused)."""
    return {k: v for k, v in params.items() if v is not None}


def _data_params(data: StreamedSplits) -> dict[str, Any]:
    """The page's lines on the data: the classes and the input size."""
    return {"classes": ", ".join(data.label_info.class_names), "input_dim": data.info.input_dim}


def _layers(model: Any) -> list[tuple[str, str, int]]:
    """(name, output shape, parameter count) of each layer, for the page."""
    return [
        (layer.name, str(tuple(layer.output.shape)), int(layer.count_params()))
        for layer in model.layers
    ]
