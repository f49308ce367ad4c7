"""One Keras train step for frontier's streaming trainers: an objective over the global batch.

`ObjectiveModel` wraps a user's (or a built-in) classifier for `fit`: its
`train_step` asks an objective for the batch's loss and instance weights and
applies the gradient. The Trainer's objective is plain cross-entropy
(`cross_entropy`); `CiwTrainer` passes CIW's (`ciw.train.ciw_objective`), so
every Keras trainer takes the same path, the same data streams and the same
devices.

Several devices. Under a `tf.distribute` strategy (`local_strategy`: one
replica per local GPU, or the TPU's cores) Keras splits each global batch
across the replicas, runs the step once per replica and sums the replicas'
gradients. Keras 3's own `train_step` hands each replica the *mean* loss of
its share, so the summed gradient is R times the single-device one. Here an
objective returns each replica's share of the global objective instead (for
cross-entropy: the sum of its examples' losses over the global batch size,
`replica_total`), so the summed gradient is the single-device gradient of
the whole batch; weights that must be normalised over the whole batch (CIW's)
see every replica's losses (`gather_global`). One step on R replicas then
equals one step on one device (tests/components/test_distribute.py checks
it on two logical CPUs).

The wrapper's own logs: `loss` (the objective), `accuracy` (against the
training labels, on the training forward pass); with a third element in each
batch (the examples' true labels, a label-noise simulation) also
`true_accuracy` and the mean instance weight of the examples whose label is
clean and flipped (`mean_weight_clean`, `mean_weight_flipped`), and a
histogram of the weights per group (`WeightHistogram`; memory is its bins,
whatever the data's size; reset at each epoch's start by
`histogram_callback`, so after `fit` it holds the last epoch's). Evaluation
(`validation_data`) is cross-entropy and accuracy of the classifier in
inference mode.

The TPU branch of `local_strategy` follows TensorFlow's documented set-up
and has not run here (no TPU); the GPU branch is the two-CPU test's
`MirroredStrategy` over GPUs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from frontier.components.common.scores import PROB_FLOOR  # cross-entropy's floor on p

# The weight histogram's bins (weights times the global batch size, 1 = uniform):
# 40 bins of 0.1 on [0, 4), and one for everything from 4 up.
HISTOGRAM_EDGES = np.concatenate([np.linspace(0.0, 4.0, 41), [np.inf]])
CLEAN, FLIPPED = 0, 1  # the histogram's rows

# An objective: fn(classifier, x float32 [b, D], y int32 [b], step int32 scalar,
# seed int32 [2]) -> dict with `loss` (this replica's share of the global
# objective, differentiable), `weights` float32 [b] (instance weights times
# the global batch size; 1 = uniform) and `probabilities` float32 [b, C] (the
# classifier's outputs on the unmixed x, for the accuracy).
Objective = Callable[..., dict[str, Any]]


def local_strategy(devices: list[str] | None = None):
    """The `tf.distribute` strategy that uses every accelerator of this worker.

    Several GPUs: `MirroredStrategy` (one replica per GPU). A TPU host:
    `TPUStrategy` over its cores. Otherwise (one GPU, or CPU only) the
    default strategy: one replica, no overhead.

    Args:
      devices: explicit device names to mirror over (e.g. two logical CPUs in
        a test); None chooses as above.
    """
    import tensorflow as tf

    if devices is not None:
        return tf.distribute.MirroredStrategy(devices) if len(devices) > 1 else _default(tf)
    if tf.config.list_logical_devices("TPU"):
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="local")
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    return tf.distribute.MirroredStrategy(gpus) if len(gpus) > 1 else _default(tf)


def _default(tf):
    return tf.distribute.get_strategy()


def jit_setting(strategy, xla_ok: bool = True) -> bool | str:
    """`compile(jit_compile=...)` for a step under `strategy`: Keras' "auto" (XLA
    on accelerators) on one replica, off across replicas (their collectives
    run outside XLA) or when the step draws what XLA cannot (`xla_ok`)."""
    return "auto" if xla_ok and strategy.num_replicas_in_sync == 1 else False


def replica_total(value):
    """The sum of a tensor over the replicas of the running step (itself on one)."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def gather_global(values):
    """Every replica's values [b_r, ...] joined in replica order, and where this
    replica's own rows start: (values [B, ...], offset int32), B the global batch.

    On one replica: (values, 0). A constant for the gradient: callers use it
    for weights, which CIW holds constant anyway.
    """
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values, tf.constant(0, tf.int32)
    values = tf.stop_gradient(values)
    sizes = context.all_gather(tf.shape(values)[:1], axis=0)
    replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
    offset = tf.reduce_sum(sizes[:replica])
    return context.all_gather(values, axis=0), offset


