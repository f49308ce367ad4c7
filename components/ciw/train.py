"""Training with CIW, CICW, CICW-Mixup, mixup or plain cross-entropy.

`train_ciw(x, y, ...)` trains frontier's baseline Keras classifier
(`trainer.model.build_model`) with one compiled `tf.function` step per
mini-batch; no TFX here. The methods differ only in the batch objective:

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

Every reweighting method trains without weights for the first `burn_in` steps
(the network must first fit the easy, mostly clean examples for the losses to
tell clean from noisy): CIW and CICW with plain cross-entropy, CICW-Mixup with
plain mixup (as the reference code `ciw_label_noise` does for its mixup
variants: the burn-in is then already mixup's more noise-robust training, not
cross-entropy's memorisation of the flipped labels). Then lambda is annealed
from 10 x `lam` to `lam` over `anneal_steps` steps. Weights are constants for the
gradient. The step takes the step index as a tensor, so the schedule does not
retrace; nothing in it leaves the graph (no `.numpy()`).
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
from frontier.components.common.scores import cross_entropy_and_accuracy

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
      burn_in: steps without weights first (>= 0): plain cross-entropy, or
        plain mixup for cicw_mixup.
      schedule: `linear` (lambda from 10 x lam to lam over `anneal_steps`)
        or `constant`.
      anneal_steps: steps of the linear schedule (>= 0).
      mixup_alpha: Beta(a, a) parameter of plain mixup's ratio (> 0; also
        that of cicw_mixup's burn-in).
      epochs, batch_size, learning_rate: Adam training (>= 1, >= 1, > 0).
      seed: seeds initialisation, shuffling and mixup sampling.
    """

    method: str = CIW
    alpha: float = 1.0
    lam: float = 0.3
    divergence: str = W.KL
    gamma: float = 0.2
    burn_in: int = 200
    schedule: str = LINEAR
    anneal_steps: int = 300
    mixup_alpha: float = 1.0
    epochs: int = 40
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        check_config(self)

    def lam_schedule(self) -> tuple[float, int, int]:
        """(lam, burn_in, anneal_steps) as `weights.annealed_lambda` takes them."""
        return self.lam, self.burn_in, self.anneal_steps if self.schedule == LINEAR else 0


def _bad(name: str, value: Any, expected: str) -> InputError:
    return InputError(f"{name} = {value!r}", column=name, expected=expected)


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
    if not is_int(c.burn_in) or c.burn_in < 0:
        raise _bad("burn_in", c.burn_in, "an integer >= 0 (steps)")
    if c.schedule not in SCHEDULES:
        raise _bad("schedule", c.schedule, f"one of {list(SCHEDULES)}")
    if not is_int(c.anneal_steps) or c.anneal_steps < 0:
        raise _bad("anneal_steps", c.anneal_steps, "an integer >= 0 (steps)")
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


