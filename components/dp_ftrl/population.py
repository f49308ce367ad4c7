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

For populations too large to hold (a million clients and more),
`synthetic_tables` and `synthetic_clients` make the same kind of clients on
the fly: client c's examples are a function of (seed, c) alone, made only
when asked for (`client_store.SyntheticClientSource` wraps them).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

DEFAULT_ALPHA = 0.5
DEFAULT_SHIFT = 1
DEFAULT_PIXEL_NOISE = 1.0


def _base_set(images, labels, caller: str) -> tuple[np.ndarray, np.ndarray]:
    """(float32 [N, H, W] images, int64 [N] labels), or a ValueError naming `caller`."""
    images = np.asarray(images, np.float32)
    labels = np.asarray(labels, np.int64)
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise ValueError(
            f"{caller}: images {images.shape} must be [N, H, W] and labels {labels.shape} [N]"
        )
    return images, labels


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
    images, labels = _base_set(images, labels, "synthetic_population")
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


# --- clients made on the fly -----------------------------------------------------------------

NOISE_TABLE_ROWS = 4096  # Gaussian pixel-noise vectors drawn once per seed
GAMMA_TABLE_SIZE = 65536  # sorted Gamma(alpha + 1) draws: the Dirichlet's quantile table
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)
_LOW32 = np.uint64(0xFFFFFFFF)


class SyntheticTables(NamedTuple):
    """What `synthetic_clients` draws from; its size does not depend on the number of clients.

    Attributes:
      padded: float32 [N, H + 2 * shift, W + 2 * shift] base images, zero-padded for shifts.
      order: int64 [N] base image indices sorted by class.
      starts: int64 [num_classes] first position of each class in `order`.
      counts: int64 [num_classes] base images per class.
      gamma: float64 [GAMMA_TABLE_SIZE] sorted draws of Gamma(alpha + 1).
      noise: float32 [NOISE_TABLE_ROWS, H * W] Gaussian vectors of std pixel_noise / sqrt(2).
      key: uint64 [2] the seed's hashing keys.
      height, width, shift: the image shape and the largest shift.
      num_classes: number of classes.
      alpha: Dirichlet concentration.
      pixel_max: the pixels' upper bound.
      examples_per_client: E, the largest client size.
      min_examples: the smallest client size (E: every client has E examples).
    """

    padded: np.ndarray
    order: np.ndarray
    starts: np.ndarray
    counts: np.ndarray
    gamma: np.ndarray
    noise: np.ndarray
    key: np.ndarray
    height: int
    width: int
    shift: int
    num_classes: int
    alpha: float
    pixel_max: float
    examples_per_client: int
    min_examples: int


