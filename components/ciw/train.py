"""Training with CIW, CICW, CICW-Mixup, mixup or plain cross-entropy, for any Keras model.

The reusable piece is an objective for frontier's Keras train step
(`trainer.step.objective_model`): `ciw_objective(config, num_classes,
total_steps)` gives fn(classifier, x, y, step, seed) -> loss and instance
weights, so any classifier (a user's model module's, or a built-in one),
fed any batches (`tf.data` streams or arrays), is trained with CIW by
wrapping it: `objective_model(classifier, ciw_objective(...))` and `fit`.
`CiwTrainer` does that on streamed splits; `train_ciw(x, y, ...)` does it
on arrays (benchmarks, notebooks). No TFX here. The methods differ only in
the batch objective:

  ce          mean cross-entropy (the control);
  mixup       Zhang et al. (2018): inputs and one-hot labels of the batch
              mixed with a random permutation of itself, ratio ~ Beta(a, a);
  ciw         sum_i w_i l_i with the instance weights of `weights.instance_weights`
              computed from the cross-entropies l_i;
  cicw        the same with l_i the class-reweighted losses
              (`weights.class_reweighted_losses`: KL or TV ball, radius gamma);
  cicw_mixup  weights w from a forward pass on the clean batch (CICW losses);
              each example i gets a partner j drawn with probability w_j
              (with replacement); x~ = r x_i + (1 - r) x_j and
              q~ = r e_yi + (1 - r) e_yj with r = w_i / (w_i + w_j), so a
              low-weight (likely mislabelled) example is mostly replaced by
              its high-weight partner; the objective is recomputed on the
              mixed batch with fresh instance weights from its CICW losses.

The weights are normalised over the global batch: on several devices every
replica sees all replicas' losses (`trainer.step.gather_global`), so the
weights and the step equal those of one device. Mixup partners are drawn
within each replica's share of the batch.

Every reweighting method trains without weights for the burn-in (the network
must first fit the easy, mostly clean examples for the losses to tell clean
from noisy): CIW and CICW with plain cross-entropy, CICW-Mixup with plain
mixup (as the reference code `ciw_label_noise` does for its mixup variants).
Then lambda is annealed from 10 x `lam` to `lam`. Both phases are fractions
of the run's total steps (`burn_in_fraction`, `anneal_fraction`; the run's
length is known from `epochs` x steps per epoch, or `train_steps`), so a
short run still leaves most of its steps to the weights; `burn_in` and
`anneal_steps` set them in absolute steps instead. Weights are constants for
the gradient; nothing in the step leaves the graph.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from absl import logging

from frontier.components.ciw import weights as W
from frontier.components.common.checks import is_int, is_real
from frontier.components.common.errors import InputError

if TYPE_CHECKING:
    from frontier.schemas.dataset import DatasetInfo

CE = "ce"
MIXUP = "mixup"
CIW = "ciw"
CICW = "cicw"
CICW_MIXUP = "cicw_mixup"
METHODS = (CE, MIXUP, CIW, CICW, CICW_MIXUP)
REWEIGHTING_METHODS = (CIW, CICW, CICW_MIXUP)
CLASS_REWEIGHTING_METHODS = (CICW, CICW_MIXUP)
CONSTANT = "constant"
LINEAR = "linear"
SCHEDULES = (CONSTANT, LINEAR)


@dataclasses.dataclass(frozen=True)
class CiwConfig:
    """Hyper-parameters of `train_ciw` (defaults: tuned on noisy digits, see benchmarks/ciw.py).

    Attributes:
      method: one of METHODS.
      alpha: alpha of the instance-weight divergence (> 0; 1 = KL).
      lam: final lambda (> 0); smaller = sharper down-weighting of high losses.
      divergence: class-reweighting ball, `kl` or `tv` (cicw, cicw_mixup).
      gamma: its radius (>= 0; <= 2 for `tv`).
      burn_in_fraction: the share of the run's steps trained without
        weights first (in [0, 1)): plain cross-entropy, or plain mixup for
        cicw_mixup.
      anneal_fraction: the share of the run's steps over which the linear
        schedule brings lambda down after the burn-in (in [0, 1]).
      burn_in: optional burn-in in absolute steps (>= 0), instead of the fraction.
      schedule: `linear` (lambda from 10 x lam to lam over the annealing)
        or `constant`.
      anneal_steps: optional annealing in absolute steps (>= 0), instead of
        the fraction.
      mixup_alpha: Beta(a, a) parameter of plain mixup's ratio (> 0; also
        that of cicw_mixup's burn-in).
      epochs, batch_size, learning_rate: Adam training (>= 1, >= 1, > 0).
      seed: seeds initialisation, shuffling and mixup sampling.
      train_steps: optional bound on the gradient steps (>= 1), ending the
        run inside an epoch if need be.
    """

    method: str = CIW
    alpha: float = 1.0
    lam: float = 0.3
    divergence: str = W.KL
    gamma: float = 0.2
    burn_in_fraction: float = 0.2
    anneal_fraction: float = 0.3
    burn_in: int | None = None
    schedule: str = LINEAR
    anneal_steps: int | None = None
    mixup_alpha: float = 1.0
    epochs: int = 40
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0
    train_steps: int | None = None

    def __post_init__(self) -> None:
        check_config(self)

    def total_steps(self, num_examples: int) -> int:
        """The run's gradient steps: epochs x ceil(N / batch_size), at most `train_steps`."""
        steps = self.epochs * math.ceil(num_examples / self.batch_size)
        return min(steps, self.train_steps) if self.train_steps else steps

    def lam_schedule(self, total_steps: int) -> tuple[float, int, int]:
        """(lam, burn_in, anneal_steps) in steps of a run of `total_steps`, as
        `weights.annealed_lambda` takes them (anneal_steps 0: constant)."""
        burn_in = self.burn_in
        if burn_in is None:
            burn_in = int(round(self.burn_in_fraction * total_steps))
        anneal = self.anneal_steps
        if anneal is None:
            anneal = int(round(self.anneal_fraction * total_steps))
        return self.lam, burn_in, anneal if self.schedule == LINEAR else 0


