"""Reading and writing frontier `Examples` splits as NumPy arrays.

The on-disk layout is TFX's own (`<uri>/Split-<name>/data_tfrecord-*.gz`,
GZIP TFRecords of `tf.Example`), so stock StatisticsGen, SchemaGen and
Evaluator read what frontier writes; `dataset_info.json` beside the splits
says which keys are features and roles (see `frontier.schemas.dataset`).

These helpers hold a whole split in memory: they are for components whose
algorithm needs the arrays (training, distillation) and for tests. Large pools
go through Beam instead.

The feature layouts (float32, or an image as compact uint8 bytes) are
described in `frontier.schemas.dataset`; `feature_spec` and `features_of` are
the one place that knows them, and every reader (here, `streaming.batches`,
the serving signatures, Ingest's page) parses and decodes through them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from frontier.components.common import progress
from frontier.schemas.dataset import (
    BYTES_ROLE_KEYS,
    DATASET_INFO_FILE,
    INT_ROLE_KEYS,
    LABEL_KEY,
    MAX_UINT8,
    DatasetInfo,
    divisor_key,
    uint8_key,
)

FEATURES = "x"  # name of the concatenated float feature matrix in a loaded split


def split_uri(examples_uri: str, split: str) -> str:
    return os.path.join(examples_uri, f"Split-{split}")


def feature_spec(info: DatasetInfo) -> dict:
    """`tf.io.parse_example` spec for the examples described by `info`, in its
    layout: a float32 [dim] per feature key, or for a compact image the bytes
    `key/uint8` and the int64 `key/divisor`; then the role keys. Decode the
    parsed features with `features_of`."""
    import tensorflow as tf

    spec: dict = {}
    for key, dim in zip(info.feature_keys, info.feature_dims, strict=True):
        if info.compact:
            spec[uint8_key(key)] = tf.io.FixedLenFeature([], tf.string)
            spec[divisor_key(key)] = tf.io.FixedLenFeature([], tf.int64)
        else:
            spec[key] = tf.io.FixedLenFeature([dim], tf.float32)
    for key in info.role_keys:
        if key in INT_ROLE_KEYS:
            spec[key] = tf.io.FixedLenFeature([], tf.int64)
        elif key in BYTES_ROLE_KEYS:
            spec[key] = tf.io.FixedLenFeature([], tf.string)
    return spec


def serving_spec(info: DatasetInfo) -> dict:
    """`tf.io.parse_example` spec of the features a model trained on `info`'s
    data reads from a serving request (no role keys).

    Data of one feature key (every image data set) are accepted in either
    layout, example by example, whichever layout the model was trained on:
    a model trained on KIP's float32 distilled images is evaluated on the
    compact examples Ingest wrote. Decode with `features_of`, which checks
    that each example carries one layout in full.
    """
    import tensorflow as tf

    if len(info.feature_keys) != 1:
        return {k: v for k, v in feature_spec(info).items() if k in info.feature_keys}
    (key,) = info.feature_keys
    return {
        key: tf.io.RaggedFeature(tf.float32),
        uint8_key(key): tf.io.FixedLenFeature([], tf.string, default_value=""),
        divisor_key(key): tf.io.FixedLenFeature([], tf.int64, default_value=0),
    }


def features_of(parsed: Mapping[str, object], info: DatasetInfo):
    """The model input of parsed examples: x float32 [B, info.input_dim].

    Args:
      parsed: `tf.io.parse_example` output for `feature_spec(info)` or
        `serving_spec(info)`.
      info: the `DatasetInfo` the spec was built from.

    Returns:
      The features concatenated in `info.feature_keys` order, compact images
      decoded to float32(k) / float32(divisor): the values the float32
      layout holds.
    """
    import tensorflow as tf

    return tf.concat(
        [
            _feature_values(parsed, key, dim)
            for key, dim in zip(info.feature_keys, info.feature_dims, strict=True)
        ],
        axis=1,
    )


def _feature_values(parsed: Mapping[str, object], key: str, dim: int):
    """One feature of parsed examples as float32 [B, dim], from whichever
    layout `parsed` holds it in (see `features_of`)."""
    import tensorflow as tf

    if uint8_key(key) not in parsed:  # the float32 layout
        return tf.reshape(parsed[key], [-1, dim])
    divisor = tf.cast(parsed[divisor_key(key)], tf.float32)[:, None]
    if key not in parsed:  # the compact layout: one vectorised decode of the batch
        pixels = tf.reshape(tf.io.decode_raw(parsed[uint8_key(key)], tf.uint8), [-1, dim])
        return tf.cast(pixels, tf.float32) / divisor
    # `serving_spec`: either layout, example by example.
    floats, raw = parsed[key], parsed[uint8_key(key)]
    compact = tf.strings.length(raw) > 0
    whole = tf.where(
        compact,
        (tf.strings.length(raw) == dim) & (floats.row_lengths() == 0) & (divisor[:, 0] >= 1),
        floats.row_lengths() == dim,
    )
    check = tf.debugging.assert_equal(
        whole,
        True,
        message=f"each example needs feature {key} as {dim} float32 values, or "
        f"{uint8_key(key)} as {dim} uint8 bytes with an int64 {divisor_key(key)} >= 1",
    )
    with tf.control_dependencies([check]):
        pixels = tf.cast(tf.io.decode_raw(raw, tf.uint8, fixed_length=dim), tf.float32)
        return tf.where(
            compact[:, None],
            pixels / tf.maximum(divisor, 1.0),
            floats.to_tensor(default_value=0.0, shape=[None, dim]),
        )


def parse_serving_features(serialized, info: DatasetInfo):
    """The model input of a serving request: string [B] serialized examples ->
    x float32 [B, input_dim] (`serving_spec`, then `features_of`); what every
    frontier serving signature parses."""
    import tensorflow as tf

    return features_of(tf.io.parse_example(serialized, serving_spec(info)), info)


def parse_examples(serialized, info: DatasetInfo) -> dict:
    """Parses a batch of serialized examples of `info`'s layout.

    Returns:
      {"x": float32 [B, input_dim] (`features_of`), role key: [B] tensor
      (int64 ids, string ids) for each role key of `info`}.
    """
    import tensorflow as tf

    parsed = tf.io.parse_example(serialized, feature_spec(info))
    return {FEATURES: features_of(parsed, info), **{k: parsed[k] for k in info.role_keys}}


def load_split(
    examples_uri: str, split: str, info: DatasetInfo | None = None
) -> dict[str, np.ndarray]:
    """Loads one split into arrays.

    Returns:
      A dict with `x`: float32 [N, input_dim] (features concatenated in
      `info.feature_keys` order), one int64 [N] array per int role key and one
      object [N] array of `bytes` per bytes role key present.
    """
    import tensorflow as tf

    info = info or DatasetInfo.read(examples_uri)
    ds = tf.data.TFRecordDataset(split_files(examples_uri, split), compression_type="GZIP").batch(
        4096
    )
    ds = ds.map(lambda s: parse_examples(s, info))
    parts: dict[str, list[np.ndarray]] = {k: [] for k in (FEATURES, *info.role_keys)}
    for batch in ds.as_numpy_iterator():
        for k, v in batch.items():
            parts[k].append(v)
    if not parts[LABEL_KEY]:  # an empty split
        empty = {
            k: np.zeros((0,), np.object_ if k in BYTES_ROLE_KEYS else np.int64)
            for k in info.role_keys
        }
        return {FEATURES: np.zeros((0, info.input_dim), np.float32), **empty}
    return {k: np.concatenate(v) for k, v in parts.items()}


def check_label_column(info: DatasetInfo, label_key: str, examples_uri: str) -> None:
    """Raises `InputError` unless the examples carry the int column `label_key`."""
    from frontier.components.common.errors import InputError

    if not info.has(label_key):
        raise InputError(
            f"the examples have no {label_key!r} column (role keys: {list(info.role_keys)})",
            file=os.path.join(examples_uri, DATASET_INFO_FILE),
            column=label_key,
            expected="a label_key that the examples carry",
        )


def load_train_and_eval(
    examples_artifact, info: DatasetInfo, owner: str, *, train: bool = True
) -> dict[str, dict[str, np.ndarray]]:
    """The `train` split (required, non-empty) and the `eval` split (when the
    artifact has one and it is not empty) as `load_split` arrays, by split name.

    Args:
      examples_artifact: a frontier `Examples` artifact.
      info: its `DatasetInfo`.
      owner: the calling component's name, for the log lines.
      train: False: leave the `train` split on disk (a caller that streams it,
        e.g. from a client store), load only `eval`.

    Raises:
      InputError: no `train` split, or an empty one, naming the artifact.
    """
    from absl import logging

    from frontier.components.common.errors import InputError
    from frontier.schemas.dataset import EVAL_SPLIT, TRAIN_SPLIT

    splits = training_split_names(examples_artifact)
    data = {}
    for split in (TRAIN_SPLIT, EVAL_SPLIT) if train else (EVAL_SPLIT,):
        if split not in splits:
            continue
        arrays = load_split(examples_artifact.uri, split, info)
        count = len(arrays[LABEL_KEY])
        progress.detail("%s: %s split has %d examples", owner, split, count)
        if count == 0:
            if split == TRAIN_SPLIT:
                raise InputError(
                    f"the {TRAIN_SPLIT!r} split has no examples",
                    file=split_uri(examples_artifact.uri, split),
                    expected="at least one training example",
                )
            logging.warning("%s: the %r split is empty; it is left out", owner, split)
            continue
        data[split] = arrays
    return data


def training_split_names(examples_artifact) -> list[str]:
    """The artifact's split names, after checking that a `train` split is among them.

    Raises:
      InputError: no `train` split, naming the artifact.
    """
    from tfx.types import artifact_utils

    from frontier.components.common.errors import InputError
    from frontier.schemas.dataset import TRAIN_SPLIT

    names = examples_artifact.split_names
    splits = artifact_utils.decode_split_names(names) if names else []
    if TRAIN_SPLIT not in splits:
        raise InputError(
            f"no {TRAIN_SPLIT!r} split (splits: {splits})",
            file=examples_artifact.uri,
            expected=f"Examples with a {TRAIN_SPLIT!r} split",
        )
    return splits


def to_uint8(values: np.ndarray, divisor: int) -> np.ndarray:
    """The stored pixels k (uint8, same shape) of float values k / `divisor`.

    Raises:
      ValueError: a value that is not float32(k) / float32(divisor) for an
        integer k in [0, 255], naming its index: the compact layout would
        change it, so such data keep the float32 layout (nothing is
        quantised silently).
    """
    v = np.asarray(values, np.float32)
    k = np.rint(v.astype(np.float64) * divisor)
    exact = (k >= 0) & (k <= MAX_UINT8)  # False for NaN
    exact &= np.where(exact, k, 0).astype(np.float32) / np.float32(divisor) == v
    if not exact.all():
        where = np.unravel_index(int(np.flatnonzero(~exact)[0]), v.shape)
        raise ValueError(
            f"value {v[where]} at index {tuple(int(i) for i in where)} is not k / {divisor} "
            f"for an integer k in [0, {MAX_UINT8}]: the compact uint8 layout cannot hold it "
            "(write such data in the float32 layout, image_encoding None)"
        )
    return k.astype(np.uint8)


def to_tf_example(row: Mapping[str, object], info: DatasetInfo):
    """Builds one `tf.train.Example` from a row: feature vectors (float32 [dim]
    each, stored in `info`'s layout) and role values.

    Raises:
      ValueError: `info` asks for the compact layout and an image value is
        not k / `info.pixel_divisor` (`to_uint8`).
    """
    import tensorflow as tf

    feats = {}
    for key in info.feature_keys:
        if info.compact:
            pixels = to_uint8(np.ravel(row[key]), info.pixel_divisor)
            feats[uint8_key(key)] = tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[pixels.tobytes()])
            )
            feats[divisor_key(key)] = tf.train.Feature(
                int64_list=tf.train.Int64List(value=[info.pixel_divisor])
            )
            continue
        feats[key] = tf.train.Feature(
            float_list=tf.train.FloatList(value=np.asarray(row[key], np.float32).ravel())
        )
    for key in info.role_keys:
        value = row[key]
        if key in INT_ROLE_KEYS:
            feats[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
        else:
            b = value if isinstance(value, bytes) else str(value).encode()
            feats[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[b]))
    return tf.train.Example(features=tf.train.Features(feature=feats))


def serialize_example(row: Mapping[str, object], info: DatasetInfo) -> bytes:
    """`to_tf_example(row, info)` as bytes, deterministically: proto map fields
    (a tf.Example's features) otherwise serialize in varying order, and the
    same seed must give the same artifacts byte for byte (ARCHITECTURE.md rule 6)."""
    return to_tf_example(row, info).SerializeToString(deterministic=True)


def split_files(examples_uri: str, split: str) -> list[str]:
    """The TFRecord files of one split, sorted; a clear error if there are none."""
    import tensorflow as tf

    pattern = os.path.join(split_uri(examples_uri, split), "*")
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(
            f"no files for split {split!r} under {examples_uri} (looked for {pattern})"
        )
    return files


def split_features(x: np.ndarray, info: DatasetInfo) -> dict[str, np.ndarray]:
    """The features of concatenated inputs x [..., input_dim] by key: key ->
    x[..., dim] (`info.feature_dims`), in `info.feature_keys` order."""
    bounds = np.cumsum((0, *info.feature_dims))
    return {k: x[..., bounds[j] : bounds[j + 1]] for j, k in enumerate(info.feature_keys)}


def write_split(
    examples_uri: str, split: str, arrays: Mapping[str, np.ndarray], info: DatasetInfo
) -> int:
    """Writes one split from arrays shaped like `load_split`'s result.

    `arrays["x"]` is split back into the features of `info` by `feature_dims`
    and stored in `info`'s layout. Used by components that produce small data
    sets (a distilled set, test fixtures); ingestion writes through Beam
    instead. Returns the row count.

    Raises:
      ValueError: `x` of the wrong shape; with the compact layout, a value
        that it cannot hold (`to_uint8`), naming the row.
    """
    import tensorflow as tf

    x = np.asarray(arrays[FEATURES], np.float32)
    if x.ndim != 2 or x.shape[1] != info.input_dim:
        raise ValueError(f"write_split: x has shape {x.shape}, expected [N, {info.input_dim}]")
    if info.compact:  # every row checked before anything is written
        try:
            to_uint8(x, info.pixel_divisor)
        except ValueError as e:
            raise ValueError(f"write_split {split!r}: x {e}") from None
    columns = split_features(x, info)
    out_dir = split_uri(examples_uri, split)
    tf.io.gfile.makedirs(out_dir)
    path = os.path.join(out_dir, "data_tfrecord-00000-of-00001.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as w:
        for i in range(x.shape[0]):
            row = {k: columns[k][i] for k in info.feature_keys}
            row.update({k: arrays[k][i] for k in info.role_keys})
            w.write(serialize_example(row, info))
    return int(x.shape[0])


def write_examples(
    examples_artifact, splits: Mapping[str, Mapping[str, np.ndarray]], info: DatasetInfo
) -> None:
    """Writes whole splits, `dataset_info.json` and the artifact properties
    (split names, payload format) that stock TFX components expect."""
    for split, arrays in splits.items():
        write_split(examples_artifact.uri, split, arrays, info)
    info.write(examples_artifact.uri)
    set_examples_properties(examples_artifact, list(splits))


def set_examples_properties(examples_artifact, split_names: list[str]) -> None:
    """Split names and the TF-Example payload format, as stock ExampleGen sets them."""
    from tfx.components.util import examples_utils
    from tfx.proto import example_gen_pb2
    from tfx.types import artifact_utils

    examples_artifact.split_names = artifact_utils.encode_split_names(list(split_names))
    examples_utils.set_payload_format(examples_artifact, example_gen_pb2.FORMAT_TF_EXAMPLE)
    examples_utils.set_file_format(examples_artifact, "tfrecords_gzip")


def remove_split_outputs(examples_uri: str, splits: list[str]) -> None:
    """Removes the split folders and `dataset_info.json` a failed writer left behind,
    so that nothing half-written stays in an output URI (ARCHITECTURE.md rule 5)."""
    import tensorflow as tf

    for name in [f"Split-{s}" for s in splits] + [DATASET_INFO_FILE]:
        path = os.path.join(examples_uri, name)
        if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        elif tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)
