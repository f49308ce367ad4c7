"""Synthetic client populations: many users made from a small image data set.

User-level DP needs many users: with digits' ~1,800 images cut into clients,
a private mechanism's noise swamps the signal unless epsilon is in the
hundreds. `synthetic_population` enlarges a base set of real images into
`num_clients` synthetic clients of `examples_per_client` examples each:

  * client c draws class proportions ``q_c ~ Dirichlet(alpha * ones(C))``
    (label skew, Hsu, Qi & Brown 2019);
  * each of its examples draws a label from ``q_c`` and a real base image of
    that label uniformly, shifts it by a random integer in ``[-shift, shift]``
    along each image axis (zero fill), adds Gaussian pixel noise of std
    `pixel_noise` and clips to ``[0, pixel_max]``.

Everything is drawn from one NumPy generator seeded by `seed`, in whole-array
operations (no per-client Python loop). Equal client sizes keep vectorised
client updates free of padding. Caveat: each base image appears in about
``num_clients * examples_per_client / N`` clients, so the user-level guarantee
covers the synthetic clients of the simulation, not the base images; score
the models on real images that are not among the base images.
"""

from __future__ import annotations

import numpy as np

DEFAULT_ALPHA = 0.5
DEFAULT_SHIFT = 1
DEFAULT_PIXEL_NOISE = 1.0


def synthetic_population(
    images: np.ndarray,
    labels: np.ndarray,
    num_clients: int,
    examples_per_client: int,
    *,
    num_classes: int,
    pixel_max: float,
    alpha: float = DEFAULT_ALPHA,
    shift: int = DEFAULT_SHIFT,
    pixel_noise: float = DEFAULT_PIXEL_NOISE,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic clients from augmented real images (see the module docstring).

    Args:
      images: float [N, H, W] base images, pixel values in [0, pixel_max].
      labels: int [N] their classes in [0, num_classes); every class that a
        client may draw must have at least one image.
      num_clients, examples_per_client: C clients of E examples each.
      num_classes: number of classes.
      pixel_max: the pixels' upper bound (16 for scikit-learn digits).
      alpha: Dirichlet concentration of the clients' class proportions
        (small: few classes per client).
      shift: largest shift in pixels along each axis.
      pixel_noise: std of the added Gaussian pixel noise, in pixel units.
      seed: seed of every draw.

    Returns:
      (images float32 [C * E, H, W] in [0, pixel_max], labels int64 [C * E],
      client indices int64 [C * E]); client c's examples are rows
      ``c * E .. (c + 1) * E - 1``.

    Raises:
      ValueError: bad shapes or sizes, or a class with no base image.
    """
    images = np.asarray(images, np.float32)
    labels = np.asarray(labels, np.int64)
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise ValueError(
            f"synthetic_population: images {images.shape} must be [N, H, W] and labels"
            f" {labels.shape} [N]"
        )
    if num_clients < 1 or examples_per_client < 1:
        raise ValueError(
            f"synthetic_population: num_clients ({num_clients}) and examples_per_client"
            f" ({examples_per_client}) must be at least 1"
        )
    missing = [c for c in range(num_classes) if not np.any(labels == c)]
    if missing:
        raise ValueError(f"synthetic_population: no base image of classes {missing}")
    rng = np.random.default_rng(seed)
    proportions = rng.dirichlet(np.full(num_classes, alpha), size=num_clients)
    u = rng.random((num_clients, examples_per_client, 1))
    cum = np.cumsum(proportions, axis=1)[:, None, :]
    y = np.minimum((u > cum).sum(axis=2), num_classes - 1).reshape(-1)
    # A base image per example: its class's images, indexed by a uniform draw.
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(num_classes))
    counts = np.bincount(labels, minlength=num_classes)
    pick = (rng.random(y.size) * counts[y]).astype(np.int64)
    source = order[starts[y] + pick]
    n, height, width = y.size, images.shape[1], images.shape[2]
    padded = np.pad(images, ((0, 0), (shift, shift), (shift, shift)))
    dy = rng.integers(-shift, shift + 1, n)
    dx = rng.integers(-shift, shift + 1, n)
    rows = shift + dy[:, None] + np.arange(height)
    cols = shift + dx[:, None] + np.arange(width)
    x = padded[source[:, None, None], rows[:, :, None], cols[:, None, :]]
    x = x + pixel_noise * rng.standard_normal(x.shape).astype(np.float32)
    x = np.clip(x, 0.0, pixel_max).astype(np.float32)
    clients = np.repeat(np.arange(num_clients, dtype=np.int64), examples_per_client)
    return x, y.astype(np.int64), clients