def _bad(name: str, value: Any, expected: str) -> InputError:
    return InputError(f"{name} = {value!r}", parameter=name, expected=expected)


def check_config(c: CiwConfig) -> None:
    """Raises `InputError` naming the first invalid hyper-parameter."""
    if c.method not in METHODS:
        raise _bad("method", c.method, f"one of {list(METHODS)}")
    if not is_real(c.alpha) or c.alpha <= 0:
        raise _bad("alpha", c.alpha, "a finite number > 0 (1 = KL divergence)")
    if not is_real(c.lam) or c.lam <= 0:
        raise _bad("lam", c.lam, "a finite number > 0")
    if c.divergence not in W.DIVERGENCES:
        raise _bad("divergence", c.divergence, f"one of {list(W.DIVERGENCES)}")
    if not is_real(c.gamma) or c.gamma < 0 or (c.divergence == W.TV and c.gamma > 2):
        raise _bad("gamma", c.gamma, "a number >= 0 (and <= 2 for the tv ball)")
    if not is_real(c.burn_in_fraction) or not 0 <= c.burn_in_fraction < 1:
        raise _bad("burn_in_fraction", c.burn_in_fraction, "a share of the run's steps in [0, 1)")
    if not is_real(c.anneal_fraction) or not 0 <= c.anneal_fraction <= 1:
        raise _bad("anneal_fraction", c.anneal_fraction, "a share of the run's steps in [0, 1]")
    if c.burn_in is not None and (not is_int(c.burn_in) or c.burn_in < 0):
        raise _bad("burn_in", c.burn_in, "an integer >= 0 (steps), or None for burn_in_fraction")
    if c.schedule not in SCHEDULES:
        raise _bad("schedule", c.schedule, f"one of {list(SCHEDULES)}")
    if c.anneal_steps is not None and (not is_int(c.anneal_steps) or c.anneal_steps < 0):
        raise _bad(
            "anneal_steps", c.anneal_steps, "an integer >= 0 (steps), or None for anneal_fraction"
        )
    if not is_real(c.mixup_alpha) or c.mixup_alpha <= 0:
        raise _bad("mixup_alpha", c.mixup_alpha, "a finite number > 0")
    if not is_int(c.epochs) or c.epochs < 1:
        raise _bad("epochs", c.epochs, "an integer >= 1")
    if not is_int(c.batch_size) or c.batch_size < 1:
        raise _bad("batch_size", c.batch_size, "an integer >= 1")
    if not is_real(c.learning_rate) or c.learning_rate <= 0:
        raise _bad("learning_rate", c.learning_rate, "a finite number > 0")
    if not is_int(c.seed):
        raise _bad("seed", c.seed, "an integer")
    if c.train_steps is not None and (not is_int(c.train_steps) or c.train_steps < 1):
        raise _bad("train_steps", c.train_steps, "an integer >= 1, or None (the epochs decide)")