def synthetic_tables(
    images: np.ndarray,
    labels: np.ndarray,
    examples_per_client: int,
    *,
    num_classes: int,
    pixel_max: float,
    alpha: float = DEFAULT_ALPHA,
    shift: int = DEFAULT_SHIFT,
    pixel_noise: float = DEFAULT_PIXEL_NOISE,
    seed: int = 0,
    min_examples: int | None = None,
) -> SyntheticTables:
    """The base images and the seed's tables of an on-the-fly population (`synthetic_clients`).

    Args:
      images, labels, num_classes, pixel_max, alpha, shift, pixel_noise, seed: as
        `synthetic_population`'s.
      examples_per_client: E, examples of a client (the largest client size).
      min_examples: if given, client sizes are uniform in ``[min_examples, E]``
        (drawn per client); default E for every client.

    Returns:
      `SyntheticTables` (memory: the padded base images, 512 KB of Gamma draws and
      ``NOISE_TABLE_ROWS * H * W`` floats of noise; nothing per client).

    Raises:
      ValueError: bad shapes or sizes, or a class with no base image.
    """
    images, labels = _base_set(images, labels, "synthetic_tables")
    lo = examples_per_client if min_examples is None else int(min_examples)
    if not 0 <= lo <= examples_per_client or examples_per_client < 1:
        raise ValueError(
            f"synthetic_tables: need 0 <= min_examples ({lo}) <= examples_per_client"
            f" ({examples_per_client}) and examples_per_client >= 1"
        )
    if not alpha > 0 or shift < 0 or pixel_noise < 0:
        raise ValueError(
            f"synthetic_tables: alpha ({alpha}) must be > 0, shift ({shift}) and pixel_noise"
            f" ({pixel_noise}) >= 0"
        )
    counts = np.bincount(labels[(labels >= 0) & (labels < num_classes)], minlength=num_classes)
    missing = np.flatnonzero(counts == 0).tolist()
    if missing or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"synthetic_tables: labels must be in [0, {num_classes}) with a base image of"
            f" every class (none of classes {missing})"
        )
    seq = np.random.SeedSequence(seed)
    key = seq.generate_state(2, np.uint64)
    rng = np.random.default_rng(seq.spawn(1)[0])
    gamma = np.sort(rng.gamma(alpha + 1.0, size=GAMMA_TABLE_SIZE))
    height, width = images.shape[1], images.shape[2]
    noise = rng.standard_normal((NOISE_TABLE_ROWS, height * width)).astype(np.float32)
    noise *= np.float32(pixel_noise / np.sqrt(2.0))
    order = np.argsort(labels, kind="stable")
    return SyntheticTables(
        padded=np.pad(images, ((0, 0), (shift, shift), (shift, shift))),
        order=order,
        starts=np.searchsorted(labels[order], np.arange(num_classes)).astype(np.int64),
        counts=counts.astype(np.int64),
        gamma=gamma,
        noise=noise,
        key=key,
        height=height,
        width=width,
        shift=int(shift),
        num_classes=int(num_classes),
        alpha=float(alpha),
        pixel_max=float(pixel_max),
        examples_per_client=int(examples_per_client),
        min_examples=lo,
    )


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on a uint64 array, in place (a bijection with good avalanche)."""
    z ^= z >> np.uint64(30)
    z *= _MUL1
    z ^= z >> np.uint64(27)
    z *= _MUL2
    z ^= z >> np.uint64(31)
    return z


def _hash(base: np.ndarray, counter: np.ndarray) -> np.ndarray:
    """uint64 hash number `counter` of the clients whose stream keys are `base` (broadcast)."""
    return _mix64(base + (counter.astype(np.uint64) + np.uint64(1)) * _GOLDEN)


def _unit(bits: np.ndarray) -> np.ndarray:
    """float64 in (0, 1) from the low 32 bits."""
    return ((bits & _LOW32).astype(np.float64) + 0.5) * 2.0**-32


def synthetic_clients(
    tables: SyntheticTables, clients: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The examples of the given clients of an on-the-fly synthetic population.

    Client c's examples are a function of (seed, c) only, so reading c alone or among
    others gives the same data, and a population of any size costs nothing until read. The
    recipe is `synthetic_population`'s: class proportions ``q_c ~ Dirichlet(alpha)``, per
    example a label from ``q_c``, a base image of that label, a random shift in
    ``[-shift, shift]`` per axis, Gaussian pixel noise, clipping to ``[0, pixel_max]``.

    Randomness is counter-based: uniform numbers are SplitMix64 hashes of (seed, client,
    draw number), computed for all requested clients at once (no per-client loop). Two
    shortcuts keep it cheap and memory-free, stated here because they differ from
    `synthetic_population`: a Gamma(alpha) variate of the Dirichlet is ``G * U ** (1 /
    alpha)`` with G read from a table of 65,536 sorted Gamma(alpha + 1) draws at a uniform
    quantile (an empirical quantile function); an example's noise is the sum of two rows of
    a table of 4,096 Gaussian vectors of std ``pixel_noise / sqrt(2)`` (16.7M pairs), so it
    has the right distribution per example but noise vectors recur across the population.

    Cost: O(n * H * W) NumPy work for n examples (about 50 ms for 6500 clients of 20 8x8
    images on one core).

    Args:
      tables: `synthetic_tables` output.
      clients: int [K] client indices >= 0, or -1 for an empty slot (no examples).

    Returns:
      (x float32 [n, H * W], y int32 [n], sizes int64 [K]): the clients' examples in slot
      order, ``n = sizes.sum()``.
    """
    t = tables
    clients = np.asarray(clients, np.int64).reshape(-1)
    live = clients >= 0
    base = _mix64(clients.astype(np.uint64) * _GOLDEN ^ t.key[0])
    base ^= t.key[1]
    base = _mix64(base)
    nc = t.num_classes
    # Sizes, then class proportions (Dirichlet as normalised Gamma variates, in logs).
    span = t.examples_per_client - t.min_examples + 1
    u = _unit(_hash(base, np.full(1, nc)))
    sizes = np.where(live, t.min_examples + np.minimum((u * span).astype(np.int64), span - 1), 0)
    h = _hash(base[:, None], np.arange(nc))  # [K, classes]
    g = t.gamma[
        np.minimum((_unit(h >> np.uint64(32)) * t.gamma.size).astype(np.int64), t.gamma.size - 1)
    ]
    log_g = np.log(g) + np.log(_unit(h)) / t.alpha
    p = np.exp(log_g - log_g.max(axis=1, keepdims=True))
    cum = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    # Examples: client of each, index within its client, two hashes each.
    n = int(sizes.sum())
    owner = np.repeat(np.arange(clients.size), sizes)
    j = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    ha = _hash(base[owner], nc + 1 + 2 * j)
    hb = _hash(base[owner], nc + 2 + 2 * j)
    y = np.minimum((_unit(ha >> np.uint64(32))[:, None] > cum[owner]).sum(axis=1), nc - 1)
    pick = np.minimum((_unit(ha) * t.counts[y]).astype(np.int64), t.counts[y] - 1)
    source = t.order[t.starts[y] + pick]
    side = 2 * t.shift + 1
    variant = ((hb >> np.uint64(48)) * np.uint64(side * side)) >> np.uint64(16)
    x = np.empty((n, t.height, t.width), np.float32)
    for v in range(side * side):  # a loop over the shifts, not over clients
        sel = np.flatnonzero(variant == v)
        dy, dx = divmod(v, side)
        x[sel] = t.padded[source[sel], dy : dy + t.height, dx : dx + t.width]
    x = x.reshape(n, t.height * t.width)
    rows = np.uint64(t.noise.shape[0] - 1)  # a power of two
    x += t.noise[(hb & rows).astype(np.int64)]
    x += t.noise[((hb >> np.uint64(16)) & rows).astype(np.int64)]
    np.clip(x, 0.0, t.pixel_max, out=x)
    return x, y.astype(np.int32), sizes.astype(np.int64)
