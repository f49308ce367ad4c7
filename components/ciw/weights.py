"""Constrained instance and class reweighting (Kumar & Amid, 2021) as TF functions.

No Keras, no TFX: each function maps per-example (or per-class) losses of a
mini-batch to weights or reweighted losses, in TensorFlow ops only, so that
it runs inside a compiled `tf.function` train step (`train.py`) and equally
on NumPy arrays in eager mode (what the tests do).

Instance reweighting (CIW). For the losses l_i of a mini-batch, the weights
solve  min_w sum_i w_i l_i + lambda * D_alpha(w || uniform)  over the simplex,
whose solution (up to normalisation) is
    alpha = 1 (KL):  w_i ~ exp(-l_i / lambda)
    alpha != 1:      w_i ~ max((1 - alpha) l_i + lambda, 0) ** (1 / (alpha - 1))
normalised to sum to 1 and held constant for the gradient (stop-gradient).
Small lambda concentrates the weight on the lowest losses (likely clean
labels); lambda -> infinity gives uniform weights, i.e. plain cross-entropy.

Class reweighting (CICW). For one example with per-class losses l_c = -log p_c
and label y, the class weights v minimise sum_c v_c l_c over the simplex
within a divergence ball around the one-hot label e_y. Both balls have a
closed form (checked against a numerical solver in the tests):
    KL ball  KL(e_y || v) = -log v_y <= gamma:  v_y = beta = exp(-gamma) and
             1 - beta on the arg-min class, so the loss is
             beta * l_y + (1 - beta) * min_c l_c  (hard bootstrapping);
    TV ball  ||v - e_y||_1 <= gamma (gamma in [0, 2]): moving mass m from e_y
             to another class costs 2m of L1 distance, so gamma / 2 of the
             mass moves to the arg-min class:
             (1 - gamma/2) * l_y + gamma/2 * min_c l_c.
If y is itself the arg-min, both give l_y. The loss is linear in the label,
so for a soft label q (a mixup of two one-hot labels) `class_reweighted_losses`
returns the same mixture of the two closed forms: c * (q . l) + (1 - c) * min l.
"""

from __future__ import annotations

import math

import numpy as np

KL = "kl"
TV = "tv"
DIVERGENCES = (KL, TV)
# Losses are clipped log-probabilities: p is floored at this value.
PROB_FLOOR = 1e-7


def _tf():
    import tensorflow as tf

    return tf


def label_weight(divergence: str, gamma: float) -> float:
    """The weight c that the closed form keeps on the given label (1 - c goes to the arg-min).

    KL ball: exp(-gamma); TV ball: 1 - gamma / 2.
    """
    if divergence == KL:
        return math.exp(-gamma)
    if divergence == TV:
        return 1.0 - gamma / 2.0
    raise ValueError(f"unknown divergence {divergence!r}; expected one of {DIVERGENCES}")


def per_class_losses(probabilities):
    """-log p for every class: float [B, C] from probabilities [B, C] (floored at 1e-7)."""
    tf = _tf()
    p = tf.convert_to_tensor(probabilities)
    return -tf.math.log(tf.clip_by_value(p, PROB_FLOOR, 1.0))


def class_weights(losses, labels, divergence: str, gamma: float):
    """The closed-form class weights v: float [B, C], rows on the simplex.

    Args:
      losses: per-class losses l [B, C] (e.g. `per_class_losses`).
      labels: int class ids y [B].
      divergence: `kl` or `tv` (the ball around the one-hot label).
      gamma: the ball's radius (>= 0; <= 2 for `tv`).

    Returns:
      v with v_y = c, v_argmin += 1 - c (c = `label_weight`), so that
      sum_c v_c l_c = c l_y + (1 - c) min_c l_c.
    """
    tf = _tf()
    losses = tf.convert_to_tensor(losses)
    num_classes = losses.shape[-1]
    c = label_weight(divergence, gamma)
    on_label = tf.one_hot(labels, num_classes, dtype=losses.dtype)
    on_min = tf.one_hot(tf.argmin(losses, axis=-1), num_classes, dtype=losses.dtype)
    return c * on_label + (1.0 - c) * on_min