MIN_WEIGHTED_STEPS = 20  # fewer steps after the burn-in, and the weights barely act


def mixing_ratio(seed, mixup_alpha: float):
    """A ratio r ~ Beta(a, a), drawn from the stateless `seed` (int32 [2]).

    Beta(1, 1) is uniform, drawn as such (XLA compiles it); other `a` take
    two gamma draws, which XLA cannot compile (`needs_xla_free_step`).
    """
    import tensorflow as tf

    if mixup_alpha == 1.0:
        return tf.random.stateless_uniform([], seed)
    a = tf.random.stateless_gamma([], seed, alpha=mixup_alpha)
    b = tf.random.stateless_gamma([], seed + 1, alpha=mixup_alpha)
    return a / (a + b)


def needs_xla_free_step(config: CiwConfig) -> bool:
    """Whether the method's step draws from a distribution XLA cannot compile."""
    return config.method in (MIXUP, CICW_MIXUP) and config.mixup_alpha != 1.0


def ciw_objective(config: CiwConfig, num_classes: int, total_steps: int) -> Callable:
    """The method's objective for `trainer.step.objective_model`.

    Args:
      config: the method and its hyper-parameters.
      num_classes: C, the classifier's outputs.
      total_steps: the run's gradient steps (`CiwConfig.total_steps`), which
        the burn-in and annealing fractions are shares of.

    Returns:
      fn(classifier, x float32 [b, D], y int32 [b], step int32 scalar,
      seed int32 [2]) -> {"loss": this replica's share of the global batch
      objective, "weights": float32 [b] instance weights times the global
      batch size (1 = uniform; for cicw_mixup those of the clean pass, which
      choose the partners), "probabilities": the classifier's outputs on x}.
    """
    import tensorflow as tf

    from frontier.components.trainer.step import cross_entropy, gather_global, replica_total

    method = config.method
    lam, burn_in, anneal_steps = config.lam_schedule(total_steps)
    class_ball = method in CLASS_REWEIGHTING_METHODS

    def example_losses(probabilities, targets):
        losses = W.per_class_losses(probabilities)
        if class_ball:
            return W.class_reweighted_losses(losses, targets, config.divergence, config.gamma)
        return tf.reduce_sum(targets * losses, axis=-1)

    def global_weights(losses, lam_t):
        """This replica's rows of the weights of the whole batch's losses, and B."""
        everyone, offset = gather_global(losses)
        w = W.instance_weights(everyone, config.alpha, lam_t)
        return w[offset : offset + tf.shape(losses)[0]], tf.cast(tf.shape(everyone)[0], tf.float32)

    def mean_ce(classifier, x, targets):
        losses = tf.reduce_sum(targets * W.per_class_losses(classifier(x, training=True)), -1)
        return tf.reduce_sum(losses) / replica_total(tf.cast(tf.shape(x)[0], tf.float32))

    def plain_mixup(classifier, x, targets, seed):
        r = mixing_ratio(seed, config.mixup_alpha)
        perm = tf.argsort(tf.random.stateless_uniform([tf.shape(x)[0]], seed))
        x_mix = r * x + (1.0 - r) * tf.gather(x, perm)
        q_mix = r * targets + (1.0 - r) * tf.gather(targets, perm)
        return mean_ce(classifier, x_mix, q_mix)

    def objective(classifier, x, y, step, seed):
        targets = tf.one_hot(y, num_classes)
        ones = tf.ones([tf.shape(y)[0]], tf.float32)
        if method == CE:  # the Trainer's objective
            return cross_entropy(classifier, x, y, step, seed)
        if method == MIXUP:
            clean = tf.stop_gradient(classifier(x, training=False))
            return {
                "loss": plain_mixup(classifier, x, targets, seed),
                "weights": ones,
                "probabilities": clean,
            }
        lam_t = W.annealed_lambda(step, lam, burn_in, anneal_steps)
        burning = step < burn_in
        if method in (CIW, CICW):
            probabilities = classifier(x, training=True)
            losses = example_losses(probabilities, targets)
            w, total = global_weights(losses, lam_t)
            w = tf.where(burning, ones / total, w)
            return {
                "loss": W.weighted_loss(losses, w),
                "weights": w * total,
                "probabilities": probabilities,
            }
        # cicw_mixup: weights of the clean batch pick partners and ratios.
        probabilities = tf.stop_gradient(classifier(x, training=False))
        w, total = global_weights(example_losses(probabilities, targets), lam_t)

        def mixed():
            partner = tf.random.stateless_categorical(
                tf.math.log(tf.maximum(w, 1e-30))[None, :], tf.shape(y)[0], seed, dtype=tf.int32
            )[0]
            w_j = tf.gather(w, partner)
            r = (w / tf.maximum(w + w_j, 1e-30))[:, None]
            x_mix = r * x + (1.0 - r) * tf.gather(x, partner)
            q_mix = r * targets + (1.0 - r) * tf.gather(targets, partner)
            losses = example_losses(classifier(x_mix, training=True), q_mix)
            return W.weighted_loss(losses, global_weights(losses, lam_t)[0])

        # The burn-in is plain mixup (the reference code's choice), not cross-entropy.
        loss = tf.cond(burning, lambda: plain_mixup(classifier, x, targets, seed), mixed)
        weights = tf.where(burning, ones, w * total)
        return {"loss": loss, "weights": weights, "probabilities": probabilities}

    return objective


