"""DP-FTRL federated simulation: accountant, mechanism error, throughput, private accuracy,
speed against the matmul rate, and the production shape.

Kairouz et al., "Practical and Private (Deep) Learning without Sampling or Shuffling"
(ICML 2021), in its federated, user-level form (the Gboard deployment), and BLT-DP-FTRL
(McMahan, Xu, Zhang, arXiv 2408.08868). Five measurements, all from
`frontier.components.dp_ftrl`, in one run:

1. **Accountant** (`tree_account`) on the production configuration: noise multiplier 7.0,
   2000 rounds, at most 6 participations, min separation 313, delta 1e-10. Expected
   rho = 79/98 = 0.8061 and epsilon = 8.90. Seconds of the first (cold) call and the median
   of `ACCOUNTANT_REPS` further calls.

2. **Client-update throughput** of one round at 100 and 1,000 clients per round:
   `round_delta_sum` (the K clients' local SGD vmapped and jitted, one XLA call) against
   `round_delta_sum_loop` (`benchmarks/dp_ftrl_reference.py`: a Python loop, one jitted
   call per client), timed interleaved (vectorised, loop, vectorised, loop, ...; medians)
   on the same round: digits-sized clients
   (64 features, 10 classes, 20 examples each, from the population below), the MLP, local
   SGD and clip of the accuracy runs. Compilation is excluded (one warm-up call each). The two
   sums must agree: ``max_rel_diff = max |vec - loop| / max |loop|`` over the coordinates of
   the summed clipped deltas (float32 vs float64 accumulation), and the same for the
   pre-clipping norms.

3. **Clean test accuracy** of non-private FedAvg, DP-FTRL (tree), BLT-DP-FTRL and DP-FedAvg
   at epsilon 2, 4, 8 (delta 1e-5), mean and std over `SEEDS`.

   *Population.* scikit-learn digits (1,797 real 8x8 images) is split once (`SPLIT_SEED`)
   into a clean test set (`TEST_SIZE` real images, never augmented, never used to choose
   anything), a clean validation set (`VAL_SIZE` real images, used only to pick the server
   step size) and the real training images (the rest, 1,097). About 70 clients of 20
   examples is far too small a population for user-level DP, so the population is enlarged
   by seeded augmentation (`POPULATION_SEED`): `NUM_CLIENTS` synthetic clients of
   `EXAMPLES_PER_CLIENT` examples; client c draws class proportions ``q_c ~ Dirichlet(ALPHA *
   ones(10))`` (label skew, Hsu et al. 2019), each of its examples a label from ``q_c``, a
   real training image of that label (uniformly), a random integer shift in
   ``[-SHIFT, SHIFT]`` on each axis of the 8x8 grid (zero fill) and Gaussian pixel noise of
   std `PIXEL_NOISE` (pixel scale 0..16), clipped to [0, 16]. Pixels are divided by 16 (a
   fixed, data-independent scaling; no standardisation statistics are computed from client
   data). Equal client sizes keep the vmapped padding free (`partition_clients` cuts a fixed
   pool into clients of very unequal sizes). Caveat: each real training image appears in
   about 180 synthetic clients, so the user-level guarantee is about the synthetic clients
   of this simulation, not about the 1,097 original images.

   *Training.* `train_federated` with the MLP (`HIDDEN`), `LOCAL_EPOCHS` epochs of local SGD
   (batch `LOCAL_BATCH`, step `CLIENT_LR`), `CLIENTS_PER_ROUND` clients per round for
   `ROUNDS` rounds, server heavy-ball momentum `MOMENTUM`; every client takes part at most
   ``MAX_PARTICIPATIONS = ceil(ROUNDS * CLIENTS_PER_ROUND / NUM_CLIENTS)`` times, two of its
   rounds at least ``MIN_SEPARATION = NUM_CLIENTS // CLIENTS_PER_ROUND`` apart (the schedule
   of `schedule_participation`, checked by `train_federated`). The private mechanisms clip
   each client delta to L2 norm `CLIP`.

   * fedavg: no clipping, no noise.
   * dp_ftrl: tree aggregation with the efficient (Honaker) estimator; its noise multiplier
     is `calibrate_noise_multiplier(epsilon, DELTA, ROUNDS, MAX_PARTICIPATIONS,
     MIN_SEPARATION)`.
   * blt_dp_ftrl: BLT correlated noise (`accounting.blt_for_run`: buffers optimised for
     these rounds, participations and separation), its noise multiplier the one with the
     tree's rho (`accounting.matched_account`), the same server momentum as the others.
   * dp_fedavg: fresh Gaussian noise on every round's sum, no amplification by sampling,
     with the same zCDP rho as DP-FTRL: `train_federated`'s "dp_fedavg" uses
     ``gaussian_noise_multiplier_for_rho(tree_rho(nm, ...), k)`` with k the most rounds one
     client can take part in (here `MAX_PARTICIPATIONS`); the benchmark recomputes it and
     checks that both mechanisms report the same epsilon.

   Everything but the server step size is fixed in advance and shared by all mechanisms.
   The server step size is tuned per mechanism and per epsilon on the validation set, on the
   same grid `SERVER_LRS` with one run each (seed `TUNE_SEED`, not one of `SEEDS`), and the
   best is then run with `SEEDS` and scored on the test set (accuracy after the last round).
   A seed draws the schedule, the initial weights, the clients' batch orders and the noise;
   the population and the split are the same for every seed.

   Expected (issue): DP-FTRL beats DP-FedAvg without amplification at every epsilon where
   either is above chance (here: mean test accuracy above ``CHANCE + ABOVE_CHANCE_MARGIN``),
   and BLT-DP-FTRL is at least as good as the tree there.

4. **Mechanism error at equal rho** (`ERROR_CONFIGS`: the production configuration, 2000
   rounds, at most 6 participations, Gboard's min separation 313 = frontier's 314; this
   benchmark's 500 / 5 / 100; and 4000 / 8 / 400): for each private mechanism the noise
   multiplier that gives rho = 79/98 (``sqrt(sensitivity**2 / (2 rho))`` with its own
   sensitivity) and the RMSE of its prefix-sum noise over the rounds at that noise, exactly
   from its noise structure (tree: the efficient estimator's node variances; BLT:
   ``||(A C^-1)[t]||**2``; Gaussian: t + 1 rounds of fresh noise). `blt_over_tree_rmse` per
   configuration; the issue asks for at most 0.7 in each.

5. **Speed and production shape**, each in a child process of its own (they make JAX's
   devices and measure peak memory per process): `benchmarks/dp_ftrl_speed.py` (the client
   updates against the machine's dense matmul rate and the per-client loop; about a
   minute) and `benchmarks/dp_ftrl_scale.py` (2,000 rounds of 6,500 clients over 2.2
   million synthetic users, and the same over a tenth of them for the memory ratio; 6 to 13
   minutes). Their docstrings say what they measure; their headline figures are copied to
   the top level of this benchmark's last line.

Output: progress goes to stderr; the last stdout line is one JSON object:
  benchmark, quick, machine (the caveat about timings), wall_s
  accountant      config; rho, rho_expected (79/98), rho_ok; epsilon; sensitivity_squared;
                  cold_s (first call), median_s (median of `ACCOUNTANT_REPS` calls), reps
  throughput      client (examples, features, classes, model, local SGD), and per clients
                  per round "100" / "1000": vectorised_updates_per_s, loop_updates_per_s,
                  speedup (vectorised / loop, same run), vectorised_s / loop_s (median
                  seconds per round), max_rel_diff, norms_max_rel_diff, agree (both < 1e-4)
  accuracy
    population    how the client population was built (augmentation, sizes, label skew)
    settings      rounds, clients per round, participations, separation, model, local SGD,
                  clip, momentum, delta, seeds
    tuning        grid, seed, validation accuracy of every tried step size, and the chosen
                  server_lr per mechanism (and epsilon)
    noise[eps]    dp_ftrl_noise_multiplier (per tree node / clip), dp_fedavg_noise_multiplier
                  (per round / clip), rho, epsilon of each (as reported by the runs), and the
                  per-coordinate noise std in model units before server_lr: dp_ftrl's noisy
                  prefix sum of mean deltas after the last round (`prefix_noise_std`),
                  dp_fedavg's noise per round and that accumulated over all rounds
                  (``sqrt(ROUNDS)`` times; what a sum of the rounds' noisy means carries)
    chance        0.1 (10 balanced-ish classes; the test set's majority share is also given)
    results       fedavg {mean, std, per_seed, server_lr}; dp_ftrl[eps], blt_dp_ftrl[eps],
                  dp_fedavg[eps] the same
    accuracy_by_epsilon  per private mechanism, the mean test accuracy at each epsilon
    blt_at_least_tree[eps]  {holds (BLT mean >= tree mean), either_above_chance, gap,
                  gap_over_std}; blt_at_least_tree_holds (at every epsilon above chance)
    dp_ftrl_beats_dp_fedavg[eps]  {holds, either_above_chance, gap (mean difference),
                  gap_over_std (gap / the larger std;
                  null with one seed)}
    expected_ordering_holds      holds at every epsilon where either is above chance
    seconds       wall seconds of tuning and of the final runs
  mechanism_error  configs[name]: rounds, participations, separation (frontier's and TF
                  Privacy's), rho; per mechanism sensitivity_squared, noise_multiplier,
                  prefix_rmse, prefix_max_std (per unit clip), BLT's buffers and whether its
                  sensitivity is exact; blt_over_tree_rmse, blt_over_tree_max_error,
                  gaussian_over_tree_rmse; blt_over_tree_rmse per config and its max
  flops_utilization, speedup_vs_loop, sharded_equals_unsharded   from dp_ftrl_speed.py,
                  whose whole last line is under speed
  production_shape  dp_ftrl_scale.py's: wall_s, peak_rss_mb, rss_ratio_vs_tenth_population,
                  eval_accuracy, epsilon, devices, ... and the tenth population's run

Run: `nice -n 10 .venv/bin/python benchmarks/dp_ftrl.py` (12 to 25 minutes on 2 shared
cores, by load; 5 to 9 without the children: `--no-speed --no-scale`); `--quick` is a
smoke run (fewer rounds, one seed, two step sizes, the production shape for 40 rounds).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from children import run_json  # noqa: E402

from frontier.components.common import progress  # noqa: E402

# --- accountant ------------------------------------------------------------------------------
PROD_NOISE_MULTIPLIER = 7.0
PROD_ROUNDS = 2000
PROD_MAX_PARTICIPATIONS = 6
PROD_MIN_SEPARATION = 313
PROD_DELTA = 1e-10
PROD_RHO = 79 / 98
ACCOUNTANT_REPS = 7

# --- throughput ------------------------------------------------------------------------------
THROUGHPUT_CLIENTS = (100, 1000)
THROUGHPUT_REPS = 3  # interleaved (vectorised, loop) pairs; the vectorised call is repeated
VECTOR_CALLS_PER_REP = 5
AGREE_TOL = 1e-4

# --- data and population ---------------------------------------------------------------------
NUM_CLASSES = 10
CHANCE = 1.0 / NUM_CLASSES
ABOVE_CHANCE_MARGIN = 0.05
TEST_SIZE = 400
VAL_SIZE = 300
SPLIT_SEED = 0
NUM_CLIENTS = 10_000
EXAMPLES_PER_CLIENT = 20
ALPHA = 0.5
SHIFT = 1
PIXEL_NOISE = 1.0
PIXEL_MAX = 16.0
POPULATION_SEED = 1

# --- federated training ----------------------------------------------------------------------
EPSILONS = (2.0, 4.0, 8.0)
DELTA = 1e-5
SEEDS = (0, 1, 2)
TUNE_SEED = 100
ROUNDS = 500
CLIENTS_PER_ROUND = 100
MAX_PARTICIPATIONS = math.ceil(ROUNDS * CLIENTS_PER_ROUND / NUM_CLIENTS)  # 5
MIN_SEPARATION = NUM_CLIENTS // CLIENTS_PER_ROUND  # 100
HIDDEN = (64,)
LOCAL_EPOCHS = 2
LOCAL_BATCH = 10
CLIENT_LR = 0.5
CLIP = 0.5
MOMENTUM = 0.9
SERVER_LRS = (0.03, 0.1, 0.3, 1.0)
PRIVATE = ("dp_ftrl", "blt_dp_ftrl", "dp_fedavg")
MECHANISMS = ("fedavg", *PRIVATE)
# Mechanism error at equal rho (section 4): the production configuration, this benchmark's
# accuracy runs and a longer run with more participations. Separations are frontier's
# (y - x); the production one is Gboard's / TF Privacy's 313 (y - x - 1), i.e. 314 here.
ERROR_CONFIGS = (
    {"name": "production", "rounds": 2000, "max_participations": 6, "tf_privacy_separation": 313},
    {"name": "benchmark", "rounds": 500, "max_participations": 5, "tf_privacy_separation": 99},
    {"name": "long", "rounds": 4000, "max_participations": 8, "tf_privacy_separation": 399},
)

QUICK = dict(rounds=100, seeds=(0,), server_lrs=(0.1, 0.3), accountant_reps=3, reps=1)
MACHINE = (
    "CPU only (JAX on CPU), 2 shared cores with other work running: absolute seconds and "
    "updates/s are indicative; the ratios are measured side by side in one run"
)


def log(message: str) -> None:
    progress.write(f"[dp_ftrl bench] {message}")


def mean_std(values: list[float]) -> dict:
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values)),
        "per_seed": [float(v) for v in values],
    }


# --- 1. accountant ---------------------------------------------------------------------------


def bench_accountant(reps: int) -> dict:
    from frontier.components.dp_ftrl import tree_account

    args = (PROD_NOISE_MULTIPLIER, PROD_ROUNDS, PROD_MAX_PARTICIPATIONS, PROD_MIN_SEPARATION)
    start = time.perf_counter()
    account = tree_account(*args, delta=PROD_DELTA)
    cold = time.perf_counter() - start
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        tree_account(*args, delta=PROD_DELTA)
        times.append(time.perf_counter() - start)
    log(
        f"accountant: rho {account.rho:.4f} epsilon {account.epsilon:.3f} "
        f"cold {cold * 1e3:.1f} ms, median {np.median(times) * 1e3:.1f} ms"
    )
    return {
        "config": {
            "noise_multiplier": PROD_NOISE_MULTIPLIER,
            "rounds": PROD_ROUNDS,
            "max_participations": PROD_MAX_PARTICIPATIONS,
            "min_separation": PROD_MIN_SEPARATION,
            "delta": PROD_DELTA,
        },
        "rho": account.rho,
        "rho_expected": PROD_RHO,
        "rho_ok": round(account.rho, 4) == round(PROD_RHO, 4),
        "epsilon": account.epsilon,
        "sensitivity_squared": account.sensitivity_squared,
        "cold_s": cold,
        "median_s": float(np.median(times)),
        "reps": reps,
    }


# --- 4. mechanism error at equal rho ---------------------------------------------------------


def bench_mechanism_error() -> dict:
    """Per `ERROR_CONFIGS` entry: each private mechanism's noise multiplier for the same rho
    (the production rho 79/98) and its prefix-sum RMSE over the rounds at that rho, computed
    exactly from its noise structure (`NoiseMechanism.prefix_variance` x noise std**2)."""
    from frontier.components.dp_ftrl import blt, mechanism_for
    from frontier.components.dp_ftrl.config import FederatedConfig

    out = {}
    for spec in ERROR_CONFIGS:
        rounds, k = spec["rounds"], spec["max_participations"]
        sep = blt.from_tf_privacy_separation(spec["tf_privacy_separation"])
        config = FederatedConfig(
            rounds=rounds, max_participations=k, min_separation=sep, estimator="efficient"
        )
        entry: dict = {
            "rounds": rounds,
            "max_participations": k,
            "min_separation": sep,
            "min_separation_tf_privacy": spec["tf_privacy_separation"],
            "rho": PROD_RHO,
        }
        for name in PRIVATE:
            start = time.perf_counter()
            mech = mechanism_for(name, config)
            sens2 = float(mech.sensitivity_squared())
            sigma = math.sqrt(sens2 / (2.0 * PROD_RHO))
            variance = sigma**2 * mech.prefix_variance()
            entry[name] = {
                "sensitivity_squared": sens2,
                "noise_multiplier": sigma,
                "prefix_rmse": float(math.sqrt(variance.mean())),
                "prefix_max_std": float(math.sqrt(variance.max())),
                "seconds": time.perf_counter() - start,
            }
            if name == "blt_dp_ftrl":
                params = mech.blt_params()
                coefficients = blt.blt_coefficients(params, rounds)
                entry[name]["buffers"] = params.to_dict()
                entry[name]["sensitivity_exact"] = blt.sensitivity_squared(
                    coefficients, k, sep
                ).exact
        tree, ours = entry["dp_ftrl"], entry["blt_dp_ftrl"]
        entry["blt_over_tree_rmse"] = ours["prefix_rmse"] / tree["prefix_rmse"]
        entry["blt_over_tree_max_error"] = ours["prefix_max_std"] / tree["prefix_max_std"]
        entry["gaussian_over_tree_rmse"] = entry["dp_fedavg"]["prefix_rmse"] / tree["prefix_rmse"]
        log(
            f"error {spec['name']}: noise tree {tree['noise_multiplier']:.2f}, blt "
            f"{ours['noise_multiplier']:.2f} ({params.buffers} buffers), gaussian "
            f"{entry['dp_fedavg']['noise_multiplier']:.2f}; blt/tree rmse "
            f"{entry['blt_over_tree_rmse']:.3f}"
        )
        out[spec["name"]] = entry
    return {
        "what": "noise multiplier for rho = 79/98 and prefix-sum RMSE over the rounds at it",
        "configs": out,
        "blt_over_tree_rmse": {name: e["blt_over_tree_rmse"] for name, e in out.items()},
        "blt_over_tree_rmse_max": max(e["blt_over_tree_rmse"] for e in out.values()),
    }


# --- data ------------------------------------------------------------------------------------


def split_digits():
    """Real digits: (train images [N, 8, 8] in 0..16, labels), (x_val, y_val), (x_test, y_test).

    Validation and test inputs are flat [M, 64] and scaled to [0, 1].
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32)
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
    test, val = order[:TEST_SIZE], order[TEST_SIZE : TEST_SIZE + VAL_SIZE]
    train = order[TEST_SIZE + VAL_SIZE :]

    def flat(idx):
        return images[idx].reshape(len(idx), -1) / PIXEL_MAX, labels[idx]

    return (images[train], labels[train]), flat(val), flat(test)


