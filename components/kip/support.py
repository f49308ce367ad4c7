"""The three ways KipDistill chooses a support set, on arrays (no TFX import).

`distill_support` runs one method (`kip`, `label_solve` or `random`) with
the same preprocessing and the same seeded initial support, so the three
compare like for like; `support_metrics` scores a support's kernel ridge
regression on each split before and after. The component's spec re-exports
the method names and defaults from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from frontier.components.common.errors import InputError
from frontier.components.kip.distill import (
    DEFAULT_REG,
    KipHistory,
    KipResult,
    centered_one_hot,
    class_balanced_indices,
    kip,
    krr_evaluate,
    label_solve,
)
from frontier.components.kip.kernels import DEFAULT_KERNEL, KernelSpec, make_kernel
from frontier.components.kip.preprocess import fit_preprocessing
from frontier.schemas.dataset import TRAIN_SPLIT

# Methods.
KIP = "kip"  # Kernel Inducing Points: learn the support images (and labels)
LABEL_SOLVE = "label_solve"  # a random class-balanced support, labels by Label Solve
RANDOM = "random"  # the random class-balanced support with one-hot labels: the baseline
METHODS = (KIP, LABEL_SOLVE, RANDOM)
METHOD_TITLES = {
    KIP: "KIP support",
    LABEL_SOLVE: "Label Solve support",
    RANDOM: "random class-balanced subset",
}

DEFAULT_IMAGES_PER_CLASS = 1
DEFAULT_METHOD = KIP
DEFAULT_STEPS = 300
DEFAULT_LEARNING_RATE = 0.04
DEFAULT_TARGET_BATCH_SIZE = 1000
DEFAULT_STANDARDIZE = True
DEFAULT_SEED = 0
EVAL_EVERY = 50  # steps between held-out evaluations (KIP with an eval split)


def kernel_name(kernel_spec: KernelSpec) -> str:
    """E.g. `fc-ntk-1`: architecture, kind and depth in effect."""
    return f"{kernel_spec.architecture}-{kernel_spec.kind}-{kernel_spec.layers}"


def distill_support(
    x: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    method: str = DEFAULT_METHOD,
    images_per_class: int = DEFAULT_IMAGES_PER_CLASS,
    kernel_spec: KernelSpec = DEFAULT_KERNEL,
    image_shape: tuple[int, int, int] | None = None,
    steps: int = DEFAULT_STEPS,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    target_batch_size: int = DEFAULT_TARGET_BATCH_SIZE,
    learn_labels: bool = False,
    standardize: bool = DEFAULT_STANDARDIZE,
    use_zca: bool = False,
    reg: float = DEFAULT_REG,
    seed: int = DEFAULT_SEED,
    eval_data: tuple[np.ndarray, np.ndarray] | None = None,
    on_step: Callable[[int, float, float], None] | None = None,
) -> KipResult:
    """Runs one method on arrays; every method returns a `KipResult`.

    The three methods preprocess alike: `preprocess.fit_preprocessing(x,
    image_shape, standardize, use_zca)` (standardisation per channel for
    images, per feature otherwise, then optional ZCA), fitted on `x`, applied
    to every input, returned in `KipResult.preprocessing`; the support `x`
    lives in that preprocessed space. The initial support is the same for
    the three methods at a given seed (`kip`'s seeded class-balanced
    sample), so they compare like for like:
      kip: `distill.kip` from that support (history: a step per Adam step,
        held-out points every `EVAL_EVERY` steps with `eval_data`);
      label_solve: that support, labels by `distill.label_solve` on the whole
        of (x, labels) as target (history empty);
      random: that support with its centred one-hot labels (history empty).

    Args:
      x: float32 [N, D] raw training inputs; labels: int64 [N] in [0, num_classes).
      eval_data: raw held-out (x [M, D], labels [M]) (not preprocessed);
        used by `kip` for its held-out curve only.
      on_step: `kip`'s progress callback (step, loss, accuracy).
      Other arguments: see `KipDistill`.
    """
    if method == KIP:
        return kip(
            x,
            labels,
            num_classes,
            images_per_class=images_per_class,
            spec=kernel_spec,
            image_shape=image_shape,
            steps=steps,
            learning_rate=learning_rate,
            target_batch_size=target_batch_size,
            learn_labels=learn_labels,
            standardize=standardize,
            use_zca=use_zca,
            reg=reg,
            seed=seed,
            eval_data=eval_data,
            eval_every=EVAL_EVERY,
            on_step=on_step,
        )
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}", parameter="method", expected=str(METHODS))
    # The same as `kip`: a fresh generator, the same preprocessing fit (no draws), then
    # the support.
    rng = np.random.default_rng(seed)
    preprocessing = fit_preprocessing(x, image_shape, standardize, use_zca)
    x = preprocessing.apply(np.asarray(x, np.float32))
    init = class_balanced_indices(labels, images_per_class, num_classes, rng)
    y = centered_one_hot(labels[init], num_classes)
    if method == LABEL_SOLVE:
        kernel = make_kernel(kernel_spec, image_shape)
        y = label_solve(kernel, x[init], x, centered_one_hot(labels, num_classes), reg)
    return KipResult(
        x[init].copy(), y, labels[init].astype(np.int64), init, preprocessing, KipHistory()
    )


def support_metrics(
    result: KipResult,
    kernel_spec: KernelSpec,
    image_shape: tuple[int, int, int] | None,
    data: Mapping[str, tuple[np.ndarray, np.ndarray]],
    num_classes: int,
    reg: float,
) -> dict[str, dict[str, float]]:
    """KRR loss and accuracy per split, of the initial and of the final support.

    Args:
      result: the distilled support (and its preprocessing, applied to
        `data` here).
      data: split name -> (raw x [N, D], labels [N]); `data["train"]` is the
        split the support was drawn from.

    Returns:
      split -> {"examples", "loss_before", "accuracy_before", "loss",
      "accuracy"}; "before" is the initial support with one-hot labels.
    """
    kernel = make_kernel(kernel_spec, image_shape)
    prep = result.preprocessing
    init_x = prep.apply(data[TRAIN_SPLIT][0][result.init_indices])
    init_y = centered_one_hot(result.labels, num_classes)
    out = {}
    for split, (x, labels) in data.items():
        x = prep.apply(x)
        before = krr_evaluate(kernel, init_x, init_y, x, labels, num_classes, reg)
        after = krr_evaluate(kernel, result.x, result.y, x, labels, num_classes, reg)
        out[split] = {
            "examples": len(labels),
            "loss_before": before[0],
            "accuracy_before": before[1],
            "loss": after[0],
            "accuracy": after[1],
        }
    return out
