"""DP-FTRL at production shape: 2,000 rounds of 6,500 clients over millions of users.

What is measured
----------------
`train_federated_source` (frontier's federated loop on a population it never holds) runs
the production shape of the Gboard deployment (Xu et al. 2023): 2,000 rounds of 6,500
clients, at most 6 participations per client, Gboard's minimum separation 313 (rounds
``y - x - 1``; frontier's 314), tree-aggregated DP-FTRL at noise multiplier 7.0 (rho 79/98,
epsilon 8.90 at delta 1e-10). The population is a `SyntheticClientSource`: clients made on
the fly from scikit-learn's digits (Dirichlet(0.5) label skew, shifts, pixel noise, 20
examples each; pixels divided by 16, a public constant), so nothing of it is held in memory.
The model is `benchmarks/dp_ftrl.py`'s: the 64-64-10 MLP, 2 local epochs of batch 10 at
step 0.5, clip 0.5, server momentum 0.9, server step 0.3. Every client of a round runs its
local SGD; the round is one jitted call per size bucket, sharded over the local devices.

Two runs, each in its own process (run to the end, the same settings and seeds):

* the population `--population` (default 2,200,000: at 6 participations each, at least
  13,000,000 / 6 = 2.17 million users are needed for every round to be full; a smaller
  population leaves rounds short, see `short_rounds`);
* a population 10 times smaller, for `rss_ratio_vs_tenth_population`: its peak resident
  memory over the tenth's (the goal is at most 1.2: memory does not grow with the users).
  The smaller population cannot fill its rounds (most slots stay empty), so its wall time
  says nothing about speed and is given for information only.

Per run: `wall_s` (the whole `train_federated_source` call, schedule draw and check
included), `peak_rss_mb` (the process's VmHWM from /proc, read at the end), `short_rounds`,
`client_updates` (slots filled), `client_updates_per_s`, `eval_accuracy` on 400 held-out
real digits (every 500 rounds and at the end) and epsilon.

The round is sharded over one single-threaded XLA CPU device per core (`use_cpu_cores`, see
`host_devices`); ``--xla-defaults`` runs it on JAX's default single CPU device instead.

Run:
    .venv/bin/python benchmarks/dp_ftrl_scale.py                 # production (about 25 min on 2 cores)
    .venv/bin/python benchmarks/dp_ftrl_scale.py --rounds 40     # a smoke run of the same shape

Output: progress lines on stderr, then one JSON object (the last line).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from children import run_json

ROUNDS = 2000
CLIENTS_PER_ROUND = 6500
POPULATION = 2_200_000
MAX_PARTICIPATIONS = 6
MIN_SEPARATION_TF_PRIVACY = 313  # Gboard's; frontier's is this + 1
NOISE_MULTIPLIER = 7.0
DELTA = 1e-10
EXAMPLES_PER_CLIENT = 20
PIXEL_MAX = 16.0
TEST_SIZE = 400
EVAL_EVERY = 500
SEED = 0
POPULATION_SEED = 1


def log(message: str) -> None:
    print(f"[dp_ftrl_scale] {message}", file=sys.stderr, flush=True)


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def child(population: int, rounds: int, clients_per_round: int, xla_defaults: bool) -> dict:
    """One run; returns its measurements."""
    from sklearn.datasets import load_digits

    from frontier.components.dp_ftrl import FederatedConfig, blt, use_cpu_cores
    from frontier.components.dp_ftrl.host_devices import THREADS_VARIABLE

    if not xla_defaults:
        use_cpu_cores()  # one single-threaded XLA device per core (`host_devices`)
    from frontier.components.dp_ftrl.client_store import ScaledClientSource, SyntheticClientSource
    from frontier.components.dp_ftrl.federated import train_federated_source

    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    test, train = order[:TEST_SIZE], order[TEST_SIZE:]
    source = ScaledClientSource(
        SyntheticClientSource(
            digits.images[train],
            digits.target[train],
            population,
            EXAMPLES_PER_CLIENT,
            num_classes=10,
            pixel_max=PIXEL_MAX,
            seed=POPULATION_SEED,
        ),
        PIXEL_MAX,
    )
    separation = blt.from_tf_privacy_separation(MIN_SEPARATION_TF_PRIVACY)
    config = FederatedConfig(
        clients_per_round=clients_per_round,
        rounds=rounds,
        # A short smoke run allows fewer participations than the production's 6.
        max_participations=min(MAX_PARTICIPATIONS, 1 + (rounds - 1) // separation),
        min_separation=separation,
        local_epochs=2,
        local_batch_size=10,
        client_lr=0.5,
        server_lr=0.3,
        momentum=0.9,
        clip=0.5,
        noise_multiplier=NOISE_MULTIPLIER,
        seed=SEED,
        hidden_units=(64,),
        delta=DELTA,
        eval_every=min(EVAL_EVERY, rounds),
    )
    eval_data = (digits.data[test].astype(np.float32) / PIXEL_MAX, digits.target[test])
    every = max(1, rounds // 20)

    def on_round(record):
        if (record["round"] + 1) % every == 0:
            log(f"population {population:,}: round {record['round'] + 1}/{rounds}")

    start = time.perf_counter()
    result = train_federated_source(source, config, "dp_ftrl", eval_data, on_round)
    wall = time.perf_counter() - start
    updates = int((result.schedule >= 0).sum())
    return {
        "population": population,
        "rounds": rounds,
        "clients_per_round": clients_per_round,
        "max_participations": config.max_participations,
        "min_separation": config.min_separation,
        "min_separation_tf_privacy": MIN_SEPARATION_TF_PRIVACY,
        "wall_s": wall,
        "peak_rss_mb": _peak_rss_mb(),
        "short_rounds": int(len(result.short_rounds)),
        "client_updates": updates,
        "client_updates_per_s": updates / wall,
        "eval_accuracy": result.history[-1]["eval_accuracy"],
        "epsilon": result.noise.epsilon,
        "rho": result.noise.rho,
        "devices": _devices(),
        "threads_per_device": os.environ.get(THREADS_VARIABLE, "all cores"),
    }


def _devices() -> list[str]:
    import jax

    return [str(d) for d in jax.local_devices()]


def _run_child(population: int, rounds: int, clients_per_round: int, xla_defaults: bool) -> dict:
    return run_json(
        os.path.abspath(__file__),
        "--child",
        f"--population={population}",
        f"--rounds={rounds}",
        f"--clients-per-round={clients_per_round}",
        *(["--xla-defaults"] if xla_defaults else []),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--clients-per-round", type=int, default=CLIENTS_PER_ROUND)
    parser.add_argument("--population", type=int, default=POPULATION)
    parser.add_argument(
        "--xla-defaults",
        action="store_true",
        help="JAX's default CPU device (one, over every core) instead of one per core",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape = (args.rounds, args.clients_per_round, args.xla_defaults)
    if args.child:
        print(json.dumps(child(args.population, *shape)))
        return
    wall = time.perf_counter()
    full = _run_child(args.population, *shape)
    log(f"full population: {full['wall_s']:.0f} s, {full['peak_rss_mb']:.0f} MB")
    tenth = _run_child(args.population // 10, *shape)
    log(f"tenth population: {tenth['wall_s']:.0f} s, {tenth['peak_rss_mb']:.0f} MB")
    result = {
        "benchmark": "dp_ftrl_scale",
        "production_shape": {
            **full,
            "rss_ratio_vs_tenth_population": full["peak_rss_mb"] / tenth["peak_rss_mb"],
            "tenth_population": tenth,
            "goal": {"wall_s_at_most": 1200, "rss_ratio_at_most": 1.2},
        },
        "machine": f"{os.cpu_count()} CPU cores, shared; JAX on CPU",
        "wall_s": time.perf_counter() - wall,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