def class_reweighted_losses(losses, targets, divergence: str, gamma: float):
    """Per-example CICW losses c * (q . l) + (1 - c) * min_c l_c: float [B].

    Args:
      losses: per-class losses l [B, C].
      targets: label distributions q [B, C]: one-hot labels (the exact
        optimum of the class-weight problem) or mixtures of two one-hot
        labels (mixup), for which the result is the same mixture of the two
        optima.
      divergence, gamma: see `class_weights`.
    """
    tf = _tf()
    losses = tf.convert_to_tensor(losses)
    c = label_weight(divergence, gamma)
    on_label = tf.reduce_sum(tf.convert_to_tensor(targets, losses.dtype) * losses, axis=-1)
    if c == 1.0:
        return on_label
    return c * on_label + (1.0 - c) * tf.reduce_min(losses, axis=-1)


def instance_weights(losses, alpha: float, lam):
    """CIW instance weights of a mini-batch: float [B], >= 0, summing to 1.

    Computed in the log domain and normalised with a softmax, so large or
    tiny lambda cannot overflow. Edge cases, handled explicitly so that a
    batch never yields NaN weights:
      * alpha > 1 gives weight 0 to losses >= lambda / (alpha - 1); when that
        is every loss of the batch, the weights are recomputed on the losses
        minus their minimum (the lowest-loss examples get the weight);
      * a non-finite loss (inf, NaN) gets weight 0; a batch with no finite
        loss gets uniform weights.

    Args:
      losses: per-example losses l [B] (>= 0); treated as constants.
      alpha: the alpha-divergence's alpha (a Python float > 0; 1 is KL).
      lam: lambda > 0 (a float or a scalar tensor, e.g. annealed).

    Returns:
      The weights, with a stop-gradient.
    """
    tf = _tf()
    losses = tf.stop_gradient(tf.convert_to_tensor(losses))
    dtype = losses.dtype
    lam = tf.cast(lam, dtype)
    finite = tf.math.is_finite(losses)
    safe = tf.where(finite, losses, tf.zeros_like(losses))
    neg_inf = tf.constant(-np.inf, dtype)

    def log_weights(values):
        if abs(alpha - 1.0) < 1e-6:
            return -values / lam
        base = (1.0 - alpha) * values + lam
        log_base = tf.math.log(tf.maximum(base, tf.constant(np.finfo(np.float32).tiny, dtype)))
        return tf.where(base > 0, log_base / (alpha - 1.0), neg_inf)

    logw = tf.where(finite, log_weights(safe), neg_inf)
    if alpha > 1.0:
        shifted = safe - tf.reduce_min(tf.where(finite, safe, tf.fill(tf.shape(safe), np.inf)))
        logw = tf.cond(
            tf.reduce_any(logw > neg_inf),
            lambda: logw,
            lambda: tf.where(finite, log_weights(shifted), neg_inf),
        )
    n = tf.cast(tf.size(losses), dtype)
    uniform = tf.fill(tf.shape(losses), 1.0 / n)
    weights = tf.cond(tf.reduce_any(logw > neg_inf), lambda: tf.nn.softmax(logw), lambda: uniform)
    return tf.stop_gradient(weights)


def weighted_loss(losses, weights):
    """sum_i w_i l_i: the batch objective, 0 * inf counted as 0 (a dropped example)."""
    tf = _tf()
    return tf.reduce_sum(tf.math.multiply_no_nan(losses, weights))


def annealed_lambda(step, lam: float, burn_in: int, anneal_steps: int):
    """lambda at a (0-based) step: 10 * lam right after burn-in, linearly down to lam.

    lambda(t) = lam * (1 + 9 * max(0, 1 - (t - burn_in) / anneal_steps)), and
    simply lam when `anneal_steps` is 0. Large lambda means near-uniform
    weights, so the reweighting starts gently after the burn-in.

    Args:
      step: int step counter (a scalar tensor inside a compiled step).
      lam: the final lambda (> 0).
      burn_in: steps of plain training before reweighting.
      anneal_steps: steps over which lambda decays to `lam` after `burn_in`.

    Returns:
      float32 scalar.
    """
    tf = _tf()
    if anneal_steps <= 0:
        return tf.constant(lam, tf.float32)
    t = tf.cast(step, tf.float32) - float(burn_in)
    remaining = tf.clip_by_value(1.0 - t / float(anneal_steps), 0.0, 1.0)
    return lam * (1.0 + 9.0 * remaining)