def build_population(images: np.ndarray, labels: np.ndarray, num_clients: int, seed: int):
    """Synthetic clients from augmented real images (`dp_ftrl.synthetic_population`;
    see the module docstring).

    Returns:
      (x float32 [C * E, 64] in [0, 1], y int64 [C * E], client_ids int64 [C * E]), E =
      `EXAMPLES_PER_CLIENT`, clients in consecutive blocks.
    """
    from frontier.components.dp_ftrl import synthetic_population

    x, y, ids = synthetic_population(
        images,
        labels,
        num_clients,
        EXAMPLES_PER_CLIENT,
        num_classes=NUM_CLASSES,
        pixel_max=PIXEL_MAX,
        alpha=ALPHA,
        shift=SHIFT,
        pixel_noise=PIXEL_NOISE,
        seed=seed,
    )
    return (x / PIXEL_MAX).reshape(len(y), -1).astype(np.float32), y, ids


def describe_population(y: np.ndarray, ids: np.ndarray, num_train_images: int) -> dict:
    per_client = y.reshape(-1, EXAMPLES_PER_CLIENT)
    distinct = np.array([np.unique(row).size for row in per_client])
    top_share = np.array([np.bincount(row).max() for row in per_client]) / EXAMPLES_PER_CLIENT
    return {
        "source": "scikit-learn digits (1797 real 8x8 images)",
        "augmented": True,
        "augmentation": (
            f"seeded (seed {POPULATION_SEED}): each example is a real training image of a "
            f"label drawn from the client's class proportions, shifted by a random integer in "
            f"[-{SHIFT}, {SHIFT}] per axis (zero fill) plus N(0, {PIXEL_NOISE}^2) pixel noise "
            f"(pixel scale 0..16), clipped to [0, 16], divided by 16"
        ),
        "why": "digits alone gives ~70 clients of 20 examples: too few for user-level DP",
        "non_iid": f"label skew: client class proportions ~ Dirichlet({ALPHA} * ones(10))",
        "num_clients": int(np.unique(ids).size),
        "examples_per_client": EXAMPLES_PER_CLIENT,
        "num_examples": int(y.size),
        "real_train_images": num_train_images,
        "copies_per_real_image": y.size / num_train_images,
        "mean_distinct_classes_per_client": float(distinct.mean()),
        "mean_top_class_share": float(top_share.mean()),
        "val": f"{VAL_SIZE} real images (clean, not augmented; only to pick server_lr)",
        "test": f"{TEST_SIZE} real images (clean, not augmented, never used to choose)",
        "caveat": (
            "each real training image appears in many synthetic clients: the user-level "
            "guarantee covers the synthetic clients of this simulation, not the original images"
        ),
    }


