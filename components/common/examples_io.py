"""Reading and writing frontier `Examples` splits as NumPy arrays.

The on-disk layout is TFX's own (`<uri>/Split-<name>/data_tfrecord-*.gz`,
GZIP TFRecords of `tf.Example`), so stock StatisticsGen, SchemaGen and
Evaluator read what frontier writes; `dataset_info.json` beside the splits
says which keys are features and roles (see `frontier.schemas.dataset`).

These helpers hold a whole split in memory: they are for components whose
algorithm needs the arrays (training, distillation) and for tests. Large pools
go through Beam instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from frontier.schemas.dataset import (
    BYTES_ROLE_KEYS,
    DATASET_INFO_FILE,
    INT_ROLE_KEYS,
    LABEL_KEY,
    DatasetInfo,
)

FEATURES = "x"  # name of the concatenated float feature matrix in a loaded split


def split_uri(examples_uri: str, split: str) -> str:
    return os.path.join(examples_uri, f"Split-{split}")


def feature_spec(info: DatasetInfo) -> dict:
    """`tf.io.parse_example` spec for the examples described by `info`."""
    import tensorflow as tf

    spec = {
        key: tf.io.FixedLenFeature([dim], tf.float32)
        for key, dim in zip(info.feature_keys, info.feature_dims, strict=True)
    }
    for key in info.role_keys:
        if key in INT_ROLE_KEYS:
            spec[key] = tf.io.FixedLenFeature([], tf.int64)
        elif key in BYTES_ROLE_KEYS:
            spec[key] = tf.io.FixedLenFeature([], tf.string)
    return spec


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
    spec = feature_spec(info)
    ds = tf.data.TFRecordDataset(split_files(examples_uri, split), compression_type="GZIP").batch(
        4096
    )
    ds = ds.map(lambda s: tf.io.parse_example(s, spec))
    parts: dict[str, list[np.ndarray]] = {k: [] for k in spec}
    for batch in ds.as_numpy_iterator():
        for k, v in batch.items():
            parts[k].append(v)
    if not parts[LABEL_KEY]:  # an empty split
        empty = {
            k: np.zeros((0,), np.object_ if k in BYTES_ROLE_KEYS else np.int64)
            for k in info.role_keys
        }
        return {FEATURES: np.zeros((0, info.input_dim), np.float32), **empty}
    cols = {k: np.concatenate(v) for k, v in parts.items()}
    n = len(cols[LABEL_KEY])
    x = np.concatenate([cols.pop(k).reshape(n, -1) for k in info.feature_keys], axis=1)
    return {FEATURES: x.astype(np.float32), **cols}


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
    examples_artifact, info: DatasetInfo, owner: str
) -> dict[str, dict[str, np.ndarray]]:
    """The `train` split (required, non-empty) and the `eval` split (when the
    artifact has one and it is not empty) as `load_split` arrays, by split name.

    Args:
      examples_artifact: a frontier `Examples` artifact.
      info: its `DatasetInfo`.
      owner: the calling component's name, for the log lines.

    Raises:
      InputError: no `train` split, or an empty one, naming the artifact.
    """
    from absl import logging

    from frontier.components.common.errors import InputError
    from frontier.schemas.dataset import EVAL_SPLIT, TRAIN_SPLIT

    splits = training_split_names(examples_artifact)
    data = {}
    for split in (TRAIN_SPLIT, EVAL_SPLIT):
        if split not in splits:
            continue
        arrays = load_split(examples_artifact.uri, split, info)
        count = len(arrays[LABEL_KEY])
        logging.info("%s: %s split has %d examples", owner, split, count)
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


def to_tf_example(row: Mapping[str, object], info: DatasetInfo):
    """Builds one `tf.train.Example` from a row: feature vectors and role values."""
    import tensorflow as tf

    feats = {}
    for key in info.feature_keys:
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


def write_split(
    examples_uri: str, split: str, arrays: Mapping[str, np.ndarray], info: DatasetInfo
) -> int:
    """Writes one split from arrays shaped like `load_split`'s result.

    `arrays["x"]` is split back into the features of `info` by `feature_dims`.
    Used by components that produce small data sets (a distilled set, test
    fixtures); ingestion writes through Beam instead. Returns the row count.
    """
    import tensorflow as tf

    x = np.asarray(arrays[FEATURES], np.float32)
    if x.ndim != 2 or x.shape[1] != info.input_dim:
        raise ValueError(f"write_split: x has shape {x.shape}, expected [N, {info.input_dim}]")
    bounds = np.cumsum((0, *info.feature_dims))
    out_dir = split_uri(examples_uri, split)
    tf.io.gfile.makedirs(out_dir)
    path = os.path.join(out_dir, "data_tfrecord-00000-of-00001.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as w:
        for i in range(x.shape[0]):
            row = {k: x[i, bounds[j] : bounds[j + 1]] for j, k in enumerate(info.feature_keys)}
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