def preprocessed(batches, preprocess: Callable[[Any], Any] | None):
    """`batches` (x, ...) with x replaced by `preprocess(x)` (a model module's
    `preprocess_inputs`), mapped in the input pipeline; unchanged without one."""
    if preprocess is None:
        return batches
    return batches.map(
        lambda x, *rest: (preprocess(x), *rest), num_parallel_calls=2, deterministic=True
    )


def example_losses(probabilities, targets):
    """Cross-entropy of each example: float32 [b] from probabilities and
    (soft) targets, both [b, C]; probabilities floored at `PROB_FLOOR`."""
    import tensorflow as tf

    p = tf.clip_by_value(tf.cast(probabilities, tf.float32), PROB_FLOOR, 1.0)
    return -tf.reduce_sum(targets * tf.math.log(p), axis=-1)


def cross_entropy(classifier, x, y, step, seed) -> dict[str, Any]:
    """Plain cross-entropy, the mean over the global batch (the Trainer's objective)."""
    import tensorflow as tf

    del step, seed  # no schedule, no randomness
    probabilities = classifier(x, training=True)
    losses = example_losses(probabilities, tf.one_hot(y, tf.shape(probabilities)[-1]))
    count = replica_total(tf.cast(tf.shape(y)[0], tf.float32))
    return {
        "loss": tf.reduce_sum(losses) / count,
        "weights": tf.ones_like(losses),
        "probabilities": probabilities,
    }


def weight_histogram_class():
    """`WeightHistogram`, defined on first use (Keras is imported lazily)."""
    import keras
    import tensorflow as tf

    class WeightHistogram(keras.metrics.Metric):
        """Counts of instance weights per bin (`HISTOGRAM_EDGES`), clean and flipped rows.

        Every replica adds the global batch's counts (see `_update_mean`);
        `counts()` is int64 [2, bins].
        """

        def __init__(self, name: str = "weight_histogram", **kwargs: Any) -> None:
            super().__init__(name=name, **kwargs)
            bins = len(HISTOGRAM_EDGES) - 1
            self.bins = self.add_variable(
                shape=(2, bins), initializer="zeros", dtype="float32", name="bins"
            )

        def update_state(self, weights, flipped):
            edges = tf.constant(HISTOGRAM_EDGES[1:-1], tf.float32)
            index = tf.searchsorted(edges, tf.cast(weights, tf.float32), side="right")
            row = tf.cast(flipped, tf.int32)
            bins = len(HISTOGRAM_EDGES) - 1
            flat = tf.math.bincount(row * bins + index, minlength=2 * bins, maxlength=2 * bins)
            counts = replica_total(tf.cast(flat, tf.float32))
            self.bins.assign_add(tf.reshape(counts, (2, bins)))

        def result(self):
            return tf.reduce_sum(self.bins)

        def counts(self) -> np.ndarray:
            return np.asarray(self.bins.numpy()).round().astype(np.int64)

    return WeightHistogram


def _hits(probabilities, labels):
    """float32 [b]: 1 where the arg-max class is the label."""
    import tensorflow as tf

    predicted = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
    return tf.cast(tf.equal(predicted, labels), tf.float32)


def _update_mean(metric, values, weights) -> None:
    """Updates a `keras.metrics.Mean` with the weighted mean of `values` [b] over
    the global batch (`weights` [b], None = 1).

    Keras 3 keeps a metric's variables per replica and reports the first
    replica's, so every replica adds the global sums (the same on each).
    """
    import tensorflow as tf

    weights = tf.ones_like(values) if weights is None else weights
    total = replica_total(tf.reduce_sum(values * weights))
    count = replica_total(tf.reduce_sum(weights))
    metric.update_state(tf.math.divide_no_nan(total, count), sample_weight=count)


