"""The stock TFX Trainer's `run_fn` for `trainer_scale.py`'s speed figure.

Written as a TFX user writes a Trainer module (the penguin / MNIST template
style of `tfx.examples`): the train and eval files read through
`fn_args.data_accessor.tf_dataset_factory` (tfx-bsl's TFXIO, the schema from
SchemaGen, `TensorFlowDatasetOptions(batch_size=..., label_key=...)`, its
default shuffling, parallel reads and prefetch), the model built by the same
code as frontier's module (`trainer_scale_module.image_classifier`; Adam and
cross-entropy, as frontier trains it), `model.fit(train, steps_per_epoch=fn_args.train_steps,
validation_data=eval, validation_steps=fn_args.eval_steps)` with a TensorBoard
callback, then a SavedModel whose `serving_default` takes serialized
`tf.Example`s.

`custom_config`: `feature_key`, `label_key`, `image_shape` ([H, W, C]),
`num_classes`, `batch_size`, `learning_rate`, `seed`, and the model's
`filters` / `hidden`.

Run by `tfx.components.trainer.executor.GenericExecutor` with
`module_file` set to this file; `trainer_scale_module.py` must be importable
(the benchmark puts `benchmarks/` on `PYTHONPATH`).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx import v1 as tfx
from tfx_bsl.public import tfxio
from trainer_scale_module import compile_classifier, image_classifier


def _input_fn(file_pattern, data_accessor, schema, label_key: str, batch_size: int, seed: int):
    """(features dict, label) batches of the files, repeated (the template's `_input_fn`)."""
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size, label_key=label_key, shuffle_seed=seed
        ),
        schema=schema,
    ).repeat()


def _serve_tf_examples_fn(model, schema, label_key: str):
    """`serving_default`: serialized `tf.Example`s -> the model's probabilities."""
    from tensorflow_transform.tf_metadata import schema_utils

    feature_spec = schema_utils.schema_as_feature_spec(schema).feature_spec
    feature_spec.pop(label_key)

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def serve(serialized):
        parsed = tf.io.parse_example(serialized, feature_spec)
        return {"probabilities": model(parsed, training=False)}

    return serve


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Trains the shared ConvNet and saves it to `fn_args.serving_model_dir`."""
    config = fn_args.custom_config
    schema = tfx.utils.parse_pbtxt_file(fn_args.schema_path, schema_pb2.Schema())
    label_key, batch_size, seed = config["label_key"], config["batch_size"], config["seed"]
    train = _input_fn(
        fn_args.train_files, fn_args.data_accessor, schema, label_key, batch_size, seed
    )
    held_out = _input_fn(
        fn_args.eval_files, fn_args.data_accessor, schema, label_key, batch_size, seed
    )
    keras.utils.set_random_seed(seed)
    model = image_classifier(
        config["feature_key"], tuple(config["image_shape"]), config["num_classes"], config
    )
    compile_classifier(model, config["learning_rate"])
    model.fit(
        train,
        steps_per_epoch=fn_args.train_steps,
        validation_data=held_out,
        validation_steps=fn_args.eval_steps,
        callbacks=[keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir)],
        verbose=0,  # as frontier fits (the template's default progress bar costs per step)
    )
    signatures = {"serving_default": _serve_tf_examples_fn(model, schema, label_key)}
    tf.saved_model.save(model, fn_args.serving_model_dir, signatures=signatures)
