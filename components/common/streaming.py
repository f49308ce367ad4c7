"""A split as a stream of batches (`tf.data`), never held whole in memory.

`batches` reads an `Examples` split's GZIP TFRecords with parallel
interleaved reads, an optional seeded shuffle buffer, batching, parsing and
decoding (`examples_io.parse_examples`: either feature layout, compact images
decoded to floats) and prefetching, and yields (x float32 [B, D], y int64
[B]) as Keras' `fit` takes them: the features concatenated in
`DatasetInfo.feature_keys` order, as `examples_io.load_split` returns them.

`summarize` is the one pass that what used to need the whole split takes
instead: it checks every row (finite features, label ids in range, naming
the row) and returns the count, the per-class counts and the feature
statistics of the standardisation layer (`trainer.model.feature_stats`'
conventions: per channel for images, per column otherwise, variance 1 for a
constant column), accumulated in float64 batch by batch.

Memory is one batch (and the shuffle buffer), whatever the split's size.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from frontier.components.common import progress
from frontier.components.common.errors import InputError
from frontier.components.common.examples_io import (
    FEATURES,
    parse_examples,
    split_files,
    split_uri,
)
from frontier.schemas.dataset import LABEL_KEY, DatasetInfo

DEFAULT_SHUFFLE_BUFFER = 10_000  # serialized examples held for shuffling
# Batches parsed ahead of the consumer. Fixed, not AUTOTUNE: tf.data's autotuner
# may grow its buffers up to a share of the machine's RAM; a fixed depth bounds
# the stream's memory by a few batches on any machine.
PREFETCH_BATCHES = 2
PARALLEL_READS = 4
MIN_VARIANCE = 1e-6  # as `feature_stats`: a (nearly) constant column gets variance 1


def batches(
    examples_uri: str,
    split: str,
    info: DatasetInfo,
    label_key: str = LABEL_KEY,
    *,
    batch_size: int,
    shuffle_seed: int | None = None,
    shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
    cache: bool = False,
    repeat: bool = False,
    also_label: str | None = None,
):
    """A `tf.data.Dataset` of (x float32 [B, D], y int64 [B]) batches of one split.

    Args:
      examples_uri: the `Examples` artifact's URI.
      split: the split to read.
      info: its `DatasetInfo` (features and roles to parse).
      label_key: the int role column yielded as y.
      batch_size: examples per batch (the last one may be smaller).
      shuffle_seed: None reads the split in file order; a seed shuffles the
        files and then the examples through a buffer of `shuffle_buffer`,
        differently each epoch (each iteration of the dataset) and the same
        way for the same seed.
      shuffle_buffer: examples held by the shuffle buffer.
      cache: keep the split's serialized examples in memory after the first
        pass (for a small split read many times; the caller bounds its size).
      repeat: repeat the split without end, one reshuffled pass after
        another, each pass ending on its own last batch (for `fit` with
        `steps_per_epoch`, which then keeps one iterator for the whole run).
      also_label: a second int role column, yielded third (x, y, z): e.g.
        `true_label` beside noisy labels.
    """
    import tensorflow as tf

    files = split_files(examples_uri, split)
    ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle_seed is not None:
        ds = ds.shuffle(len(files), seed=shuffle_seed, reshuffle_each_iteration=True)
    ds = ds.interleave(
        lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
        cycle_length=min(len(files), PARALLEL_READS),
        num_parallel_calls=min(len(files), PARALLEL_READS),
        deterministic=True,
    )
    if cache:
        ds = ds.cache()
    if shuffle_seed is not None:
        ds = ds.shuffle(shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=True)

    def parse(serialized):
        parsed = parse_examples(serialized, info)
        if also_label is None:
            return parsed[FEATURES], parsed[label_key]
        return parsed[FEATURES], parsed[label_key], parsed[also_label]

    ds = ds.batch(batch_size).map(parse, num_parallel_calls=PREFETCH_BATCHES, deterministic=True)
    if repeat:
        ds = ds.repeat()
    options = tf.data.Options()
    options.autotune.enabled = False  # fixed buffers (see PREFETCH_BATCHES)
    return ds.prefetch(PREFETCH_BATCHES).with_options(options)


@dataclasses.dataclass(frozen=True)
class SplitSummary:
    """What one streaming pass over a split learns.

    Attributes:
      count: examples in the split.
      class_counts: int64 [C], examples per class of the label column.
      feature_mean, feature_variance: float32 [D], the standardisation
        statistics (`trainer.model.feature_stats`' conventions).
    """

    count: int
    class_counts: np.ndarray
    feature_mean: np.ndarray
    feature_variance: np.ndarray


def summarize(
    examples_uri: str,
    split: str,
    info: DatasetInfo,
    label_key: str = LABEL_KEY,
    *,
    batch_size: int = 4096,
    allow_empty: bool = False,
) -> SplitSummary:
    """Checks every row of a split and gathers its `SplitSummary`, one batch at a time.

    Raises:
      InputError: a row with a NaN or infinite feature, or a label outside
        its label space, naming the split's folder, the row (1-based, in file
        order) and the column; an empty split unless `allow_empty` (then the
        statistics are zeros and ones).
    """
    num_classes = len(info.classes_of(label_key))
    channels = info.image_shape[-1] if info.image_shape is not None else info.input_dim
    count, class_counts = 0, np.zeros(num_classes, np.int64)
    shift = total = total_sq = None
    for x, y in batches(examples_uri, split, info, label_key, batch_size=batch_size):
        x, y = x.numpy().astype(np.float64), y.numpy()
        _check_rows(x, y, num_classes, count, info, label_key, split_uri(examples_uri, split))
        values = x.reshape(-1, channels)  # per channel for images ([B*H*W, C]), else [B, D]
        if shift is None:  # shifted sums keep float64 precise when the mean is large
            shift = values.mean(axis=0)
            total, total_sq = np.zeros(channels), np.zeros(channels)
        centred = values - shift
        total += centred.sum(axis=0)
        total_sq += (centred**2).sum(axis=0)
        class_counts += np.bincount(y, minlength=num_classes)
        count += len(y)
    if count == 0 and allow_empty:
        dim = info.input_dim
        return SplitSummary(0, class_counts, np.zeros(dim, np.float32), np.ones(dim, np.float32))
    if count == 0:
        raise InputError(
            f"the {split!r} split has no examples",
            file=split_uri(examples_uri, split),
            expected="at least one example",
        )
    n = count * (info.input_dim // channels)  # values per channel (or column)
    mean = total / n
    variance = np.maximum(total_sq / n - mean**2, 0.0)
    variance = np.where(variance < MIN_VARIANCE, 1.0, variance)
    reps = info.input_dim // channels
    return SplitSummary(
        count,
        class_counts,
        np.tile(mean + shift, reps).astype(np.float32),
        np.tile(variance, reps).astype(np.float32),
    )


def _check_rows(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    offset: int,
    info: DatasetInfo,
    label_key: str,
    file: str,
) -> None:
    """Finite features and label ids in [0, num_classes) in one batch whose first
    row is row `offset + 1` of the split."""
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise InputError(
            "an example holds NaN or infinite feature values",
            file=file,
            row=offset + int(bad[0]) + 1,
            column=", ".join(info.feature_keys),
            expected="finite features",
        )
    bad = np.flatnonzero((y < 0) | (y >= num_classes))
    if bad.size:
        raise InputError(
            f"class id {int(y[bad[0]])} out of range",
            file=file,
            row=offset + int(bad[0]) + 1,
            column=label_key,
            expected=f"an id in [0, {num_classes})",
        )


@dataclasses.dataclass(frozen=True)
class StreamedSplits:
    """The labelled splits a model is trained and measured on, read as streams.

    The streaming counterpart of `executor.LabelledSplits`: every row was
    checked and summarised in one pass (`summarize`), nothing is held.

    Attributes:
      uri: the `Examples` artifact's URI.
      info: its `DatasetInfo`.
      label_key: the int role column trained on.
      label_info: `info.for_label(label_key)`: what the model's outputs mean.
      summaries: split (`train`, and `eval` when present and not empty) ->
        its `SplitSummary`.
    """

    uri: str
    info: DatasetInfo
    label_key: str
    label_info: DatasetInfo
    summaries: dict[str, SplitSummary]

    def batches(self, split: str, batch_size: int, label_key: str | None = None, **kwargs):
        """`batches` of one split: (x float32 [B, D], y int64 [B]), y the
        `label_key` column (default the trained one); `kwargs` as `batches`
        takes them (shuffle_seed, cache, repeat, also_label).

        A stream that ends is told its length in batches (the checking pass
        counted the split): Keras then knows a validation pass's size instead
        of running the first one until the data runs out, and warning so."""
        import tensorflow as tf

        ds = batches(
            self.uri,
            split,
            self.info,
            label_key or self.label_key,
            batch_size=batch_size,
            **kwargs,
        )
        if kwargs.get("repeat"):
            return ds
        return ds.apply(
            tf.data.experimental.assert_cardinality(self.count_batches(split, batch_size))
        )

    def count_batches(self, split: str, batch_size: int) -> int:
        """Batches of `batch_size` in one pass over `split` (the last may be smaller)."""
        return math.ceil(self.summaries[split].count / batch_size)

    def fits_in(self, split: str, budget_bytes: int) -> bool:
        """Whether the split's float32 features take at most `budget_bytes`."""
        return self.summaries[split].count * self.info.input_dim * 4 <= budget_bytes