# --- 2. throughput ---------------------------------------------------------------------------


def bench_throughput(x, y, ids, reps: int) -> dict:
    import jax
    import jax.numpy as jnp
    from dp_ftrl_reference import round_delta_sum_loop  # beside this script

    from frontier.components.dp_ftrl.clients import pack_clients
    from frontier.components.dp_ftrl.model import init_params
    from frontier.components.dp_ftrl.rounds import round_delta_sum

    data = pack_clients(x, y, ids, LOCAL_BATCH)
    data = data._replace(x=jnp.asarray(data.x), y=jnp.asarray(data.y), mask=jnp.asarray(data.mask))
    params = init_params(x.shape[1], NUM_CLASSES, HIDDEN, 0)
    mean = np.zeros(x.shape[1], np.float32)
    var = np.ones(x.shape[1], np.float32)
    kwargs = dict(client_lr=CLIENT_LR, local_epochs=LOCAL_EPOCHS, batch_size=LOCAL_BATCH, clip=CLIP)
    rng = np.random.default_rng(0)
    out: dict = {
        "client": {
            "examples": EXAMPLES_PER_CLIENT,
            "features": int(x.shape[1]),
            "classes": NUM_CLASSES,
            "hidden_units": list(HIDDEN),
            "local_epochs": LOCAL_EPOCHS,
            "local_batch_size": LOCAL_BATCH,
            "clip": CLIP,
        }
    }
    with progress.Progress("dp_ftrl throughput", len(THROUGHPUT_CLIENTS) * reps, "rep") as shown:
        for k in THROUGHPUT_CLIENTS:
            clients = np.sort(rng.choice(data.x.shape[0], size=k, replace=False))
            key = jax.random.PRNGKey(k)
            round_args = (params, clients, key, data, mean, var)
            round_delta_sum(*round_args, **kwargs)  # compile
            round_delta_sum_loop(params, clients[:1], key, data, mean, var, **kwargs)  # compile
            vec_times, loop_times = [], []
            for _ in range(reps):
                for _ in range(VECTOR_CALLS_PER_REP):
                    start = time.perf_counter()
                    total_vec, norms_vec = round_delta_sum(*round_args, **kwargs)
                    vec_times.append(time.perf_counter() - start)
                start = time.perf_counter()
                total_loop, norms_loop = round_delta_sum_loop(*round_args, **kwargs)
                loop_times.append(time.perf_counter() - start)
                shown.update(1, clients=k)
            vec_s, loop_s = float(np.median(vec_times)), float(np.median(loop_times))
            scale = float(np.abs(total_loop).max())
            diff = float(np.abs(total_vec - total_loop).max()) / scale
            norm_diff = float(np.abs(norms_vec - norms_loop).max() / np.abs(norms_loop).max())
            out[str(k)] = {
                "vectorised_updates_per_s": k / vec_s,
                "loop_updates_per_s": k / loop_s,
                "speedup": loop_s / vec_s,
                "vectorised_s": vec_s,
                "loop_s": loop_s,
                "max_rel_diff": diff,
                "norms_max_rel_diff": norm_diff,
                "agree": diff < AGREE_TOL and norm_diff < AGREE_TOL,
            }
            log(
                f"throughput K={k}: vectorised {k / vec_s:,.0f}/s, loop {k / loop_s:,.0f}/s, "
                f"speedup {loop_s / vec_s:.1f}x, max rel diff {diff:.1e}"
            )
    return out


