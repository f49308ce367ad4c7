"""Infinite-width network kernels (NTK and NNGP) from neural-tangents `stax`.

Two architectures, as in the KIP papers (Nguyen et al., ICLR 2021; NeurIPS 2021):
  * `fc`: `depth` x [Dense(W_std, b_std), ReLU], then a Dense readout;
  * `conv`: a prepended 3x3 Conv + ReLU, then `depth` blocks of
    [3x3 Conv, ReLU, 2x2 average pooling] (default 3), then Flatten and a
    Dense readout; for image-shaped inputs only.
Every layer uses `W_std` (default sqrt(2)) and `b_std` (default 0.1) in the
NTK parameterization. `get="ntk"` is the neural tangent kernel of the network
trained by gradient descent, `get="nngp"` the kernel of the Gaussian process
of its outputs at initialisation.

Inputs are flat float arrays [N, D]; the conv kernel reshapes them to
[N, H, W, C] itself, so callers handle one layout whatever the architecture.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from frontier.components.kip.fastmath import with_fast_atan2

FC = "fc"
CONV = "conv"
ARCHITECTURES = (FC, CONV)
NTK = "ntk"
NNGP = "nngp"
KERNEL_KINDS = (NTK, NNGP)
DEFAULT_W_STD = math.sqrt(2.0)
DEFAULT_B_STD = 0.1


@dataclasses.dataclass(frozen=True)
class KernelSpec:
    """Which kernel: architecture, depth, NTK or NNGP, weight and bias scales.

    Attributes:
      architecture: `fc` or `conv`.
      depth: hidden layers (fc, default 1) or conv+pool blocks (conv, default 3).
      kind: `ntk` or `nngp`.
      W_std: weight standard deviation of every layer.
      b_std: bias standard deviation of every layer.
    """

    architecture: str = FC
    depth: int | None = None
    kind: str = NTK
    W_std: float = DEFAULT_W_STD  # noqa: N815 - the papers' and stax's name
    b_std: float = DEFAULT_B_STD

    def __post_init__(self) -> None:
        from frontier.components.common.errors import InputError

        if self.architecture not in ARCHITECTURES:
            raise InputError(
                f"unknown kernel architecture {self.architecture!r}",
                parameter="kernel",
                expected=f"one of {list(ARCHITECTURES)}",
            )
        if self.kind not in KERNEL_KINDS:
            raise InputError(
                f"unknown kernel kind {self.kind!r}",
                parameter="kernel_kind",
                expected=f"one of {list(KERNEL_KINDS)}",
            )
        if self.depth is not None and (not isinstance(self.depth, int) or self.depth < 1):
            raise InputError(
                f"depth = {self.depth!r}", parameter="depth", expected="an integer >= 1"
            )
        if not (self.W_std > 0 and self.b_std >= 0):
            raise InputError(
                f"W_std = {self.W_std}, b_std = {self.b_std}",
                parameter="W_std/b_std",
                expected="W_std > 0 and b_std >= 0",
            )

    @property
    def layers(self) -> int:
        """The depth in effect (the architecture's default when unset)."""
        return self.depth if self.depth is not None else (1 if self.architecture == FC else 3)


DEFAULT_KERNEL = KernelSpec()


def stax_network(spec: KernelSpec, num_outputs: int, width: int = 1024):
    """The `stax.serial` network of `spec`: (init_fn, apply_fn, kernel_fn).

    `width` is the hidden width (fc) or channel count (conv) of the finite
    network; the kernel is its infinite-width limit and does not depend on it.
    """
    from neural_tangents import stax

    dense = dict(W_std=spec.W_std, b_std=spec.b_std)
    if spec.architecture == FC:
        layers = []
        for _ in range(spec.layers):
            layers += [stax.Dense(width, **dense), stax.Relu()]
        return stax.serial(*layers, stax.Dense(num_outputs, **dense))
    conv = dict(filter_shape=(3, 3), padding="SAME", **dense)
    layers = [stax.Conv(width, **conv), stax.Relu()]
    for _ in range(spec.layers):
        layers += [stax.Conv(width, **conv), stax.Relu(), stax.AvgPool((2, 2), strides=(2, 2))]
    return stax.serial(*layers, stax.Flatten(), stax.Dense(num_outputs, **dense))


def check_image_shape(spec: KernelSpec, image_shape: tuple[int, int, int] | None) -> None:
    """The conv kernel needs images big enough for its pooling blocks."""
    from frontier.components.common.errors import InputError

    if spec.architecture != CONV:
        return
    if image_shape is None:
        raise InputError(
            "the conv kernel needs image-shaped inputs, and these examples have no image shape",
            parameter="kernel",
            expected="kernel 'fc' for tabular data, or image data (dataset_info image_shape)",
        )
    h, w, _ = image_shape
    if min(h, w) < 2**spec.layers:
        raise InputError(
            f"images of {h}x{w} are too small for {spec.layers} 2x2 pooling blocks",
            parameter="depth",
            expected=f"images of at least {2**spec.layers}x{2**spec.layers} pixels or a smaller depth",
        )


def make_kernel(spec: KernelSpec, image_shape: tuple[int, int, int] | None = None) -> Callable:
    """A JAX function `k(x1, x2) -> [N1, N2]` on flat inputs [N, D].

    Differentiable in both arguments and jit-compatible; the result has the
    inputs' dtype. For `conv`, D must equal H*W*C of `image_shape`.
    """
    check_image_shape(spec, image_shape)
    _, _, kernel_fn = stax_network(spec, num_outputs=1)

    def k(x1, x2):
        if spec.architecture == CONV:
            x1 = x1.reshape((x1.shape[0], *image_shape))
            x2 = x2.reshape((x2.shape[0], *image_shape))
        return kernel_fn(x1, x2, spec.kind)

    return k


def kernel_matrix(kernel: Callable, x1: np.ndarray, x2: np.ndarray, block: int = 256) -> np.ndarray:
    """`kernel(x1, x2)` computed block by block, as a NumPy array [N1, N2].

    Memory stays bounded whatever N1 and N2: one block pair at a time, i.e.
    block**2 kernel entries plus the network's per-pair intermediates: O(1)
    per pair for `fc`, (H*W)**2 per pair for `conv` (the spatial covariance
    the pooling layers need), so about block**2 * (H*W)**2 * 4 bytes there
    (8x8 digits, block 256: 1 GiB; use a smaller block for larger images).
    """
    import jax

    fn = jax.jit(with_fast_atan2(kernel))
    out = np.empty((x1.shape[0], x2.shape[0]), dtype=np.result_type(x1.dtype, x2.dtype))
    for i in range(0, x1.shape[0], block):
        for j in range(0, x2.shape[0], block):
            out[i : i + block, j : j + block] = np.asarray(fn(x1[i : i + block], x2[j : j + block]))
    return out