def open_labelled_splits(examples, label_key: str, owner: str) -> StreamedSplits:
    """Checks and summarises an `Examples` artifact's `train` and `eval` splits.

    Args:
      examples: a frontier `Examples` artifact.
      label_key: the int role column to train on.
      owner: the calling component's name, for log lines.

    Raises:
      InputError: no such label column; no or an empty `train` split; a bad
        row (see `summarize`).
    """
    from absl import logging

    from frontier.components.common.examples_io import check_label_column, training_split_names
    from frontier.schemas.dataset import EVAL_SPLIT, TRAIN_SPLIT

    info = DatasetInfo.read(examples.uri)
    check_label_column(info, label_key, examples.uri)
    splits = training_split_names(examples)
    summaries = {TRAIN_SPLIT: summarize(examples.uri, TRAIN_SPLIT, info, label_key)}
    progress.detail(
        "%s: %s split has %d examples", owner, TRAIN_SPLIT, summaries[TRAIN_SPLIT].count
    )
    if EVAL_SPLIT in splits:
        held_out = summarize(examples.uri, EVAL_SPLIT, info, label_key, allow_empty=True)
        progress.detail("%s: %s split has %d examples", owner, EVAL_SPLIT, held_out.count)
        if held_out.count:
            summaries[EVAL_SPLIT] = held_out
        else:
            logging.warning("%s: the %r split is empty; it is left out", owner, EVAL_SPLIT)
    return StreamedSplits(examples.uri, info, label_key, info.for_label(label_key), summaries)


def stream_metrics(model, dataset) -> dict[str, float]:
    """Mean cross-entropy and accuracy of a Keras classifier over a dataset of
    (x, y) batches (`scores.cross_entropy_and_accuracy`, summed batch by batch).

    Returns:
      {"examples", "loss", "accuracy"}.
    """
    from frontier.components.common.scores import cross_entropy_and_accuracy

    count, loss_sum, correct = 0, 0.0, 0.0
    for x, y in dataset.as_numpy_iterator():
        probabilities = np.asarray(model.predict_on_batch(x))
        loss, accuracy = cross_entropy_and_accuracy(probabilities, y)
        count += len(y)
        loss_sum += loss * len(y)
        correct += accuracy * len(y)
    return {"examples": count, "loss": loss_sum / count, "accuracy": correct / count}