# --- 3. accuracy -----------------------------------------------------------------------------


def config_for(mechanism: str, noise_multiplier: float, server_lr: float, seed: int, rounds: int):
    from frontier.components.dp_ftrl import FederatedConfig

    return FederatedConfig(
        clients_per_round=CLIENTS_PER_ROUND,
        rounds=rounds,
        max_participations=participations(rounds),
        min_separation=MIN_SEPARATION,
        local_epochs=LOCAL_EPOCHS,
        local_batch_size=LOCAL_BATCH,
        client_lr=CLIENT_LR,
        server_lr=server_lr,
        momentum=MOMENTUM,
        clip=CLIP,
        noise_multiplier=noise_multiplier if mechanism != "fedavg" else 0.0,
        seed=seed,
        hidden_units=HIDDEN,
        delta=DELTA,
        eval_every=rounds,
        estimator="efficient",
    )


def participations(rounds: int) -> int:
    return math.ceil(rounds * CLIENTS_PER_ROUND / NUM_CLIENTS)


def run(pop, mechanism, noise_multiplier, server_lr, seed, rounds, eval_data):
    """(accuracy on eval_data after the last round, NoiseInfo)."""
    from frontier.components.dp_ftrl import train_federated

    x, y, ids = pop
    config = config_for(mechanism, noise_multiplier, server_lr, seed, rounds)
    result = train_federated(x, y, ids, config, mechanism, num_classes=NUM_CLASSES)
    acc, _ = result.evaluate(*eval_data)
    if len(result.short_rounds):
        log(f"  warning: {len(result.short_rounds)} short rounds")
    return acc, result.noise