def batch_objective(model, config: CiwConfig, num_classes: int) -> Callable:
    """The method's objective as fn(x, y, step, seed, mix_ratio) -> (loss, weights).

    Args (of the returned function, all tensors):
      x: float32 [B, D]; y: int32 [B]; step: int32 scalar (0-based step);
      seed: int32 [2], the stateless-random seed of this step;
      mix_ratio: float32 scalar, plain mixup's ratio ~ Beta(a, a), drawn by
        the caller (XLA has no gamma sampler); used by mixup and by
        cicw_mixup's burn-in, ignored by the other methods.

    Returns (of it):
      loss: the scalar to minimise (differentiable through `model`);
      weights: float32 [B], the instance weights times B (1 = uniform; for
        cicw_mixup those of the clean pass, which choose the partners).
    """
    import tensorflow as tf

    method = config.method
    lam, burn_in, anneal_steps = config.lam_schedule()
    class_ball = method in CLASS_REWEIGHTING_METHODS

    def example_losses(probabilities, targets):
        losses = W.per_class_losses(probabilities)
        if class_ball:
            return W.class_reweighted_losses(losses, targets, config.divergence, config.gamma)
        return tf.reduce_sum(targets * losses, axis=-1)

    def ce(x, targets):
        losses = tf.reduce_sum(targets * W.per_class_losses(model(x, training=True)), axis=-1)
        return tf.reduce_mean(losses)

    def plain_mixup(x, targets, seed, r):
        perm = tf.argsort(tf.random.stateless_uniform([tf.shape(x)[0]], seed))
        x_mix = r * x + (1.0 - r) * tf.gather(x, perm)
        q_mix = r * targets + (1.0 - r) * tf.gather(targets, perm)
        return ce(x_mix, q_mix)

    def objective(x, y, step, seed, mix_ratio):
        targets = tf.one_hot(y, num_classes)
        n = tf.shape(y)[0]
        ones = tf.ones([n], tf.float32)
        if method == CE:
            return ce(x, targets), ones
        if method == MIXUP:
            return plain_mixup(x, targets, seed, mix_ratio), ones
        lam_t = W.annealed_lambda(step, lam, burn_in, anneal_steps)
        burning = step < burn_in
        n_f = tf.cast(n, tf.float32)
        if method in (CIW, CICW):
            losses = example_losses(model(x, training=True), targets)
            w = W.instance_weights(losses, config.alpha, lam_t)
            w = tf.where(burning, ones / n_f, w)
            return W.weighted_loss(losses, w), w * n_f
        # cicw_mixup: weights of the clean batch pick partners and ratios.
        clean = example_losses(tf.stop_gradient(model(x, training=False)), targets)
        w = W.instance_weights(clean, config.alpha, lam_t)

        def mixed():
            partner = tf.random.stateless_categorical(
                tf.math.log(tf.maximum(w, 1e-30))[None, :], n, seed, dtype=tf.int32
            )[0]
            w_j = tf.gather(w, partner)
            r = (w / tf.maximum(w + w_j, 1e-30))[:, None]
            x_mix = r * x + (1.0 - r) * tf.gather(x, partner)
            q_mix = r * targets + (1.0 - r) * tf.gather(targets, partner)
            losses = example_losses(model(x_mix, training=True), q_mix)
            return W.weighted_loss(losses, W.instance_weights(losses, config.alpha, lam_t))

        # The burn-in is plain mixup (the reference code's choice), not cross-entropy.
        loss = tf.cond(burning, lambda: plain_mixup(x, targets, seed, mix_ratio), mixed)
        return loss, tf.where(burning, ones, w * n_f)

    return objective


def make_train_step(model, optimizer, config: CiwConfig, num_classes: int) -> Callable:
    """A compiled step fn(x, y, step, mix_ratio) -> (loss, weights [B]) that updates `model`.

    One XLA-compiled graph (`jit_compile`): the reweighting's few elementwise
    ops fuse with the loss instead of costing an op dispatch each.

    Args (of the step): x float32 [B, D], y int32 [B], step int32 scalar,
    mix_ratio float32 scalar (see `batch_objective`).
    """
    import tensorflow as tf

    objective = batch_objective(model, config, num_classes)
    variables = model.trainable_variables
    optimizer.build(variables)
    seed = int(config.seed)

    @tf.function(reduce_retracing=True, jit_compile=True)
    def step(x, y, step_index, mix_ratio):
        step_seed = tf.stack([tf.constant(seed, tf.int32), step_index])
        with tf.GradientTape() as tape:
            loss, weights = objective(x, y, step_index, step_seed, mix_ratio)
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return loss, weights

    return step


