"""Export of a trained Keras classifier as a TF Serving / TFMA SavedModel.

Layout of a frontier `Model` artifact (what `Trainer` writes):

    <model uri>/
      Format-Serving/            SERVING_DIR: the SavedModel that stock
        saved_model.pb           Evaluator and Pusher use
        variables/ ...           (tfx.utils.path_utils.serving_model_path)
        dataset_info.json        the training data's DatasetInfo (class names,
                                 feature keys) for consumers of the model
      keras/model.keras          the Keras model, for warm starts and teachers

Serving contract (signature `serving_default`):
  input  `examples`: string [N], serialized `tf.Example`s carrying the float
         feature keys of `dataset_info.json` (role keys such as `label` may
         be present and are ignored); for data of one feature key (every
         image data set) each example may instead carry the image in the
         compact layout (`key/uint8` bytes and `key/divisor`, see
         `frontier.schemas.dataset`), whichever layout the model was
         trained on (`examples_io.serving_spec`);
  output `probabilities`: float32 [N, C] softmax class probabilities;
         `classes`: int64 [N] argmax class id.
A second signature `serving_features` takes the concatenated float input
`x` float32 [N, D] directly and returns the same outputs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from frontier.components.common.examples_io import (
    feature_spec,
    parse_serving_features,
    split_files,
)
from frontier.schemas.dataset import BYTES_ROLE_KEYS, EVAL_SPLIT, INT_ROLE_KEYS, DatasetInfo

SERVING_DIR = "Format-Serving"  # == tfx.utils.path_utils.serving_model_dir(uri) - uri
KERAS_MODEL_PATH = os.path.join("keras", "model.keras")
SIGNATURE = "serving_default"
FEATURES_SIGNATURE = "serving_features"
INPUT_NAME = "examples"
PROBABILITIES = "probabilities"
CLASSES = "classes"


def serving_dir(model_uri: str) -> str:
    """The SavedModel directory inside a `Model` artifact."""
    return os.path.join(model_uri, SERVING_DIR)


def export_serving_model(model, info: DatasetInfo, export_dir: str, preprocess=None) -> str:
    """Saves `model` as a SavedModel with the serving contract above.

    Args:
      model: Keras model mapping float32 [N, info.input_dim] to
        probabilities [N, info.num_classes].
      info: the training data's `DatasetInfo` (feature keys and sizes).
      export_dir: the SavedModel directory to create (usually
        `serving_dir(model_artifact.uri)`).
      preprocess: optional `fn(x) -> tensor`, a model module's
        `preprocess_inputs`: traced into both signatures between the parsed
        features and the model, so serving preprocesses as training did.

    Returns:
      `export_dir`.
    """
    import tensorflow as tf

    def probabilities(x):
        if preprocess is not None:
            x = preprocess(x)
        return tf.cast(model(x, training=False), tf.float32)

    module = serving_module(info, probabilities, "frontier_serving", model=model)
    return save_serving_module(module, info, export_dir)


def serving_module(info: DatasetInfo, probabilities, name: str, **tracked):
    """A `tf.Module` with the serving contract's two tf.functions, for
    `save_serving_module`.

    Args:
      info: the training data's `DatasetInfo` (feature keys and sizes).
      probabilities: `fn(x float32 [N, info.input_dim]) -> float32 [N, C]`,
        traced into both functions.
      name: the module's name.
      **tracked: attributes set on the module so that the SavedModel saves
        them (the Keras model, or the variables `probabilities` reads).
    """
    import tensorflow as tf

    class _ServingModule(tf.Module):
        def _outputs(self, x):
            p = probabilities(x)
            return {PROBABILITIES: p, CLASSES: tf.argmax(p, axis=-1, output_type=tf.int64)}

        # TFMA matches the signature's arguments by name: the first must be `self`.
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_NAME)])
        def serve_examples(self, examples):
            return self._outputs(parse_serving_features(examples, info))

        @tf.function(input_signature=[tf.TensorSpec([None, info.input_dim], tf.float32, name="x")])
        def serve_features(self, x):
            return self._outputs(x)

    module = _ServingModule(name=name)
    for key, value in tracked.items():
        setattr(module, key, value)
    return module


def save_serving_module(module, info: DatasetInfo, export_dir: str) -> str:
    """Saves a `tf.Module` with `serve_examples` and `serve_features` tf.functions
    as a SavedModel with the serving contract above, and `dataset_info.json`
    beside `saved_model.pb`. Shared by every frontier model exporter."""
    import tensorflow as tf

    tf.io.gfile.makedirs(export_dir)
    tf.saved_model.save(
        module,
        export_dir,
        signatures={
            SIGNATURE: module.serve_examples.get_concrete_function(),
            FEATURES_SIGNATURE: module.serve_features.get_concrete_function(),
        },
    )
    info.write(export_dir)  # dataset_info.json beside saved_model.pb
    return export_dir


def save_model_artifact(model, info: DatasetInfo, model_uri: str, preprocess=None) -> str:
    """Writes the whole `Model` artifact layout; returns the SavedModel dir.

    `preprocess` (a model module's `preprocess_inputs`, or None) goes into
    the serving signatures (`export_serving_model`); the Keras file holds
    the model alone, which takes the preprocessed inputs.
    """
    import tensorflow as tf

    path = export_serving_model(model, info, serving_dir(model_uri), preprocess)
    keras_path = os.path.join(model_uri, KERAS_MODEL_PATH)
    tf.io.gfile.makedirs(os.path.dirname(keras_path))
    model.save(keras_path)
    return path


def load_keras_model(model_uri: str):
    """The Keras model of a frontier `Model` artifact (for warm starts)."""
    import keras

    return keras.saving.load_model(os.path.join(model_uri, KERAS_MODEL_PATH))


def model_info(model_uri_or_dir: str) -> DatasetInfo:
    """The `DatasetInfo` saved with a model (artifact uri or SavedModel dir)."""
    import tensorflow as tf

    path = model_uri_or_dir
    if not tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        path = serving_dir(model_uri_or_dir)
    return DatasetInfo.read(path)


def load_serving_signature(model_uri_or_dir: str, signature: str = SIGNATURE):
    """Loads the SavedModel and returns its signature function.

    The returned function must be called with keyword `examples=` (string
    tensor [N]) and returns a dict of tensors.
    """
    import tensorflow as tf

    path = model_uri_or_dir
    if not tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        path = serving_dir(model_uri_or_dir)
    loaded = tf.saved_model.load(path)
    fn = loaded.signatures[signature]
    fn._frontier_loaded = loaded  # keep the module (and its variables) alive
    return fn


def predict_serialized(
    signature_fn, serialized: Iterable[bytes], batch_size: int = 1024
) -> dict[str, np.ndarray]:
    """Runs the `serving_default` signature on serialized examples, batched.

    Returns:
      {"probabilities": float32 [N, C], "classes": int64 [N]}.
    """
    import tensorflow as tf

    outs: dict[str, list[np.ndarray]] = {PROBABILITIES: [], CLASSES: []}
    batch: list[bytes] = []

    def flush() -> None:
        result = signature_fn(**{INPUT_NAME: tf.constant(batch, tf.string)})
        for k in outs:
            outs[k].append(result[k].numpy())
        batch.clear()

    for record in serialized:
        batch.append(record)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    if not outs[CLASSES]:
        return {PROBABILITIES: np.zeros((0, 0), np.float32), CLASSES: np.zeros((0,), np.int64)}
    return {k: np.concatenate(v) for k, v in outs.items()}


def predict_examples(
    model_uri_or_dir: str,
    examples_uri: str,
    split: str = EVAL_SPLIT,
    *,
    batch_size: int = 1024,
) -> dict[str, np.ndarray]:
    """Runs a model's serving signature on one split of an `Examples` artifact.

    The model sees the serialized records exactly as stored (what TF Serving
    and TFMA feed it). Role columns are parsed from the same records.

    Returns:
      `probabilities` float32 [N, C], `classes` int64 [N], and each role key
      present in the examples (`label` int64 [N], `client_id` object [N] of
      bytes, ...), all in record order; arrays of length 0 for an empty
      split.

    Raises:
      FileNotFoundError: when the split has no files.
    """
    import tensorflow as tf

    info = DatasetInfo.read(examples_uri)
    files = split_files(examples_uri, split)
    role_spec = {
        k: v for k, v in feature_spec(info).items() if k in INT_ROLE_KEYS or k in BYTES_ROLE_KEYS
    }
    fn = load_serving_signature(model_uri_or_dir)
    outs: dict[str, list[np.ndarray]] = {}
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(batch_size)
    for records in ds:
        result = fn(**{INPUT_NAME: records})
        parsed = tf.io.parse_example(records, role_spec)
        for k, v in {**{k: result[k] for k in (PROBABILITIES, CLASSES)}, **parsed}.items():
            outs.setdefault(k, []).append(v.numpy())
    if not outs:  # an empty split
        num_classes = int(fn.structured_outputs[PROBABILITIES].shape[-1])
        empty = {PROBABILITIES: np.zeros((0, num_classes), np.float32)}
        empty[CLASSES] = np.zeros((0,), np.int64)
        for k, v in role_spec.items():
            empty[k] = np.zeros((0,), np.int64 if v.dtype == tf.int64 else np.object_)
        return empty
    return {k: np.concatenate(v) for k, v in outs.items()}
