"""Kernel ridge regression, Label Solve and KIP on NumPy arrays.

Nguyen, Chen, Lee, "Dataset Meta-Learning from Kernel Ridge Regression" (ICLR
2021) and Nguyen, Novak, Xiao, Lee, "Dataset Distillation with Infinitely Wide
Convolutional Networks" (NeurIPS 2021). Notation: a support set (x_s, y_s)
of n_s points, a target set (x_t, y_t) of n_t points, C classes, kernel K.

  KRR:   K_reg = K_ss + reg * tr(K_ss) / n_s * I;  pred_t = K_ts K_reg^-1 y_s
  loss:  mean((pred_t - y_t)**2) over all n_t * C entries, with y_t the
         one-hot labels mean-centred by 1/C (`centered_one_hot`)
  KIP:   Adam on x_s (and y_s when learn_labels) to minimise that loss on a
         fresh class-balanced target batch each step
  Label Solve: the y_s minimising the same loss in closed form (below)

Linear solves use a Cholesky factorisation of the (symmetric positive
definite) regularised matrix, in the inputs' precision (float32 by default).

Inputs are preprocessed first (`preprocess.Preprocessing`): `kip` fits it
on the training inputs, works in the preprocessed space and returns it in
`KipResult.preprocessing`; evaluate a result on raw inputs with
`evaluate_support`, which applies it.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from frontier.components.common.checks import check_int
from frontier.components.common.errors import InputError
from frontier.components.kip.cpu_compile import compile_unsplit
from frontier.components.kip.fastmath import with_fast_atan2
from frontier.components.kip.kernels import DEFAULT_KERNEL, KernelSpec, kernel_matrix, make_kernel
from frontier.components.kip.preprocess import DEFAULT_ZCA_REG, Preprocessing, fit_preprocessing

DEFAULT_REG = 1e-6


# --- labels and sampling ---------------------------------------------------------------


def centered_one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """One-hot labels minus 1/C: float32 [N, C], rows summing to 0."""
    y = np.eye(num_classes, dtype=np.float32)[np.asarray(labels, np.int64)]
    return y - np.float32(1.0 / num_classes)


def class_balanced_indices(
    labels: np.ndarray,
    per_class: int,
    num_classes: int,
    rng: np.random.Generator,
    replace: bool = False,
) -> np.ndarray:
    """`per_class` random indices of each class, class by class ([C * per_class]).

    Raises:
      InputError: a class has fewer than `per_class` examples (without replacement).
    """
    return class_balanced_sampler(labels, per_class, num_classes, replace)(rng)


def class_balanced_sampler(
    labels: np.ndarray, per_class: int, num_classes: int, replace: bool = False
) -> Callable[[np.random.Generator], np.ndarray]:
    """`rng -> class_balanced_indices(labels, per_class, num_classes, rng, replace)`.

    The rows are grouped by class once; a draw is then a few vectorised NumPy
    calls (~20 us for 100 of each of 10 classes of ~144, against ~75 us for
    one `rng.choice` per class), since KIP draws one batch per step on a host
    thread that shares the cores with the step itself.

    Without replacement each class's rows are shuffled by sorting 2 * class +
    a uniform key (the factor 2 keeps classes apart after rounding) and its
    first `per_class` taken: a uniform sample without replacement. With
    replacement each pick is a uniform integer below its class's size.

    Raises:
      InputError: a label is not an integer class id in [0, num_classes), or
        a class has fewer than `per_class` examples (without replacement).
    """
    given = np.asarray(labels)
    labels = given.astype(np.int64)
    bad = np.flatnonzero((labels != given) | (labels < 0) | (labels >= num_classes))
    if bad.size:
        raise InputError(
            f"label {given[bad[0]]!r} is not a class id",
            row=int(bad[0]) + 1,
            column="label",
            expected=f"integer class ids in [0, {num_classes})",
        )
    sizes = np.bincount(labels, minlength=num_classes)  # labels are in [0, C) now
    for c, size in enumerate(sizes):
        if not replace and size < per_class:
            raise InputError(
                f"class {c} has {size} training examples, fewer than {per_class} per class",
                parameter="images_per_class",
                expected=f"at most {size} (the smallest class's size)",
            )
        if size == 0:
            raise InputError(f"class {c} has no training examples", column="label")
    by_class = np.argsort(labels, kind="stable")  # row ids, class 0's first
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])[:, None]  # [C, 1]
    if replace:

        def draw(rng: np.random.Generator) -> np.ndarray:
            picks = rng.integers(0, sizes[:, None], size=(num_classes, per_class))
            return by_class[(starts + picks).ravel()]

        return draw

    keys = 2.0 * labels[by_class]
    first = (starts + np.arange(per_class)).ravel()  # the first per_class of each class

    def draw(rng: np.random.Generator) -> np.ndarray:
        return by_class[np.argsort(keys + rng.random(len(keys)))[first]]

    return draw


# --- kernel ridge regression -----------------------------------------------------------


def regularize(k: np.ndarray, reg: float):
    """k + reg * tr(k) / n * I, in NumPy or JAX (whatever `k` is)."""
    xp = _xp(k)
    n = k.shape[0]
    return k + (abs(reg) * xp.trace(k) / n) * xp.eye(n, dtype=k.dtype)


def spd_solve(a, b):
    """a^-1 b for a symmetric positive definite `a` (JAX).

    `solve(..., assume_a="pos")` is a Cholesky solve whose gradient is taken
    implicitly (`lax.custom_linear_solve`) rather than by differentiating
    through the factorisation: in KIP's step, with 500 support points, that
    is 4x cheaper than `cho_solve(cho_factor(a))` under `grad`.
    """
    import jax.scipy.linalg as jsl

    return jsl.solve(a, b, assume_a="pos")


def krr_weights(k_ss, y_s, reg: float = DEFAULT_REG):
    """alpha = K_reg^-1 y_s [n_s, C]; predictions are K_ts alpha."""
    return spd_solve(regularize(k_ss, reg), y_s)


def mse(pred, y):
    """Mean squared error over every entry."""
    xp = _xp(pred)
    return xp.mean((pred - y) ** 2)


def accuracy(pred, labels) -> float:
    return float(np.mean(np.argmax(np.asarray(pred), axis=1) == np.asarray(labels)))


def _xp(a):
    import jax.numpy as jnp

    return np if isinstance(a, np.ndarray) else jnp


# --- Label Solve -----------------------------------------------------------------------


def label_solve(
    kernel: Callable,
    x_s: np.ndarray,
    x_t: np.ndarray,
    y_t: np.ndarray,
    reg: float = DEFAULT_REG,
    block: int = 256,
) -> np.ndarray:
    """Closed-form support labels: y_s* = (K_ss + l I)(K_st K_ts + m I)^-1 K_st y_t.

    y_s* minimises the KRR loss on the target set for a fixed x_s: with it,
    pred_t = K_ts (K_st K_ts + m I)^-1 K_st y_t, the least-squares fit of y_t
    in the span of K_ts. l = reg * tr(K_ss) / n_s is KRR's own regulariser
    (so that `krr_weights` recovers exactly this fit) and m = reg *
    tr(K_st K_ts) / n_s, scaled the same way.

    K_st K_ts [n_s, n_s] and K_st y_t [n_s, C] are accumulated over target
    blocks, so memory is O(n_s**2 + block * n_s) whatever n_t.
    """
    import scipy.linalg

    x_s = np.asarray(x_s, np.float32)
    a = np.zeros((len(x_s), len(x_s)), np.float64)
    b = np.zeros((len(x_s), y_t.shape[1]), np.float64)
    for i in range(0, len(x_t), block):
        k_ts = kernel_matrix(kernel, x_t[i : i + block], x_s, block).astype(np.float64)
        a += k_ts.T @ k_ts
        b += k_ts.T @ y_t[i : i + block]
    k_ss = kernel_matrix(kernel, x_s, x_s, block).astype(np.float64)
    # K_st K_ts squares K_ts's condition number (1e8 and more at 500 support
    # points): solve in float64 on the host, never in JAX's default float32.
    solved = scipy.linalg.solve(regularize(a, reg), b, assume_a="pos")
    return (regularize(k_ss, reg) @ solved).astype(np.float32)


# --- KIP -------------------------------------------------------------------------------


@dataclasses.dataclass
class KipHistory:
    """Per-step training curve and periodic held-out evaluations."""

    step: list[int] = dataclasses.field(default_factory=list)
    loss: list[float] = dataclasses.field(default_factory=list)  # on the step's target batch
    accuracy: list[float] = dataclasses.field(default_factory=list)
    eval_step: list[int] = dataclasses.field(default_factory=list)
    eval_loss: list[float] = dataclasses.field(default_factory=list)  # on held-out data
    eval_accuracy: list[float] = dataclasses.field(default_factory=list)


class KipResult(NamedTuple):
    """A distilled support set.

    Attributes:
      x: float32 [n_s, D] support inputs in the preprocessed space (where the
        kernel sees them): `preprocessing.apply` of raw inputs is comparable
        with them; `support_in_input_space()` maps them back.
      y: float32 [n_s, C] support labels (learned, or the centred one-hot).
      labels: int64 [n_s] the class each support point was drawn from.
      init_indices: int64 [n_s] training rows of the initial support.
      preprocessing: the `Preprocessing` fitted on the training inputs and
        applied to every input (use `evaluate_support` on raw inputs).
      history: the training curve.
    """

    x: np.ndarray
    y: np.ndarray
    labels: np.ndarray
    init_indices: np.ndarray
    preprocessing: Preprocessing
    history: KipHistory

    @property
    def num_classes(self) -> int:
        """C, the number of label columns."""
        return int(np.shape(self.y)[1])

    def support_in_input_space(self) -> np.ndarray:
        """The support inputs mapped back to raw input space: float32 [n_s, D].

        `preprocessing.invert(x)`; a model fed raw inputs (e.g. a trainer on
        the distilled `Examples`) sees the support as the kernel did.

        Raises:
          ValueError: the preprocessing includes ZCA (not invertible).
        """
        return self.preprocessing.invert(self.x)


# Steps per compiled call (`run_steps`): enough that the per-call cost (dispatch,
# transfers, read-back; ~0.1 ms on a CPU) is small against 50 steps of >= 0.2 ms,
# few enough that progress callbacks still come often.
STEPS_PER_CALL = 50


def kip(
    x: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    images_per_class: int = 1,
    spec: KernelSpec = DEFAULT_KERNEL,
    image_shape: tuple[int, int, int] | None = None,
    steps: int = 300,
    learning_rate: float = 0.04,
    target_batch_size: int = 1000,
    learn_labels: bool = False,
    standardize: bool = True,
    use_zca: bool = False,
    zca_reg: float = DEFAULT_ZCA_REG,
    reg: float = DEFAULT_REG,
    seed: int = 0,
    eval_data: tuple[np.ndarray, np.ndarray] | None = None,
    eval_every: int = 50,
    on_step: Callable[[int, float, float], None] | None = None,
    steps_per_call: int = STEPS_PER_CALL,
    split_fusions: bool = False,
) -> KipResult:
    """Kernel Inducing Points: learn a support set whose KRR fits the data.

    Args:
      x: float [N, D] training inputs; labels: int [N] class ids in [0, C).
      num_classes: C.
      images_per_class: support points per class (n_s = C * images_per_class).
      spec: the kernel; `image_shape` (H, W, C) is needed for `conv`, and
        makes the standardisation per channel (otherwise per feature).
      steps: Adam steps; learning_rate: Adam step size.
      target_batch_size: examples per step's class-balanced target batch
        (rounded down to a multiple of C; drawn with replacement only from
        classes smaller than their share).
      learn_labels: also learn y_s (otherwise the centred one-hot is fixed).
      standardize: standardise every input first, per channel with
        `image_shape`, else per feature (fitted on `x`; `fit_preprocessing`).
      use_zca, zca_reg: then ZCA-whiten every input (fitted on `x`).
      reg: KRR regulariser (see `regularize`).
      seed: seeds the initial support and every target batch.
      eval_data: optional held-out raw (x [M, D], labels [M]), preprocessed
        like `x` and evaluated every `eval_every` steps and at the end (KRR
        loss and accuracy with the current support).
      on_step: called as on_step(step, loss, accuracy) for every step, in
        order, after the compiled call that ran it (see `steps_per_call`).
      steps_per_call: at most this many steps run in one compiled call
        (`run_steps`); calls also end at evaluation steps. 1 runs one step
        per call. The result does not depend on it (up to float rounding).
      split_fusions: compile the steps with XLA's default CPU pipeline, which
        splits large elementwise fusions across threads (`run_steps`); by
        default they are compiled without that pass, which is faster at
        KIP's sizes on few cores. The result does not depend on it.

    Returns:
      The distilled `KipResult`; its `x` is in the preprocessed space and its
      `preprocessing` the fitted one (`evaluate_support` applies it to raw
      test inputs, `support_in_input_space` maps the support back).
    """
    import jax
    import jax.numpy as jnp
    import optax

    x = np.asarray(x, np.float32)
    labels = np.asarray(labels, np.int64)
    _check_inputs(x, labels, num_classes, images_per_class, target_batch_size, steps)
    rng = np.random.default_rng(seed)
    preprocessing = fit_preprocessing(x, image_shape, standardize, use_zca, zca_reg)
    x = preprocessing.apply(x)
    y_all = centered_one_hot(labels, num_classes)
    init = class_balanced_indices(labels, images_per_class, num_classes, rng)
    kernel = make_kernel(spec, image_shape)

    def loss_fn(params, y_fixed, x_t, labels_t):
        y_s = params["y"] if learn_labels else y_fixed
        k_ss = kernel(params["x"], params["x"])
        pred = kernel(x_t, params["x"]) @ krr_weights(k_ss, y_s, reg)
        is_label = labels_t[:, None] == jnp.arange(num_classes)  # [B, C]
        y_t = is_label - jnp.float32(1.0 / num_classes)  # `centered_one_hot`
        # A hit when the label's score is the row's maximum (a tie, of measure
        # zero, counts as a hit): an argmax is a slow variadic reduction on
        # XLA's CPU backend (~20 us per 1000 x 10, a tenth of a small step).
        acc = jnp.mean(jnp.sum(jnp.where(is_label, pred, 0.0), axis=1) >= jnp.max(pred, axis=1))
        return mse(pred, y_t), acc

    optimizer = optax.adam(learning_rate)

    def step(carry, data, batch):
        params, opt_state = carry
        x_all, labels_all, y_fixed = data
        (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, y_fixed, x_all[batch], labels_all[batch]
        )
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), (loss, acc)

    params = {"x": jnp.asarray(x[init])}
    y_fixed = jnp.asarray(y_all[init])
    if learn_labels:
        params["y"] = y_fixed
    # The training set goes to the device once; each step gathers its batch there.
    data = (jnp.asarray(x), jnp.asarray(labels, jnp.int32), y_fixed)
    sampler = _target_sampler(labels, target_batch_size, num_classes)

    def support(params) -> tuple[np.ndarray, np.ndarray]:
        """(x_s [n_s, D], y_s [n_s, C]) of the parameters, float32 NumPy."""
        y_s = params["y"] if learn_labels else y_fixed
        return np.asarray(params["x"], np.float32), np.asarray(y_s, np.float32)

    evaluate = _held_out_evaluator(eval_data, preprocessing, kernel, support, num_classes, reg)
    progress = _Progress(KipHistory(), steps, eval_every, on_step, evaluate)
    if evaluate is not None:
        progress.record_evaluation(0, params)
    params, _ = run_steps(
        # The kernel's arc-cosine angles and row norms are slow on XLA's CPU
        # backend as neural-tangents writes them (see fastmath).
        with_fast_atan2(step),
        (params, optimizer.init(params)),
        data,
        lambda: sampler(rng),
        steps,
        steps_per_call=steps_per_call,
        stop_every=eval_every if evaluate is not None else None,
        after_call=progress.after_call,
        split_fusions=split_fusions,
    )
    x_s, y_s = support(params)
    return KipResult(x_s, y_s, labels[init], init, preprocessing, progress.history)


def _target_sampler(
    labels: np.ndarray, target_batch_size: int, num_classes: int
) -> Callable[[np.random.Generator], np.ndarray]:
    """The class-balanced sampler of KIP's target batches: `target_batch_size`
    rounded down to a multiple of C (at least one per class), drawn with
    replacement only when some class is smaller than its share."""
    per_class = max(1, target_batch_size // num_classes)
    counts = np.bincount(labels, minlength=num_classes)
    return class_balanced_sampler(
        labels, per_class, num_classes, replace=bool((counts < per_class).any())
    )


def _held_out_evaluator(
    eval_data: tuple[np.ndarray, np.ndarray] | None,
    preprocessing: Preprocessing,
    kernel: Callable,
    support: Callable[[object], tuple[np.ndarray, np.ndarray]],
    num_classes: int,
    reg: float,
) -> Callable[[object], tuple[float, float]] | None:
    """`params -> (loss, accuracy)` of KRR with the current support on the
    held-out `eval_data` (raw inputs, preprocessed here once), or None
    without held-out data.

    Args:
      eval_data: raw (x [M, D], labels [M]), or None.
      preprocessing: the fitted preprocessing of `kip`'s inputs.
      kernel: the kernel function.
      support: `params -> (x_s, y_s)`, the support of KIP's parameters.
      num_classes: C; reg: the KRR regulariser.
    """
    if eval_data is None:
        return None
    eval_x = preprocessing.apply(eval_data[0])

    def evaluate(params) -> tuple[float, float]:
        return krr_evaluate(kernel, *support(params), eval_x, eval_data[1], num_classes, reg)

    return evaluate


@dataclasses.dataclass
class _Progress:
    """The host's bookkeeping between `kip`'s compiled calls (never traced).

    Attributes:
      history: the curve being recorded.
      steps: the last step (always evaluated).
      eval_every: evaluate after every multiple of this step.
      on_step: the user's per-step callback, or None.
      evaluate: `params -> (loss, accuracy)` on held-out data, or None.
    """

    history: KipHistory
    steps: int
    eval_every: int
    on_step: Callable[[int, float, float], None] | None
    evaluate: Callable[[object], tuple[float, float]] | None

    def record_evaluation(self, step: int, params) -> None:
        """Evaluates `params` on the held-out data, as step `step`."""
        loss, acc = self.evaluate(params)
        self.history.eval_step.append(step)
        self.history.eval_loss.append(loss)
        self.history.eval_accuracy.append(acc)

    def after_call(self, first: int, carry, outputs) -> None:
        """`run_steps`' `after_call`: records the call's steps (from `first`),
        calls `on_step` for each in order, and evaluates at evaluation steps."""
        history = self.history
        for step, loss, acc in zip(itertools.count(first), *outputs):
            loss, acc = float(loss), float(acc)
            history.step.append(step)
            history.loss.append(loss)
            history.accuracy.append(acc)
            if self.on_step is not None:
                self.on_step(step, loss, acc)
        last = first + len(outputs[0]) - 1
        if self.evaluate is not None and (last % self.eval_every == 0 or last == self.steps):
            self.record_evaluation(last, carry[0])


def run_steps(
    step: Callable,
    carry,
    data,
    draw_batch: Callable[[], np.ndarray],
    steps: int,
    *,
    steps_per_call: int = STEPS_PER_CALL,
    stop_every: int | None = None,
    after_call: Callable[[int, object, tuple], None] | None = None,
    split_fusions: bool = False,
):
    """Run `steps` training steps, up to `steps_per_call` of them per compiled call.

    Each call is one compiled `lax.fori_loop` over that call's target
    batches, so a step costs no Python dispatch, no transfer of its batch and
    no read-back of its outputs (on a 2-core CPU ~0.05-0.1 ms per step,
    against ~0.15 ms of compute at 10 support points). The host draws the
    next call's batches while a call runs (XLA releases the GIL; a
    class-balanced draw of 1000 is ~0.02 ms of NumPy), on one worker thread,
    so `draw_batch` is called once per step in step order.

    Args:
      step: `step(carry, data, batch) -> (carry, outputs)`, one training step
        on the target batch `batch` (int32 [B] row indices into the arrays of
        `data`), traceable by JAX; `outputs` is a tuple of scalars.
      carry: the initial carry (a pytree of arrays: parameters, optimiser state).
      data: a pytree of device arrays the step gathers its batches from.
      draw_batch: `() -> int [B]`, the host-side sampler of one step's batch.
      steps: the number of steps.
      steps_per_call: the most steps one call runs (the loop is compiled once,
        for that many; shorter calls run fewer iterations of it).
      stop_every: calls also end after every multiple of this step (e.g. for
        evaluations in `after_call`).
      after_call: `after_call(first_step, carry, outputs)` after every call,
        with the carry after its last step and its outputs as NumPy arrays
        [steps in the call] (steps count from 1).
      split_fusions: compile with XLA's default CPU pipeline, which splits
        large elementwise fusions across the intra-op threads. By default
        the loop is compiled without that pass (`cpu_compile`): at KIP's
        sizes the hand-off to another thread costs more than it saves.

    Returns:
      The carry after the last step.
    """
    import concurrent.futures

    import jax

    size = max(1, min(steps_per_call, steps))
    run = _fused_steps(step, size)
    call = None
    lengths = []
    done = 0
    while done < steps:
        end = min(done + size, steps)
        if stop_every:
            end = min(end, (done // stop_every + 1) * stop_every)
        lengths.append(end - done)
        done = end

    def draw(count: int) -> np.ndarray:
        batches = [draw_batch() for _ in range(count)]
        batches += batches[-1:] * (size - count)  # padding, never run
        return np.stack(batches).astype(np.int32)

    first = 1
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(draw, lengths[0]) if lengths else None
        for i, count in enumerate(lengths):
            batches = pending.result()
            if i + 1 < len(lengths):
                pending = pool.submit(draw, lengths[i + 1])
            args = (carry, data, batches, np.int32(count))
            if call is None:  # compiled once, for the first call's shapes
                call = jax.jit(run) if split_fusions else compile_unsplit(run, *args)
            carry, outputs = call(*args)
            if after_call is not None:
                after_call(first, carry, tuple(np.asarray(o)[:count] for o in outputs))
            first += count
    return jax.block_until_ready(carry)


def _fused_steps(step: Callable, size: int) -> Callable:
    """`(carry, data, batches [size, B], count) -> (carry, outputs)`, to be jitted.

    Runs `step` on `batches[:count]` in a `lax.fori_loop` (its trip count is
    a traced value, so one compilation serves every count <= size); `outputs`
    are the steps' outputs stacked [size] (entries from `count` on are zeros).
    """
    import jax
    import jax.numpy as jnp

    def run(carry, data, batches, count):
        shapes = jax.eval_shape(step, carry, data, batches[0])[1]
        buffers = tuple(jnp.zeros((size, *s.shape), s.dtype) for s in shapes)

        def body(i, state):
            carry, buffers = state
            carry, outputs = step(carry, data, batches[i])
            return carry, tuple(b.at[i].set(o) for b, o in zip(buffers, outputs, strict=True))

        return jax.lax.fori_loop(0, count, body, (carry, buffers))

    return run


def krr_evaluate(
    kernel: Callable,
    x_s: np.ndarray,
    y_s: np.ndarray,
    x: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    reg: float = DEFAULT_REG,
    block: int = 256,
) -> tuple[float, float]:
    """KRR loss and accuracy of the support (x_s, y_s) on (x, labels), in blocks.

    `x_s` and `x` must be in the same space: this applies no preprocessing.
    For a `KipResult` (whose `x` is preprocessed) and raw inputs, use
    `evaluate_support`.

    Args:
      kernel: the kernel function (`make_kernel`).
      x_s: float32 [n_s, D] support inputs; y_s: float32 [n_s, C] their labels.
      x: float [N, D] inputs, labels: int [N] class ids, to evaluate on.
      num_classes: C.
      reg: the KRR regulariser; block: rows per kernel block.

    Returns:
      (loss, accuracy): mean squared error against the centred one-hot labels
      and arg-max accuracy.
    """
    import jax.numpy as jnp

    alpha = np.asarray(
        krr_weights(jnp.asarray(kernel_matrix(kernel, x_s, x_s, block)), jnp.asarray(y_s), reg)
    )
    pred = kernel_matrix(kernel, np.asarray(x, np.float32), x_s, block) @ alpha
    return float(mse(pred, centered_one_hot(labels, num_classes))), accuracy(pred, labels)


def evaluate_support(
    result: KipResult,
    kernel: Callable,
    x: np.ndarray,
    labels: np.ndarray,
    reg: float = DEFAULT_REG,
    block: int = 256,
) -> tuple[float, float]:
    """KRR loss and accuracy of a distilled support on *raw* inputs.

    Applies `result.preprocessing` to `x` (the support `result.x` is already
    preprocessed), then `krr_evaluate`: the one way to evaluate a `KipResult`
    without mixing spaces.

    Args:
      result: the distilled support (`kip`, or the executor's methods).
      kernel: the kernel it was distilled with (`make_kernel(spec, image_shape)`).
      x: float [N, D] raw inputs; labels: int [N] their class ids.
      reg: the KRR regulariser; block: rows per kernel block.

    Returns:
      (loss, accuracy), as `krr_evaluate`.
    """
    return krr_evaluate(
        kernel,
        result.x,
        result.y,
        result.preprocessing.apply(x),
        labels,
        result.num_classes,
        reg,
        block,
    )


def _check_inputs(x, labels, num_classes, images_per_class, target_batch_size, steps) -> None:
    """`kip`'s arguments: shapes, finite inputs, class ids and the integer parameters.

    Raises:
      InputError: naming the argument (as `column`) and what was expected.
    """
    if x.ndim != 2 or len(x) != len(labels):
        raise InputError(
            f"x has shape {x.shape} and labels {labels.shape}",
            column="x",
            expected="[N, D] and [N]",
        )
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise InputError(
            f"{bad.size} rows hold NaN or infinite values",
            row=int(bad[0]) + 1,
            column="x",
            expected="finite inputs",
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise InputError(
            "class id out of range", column="label", expected=f"ids in [0, {num_classes})"
        )
    check_int(images_per_class, "images_per_class", 1)
    check_int(target_batch_size, "target_batch_size", 1)
    check_int(steps, "steps", 0)