def schedule_warnings(config: CiwConfig, num_examples: int) -> list[str]:
    """What the run's length does to the weighting schedule, in words (empty: nothing).

    A run that ends inside the burn-in trains plain cross-entropy (the
    weights never act); one that ends inside the annealing never reaches
    `lam`; one with fewer than `MIN_WEIGHTED_STEPS` steps after the burn-in
    gives the weights too few batches to change what the network fits.
    """
    if config.method not in REWEIGHTING_METHODS:
        return []
    total = config.total_steps(num_examples)
    lam, burn_in, anneal_steps = config.lam_schedule(total)
    if burn_in >= total:
        return [
            f"burn_in is {burn_in} steps but the run has {total}: the weights never act and "
            f"{config.method} trains plain cross-entropy; lower burn_in (or leave it unset "
            "for burn_in_fraction) or train longer"
        ]
    if burn_in + anneal_steps > total:
        return [
            f"burn_in + anneal_steps is {burn_in + anneal_steps} steps but the run has {total}: "
            f"lambda never comes down to lam = {lam:g}; lower anneal_steps or train longer"
        ]
    if total - burn_in < MIN_WEIGHTED_STEPS:
        return [
            f"the weights act for {total - burn_in} of the run's {total} steps (after a burn-in "
            f"of {burn_in}): too few to change what the network fits; train longer"
        ]
    return []


class CiwResult(NamedTuple):
    """What `train_ciw` returns.

    Attributes:
      model: the trained `keras.Model` (float32 [N, D] -> probabilities [N, C]).
      history: metric -> per-epoch floats: `loss` (the method's objective),
        `accuracy` (against the training labels, on the training batches),
        `true_accuracy` and `mean_weight_clean` / `mean_weight_flipped` (with
        `true_labels`), `val_loss` / `val_accuracy` (with `validation_data`).
      weight_histogram: int64 [2, bins] (with `true_labels`, else None): the
        last epoch's instance weights (times the batch size) per bin of
        `trainer.step.HISTOGRAM_EDGES`, clean labels in row 0, flipped in 1.
    """

    model: Any
    history: dict[str, list[float]]
    weight_histogram: np.ndarray | None


def fit_ciw(
    classifier,
    train_batches,
    config: CiwConfig,
    num_classes: int,
    *,
    steps_per_epoch: int,
    validation_batches=None,
    callbacks: Sequence[Any] = (),
    strategy=None,
) -> CiwResult:
    """Trains `classifier` in place with `config.method` on a stream of batches.

    Args:
      classifier: a Keras model float32 [B, D] -> probabilities [B, C], built
        in `strategy`'s scope.
      train_batches: a `tf.data.Dataset` of (x, y) or (x, y, true_y) batches
        that repeats (one pass is `steps_per_epoch` batches).
      config: the method; `epochs` and `train_steps` bound the run.
      num_classes: C.
      steps_per_epoch: the batches of one pass over the training data.
      validation_batches: optional (x, y) batches evaluated after each epoch.
      callbacks: Keras callbacks (TensorBoard, logging).
      strategy: the `tf.distribute` strategy (default: the current one).

    Returns:
      A `CiwResult` (the histogram when the batches carry true labels).
    """
    import keras
    import tensorflow as tf

    from frontier.components.trainer.model import stop_after
    from frontier.components.trainer.step import (
        histogram_callback,
        jit_setting,
        objective_model,
    )

    strategy = strategy or tf.distribute.get_strategy()
    examples = steps_per_epoch * config.batch_size  # as many steps as the split's
    for warning in schedule_warnings(config, examples):
        logging.warning("CIW (%s): %s", config.method, warning)
    objective = ciw_objective(config, num_classes, config.total_steps(examples))
    with strategy.scope():
        model = objective_model(classifier, objective, seed=config.seed)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
            jit_compile=jit_setting(strategy, xla_ok=not needs_xla_free_step(config)),
        )
    all_callbacks = [histogram_callback(model), *callbacks]
    if config.train_steps:
        all_callbacks.append(stop_after(config.train_steps))
    fit = model.fit(
        train_batches,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=validation_batches,
        callbacks=all_callbacks,
        verbose=0,
    )
    history = {k: [float(v) for v in vs] for k, vs in fit.history.items()}
    tracked = "mean_weight_clean" in history
    return CiwResult(classifier, history, model.histogram.counts() if tracked else None)


