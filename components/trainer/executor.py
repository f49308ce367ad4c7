"""Executor of the baseline `Trainer`: read Examples, train, export, report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from absl import logging

from frontier.components.common import html
from frontier.components.common.examples_io import FEATURES
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
from frontier.components.trainer import spec
from frontier.components.trainer.export import load_keras_model, save_model_artifact
from frontier.components.trainer.model import (
    HEAD_LAYER,
    check_hyperparameters,
    log_epoch,
    parse_hidden_units,
    train,
    with_new_head,
)
from frontier.components.trainer.modules import (
    describe_model,
    load_model_module,
    model_builder,
    uses_module,
)
from frontier.components.trainer.report import training_page
from frontier.schemas.dataset import EVAL_SPLIT, TRAIN_SPLIT

OWNER = "Trainer"


class Executor(ComponentExecutor):
    """Trains the baseline classifier and exports it.

    Inputs:
      examples: exactly one frontier `Examples` artifact with a non-empty
        `train` split and `dataset_info.json`; an `eval` split, when present
        and not empty, is evaluated after each epoch (validation curves and
        final eval metrics). An empty `eval` split counts as absent.
      base_model: optional frontier `Model`; when given, its Keras model's
        body (everything below the `probabilities` head, weights included)
        is fine-tuned under a fresh head sized for `label_key`'s classes
        (`model.with_new_head`), and `model_type` / `hidden_units` are
        ignored.

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
      label_key: int role column used as the target (default `label`); its
        classes are `DatasetInfo.classes_of(label_key)` (e.g. the SPL classes
        for `spl_label`), and the exported `dataset_info.json` names them as
        `class_names`.
      component_version: code hash, only for the cache key.
    """

    SPEC_CLASS = spec.TrainerSpec

    def run(self, job: Job) -> None:
        p = job.params
        hidden_units = parse_hidden_units(p[spec.HIDDEN_UNITS_KEY])
        check_hyperparameters(
            epochs=p[spec.EPOCHS_KEY],
            batch_size=p[spec.BATCH_SIZE_KEY],
            learning_rate=p[spec.LEARNING_RATE_KEY],
            model_type=p[spec.MODEL_TYPE_KEY],
        )
        data = load_labelled_splits(job.input(spec.EXAMPLES_KEY), p[spec.LABEL_KEY_KEY], OWNER)
        base = job.optional_input(spec.BASE_MODEL_KEY)
        build = (
            None if base is not None else model_builder(p, data.label_info, data.train[FEATURES])
        )
        log_dir = job.output(spec.MODEL_RUN_KEY).uri
        model, history = _train(data, p, hidden_units, base, build, log_dir)
        final = keras_split_metrics(model, data)
        described = _described(p, base)
        publish_model(
            job.output(spec.MODEL_KEY),
            lambda uri: save_model_artifact(model, data.label_info, uri),
            final,
            {spec.MODEL_TYPE_PROPERTY: described},
            OWNER,
        )
        document = training_page(
            history,
            final,
            {
                **_shown(page_parameters(p, **{spec.MODEL_TYPE_KEY: described})),
                **_data_params(data),
            },
            _layers(model),
            subtitle=source_of(data.info, data.uri),
        )
        html.write_report(
            job.output(spec.VISUALIZATION_KEY), "Trainer: baseline classifier", document
        )


def _described(p: Mapping[str, Any], base: Any | None) -> str:
    """The model in a word for the page and the `model_type` property."""
    return f"fine-tuned from {base.uri}" if base is not None else describe_model(p)


def _train(
    data: LabelledSplits,
    p: Mapping[str, Any],
    hidden_units: tuple[int, ...],
    base: Any | None,
    build: Callable[[], Any] | None,
    log_dir: str,
):
    """`model.train` on the train split, validated on the eval split; a model
    from `build`, or the body of `base` under a new head. Returns (model, history)."""
    import keras

    initial_model = None
    if base is not None:
        logging.info("%s: fine-tuning the body of %s under a new head", OWNER, base.uri)
        initial_model = fine_tuning_model(p, base.uri, data.label_info.num_classes)
    epochs = p[spec.EPOCHS_KEY]
    return train(
        *data.xy(TRAIN_SPLIT),
        data.label_info,
        model_type=p[spec.MODEL_TYPE_KEY],
        hidden_units=hidden_units,
        epochs=epochs,
        batch_size=p[spec.BATCH_SIZE_KEY],
        learning_rate=p[spec.LEARNING_RATE_KEY],
        seed=p[spec.SEED_KEY],
        validation_data=data.xy(EVAL_SPLIT) if data.eval is not None else None,
        initial_model=initial_model,
        build=build,
        callbacks=[keras.callbacks.TensorBoard(log_dir=log_dir)],
        on_epoch_end=lambda epoch, logs: log_epoch(epoch, logs, epochs),
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


def _data_params(data: LabelledSplits) -> dict[str, Any]:
    """The page's lines on the data: the classes and the input size."""
    return {"classes": ", ".join(data.label_info.class_names), "input_dim": data.info.input_dim}


def _layers(model: Any) -> list[tuple[str, str, int]]:
    """(name, output shape, parameter count) of each layer, for the page."""
    return [
        (layer.name, str(tuple(layer.output.shape)), int(layer.count_params()))
        for layer in model.layers
    ]