def schedule_warnings(config: CiwConfig, num_examples: int) -> list[str]:
    """What the run's length does to the weighting schedule, in words (empty: nothing).

    The burn-in and the annealing are counted in steps (mini-batches); a run
    of `epochs * ceil(num_examples / batch_size)` steps that ends inside the
    burn-in trains plain cross-entropy (the weights never act), and one that
    ends inside the annealing never reaches `lam`.
    """
    if config.method not in REWEIGHTING_METHODS:
        return []
    total = config.epochs * math.ceil(num_examples / config.batch_size)
    lam, burn_in, anneal_steps = config.lam_schedule()
    if burn_in >= total:
        return [
            f"burn_in is {burn_in} steps but the run has {total} ({config.epochs} epochs of "
            f"{math.ceil(num_examples / config.batch_size)} batches): the weights never act and "
            f"{config.method} trains plain cross-entropy; lower burn_in or train longer"
        ]
    if burn_in + anneal_steps > total:
        return [
            f"burn_in + anneal_steps is {burn_in + anneal_steps} steps but the run has {total}: "
            f"lambda never comes down to lam = {lam:g}; lower anneal_steps or train longer"
        ]
    return []


class CiwResult(NamedTuple):
    """What `train_ciw` returns.

    Attributes:
      model: the trained `keras.Model` (float32 [N, D] -> probabilities [N, C]).
      history: metric -> per-epoch floats: `loss` (the method's objective),
        `accuracy` (against the training labels), `true_accuracy` and
        `mean_weight_clean` / `mean_weight_flipped` (with `true_labels`),
        `val_loss` / `val_accuracy` (with `validation_data`).
      example_weights: float32 [N], each training example's instance weight
        (times the batch size, so 1 = uniform) in the last epoch.
    """

    model: Any
    history: dict[str, list[float]]
    example_weights: np.ndarray


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
    """Trains the baseline classifier on (possibly noisy) labels with `config.method`.

    Deterministic for a given `config.seed` on CPU (Keras, NumPy and the
    stateless mixup draws are seeded; sets the process-global seeds).

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
    if true_labels is not None:
        true_labels = check_labels(true_labels, dims.num_classes, column="true_label")
        flipped = true_labels != y

    for warning in schedule_warnings(config, len(x)):
        logging.warning("train_ciw: %s", warning)
    keras.utils.set_random_seed(int(config.seed))
    if build is not None:
        model = build()
        check_model_dims(model, dims)
    else:
        model = build_model(dims, model_type, hidden_units, train_x=x)
    optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
    step_fn = make_train_step(model, optimizer, config, dims.num_classes)
    rng = np.random.default_rng(config.seed)
    history: dict[str, list[float]] = {}
    example_weights = np.ones(len(x), np.float32)
    step = 0
    for epoch in range(config.epochs):
        order = rng.permutation(len(x))
        losses = []
        for start in range(0, len(x), config.batch_size):
            idx = order[start : start + config.batch_size]
            ratio = rng.beta(config.mixup_alpha, config.mixup_alpha)
            loss, w = step_fn(
                tf.constant(x[idx]),
                tf.constant(y[idx], tf.int32),
                tf.constant(step, tf.int32),
                tf.constant(ratio, tf.float32),
            )
            losses.append(float(loss) * len(idx))
            example_weights[idx] = w.numpy()
            step += 1
        logs = {"loss": sum(losses) / len(x)}
        pred = np.argmax(model.predict(x, batch_size=1024, verbose=0), axis=1)
        logs["accuracy"] = float(np.mean(pred == y))
        if true_labels is not None:
            logs["true_accuracy"] = float(np.mean(pred == true_labels))
            for name, mask in (("clean", ~flipped), ("flipped", flipped)):
                if mask.any():
                    logs[f"mean_weight_{name}"] = float(example_weights[mask].mean())
        if validation_data is not None and len(validation_data[0]):
            vx = np.asarray(validation_data[0], np.float32)
            vy = check_labels(validation_data[1], dims.num_classes)
            p = model.predict(vx, batch_size=1024, verbose=0)
            logs["val_loss"], logs["val_accuracy"] = cross_entropy_and_accuracy(p, vy)
        for k, v in logs.items():
            history.setdefault(k, []).append(v)
        if on_epoch_end is not None:
            on_epoch_end(epoch, logs)
    return CiwResult(model, history, example_weights)
