"""Input preprocessing for KIP: standardisation, then optional ZCA whitening.

One `Preprocessing`, fitted on the training inputs by `fit_preprocessing`,
is applied alike to support, target and evaluation data and stored with the
result, so that serving applies it too. The order is the papers' code's:
standardise (per channel for images, per feature for tabular data), then
optionally ZCA (per-example mean removal and unit norm, then whitening with
regularisation `zca_reg * tr(cov) / D`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from frontier.components.common.errors import InputError

DEFAULT_ZCA_REG = 0.1


class Zca(NamedTuple):
    """ZCA whitening fitted on a training set.

    Attributes:
      whitening: float32 [D, D], applied after per-example standardisation.
    """

    whitening: np.ndarray


def standardize(x: np.ndarray) -> np.ndarray:
    """Per-example mean removal and unit L2 norm ([N, D] -> [N, D])."""
    x = np.asarray(x, np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def fit_zca(x: np.ndarray, reg: float = DEFAULT_ZCA_REG) -> Zca:
    """ZCA of per-example standardised `x` [N, D]: W = U (S + reg * tr(cov) / D)^-1/2 U^T.

    cov = U S U^T is the [D, D] covariance of `standardize(x)`. `Preprocessing`
    fits it on the channel- / feature-standardised training inputs.
    """
    z = standardize(x)
    cov = z.T @ z / z.shape[0]
    u, s, _ = np.linalg.svd(cov + reg * np.trace(cov) / cov.shape[0] * np.eye(cov.shape[0]))
    return Zca(((u * s**-0.5) @ u.T).astype(np.float32))


def apply_zca(zca: Zca, x: np.ndarray) -> np.ndarray:
    """Per-example standardisation (`standardize`), then whitening: float32 [N, D]."""
    return (standardize(x) @ zca.whitening.astype(np.float64)).astype(np.float32)


NO_STANDARDIZATION = "none"
PER_CHANNEL = "per_channel"
PER_FEATURE = "per_feature"
STANDARDIZATIONS = (NO_STANDARDIZATION, PER_CHANNEL, PER_FEATURE)
# A channel or feature whose training std is at most this fraction of the largest
# std is (numerically) constant: it is centred but not scaled (std taken as 1).
CONSTANT_STD_FRACTION = 1e-6


class Preprocessing(NamedTuple):
    """The input preprocessing of a support set, fitted on the training inputs.

    `apply` maps raw inputs to the space the kernel sees, in the order of the
    KIP papers' code: first standardisation, (x - mean) / std, with the
    training split's mean and std per channel (images) or per feature
    (tabular data); then, with `zca`, per-example standardisation
    (`standardize`) and ZCA whitening (`apply_zca`). Every step is computed
    in float64 and the result rounded to float32; the SavedModel
    (`export.export_krr_model`) repeats exactly these operations in TF.

    Without ZCA the map is affine and `invert` maps preprocessed inputs back
    to input space; with ZCA it is not invertible (each example's own mean
    and norm are discarded).

    Attributes:
      mean: float32 [D], subtracted from each input (the channel's mean
        repeated over pixels for images; zeros without standardisation).
      std: float32 [D], then divided by (ones without standardisation;
        1 for constant channels / features, see `CONSTANT_STD_FRACTION`).
      zca: the ZCA whitening applied after standardisation, or None.
      standardization: `per_channel`, `per_feature` or `none` (descriptive).
    """

    mean: np.ndarray
    std: np.ndarray
    zca: Zca | None = None
    standardization: str = NO_STANDARDIZATION

    @classmethod
    def identity(cls, dim: int) -> Preprocessing:
        """No preprocessing of D = `dim` features (apply and invert are exact copies)."""
        return cls(np.zeros(dim, np.float32), np.ones(dim, np.float32), None, NO_STANDARDIZATION)

    @property
    def dim(self) -> int:
        """D, the number of input features."""
        return int(np.shape(self.mean)[0])

    @property
    def invertible(self) -> bool:
        """True without ZCA: `invert` is defined."""
        return self.zca is None

    def describe(self) -> str:
        """A short human-readable description, e.g. `per-channel standardisation, then ZCA`."""
        parts = {
            PER_CHANNEL: ["per-channel standardisation"],
            PER_FEATURE: ["per-feature standardisation"],
        }.get(self.standardization, [])
        if self.zca is not None:
            parts.append("ZCA whitening")
        return ", then ".join(parts) if parts else "none (raw inputs)"

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Raw inputs float [N, D] -> preprocessed float32 [N, D]."""
        x = self._check(x)
        z = (x.astype(np.float64) - self.mean.astype(np.float64)) / self.std.astype(np.float64)
        if self.zca is not None:
            return apply_zca(self.zca, z)  # per-example standardisation, whitening (float64)
        return z.astype(np.float32)

    def invert(self, x: np.ndarray) -> np.ndarray:
        """Preprocessed inputs float [N, D] -> input space float32 [N, D], x * std + mean.

        Raises:
          ValueError: with ZCA (per-example standardisation cannot be undone).
        """
        if self.zca is not None:
            raise ValueError(
                "the preprocessing includes ZCA whitening, which is not invertible "
                "(per-example standardisation discards each example's mean and norm)"
            )
        x = self._check(x)
        return (
            x.astype(np.float64) * self.std.astype(np.float64) + self.mean.astype(np.float64)
        ).astype(np.float32)

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise InputError(f"inputs of shape {x.shape}", column="x", expected=f"[N, {self.dim}]")
        return x


