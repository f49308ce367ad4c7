"""Executor of the baseline `Trainer`: read Examples, train, export, report."""

from __future__ import annotations

import json
from typing import Any

from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from frontier.components.common import html
from frontier.components.common.examples_io import (
    check_label_column,
    load_train_and_eval,
    split_uri,
)
from frontier.components.trainer import spec
from frontier.components.trainer.export import load_keras_model, save_model_artifact
from frontier.components.trainer.model import (
    check_hyperparameters,
    check_labels,
    log_epoch,
    parse_hidden_units,
    train,
    with_new_head,
)
from frontier.components.trainer.report import training_page
from frontier.schemas.dataset import EVAL_SPLIT, TRAIN_SPLIT, DatasetInfo


class Executor(base_executor.BaseExecutor):
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

        epochs = int(exec_properties[spec.EPOCHS_KEY])
        batch_size = int(exec_properties[spec.BATCH_SIZE_KEY])
        learning_rate = float(exec_properties[spec.LEARNING_RATE_KEY])
        seed = int(exec_properties[spec.SEED_KEY])
        model_type = str(exec_properties[spec.MODEL_TYPE_KEY])
        hidden_units = parse_hidden_units(exec_properties[spec.HIDDEN_UNITS_KEY])
        label_key = str(exec_properties.get(spec.LABEL_KEY_KEY) or spec.DEFAULT_LABEL_KEY)
        check_hyperparameters(
            epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, model_type=model_type
        )

        data_info = DatasetInfo.read(examples.uri)
        check_label_column(data_info, label_key, examples.uri)
        info = data_info.for_label(label_key)  # what the model's outputs mean
        data = load_train_and_eval(examples, data_info, "Trainer")
        for split, arrays in data.items():
            arrays[label_key] = check_labels(
                arrays[label_key],
                info.num_classes,
                column=label_key,
                file=split_uri(examples.uri, split),
            )
        train_data = data[TRAIN_SPLIT]
        eval_data = data.get(EVAL_SPLIT)

        validation_data = None
        if eval_data is not None:
            validation_data = (eval_data["x"], eval_data[label_key])

        import keras

        initial_model = None
        described_type = model_type
        base_models = input_dict.get(spec.BASE_MODEL_KEY) or []
        if base_models:
            base = artifact_utils.get_single_instance(base_models)
            initial_model = with_new_head(load_keras_model(base.uri), info.num_classes, seed)
            described_type = f"fine-tuned from {base.uri}"
            logging.info("Trainer: fine-tuning the body of %s under a new head", base.uri)

        tensorboard = keras.callbacks.TensorBoard(log_dir=model_run.uri)
        model, history = train(
            train_data["x"],
            train_data[label_key],
            info,
            model_type=model_type,
            hidden_units=hidden_units,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            validation_data=validation_data,
            initial_model=initial_model,
            callbacks=[tensorboard],
            on_epoch_end=lambda epoch, logs: log_epoch(epoch, logs, epochs),
        )

        path = save_model_artifact(model, info, model_artifact.uri)
        logging.info("Trainer: SavedModel written to %s", path)

        final = {}
        for split, arrays in data.items():
            loss, accuracy = model.evaluate(
                arrays["x"], arrays[label_key], batch_size=1024, verbose=0
            )
            final[split] = {
                "examples": len(arrays[label_key]),
                "loss": float(loss),
                "accuracy": float(accuracy),
            }
        model_artifact.set_string_custom_property(spec.MODEL_TYPE_PROPERTY, described_type)
        model_artifact.set_float_custom_property(
            spec.TRAIN_ACCURACY_PROPERTY, final[TRAIN_SPLIT]["accuracy"]
        )
        if EVAL_SPLIT in final:
            model_artifact.set_float_custom_property(
                spec.EVAL_ACCURACY_PROPERTY, final[EVAL_SPLIT]["accuracy"]
            )
            model_artifact.set_float_custom_property(
                spec.EVAL_LOSS_PROPERTY, final[EVAL_SPLIT]["loss"]
            )

        params = {
            spec.EPOCHS_KEY: epochs,
            spec.BATCH_SIZE_KEY: batch_size,
            spec.LEARNING_RATE_KEY: learning_rate,
            spec.SEED_KEY: seed,
            spec.MODEL_TYPE_KEY: described_type,
            spec.HIDDEN_UNITS_KEY: json.dumps(list(hidden_units)),
            spec.LABEL_KEY_KEY: label_key,
            "classes": ", ".join(info.class_names),
            "input_dim": info.input_dim,
        }
        layers = [
            (layer.name, str(tuple(layer.output.shape)), int(layer.count_params()))
            for layer in model.layers
        ]
        document = training_page(
            history, final, params, layers, subtitle=f"data: {info.source or examples.uri}"
        )
        html.write_report(report, "Trainer: baseline classifier", document)