def train_ciw(
    x: np.ndarray,
    y: np.ndarray,
    info_or_dims: DatasetInfo | Sequence[int] | None = None,
    config: CiwConfig | None = None,
    *,
    model_type: str = "mlp",
    hidden_units: Sequence[int] = (128,),
    build: Callable[[], Any] | None = None,
    true_labels: np.ndarray | None = None,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> CiwResult:
    """Trains a classifier on (possibly noisy) labels held in arrays with `config.method`.

    `fit_ciw` on the arrays as a seeded, reshuffled stream of batches.
    Deterministic for a given `config.seed` on CPU (sets the process-global
    seeds).

    Args:
      x: float [N, D] inputs; y: int [N] training labels in [0, C).
      info_or_dims: a `DatasetInfo` or `(input_dim, num_classes)`; default
        D from `x` and C = max(y) + 1.
      config: the method and its hyper-parameters (default `CiwConfig()`).
      model_type, hidden_units: the network (see `trainer.model.build_model`).
      build: optional `() -> keras.Model` that builds the network instead (a
        model module's, `trainer.modules.ModelModule`), called after seeding;
        the model maps [B, D] to probabilities [B, C].
      true_labels: optional clean labels [N] (known in a simulation) for the
        weight statistics split by flipped / clean; never used for training.
      validation_data: optional (x [M, D], labels [M]) evaluated per epoch.
      on_epoch_end: optional fn(epoch, logs) after each epoch (0-based).

    Returns:
      A `CiwResult`.

    Raises:
      InputError: for bad shapes or labels.
    """
    import keras
    import tensorflow as tf

    from frontier.components.common.checks import check_labels
    from frontier.components.trainer.model import ModelDims, as_dims, build_model, check_model_dims

    config = config or CiwConfig()
    check_config(config)
    x = np.asarray(x, np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise InputError(
            f"inputs have shape {x.shape}", column="x", expected="shape [N, D], N >= 1"
        )
    dims = as_dims(info_or_dims or ModelDims(x.shape[1], int(np.max(y)) + 1))
    y = check_labels(y, dims.num_classes)
    if len(y) != len(x):
        raise InputError(f"{len(y)} labels for {len(x)} inputs", column="label")
    columns: tuple[np.ndarray, ...] = (x, y)
    if true_labels is not None:
        columns += (check_labels(true_labels, dims.num_classes, column="true_label"),)

    keras.utils.set_random_seed(int(config.seed))
    if build is not None:
        classifier = build()
        check_model_dims(classifier, dims)
    else:
        classifier = build_model(dims, model_type, hidden_units, train_x=x)
    train = (
        tf.data.Dataset.from_tensor_slices(columns)
        .shuffle(len(x), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
        .repeat()
        .prefetch(2)
    )
    validation = None
    if validation_data is not None and len(validation_data[0]):
        vx = np.asarray(validation_data[0], np.float32)
        vy = check_labels(validation_data[1], dims.num_classes)
        validation = tf.data.Dataset.from_tensor_slices((vx, vy)).batch(1024)
    callbacks = []
    if on_epoch_end is not None:
        callbacks.append(
            keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: on_epoch_end(
                    epoch, {k: float(v) for k, v in (logs or {}).items()}
                )
            )
        )
    return fit_ciw(
        classifier,
        train,
        config,
        dims.num_classes,
        steps_per_epoch=math.ceil(len(x) / config.batch_size),
        validation_batches=validation,
        callbacks=callbacks,
    )
