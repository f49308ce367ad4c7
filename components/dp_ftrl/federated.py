"""Federated training simulation: DP-FTRL with tree aggregation or BLT noise, DP-FedAvg, FedAvg.

Plain functions on NumPy arrays, no TFX. The algorithm is DP-FTRLM of Kairouz, McMahan, Song,
Thakkar, Thakurta and Xu, "Practical and Private (Deep) Learning without Sampling or
Shuffling" (ICML 2021), in its federated form (user-level DP, as deployed for Gboard: Xu et
al. 2023). Rounds are numbered ``t = 0 .. rounds - 1``.

**Clients and participation.** Each distinct `client_id` is one user. The participation
schedule (`participation.schedule_participation`) gives every round ``clients_per_round = K``
clients, at most ``max_participations`` rounds per client, two rounds of one client at least
``min_separation`` apart; it is checked (`participation.check_schedule`) before training. The
privacy account does not rely on how the schedule is drawn (no amplification).

**Client update.** A client starts from the current global model ``w_t``, runs
``local_epochs`` epochs of plain SGD (step ``client_lr``, mini-batches of
``local_batch_size`` examples in a fresh seeded order each epoch, mean softmax cross-entropy
per batch; the last batch of an epoch may be smaller) and returns the *model delta*
``Delta = w_local - w_t`` (a flat vector of all parameters, layout `flatten_params`). For the
DP mechanisms it is clipped: ``Delta * min(1, clip / ||Delta||_2)``. The server sums the
(clipped) deltas of the round: ``X_t = sum_i clip(Delta_i)``.

**DP-FTRL (mechanism "dp_ftrl") — exactly what runs.** ``X_t`` is leaf t of the tree
(`tree.tree_add`): every node gets Gaussian noise of std ``noise_multiplier * clip`` per
coordinate. Let ``S_t`` be the tree's noisy estimate (``estimator``: "efficient" = Honaker,
or "plain") of ``X_{t0} + ... + X_t``, where ``t0`` is the first round of the current tree
(0 without restarts), and ``D_t = S_t / K``, the noisy prefix sum of *mean* client deltas
(the divisor is the fixed ``K``, not the data-dependent count). Then (`ftrl_update`)

    m_t     = momentum * m_{t-1} + D_t                           (m_{t0 - 1} = 0)
    w_{t+1} = w_{t0} + server_lr * m_t                           (heavy ball)
    w_{t+1} = w_{t0} + server_lr * (momentum * m_t + D_t)        (nesterov=True)

This is the paper's DP-FTRLM (Algorithm 1 with momentum; TFF's ``DPFTRLMServerOptimizer``)
with the sign convention of deltas: the paper's gradient sum is ``-D_t`` and its update
``w_0 - eta * m_t``. The momentum recursion runs on the prefix sums, which is the same as
momentum on the increments: with zero noise, ``D_t - D_{t-1}`` is the mean delta ``g_t`` and
``m_t = sum_{j<=t} v_j`` for the heavy-ball velocity ``v_j = momentum * v_{j-1} + g_j``, so the
iterates are exactly those of server SGD with (heavy-ball or Nesterov) momentum on the mean
deltas (`momentum_update`), i.e. FedAvg with server momentum; the noise is what differs: here
it enters through ``O(log t)`` tree nodes instead of fresh noise every round. (Proof: both sides
are ``sum_{i<=t} g_i (1 - momentum**(t-i+1)) / (1 - momentum)``; tested.) With
``restart_every = N`` a new tree starts at rounds N, 2N, ...: ``w_{t0}`` becomes the current
model, the prefix sum and the momentum are reset to zero.

**How it runs.** Every private mechanism is run as per-round noise (`noise.NoiseMechanism`):
the server adds the mechanism's noise ``n_t`` to ``X_t`` and takes the momentum step on
``(X_t + n_t) / K`` (`server.private_server`). For the tree, ``n_t = e_t - e_{t-1}`` with
``e_t`` the tree's prefix-sum noise, and by the identity above this is exactly the FTRL form
(tested against `ftrl_update` on the same node noise).

**BLT-DP-FTRL (mechanism "blt_dp_ftrl").** The same server with the correlated noise
``n = C^-1 z`` of a buffered-linear Toeplitz factorization (`blt`; McMahan, Xu and Zhang,
arXiv 2408.08868), its buffers optimised for the run's rounds, participations and
separation (`accounting.blt_for_run`), its noise multiplier the one with the tree's rho
(`accounting.matched_account`), so the two DP-FTRLs are compared at equal privacy.

**Baselines**, same client update and schedule, server SGD with momentum (`momentum_update`):
* "dp_fedavg": ``g_t = (X_t + N(0, (sigma_g * clip)**2)) / K`` with fresh noise every round;
  ``sigma_g`` is chosen so that its zCDP rho equals the tree's: ``sigma_g =
  gaussian_noise_multiplier_for_rho(tree_rho(noise_multiplier, ...), k)`` with
  ``k = accounting.participation_cap(rounds, max_participations, min_separation)
  = min(max_participations, 1 + (rounds - 1) // min_separation)``, the most rounds one
  client can take part in (`accounting.matched_gaussian_account`).
* "fedavg": no clipping, no noise, ``g_t`` = the unweighted mean of the round's deltas over the
  clients present.

**Model.** Any JAX model module (`model_module`: ``init(rng, input_shape, num_classes,
config) -> params``, ``apply(params, x) -> logits``), given as ``model=`` (a
`model_module.JaxModel`); by default the built-in MLP of
`frontier.components.trainer.model.build_model` with ``config.hidden_units`` (`mlp_module`).
Its parameters are initialised with ``init(jax.random.PRNGKey(s), (D,), C, config)``, s from
``config.seed``, and the server works on their flat vector (`model.flatten_params`). The
inputs reach ``apply`` standardised, ``(x - mean) * inv_std``; the standardisation is not
trained: by default none (mean 0, variance 1), which keeps the DP guarantee intact; with
``standardize_with=x_public`` it uses `trainer.model.feature_stats(x_public)`, as in the Keras
trainer. (Statistics of the clients' own data are not covered by the DP guarantee.)

**Computation and scaling.** The K clients of a round are one jitted JAX computation per
size bucket: `local_sgd` is ``vmap``-ed over clients, padded to the bucket's length with a
mask, in chunks of ``client_chunk`` clients run in sequence (the working set stays in cache on
CPU); clipping and the sum over clients happen inside it, and the round's client axis is
sharded over every local device (``shard_map``, the sums added with ``psum``;
`rounds.round_delta_sum`, `rounds.packed_round_delta_sum`). The server step (noise,
momentum) is O(d * buffers) or O(d log t) NumPy work per round on one host.
`train_federated` packs the whole population on the device once (`pack_clients`);
`train_federated_source` reads each round's clients from a `client_store.ClientSource` (an
on-disk store, a synthetic population of millions, ...) one round ahead on a thread, so
memory does not grow with the population.

**Where it lives.** `config` (`FederatedConfig`), `clients` (packing and size buckets),
`client_store` (client sources), `model`, `model_module` and `mlp_module` (the model
contract and the built-in MLP), `rounds` (local SGD, clipping, the vectorised and sharded
round), `noise` (the private mechanisms: tree, BLT, Gaussian), `server` (the server
optimisers, optax-style ``init`` / ``update`` pairs), `export` (jax2tf SavedModel), and the
privacy of a run comes from `accounting` (`account`, `matched_account`,
`epsilons_of_rho_curve`); this module is the loop that ties them together.

**Determinism.** ``config.seed`` seeds the schedule, the initial weights, the clients' batch
orders and the noise (separate streams); the same seed and data give the same model.

Typical use::

    from frontier.components.dp_ftrl import FederatedConfig, train_federated
    config = FederatedConfig(clients_per_round=100, rounds=200, max_participations=4,
                             min_separation=40, noise_multiplier=1.0, clip=0.5)
    result = train_federated(x, y, client_ids, config, eval_data=(x_test, y_test))
    result.history[-1]["eval_accuracy"], result.noise.epsilon
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from frontier.components.common.checks import check_choice, check_int
from frontier.components.common.errors import InputError
from frontier.components.dp_ftrl import accounting
from frontier.components.dp_ftrl.client_store import ClientBatch, ClientSource
from frontier.components.dp_ftrl.clients import ClientData, pack_clients
from frontier.components.dp_ftrl.config import MECHANISMS, FederatedConfig
from frontier.components.dp_ftrl.model import (
    Params,
    evaluate,
    flatten_params,
    inverse_std,
    mlp_logits,
    unflatten_like,
)
from frontier.components.dp_ftrl.model_module import JaxModel, builtin_model
from frontier.components.dp_ftrl.noise import mechanism_for
from frontier.components.dp_ftrl.participation import (
    check_schedule,
    schedule_participation,
    short_rounds,
)
from frontier.components.dp_ftrl.rounds import (
    DEFAULT_CLIENT_CHUNK,
    packed_round_delta_sum,
    place_population,
    round_delta_sum,
)
from frontier.components.dp_ftrl.server import server_optimizer
from frontier.components.trainer.model import feature_stats

__all__ = [
    "FederatedConfig",
    "FederatedResult",
    "NoiseInfo",
    "run_account",
    "run_privacy",
    "train_federated",
    "train_federated_source",
]


@dataclasses.dataclass(frozen=True)
class NoiseInfo:
    """The noise of a run and its privacy guarantee (user-level, add/remove one client).

    Attributes:
      mechanism: "dp_ftrl", "blt_dp_ftrl", "dp_fedavg" or "fedavg".
      noise_multiplier: noise std / clip of one tree node (dp_ftrl), of one round's ``z``
        before the BLT's correlation (blt_dp_ftrl) or of one round (dp_fedavg); 0 for fedavg.
      tree_noise_multiplier: config.noise_multiplier (blt_dp_ftrl and dp_fedavg match this
        tree's rho).
      noise_std_sum: per-coordinate noise std on a (node / round) sum of clipped deltas,
        ``noise_multiplier * clip``.
      estimator: DP-FTRL's prefix-sum estimator (None otherwise).
      prefix_noise_std: float64 [rounds]: theoretical per-coordinate std of the noise in the
        prefix sum of mean deltas after round t, ``D_t`` (model units before ``server_lr``;
        `noise.NoiseMechanism.prefix_variance`); zeros for fedavg. (For dp_fedavg entry 0 is
        one round's noise, entry t that of t + 1 rounds.)
      rho: zCDP parameter of the whole run (None: no privacy).
      epsilon: epsilon at `delta` of the whole run (None: no privacy).
      delta: the delta of `epsilon`.
      blt: BLT-DP-FTRL's buffers, ``{"omega": [...], "theta": [...]}`` (None otherwise).
    """

    mechanism: str
    noise_multiplier: float
    tree_noise_multiplier: float
    noise_std_sum: float
    estimator: str | None
    prefix_noise_std: np.ndarray
    rho: float | None
    epsilon: float | None
    delta: float
    blt: dict[str, list[float]] | None = None


@dataclasses.dataclass(frozen=True)
class FederatedResult:
    """What `train_federated` returns.

    Attributes:
      params: the trained model's parameters, the module's pytree (float32; for the built-in
        MLP a list of `model.Dense` layers, see `to_keras_model`).
      history: one dict per round: ``round`` (0-based), ``clients`` (present),
        ``mean_delta_norm`` (mean L2 norm before clipping), ``clipped_fraction`` (share of
        deltas with norm > clip; 0 for fedavg), ``epsilon`` (epsilon at delta after this
        round; None without privacy), ``eval_accuracy`` and ``eval_loss`` (on eval rounds,
        else None).
      schedule: int64 [rounds, clients_per_round] client indices (-1: empty slot).
      short_rounds: int64 indices of rounds with empty slots.
      noise: `NoiseInfo`.
      config: the `FederatedConfig`.
      input_mean, input_var: float32 [D] standardisation statistics.
      client_ids: [C] the `client_id` of each client index.
      model: the `model_module.JaxModel` trained (None: the built-in MLP).
    """

    params: Params
    history: list[dict[str, Any]]
    schedule: np.ndarray
    short_rounds: np.ndarray
    noise: NoiseInfo
    config: FederatedConfig
    input_mean: np.ndarray
    input_var: np.ndarray
    client_ids: np.ndarray
    model: JaxModel | None = None

    @property
    def apply(self) -> Callable[[Params, jax.Array], jax.Array]:
        """The model's ``apply(params, x_standardised) -> logits``."""
        return mlp_logits if self.model is None else self.model.apply

    def logits(self, x: np.ndarray) -> np.ndarray:
        """float32 [M, C]: the trained model's logits on raw inputs x [M, D] (standardised
        with the run's statistics first)."""
        h = (jnp.asarray(x, jnp.float32) - jnp.asarray(self.input_mean, jnp.float32)) * (
            jnp.asarray(inverse_std(self.input_var))
        )
        return np.asarray(jax.jit(self.apply)(self.params, h))

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(accuracy, cross-entropy) of the trained model on (x, y)."""
        return evaluate(self.params, x, y, self.input_mean, self.input_var, self.apply)

    def correct(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """bool [M]: whether the trained model's arg-max class is y, per example of (x, y)."""
        return np.argmax(self.logits(x), axis=1) == np.asarray(y)


# --- privacy and noise -----------------------------------------------------------------------


def run_account(config: FederatedConfig, mechanism: str) -> accounting.PrivacyAccount | None:
    """The privacy account of a whole run (None: not private).

    "dp_ftrl": `accounting.account` of the tree; the other private mechanisms
    ("blt_dp_ftrl", "dp_fedavg"): `accounting.matched_account` of it with the mechanism's
    own sensitivity (`noise.NoiseMechanism`), i.e. their noise at the tree's rho; "fedavg",
    or a noise multiplier of 0: none. The executor's budget check, its ledger and page, and
    `frontier privacy` read the same functions.
    """
    c = config
    if mechanism == "fedavg" or c.noise_multiplier == 0:
        return None
    tree = accounting.account(
        accounting.MECHANISM_TREE,
        c.noise_multiplier,
        c.rounds,
        c.max_participations,
        c.min_separation,
        c.delta,
        restart_every=c.restart_every,
    )
    if mechanism == "dp_ftrl":
        return tree
    noise = mechanism_for(mechanism, c)
    return accounting.matched_account(tree, noise.account_name, noise.sensitivity_squared())


def run_privacy(
    config: FederatedConfig, mechanism: str
) -> tuple[accounting.PrivacyAccount | None, list[float | None]]:
    """`run_account`, and the run's epsilon after each round (None: not private): rho
    after round r scales with the squared sensitivity of the first r rounds
    (`NoiseMechanism.sensitivity_squared(prefix=True)`)."""
    privacy = run_account(config, mechanism)
    if privacy is None:
        return None, [None] * config.rounds
    curve = mechanism_for(mechanism, config).sensitivity_squared(prefix=True)
    rho = privacy.rho * np.asarray(curve) / curve[-1]
    eps = accounting.epsilons_of_rho_curve(rho, privacy.delta)
    eps[-1] = privacy.epsilon  # the run's own, not a re-conversion of rho * 1.0
    return privacy, [float(e) for e in eps]


def _noise_info(
    config: FederatedConfig, mechanism: str, privacy: accounting.PrivacyAccount | None
) -> NoiseInfo:
    """The `NoiseInfo` of a run: its noise multiplier, noise std and privacy."""
    c, k = config, config.clients_per_round
    nm = 0.0 if privacy is None else privacy.noise_multiplier
    private = mechanism != "fedavg"
    noise_std = nm * c.clip if private else 0.0
    if private:
        noise = mechanism_for(mechanism, c)
        prefix_std = np.sqrt(noise.prefix_variance()) * noise_std / k
    else:
        prefix_std = np.zeros(c.rounds)
    return NoiseInfo(
        mechanism=mechanism,
        noise_multiplier=nm,
        tree_noise_multiplier=c.noise_multiplier if private else 0.0,
        noise_std_sum=noise_std,
        estimator=c.estimator if mechanism == "dp_ftrl" else None,
        prefix_noise_std=prefix_std,
        rho=None if privacy is None else privacy.rho,
        epsilon=None if privacy is None else privacy.epsilon,
        delta=c.delta,
        blt=noise.blt_params().to_dict() if mechanism == "blt_dp_ftrl" else None,
    )


# --- checks and inputs -----------------------------------------------------------------------


def _check_eval_data(
    eval_data: tuple[np.ndarray, np.ndarray] | None, input_dim: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """(float32 [M, D] inputs, int [M] labels) of the eval data, checked (None: none)."""
    if eval_data is None:
        return None
    ex = np.asarray(eval_data[0], np.float32)
    ey = np.asarray(eval_data[1])
    if (
        ex.ndim != 2
        or ex.shape[1] != input_dim
        or ey.shape != (ex.shape[0],)
        or not np.issubdtype(ey.dtype, np.integer)
    ):
        raise InputError(
            f"eval inputs {ex.shape}, labels {ey.shape}",
            parameter="eval_data",
            expected=f"(float [M, {input_dim}], int [M])",
        )
    return ex, ey


def _check_num_classes(
    y: np.ndarray, eval_data: tuple[np.ndarray, np.ndarray] | None, num_classes: int | None
) -> int:
    """C: `num_classes` (default 1 + the largest label), after checking every label is in it."""
    y = np.asarray(y)
    labels = y if eval_data is None else np.concatenate([y, eval_data[1].astype(y.dtype)])
    top = int(labels.max()) + 1
    num_classes = max(top, 2) if num_classes is None else check_int(num_classes, "num_classes", 2)
    if int(labels.min()) < 0 or top > num_classes:
        raise InputError(
            f"labels (train and eval) span [{labels.min()}, {labels.max()}]",
            column="label",
            expected=f"class ids in [0, {num_classes})",
        )
    return num_classes


def _standardisation(
    standardize_with: np.ndarray | None, input_dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """float32 [D] (mean, var) of the model's input standardisation (0 and 1: none)."""
    if standardize_with is None:
        return np.zeros(input_dim, np.float32), np.ones(input_dim, np.float32)
    mean, var = feature_stats(np.asarray(standardize_with, np.float32))
    if mean.shape != (input_dim,):
        raise InputError(
            f"standardize_with has {mean.shape[0]} columns",
            parameter="standardize_with",
            expected=f"{input_dim}",
        )
    return mean, var


def _checked_schedule(
    schedule: np.ndarray | None, config: FederatedConfig, num_clients: int, seed: int
) -> np.ndarray:
    """int64 [rounds, K] schedule: the given one or a fresh draw, checked against the config."""
    c = config
    if schedule is None:
        schedule = schedule_participation(
            num_clients,
            c.rounds,
            c.clients_per_round,
            c.max_participations,
            c.min_separation,
            seed=seed,
        )
    else:
        schedule = np.asarray(schedule)
        if schedule.shape[:1] != (c.rounds,):
            raise InputError(
                f"schedule has shape {schedule.shape}",
                parameter="schedule",
                expected=f"[{c.rounds}, {c.clients_per_round}]",
            )
    check_schedule(
        schedule, num_clients, c.clients_per_round, c.max_participations, c.min_separation
    )
    return schedule.astype(np.int64)


def _seeds(seed: int) -> tuple[int, int, np.random.Generator, jax.Array]:
    """Independent streams: schedule seed, init seed, noise generator, client JAX key."""
    schedule_ss, init_ss, noise_ss, client_ss = np.random.SeedSequence(seed).spawn(4)
    return (
        int(schedule_ss.generate_state(1)[0]),
        int(init_ss.generate_state(1)[0]),
        np.random.default_rng(noise_ss),
        jax.random.PRNGKey(int(client_ss.generate_state(1)[0])),
    )


# --- the loop --------------------------------------------------------------------------------


class _Inputs(NamedTuple):
    """A run's checked inputs (what every round reads)."""

    data: ClientData | ClientSource  # packed arrays on the device, or a source read per round
    schedule: np.ndarray  # int64 [rounds, K]
    eval_data: tuple[np.ndarray, np.ndarray] | None
    num_classes: int
    input_dim: int
    mean: np.ndarray  # float32 [D]
    var: np.ndarray  # float32 [D]


def _check_clients_per_round(config: FederatedConfig, num_clients: int) -> None:
    if config.clients_per_round > num_clients:
        raise InputError(
            f"clients_per_round is {config.clients_per_round} but there are {num_clients} clients",
            parameter="clients_per_round",
            expected=f"at most {num_clients}",
        )


def _prepare(
    x: np.ndarray,
    y: np.ndarray,
    client_ids: np.ndarray,
    config: FederatedConfig,
    eval_data: tuple[np.ndarray, np.ndarray] | None,
    num_classes: int | None,
    standardize_with: np.ndarray | None,
    schedule: np.ndarray | None,
    seed: int,
) -> _Inputs:
    """Checks the data and configuration, packs the clients and draws (or checks) the schedule.

    Arguments as `train_federated`'s; `seed` is the schedule's.
    """
    c = config
    data = pack_clients(x, y, client_ids, c.local_batch_size)
    num_clients, input_dim = data.x.shape[0], data.x.shape[2]
    _check_clients_per_round(c, num_clients)
    eval_data = _check_eval_data(eval_data, input_dim)
    num_classes = _check_num_classes(y, eval_data, num_classes)
    mean, var = _standardisation(standardize_with, input_dim)
    schedule = _checked_schedule(schedule, c, num_clients, seed)
    # Copied to every device once, not every round.
    return _Inputs(place_population(data), schedule, eval_data, num_classes, input_dim, mean, var)


def _prepare_source(
    source: ClientSource,
    config: FederatedConfig,
    eval_data: tuple[np.ndarray, np.ndarray] | None,
    num_classes: int | None,
    standardize_with: np.ndarray | None,
    schedule: np.ndarray | None,
    seed: int,
) -> _Inputs:
    """`_prepare` for a client source: nothing is read before the rounds."""
    if not isinstance(source, ClientSource):
        raise InputError(
            f"source is a {type(source).__name__}",
            parameter="source",
            expected="a client_store.ClientSource (InMemoryClientSource, ClientStore, "
            "SyntheticClientSource, ...)",
        )
    c = config
    _check_clients_per_round(c, source.num_clients)
    eval_data = _check_eval_data(eval_data, source.input_dim)
    labels = np.array([source.num_classes - 1])  # the largest label the source may hold
    num_classes = _check_num_classes(labels, eval_data, num_classes)
    mean, var = _standardisation(standardize_with, source.input_dim)
    schedule = _checked_schedule(schedule, c, source.num_clients, seed)
    return _Inputs(source, schedule, eval_data, num_classes, source.input_dim, mean, var)


class _Reader:
    """Reads round t + 1's clients from a source on a thread while round t computes (the
    schedule is fixed in advance; reading does not depend on the model)."""

    def __init__(self, source: ClientSource, schedule: np.ndarray):
        self._source, self._schedule = source, schedule
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="clients")
        self._next: concurrent.futures.Future | None = None

    def read(self, t: int) -> ClientBatch:
        future = self._next or self._pool.submit(self._source.read, self._schedule[t])
        self._next = None
        if t + 1 < len(self._schedule):
            self._next = self._pool.submit(self._source.read, self._schedule[t + 1])
        return future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _record(
    t: int,
    norms: np.ndarray,
    present: int,
    clip: float | None,
    epsilon: float | None,
) -> dict[str, Any]:
    """The history dict of round t (evaluation fields still None)."""
    real = norms[~np.isnan(norms)]
    return {
        "round": t,
        "clients": present,
        "mean_delta_norm": float(real.mean()) if real.size else float("nan"),
        "clipped_fraction": float((real > clip).mean()) if clip is not None and real.size else 0.0,
        "epsilon": epsilon,
        "eval_accuracy": None,
        "eval_loss": None,
    }


def train_federated(
    x: np.ndarray,
    y: np.ndarray,
    client_ids: np.ndarray,
    config: FederatedConfig,
    mechanism: str = "dp_ftrl",
    eval_data: tuple[np.ndarray, np.ndarray] | None = None,
    on_round: Callable[[dict[str, Any]], None] | None = None,
    *,
    num_classes: int | None = None,
    standardize_with: np.ndarray | None = None,
    schedule: np.ndarray | None = None,
    client_chunk: int = DEFAULT_CLIENT_CHUNK,
    model: JaxModel | None = None,
) -> FederatedResult:
    """Simulates federated training of a model with DP-FTRL, BLT-DP-FTRL, DP-FedAvg or FedAvg.

    See the module docstring for the exact algorithm of each mechanism.

    Args:
      x: float [N, D] inputs of all clients.
      y: int [N] class ids in [0, num_classes).
      client_ids: [N] the client (user) of each example.
      config: `FederatedConfig`.
      mechanism: "dp_ftrl", "dp_fedavg" or "fedavg".
      eval_data: optional (x_eval [M, D], y_eval [M]) evaluated every ``config.eval_every``
        rounds and after the last.
      on_round: optional ``fn(record)`` called after each round with its history dict.
      num_classes: C (default: 1 + the largest label in y and eval labels).
      standardize_with: public inputs whose `feature_stats` standardise the model's input
        (None: no standardisation). Not covered by the DP guarantee if it is client data.
      schedule: optional int [rounds, clients_per_round] participation schedule to use instead
        of drawing one (must pass `check_schedule` with the config's constraints).
      client_chunk: clients per vmapped chunk of a round's computation (speed and memory
        only; see `rounds.round_delta_sum`).
      model: the JAX model module to train (`model_module.JaxModel`, e.g.
        `model_module.load_model(module_file=...)`); default the built-in MLP with
        ``config.hidden_units``. Checked on a probe batch before the first round.

    Returns:
      `FederatedResult`.

    Raises:
      InputError: bad data, configuration, schedule or model (the message names it).
    """
    check_choice(mechanism, "mechanism", MECHANISMS)
    schedule_seed = _seeds(_checked_config(config).seed)[0]
    run = _prepare(
        x, y, client_ids, config, eval_data, num_classes, standardize_with, schedule, schedule_seed
    )
    return _train(run, config, mechanism, on_round, client_chunk, model)


def train_federated_source(
    source: ClientSource,
    config: FederatedConfig,
    mechanism: str = "dp_ftrl",
    eval_data: tuple[np.ndarray, np.ndarray] | None = None,
    on_round: Callable[[dict[str, Any]], None] | None = None,
    *,
    num_classes: int | None = None,
    standardize_with: np.ndarray | None = None,
    schedule: np.ndarray | None = None,
    client_chunk: int = DEFAULT_CLIENT_CHUNK,
    model: JaxModel | None = None,
) -> FederatedResult:
    """`train_federated` on a population of any size: each round reads only its clients.

    The same algorithm, schedule draw and seeds as `train_federated`; the clients come from
    `source` (`client_store.InMemoryClientSource`, an on-disk `ClientStore`, a
    `SyntheticClientSource` of millions of clients made on the fly, ...), read one round
    ahead on a thread, bucketed by size and sharded over the local devices
    (`rounds.packed_round_delta_sum`). Memory: the schedule, the model and one or two rounds
    of clients, not the population. On an `InMemoryClientSource` of the same data it gives
    `train_federated`'s result up to float32 summation order (client c's batch orders come
    from its index c either way).

    Args:
      source: the population (`client_store.ClientSource`).
      config, mechanism, eval_data, on_round, standardize_with, schedule, client_chunk,
        model: as `train_federated`.
      num_classes: C (default: the source's `num_classes`, or more for the eval labels).

    Returns:
      `FederatedResult`; its `client_ids` are the source's ids of clients 0 .. C - 1.

    Raises:
      InputError: bad source, configuration or schedule (the message names it).
    """
    check_choice(mechanism, "mechanism", MECHANISMS)
    schedule_seed = _seeds(_checked_config(config).seed)[0]
    run = _prepare_source(
        source, config, eval_data, num_classes, standardize_with, schedule, schedule_seed
    )
    return _train(run, config, mechanism, on_round, client_chunk, model)


def _checked_model(model: Any, config: FederatedConfig) -> JaxModel:
    """`model`, or the built-in MLP with the config's hidden units when None."""
    if model is None:
        return builtin_model(config.hidden_units)
    if not isinstance(model, JaxModel):
        raise InputError(
            f"model is a {type(model).__name__}",
            parameter="model",
            expected="a model_module.JaxModel (model_module.load_model, builtin_model), or None",
        )
    return model


def _checked_config(config: Any) -> FederatedConfig:
    if not isinstance(config, FederatedConfig):
        raise InputError(
            f"config is a {type(config).__name__}", parameter="config", expected="a FederatedConfig"
        )
    return config


def _train(
    run: _Inputs,
    config: FederatedConfig,
    mechanism: str,
    on_round: Callable[[dict[str, Any]], None] | None,
    client_chunk: int,
    model: JaxModel | None,
) -> FederatedResult:
    """The rounds of `train_federated` / `train_federated_source` on checked inputs."""
    c = config
    model = _checked_model(model, c)
    _, init_seed, noise_rng, client_key = _seeds(c.seed)
    privacy, eps_rounds = run_privacy(c, mechanism)
    noise = _noise_info(c, mechanism, privacy)
    server = server_optimizer(mechanism, c, noise.noise_std_sum, noise_rng)
    # init(PRNGKey(init_seed)) and apply checked on a probe batch before any round.
    template = model.check((run.input_dim,), run.num_classes, init_seed)
    w = flatten_params(template).astype(np.float64)
    state = server.init(w)
    clip = None if mechanism == "fedavg" else c.clip
    local = dict(
        client_lr=c.client_lr,
        local_epochs=c.local_epochs,
        batch_size=c.local_batch_size,
        clip=clip,
        client_chunk=check_int(client_chunk, "client_chunk", 1),
        apply=model.apply,
    )
    reader = None if isinstance(run.data, ClientData) else _Reader(run.data, run.schedule)
    history: list[dict[str, Any]] = []
    try:
        for t in range(c.rounds):
            current, key = unflatten_like(w, template), jax.random.fold_in(client_key, t)
            if reader is None:
                total, norms = round_delta_sum(
                    current, run.schedule[t], key, run.data, run.mean, run.var, **local
                )
            else:
                batch = reader.read(t)
                total, norms = packed_round_delta_sum(
                    current, batch.x, batch.y, batch.sizes, run.schedule[t], key,
                    run.mean, run.var, **local,
                )  # fmt: skip
            present = int((run.schedule[t] >= 0).sum())
            w, state = server.update(state, np.asarray(total, np.float64), present)
            record = _record(t, norms, present, clip, eps_rounds[t])
            if run.eval_data is not None and ((t + 1) % c.eval_every == 0 or t == c.rounds - 1):
                acc, loss = evaluate(
                    unflatten_like(w, template), *run.eval_data, run.mean, run.var, model.apply
                )
                record["eval_accuracy"], record["eval_loss"] = acc, loss
            history.append(record)
            if on_round is not None:
                on_round(record)
    finally:
        if reader is not None:
            reader.close()
    ids = (
        run.data.ids
        if reader is None
        else run.data.client_ids(np.arange(run.data.num_clients, dtype=np.int64))
    )
    return FederatedResult(
        params=unflatten_like(w, template),
        history=history,
        schedule=run.schedule,
        short_rounds=short_rounds(run.schedule),
        noise=noise,
        config=c,
        input_mean=run.mean,
        input_var=run.var,
        client_ids=ids,
        model=model,
    )