def bench_accuracy(pop, val, test, rounds, seeds, server_lrs) -> dict:
    from frontier.components.dp_ftrl import (
        calibrate_noise_multiplier,
        gaussian_noise_multiplier_for_rho,
        tree_rho,
    )

    k = participations(rounds)
    settings: list[tuple[str, float | None]] = [("fedavg", None)]
    settings += [(m, eps) for m in PRIVATE for eps in EPSILONS]
    tree_nm = {
        eps: calibrate_noise_multiplier(eps, DELTA, rounds, k, MIN_SEPARATION) for eps in EPSILONS
    }
    log(
        f"accuracy: {rounds} rounds x {CLIENTS_PER_ROUND} clients, k={k}, "
        f"separation {MIN_SEPARATION}; tree noise multipliers "
        + ", ".join(f"eps {e}: {nm:.2f}" for e, nm in tree_nm.items())
    )

    def nm_of(eps):
        return 0.0 if eps is None else tree_nm[eps]

    # tuning: server_lr per mechanism and epsilon, on the validation set, one seed
    start = time.perf_counter()
    tuning: dict = {}
    chosen: dict = {}
    # One bar per phase over all its runs (settings x step sizes, settings x seeds).
    with progress.Progress(
        "dp_ftrl tune server_lr", len(settings) * len(server_lrs), "run"
    ) as shown:
        for mechanism, eps in settings:
            name = mechanism if eps is None else f"{mechanism}@{eps:g}"
            scores = {}
            for lr in server_lrs:
                shown.update(0, setting=name, server_lr=str(lr))
                scores[lr], _ = run(pop, mechanism, nm_of(eps), lr, TUNE_SEED, rounds, val)
                log(f"  tune {name} server_lr {lr}: val {scores[lr]:.3f}")
                shown.update(1)
            chosen[(mechanism, eps)] = max(server_lrs, key=lambda lr: (scores[lr], -lr))
            tuning[name] = {
                "val_accuracy": {str(lr): s for lr, s in scores.items()},
                "server_lr": chosen[(mechanism, eps)],
            }
    tune_s = time.perf_counter() - start

    # final runs on the test set
    start = time.perf_counter()
    results: dict = {m: {} for m in PRIVATE}
    noise: dict = {}
    with progress.Progress("dp_ftrl test runs", len(settings) * len(seeds), "run") as shown:
        for mechanism, eps in settings:
            lr = chosen[(mechanism, eps)]
            name = mechanism if eps is None else f"{mechanism}@{eps:g}"
            accs, info = [], None
            for seed in seeds:
                shown.update(0, setting=name, seed=seed)
                acc, info = run(pop, mechanism, nm_of(eps), lr, seed, rounds, test)
                accs.append(acc)
                shown.update(1)
            entry = {**mean_std(accs), "server_lr": lr}
            log(f"  {mechanism} eps {eps} lr {lr}: test {entry['mean']:.3f} +- {entry['std']:.3f}")
            if eps is None:
                results[mechanism] = entry
                continue
            results[mechanism][str(eps)] = entry
            item = noise.setdefault(str(eps), {})
            if mechanism == "dp_ftrl":
                item.update(
                    dp_ftrl_noise_multiplier=info.noise_multiplier,
                    rho=info.rho,
                    dp_ftrl_epsilon=info.epsilon,
                    dp_ftrl_prefix_noise_std_last=float(info.prefix_noise_std[-1]),
                    dp_ftrl_prefix_noise_std_max=float(info.prefix_noise_std.max()),
                )
            elif mechanism == "blt_dp_ftrl":
                item.update(
                    blt_noise_multiplier=info.noise_multiplier,
                    blt_rho=info.rho,
                    blt_epsilon=info.epsilon,
                    blt_buffers=info.blt,
                    blt_prefix_noise_std_last=float(info.prefix_noise_std[-1]),
                    blt_prefix_noise_std_max=float(info.prefix_noise_std.max()),
                )
            else:
                expected = gaussian_noise_multiplier_for_rho(
                    tree_rho(tree_nm[eps], rounds, k, MIN_SEPARATION), k
                )
                item.update(
                    dp_fedavg_noise_multiplier=info.noise_multiplier,
                    dp_fedavg_noise_multiplier_recomputed=expected,
                    dp_fedavg_rho=info.rho,
                    dp_fedavg_epsilon=info.epsilon,
                    dp_fedavg_round_noise_std=float(info.prefix_noise_std[0]),
                    dp_fedavg_accumulated_noise_std=float(info.prefix_noise_std[-1]),
                )
    final_s = time.perf_counter() - start

    beats: dict = {}
    for eps in EPSILONS:
        ftrl, fedavg = results["dp_ftrl"][str(eps)], results["dp_fedavg"][str(eps)]
        gap = ftrl["mean"] - fedavg["mean"]
        beats[str(eps)] = {
            "holds": gap > 0,
            "either_above_chance": max(ftrl["mean"], fedavg["mean"]) > CHANCE + ABOVE_CHANCE_MARGIN,
            "gap": gap,
            "gap_over_std": gap / spread if (spread := max(ftrl["std"], fedavg["std"])) else None,
        }
    blt_vs_tree: dict = {}
    for eps in EPSILONS:
        blt, ftrl = results["blt_dp_ftrl"][str(eps)], results["dp_ftrl"][str(eps)]
        gap = blt["mean"] - ftrl["mean"]
        blt_vs_tree[str(eps)] = {
            "holds": gap >= 0,
            "either_above_chance": max(blt["mean"], ftrl["mean"]) > CHANCE + ABOVE_CHANCE_MARGIN,
            "gap": gap,
            "gap_over_std": gap / spread if (spread := max(blt["std"], ftrl["std"])) else None,
        }
    by_epsilon = {m: {str(eps): results[m][str(eps)]["mean"] for eps in EPSILONS} for m in PRIVATE}
    test_labels = test[1]
    return {
        "settings": {
            "rounds": rounds,
            "clients_per_round": CLIENTS_PER_ROUND,
            "max_participations": k,
            "min_separation": MIN_SEPARATION,
            "hidden_units": list(HIDDEN),
            "local_epochs": LOCAL_EPOCHS,
            "local_batch_size": LOCAL_BATCH,
            "client_lr": CLIENT_LR,
            "clip": CLIP,
            "server_momentum": MOMENTUM,
            "nesterov": False,
            "estimator": "efficient",
            "delta": DELTA,
            "epsilons": list(EPSILONS),
            "seeds": list(seeds),
            "score": "test accuracy after the last round",
        },
        "tuning": {
            "what": "server_lr only, per mechanism and epsilon, on the validation set",
            "grid": list(server_lrs),
            "seed": TUNE_SEED,
            "runs": tuning,
        },
        "noise": noise,
        "chance": CHANCE,
        "test_majority_share": float(np.bincount(test_labels).max() / test_labels.size),
        "results": results,
        "accuracy_by_epsilon": by_epsilon,
        "dp_ftrl_beats_dp_fedavg": beats,
        "blt_at_least_tree": blt_vs_tree,
        "blt_at_least_tree_holds": all(
            b["holds"] for b in blt_vs_tree.values() if b["either_above_chance"]
        ),
        "expected_ordering_holds": all(
            b["holds"] for b in beats.values() if b["either_above_chance"]
        ),
        "seconds": {"tuning": tune_s, "final": final_s},
    }