def histogram_callback(model):
    """A Keras callback that empties `model.histogram` as each epoch begins."""
    import keras

    return keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: model.histogram.reset_state()
    )


def objective_model(classifier, objective: Objective = cross_entropy, seed: int = 0):
    """`classifier` wrapped for `fit` with `objective` (see the module docstring).

    Build it (and compile it) inside the strategy's scope, with the classifier.

    Args:
      classifier: a Keras model float32 [B, D] -> probabilities [B, C]; the
        wrapper trains it in place (save the classifier, not the wrapper).
      objective: the batch objective (`cross_entropy`, or CIW's).
      seed: the first half of each step's stateless-random seed (the step
        index is the second).

    Returns:
      A `keras.Model` whose `fit` takes batches (x, y) or (x, y, true_y).
    """
    import keras
    import tensorflow as tf

    Histogram = weight_histogram_class()

    class ObjectiveModel(keras.Model):
        def __init__(self) -> None:
            super().__init__(name=f"{classifier.name}_training")
            self.classifier = classifier
            self.seed = int(seed)
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.accuracy = keras.metrics.Mean(name="accuracy")
            self.true_accuracy = keras.metrics.Mean(name="true_accuracy")
            self.weight_clean = keras.metrics.Mean(name="mean_weight_clean")
            self.weight_flipped = keras.metrics.Mean(name="mean_weight_flipped")
            self.histogram = Histogram()

        @property
        def metrics(self):
            return [
                self.loss_tracker,
                self.accuracy,
                self.true_accuracy,
                self.weight_clean,
                self.weight_flipped,
            ]  # not the histogram: Keras resets these for validation, too

        def call(self, x, training=False):
            return self.classifier(x, training=training)

        def compile(self, optimizer, **kwargs):
            super().compile(optimizer=optimizer, **kwargs)
            # The classifier shares the optimizer, so its saved `.keras` file
            # carries the training state (steps, moments) for a warm start.
            self.classifier.compile(
                optimizer=self.optimizer,
                loss=keras.losses.SparseCategoricalCrossentropy(),
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            )

        def train_step(self, data):
            x, y = data[0], tf.cast(data[1], tf.int32)
            step = tf.cast(self.optimizer.iterations, tf.int32)
            step_seed = tf.stack([tf.constant(self.seed, tf.int32), step])
            variables = self.classifier.trainable_variables
            with tf.GradientTape() as tape:
                out = objective(self.classifier, x, y, step, step_seed)
            grads = tape.gradient(out["loss"], variables)
            self.optimizer.apply_gradients(zip(grads, variables, strict=True))
            count = replica_total(tf.cast(tf.shape(y)[0], tf.float32))
            self.loss_tracker.update_state(replica_total(out["loss"]), sample_weight=count)
            _update_mean(self.accuracy, _hits(out["probabilities"], y), None)
            logs = {"loss": self.loss_tracker.result(), "accuracy": self.accuracy.result()}
            if len(data) > 2:
                logs.update(self._noise_logs(y, tf.cast(data[2], tf.int32), out))
            return logs

        def _noise_logs(self, y, true_y, out):
            _update_mean(self.true_accuracy, _hits(out["probabilities"], true_y), None)
            flipped = tf.not_equal(y, true_y)
            weights = tf.cast(out["weights"], tf.float32)
            _update_mean(self.weight_clean, weights, tf.cast(~flipped, tf.float32))
            _update_mean(self.weight_flipped, weights, tf.cast(flipped, tf.float32))
            self.histogram.update_state(weights, flipped)
            return {
                "true_accuracy": self.true_accuracy.result(),
                "mean_weight_clean": self.weight_clean.result(),
                "mean_weight_flipped": self.weight_flipped.result(),
            }

        def test_step(self, data):
            x, y = data[0], tf.cast(data[1], tf.int32)
            probabilities = self.classifier(x, training=False)
            losses = example_losses(probabilities, tf.one_hot(y, tf.shape(probabilities)[-1]))
            _update_mean(self.loss_tracker, losses, None)
            _update_mean(self.accuracy, _hits(probabilities, y), None)
            return {"loss": self.loss_tracker.result(), "accuracy": self.accuracy.result()}

    return ObjectiveModel()