def fit_preprocessing(
    x: np.ndarray,
    image_shape: tuple[int, int, int] | None = None,
    standardize: bool = True,
    use_zca: bool = False,
    zca_reg: float = DEFAULT_ZCA_REG,
) -> Preprocessing:
    """Fits the `Preprocessing` of the training inputs `x`.

    Args:
      x: float [N, D] training inputs (N >= 1).
      image_shape: (H, W, C) when each row is a flattened H x W x C image
        (channels last): standardise per channel, with the mean and std over
        all pixels of all examples of each channel. None: tabular data,
        standardised per feature.
      standardize: standardise at all (mean 0 and std 1 otherwise).
      use_zca: then ZCA-whiten (`fit_zca`, fitted on the standardised `x`).
      zca_reg: the ZCA regulariser (see `fit_zca`).

    Raises:
      InputError: `x` is not a non-empty [N, D] array, or `image_shape` does
        not hold D values.

    Returns:
      The fitted `Preprocessing`. A channel or feature whose std is at most
      `CONSTANT_STD_FRACTION` times the largest (or zero) keeps std 1, so that
      constant columns are centred (to 0) rather than blown up.
    """
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise InputError(f"training inputs of shape {x.shape}", column="x", expected="[N >= 1, D]")
    dim = x.shape[1]
    if not standardize:
        prep = Preprocessing.identity(dim)
    else:
        if image_shape is not None:
            channels = int(image_shape[-1])
            if int(np.prod(image_shape)) != dim:
                raise InputError(
                    f"image_shape {tuple(image_shape)} does not hold {dim} features",
                    parameter="image_shape",
                    expected=f"H * W * C = {dim}",
                )
            per_channel = x.reshape(-1, channels)
            mean = np.tile(per_channel.mean(axis=0), dim // channels)
            std = np.tile(per_channel.std(axis=0), dim // channels)
            kind = PER_CHANNEL
        else:
            mean, std = x.mean(axis=0), x.std(axis=0)
            kind = PER_FEATURE
        std = np.where(std > CONSTANT_STD_FRACTION * std.max(), std, 1.0)
        prep = Preprocessing(mean.astype(np.float32), std.astype(np.float32), None, kind)
    if use_zca:
        zca = fit_zca(prep.apply(x), zca_reg)
        prep = prep._replace(zca=zca)
    return prep