def speed_and_scale(quick: bool, speed: bool, scale: bool) -> dict:
    """The last lines of `benchmarks/dp_ftrl_speed.py` and `benchmarks/dp_ftrl_scale.py`,
    each run as a child process (they set up JAX's devices and measure peak memory in
    processes of their own); their headline figures at the top level. quick: the
    production shape for 40 rounds."""
    here = os.path.dirname(os.path.abspath(__file__))
    out: dict = {}
    if speed:
        measured = run_json(os.path.join(here, "dp_ftrl_speed.py"))
        keys = ("flops_utilization", "speedup_vs_loop", "sharded_equals_unsharded")
        out.update({k: measured[k] for k in keys}, speed=measured)
    if scale:
        args = ["--rounds", "40"] if quick else []
        out["production_shape"] = run_json(os.path.join(here, "dp_ftrl_scale.py"), *args)[
            "production_shape"
        ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument(
        "--no-speed", action="store_true", help="skip benchmarks/dp_ftrl_speed.py (a minute)"
    )
    parser.add_argument(
        "--no-scale", action="store_true", help="skip benchmarks/dp_ftrl_scale.py (6-13 min)"
    )
    args = parser.parse_args()
    rounds, seeds, server_lrs = ROUNDS, SEEDS, SERVER_LRS
    accountant_reps, reps = ACCOUNTANT_REPS, THROUGHPUT_REPS
    if args.quick:
        rounds, seeds, server_lrs = QUICK["rounds"], QUICK["seeds"], QUICK["server_lrs"]
        accountant_reps, reps = QUICK["accountant_reps"], QUICK["reps"]
    wall = time.perf_counter()
    progress.show_lines()

    accountant = bench_accountant(accountant_reps)
    mechanism_error = bench_mechanism_error()

    (images, labels), val, test = split_digits()
    x, y, ids = build_population(images, labels, NUM_CLIENTS, POPULATION_SEED)
    population = describe_population(y, ids, len(labels))
    log(
        f"population: {population['num_clients']} clients, {population['num_examples']} "
        f"examples, {population['mean_distinct_classes_per_client']:.1f} classes per client"
    )

    throughput = bench_throughput(x, y, ids, reps)
    accuracy = bench_accuracy((x, y, ids), val, test, rounds, seeds, server_lrs)

    result = {
        "benchmark": "dp_ftrl",
        "quick": args.quick,
        "machine": MACHINE,
        "accountant": accountant,
        "mechanism_error": mechanism_error,
        "throughput": throughput,
        "accuracy": {"population": population, **accuracy},
        **speed_and_scale(args.quick, not args.no_speed, not args.no_scale),
    }
    result["wall_s"] = time.perf_counter() - wall
    print(json.dumps(result))


if __name__ == "__main__":
    main()
