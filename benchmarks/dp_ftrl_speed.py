"""DP-FTRL client-update speed on CPU: FLOP utilisation, speed-up over a per-client loop,
sharding over host devices, and the work bucketing by client size saves.

Everything is measured side by side in one run, on the small model of `benchmarks/dp_ftrl.py`
(MLP 64 -> 64 -> 10, clients of 20 examples, 2 local epochs, batch 10, client_lr 0.5, clip
0.5), from `frontier.components.dp_ftrl.rounds`:

1. **Dense matmul rate** of this machine: float32 n x n products (n in `MATMUL_SIZES`), both
   with XLA's defaults (one device whose thread pool spans every core: ``a @ a``, in a child
   process, since a process's pool size is fixed when its backend starts) and in this
   process, one product per host device at once (``shard_map``), before and after the client
   updates. The denominator is the largest of all these rates.
2. **Vectorised client updates**: `round_delta_sum` on rounds of `CLIENTS` and of
   `PROD_CLIENTS` (the production round) clients, for each client chunk in `CHUNKS`, on one
   device and sharded over every host device, the population placed on the devices once
   (`place_population`, as `train_federated` does). The script makes one single-threaded
   XLA host device per core (`host_devices.use_cpu_cores`: a device count in XLA_FLAGS and
   ``NPROC=1``; unless XLA_FLAGS already sets a count): a vmapped batch of small matmuls
   runs on one thread, so the cores are only used whole through `shard_map` over host
   devices, and more threads per device only make the devices wait on each other.
   ``sharded_equals_unsharded``: the sums agree to 1e-5 (relative to the largest
   coordinate).
3. **Per-client loop**: one jitted call of the same local SGD per client
   (`benchmarks/dp_ftrl_reference.py`, `LOOP_CLIENTS` clients), timed interleaved with the
   vectorised round; ``speedup_vs_loop`` = vectorised clients/s (best configuration) over
   loop clients/s.
4. **Bucketing**: `packed_round_delta_sum` on a round of `SKEWED_CLIENTS` clients with
   skewed sizes (log-normal, median about 15 examples, a few hundred for the largest),
   bucketed by padded length versus padded to the longest: seconds, padded example slots,
   and the sums agree.

FLOPs: model FLOPs counted analytically per example and epoch: the matmuls of the forward
pass ``2 (D H + H C)``, of the backward pass ``2 (D H + H C)`` (weight gradients) plus
``2 H C`` (the hidden layer's input gradient; none for the inputs): ``4 D H + 6 H C`` =
20,224 for D 64, H 64, C 10 (``exact``); the common ``6 x params`` rule gives 28,860
(``six_n``, reported beside it). ``flops_utilization`` = exact model FLOP/s of the client
updates / the dense matmul FLOP/s of step 1.

What limited the vectorised path (`local_sgd` vmapped; still the path of users' own
modules), measured on this 2-core AMD EPYC, one core, a chunk of 256 clients, each part timed
as its own jitted call: the batch orders 0.5 ms, the gather of the batches 0.2 ms, the 4 SGD
steps 7 ms, flattening + clipping + summing the deltas 2.3 ms. A step is, per client,
[10 x 64] @ [64 x 64] matmuls with that client's own weights (XLA CPU hands these batched
dots to oneDNN, about 60-75 GFLOP/s on one core) plus the first layer's gradient and update,
which reads and writes every client's 16 KB kernel each step (about 0.35 ms per step for 256
clients): memory traffic and per-operation overhead, not FLOPs. The cores are used whole only
through host devices and `shard_map` (1.0-1.4x with 2 devices, depending on other load).

The built-in MLP now takes `rounds._mlp_chunk_sum` (clients of at most 64 padded examples):
no per-client first-layer weights. With X a client's 20 standardised examples plus a column
of ones, its first layer (kernel over bias) after any steps is ``W0 - lr X^T A`` (A [20 x 64]
the accumulated pre-activation gradients per example), so each step's first layer is the
rows of one shared-weight GEMM ``X W0`` over the chunk's examples minus ``lr G[batch] A``
(G = X X^T, a [20 x 20] Gram matrix per client, formed once), the per-step first-layer
gradient is never formed, the clipped sum of the first-layer deltas (kernel and bias) is one
GEMM over the chunk and its norm ``lr^2 sum(G * A A^T)``. Exact: agrees with the vmapped
path to 2-4e-7 (relative to the largest coordinate; norms 1-3e-7).

Profile of that first form (commit a5c1bc6), one device, a chunk of 256 clients, each part
its own jitted call (medians, a partly loaded machine): gather of the chunk 0.1 ms, batch
orders 0.53 ms (threefry in XLA's rolled loop about 0.12, the counting ranks the rest),
standardise + the GEMM X W0 + the Gram matrices 0.92 ms (0.08 + 0.45 + 0.32), step inputs
0.2 ms, the 4 steps (``lax.scan``) 5.5 ms, norms + clipped sums 1.56 ms: 8.5 ms in all
(the vmapped `local_sgd` 10.2 ms). XLA's per-op profile (``--xla_cpu_enable_xprof_traceme``
with jax.profiler) showed where: each step is 5 batched oneDNN matmuls of [10 x 64]-sized
blocks (the correction ``G[batch] A``, the second layer's forward, its two backward
products, and the one-hot product that scatters the step's gradients back to example
order), 0.13-0.19 ms each, about 0.55 us per client plus 65 us per call; oneDNN's softmax
custom call 0.12-0.15 ms per step on [256 x 10 x 10]; and in the tail two slow XLA
reductions: the first layer's bias sum over the chunk's 5,120 rows (a reduce-window, 0.3
ms) and the second layer's ``scale @ dW`` (a vector-matrix product turned into a loop
fusion, 0.2 ms).

Now (same harness, interleaved): the steps are unrolled in slot order (the order the steps
visit the examples; up to 64 slots = epochs x padded examples, else the ``lax.scan`` form):
step s's correction is ``G[its rows, earlier slots] @ [the earlier steps' gradients]``, so
the per-step one-hot scatter is gone (each epoch's gradients go back to example order once,
by its inverse permutation, a gather) and step 0 has no correction: 15 batched matmuls
instead of 20. The softmax is ``e * (1 / sum e)`` (XLA fuses it; 0.08 ms instead of 0.12-
0.15), the ones column puts the first layer's bias into the GEMM X W0, the Gram matrix and
the clipped-sum GEMM (no reduce-window), and the second layer's clipped sum is a multiply-
and-reduce (0.09 ms). Chunk of 256, one device: 7.1-7.2 ms instead of 8.7-9.0 ms (1.2x;
1.33x in a quieter moment). Whole rounds of 2,048 clients, three interleaved runs (medians
of 9; the machine partly loaded by other work, so two devices did not reach the quiet 67k):
one device 1.19-1.30x (e.g. 32k vs 27k clients/s, chunk 256; chunk 512 now as good or
better), two devices 1.14-1.39x at chunk 256 (43k vs 31k, 47k vs 41k, 40.5k vs 32.5k); best
configuration against best: 1.14-1.35x. Tried and not kept: the
later layers' kernels kept transposed (microbenchmarks favoured the [C x H] layout for two
of the three products; in the whole function 0.9x), the unrolled steps with the clients in
the minor (vector) axis and every small product written out as multiply-adds (10x slower:
XLA's loop fusions do not vectorise them), a [c, T, H] gradient buffer updated in place with
full-width masked corrections (0.91x of the kept form), the correction split per earlier
step (no gain), ``--xla_cpu_use_mkl_dnn=false`` (slower), threefry with XLA's unrolled
lowering (bit-identical, saves only about 0.08 ms of 8 and needs jax internals), the
epochs' inverse permutations taken from the order computation instead of recounted, with
per-epoch concatenations (1.02-1.06x: under the 1.1x bar for a change).

Earlier measurements of the first form: interleaved in one process, 2,048 clients, medians
of 7: one device 43k vs 32k clients/s (chunk 256, 1.36x over the vmapped path), two devices
67k vs 40k (1.69x) when the machine was otherwise quiet; 31k vs 25k (1.2x) with one core
loaded by other work. Tried and not kept then (slower than the vmapped path, same harness): a
hand-derived forward/backward with per-client weights (0.83x; 0.4x with the steps unrolled,
where XLA duplicates fused producers), the first step's forward as one shared-weight GEMM
(no gain), the small contractions as broadcast-multiply-reduce fusions (2-5 GFLOP/s) or
unrolled over the batch axis (no faster than the dot); the low-rank form with its
corrections unrolled over example-order blocks (0.45x) or outside a ``lax.scan`` (slower).
XLA flags (``--xla_cpu_use_mkl_dnn=false``, ``--xla_cpu_multi_thread_eigen=false``,
``--xla_cpu_enable_fast_math``, ``--xla_cpu_prefer_vector_width=512``, OMP_NUM_THREADS=1,
KMP_BLOCKTIME=0) changed nothing beyond the run-to-run noise; ``--xla_cpu_use_thunk_runtime``
fails (custom-call not supported); 4 host devices on 2 cores: slower. The per-client loop is
bound by one jitted call per client (about 0.5 ms of dispatch), so ``speedup_vs_loop``
follows the vectorised rate. Earlier full runs of this script (each host device with XLA's
default thread pool over every core): with the first form, one core partly
loaded: flops_utilization 0.306, speedup_vs_loop 29.5 (58k clients/s, 2 devices, chunk 256;
but the matmul measured only 154 GFLOP/s, the load lowering it more than the client rate);
with the current form on an otherwise idle machine, two runs: 0.208 and 0.225 (50.5k and
59.9k clients/s; matmul 197 and 216 GFLOP/s; six_n 0.296 and 0.321), speedup_vs_loop 26.3
and 34.3. So the 0.3 goal is not met on this CPU by the exact count: the client rate would
need about 80k clients/s. Chunks of 1,024 and 2,048 were tried in a third run and ran at
half the rate of 512 (26k vs 42-53k clients/s: a chunk's per-client state no longer fits the
caches), so `CHUNKS` stops at 512. A later, quieter day: 0.217 (56.8k clients/s: one device
42.5k, two 1.34x that; matmul 211 GFLOP/s). Rounds of 6,500 clients (the production round)
instead of 2,048, same day: 0.289 in one run (72.7k clients/s, chunk 256) and 0.229 in the
next (61.7k, with the population put on both devices beforehand, which gave 0.229 at 2,048
clients too): within this machine's noise, not a gain from the round's size, so `CLIENTS`
stayed at 2,048.

**One single-threaded device per core** (now). In those runs each host device had XLA's
default intra-op pool of every core: the two devices split each small product over both
threads and waited on each other, so two devices ran only 1.1-1.4x one, while the same work
in two separate processes, one pinned to each core, ran 52k clients/s each (104k together).
With ``NPROC=1`` (`host_devices`) and the population placed on both devices once (it was
copied to the second device on every call, 3.7 ms of a 30 ms round of 2,048), two runs of
this script, each followed by one with the earlier setting
(``XLA_FLAGS=--xla_force_host_platform_device_count=2``, so XLA's default pool), same day:
flops_utilization 0.346 and 0.350 (87k and 92k clients/s; rounds of 6,500, chunk 128;
sharding 1.77x and 1.86x) against 0.252 and 0.260 (best 66k and 70k; sharding 1.14-1.37x);
speedup_vs_loop 47 and 51 against 41 and 36. Rounds of 2,048 reach 0.28-0.30 (76-78k): a
call has about 3 ms of fixed cost (dispatch, argument transfers, the cross-device sum),
which a round of 6,500 spreads over three times the clients. The headline is the best
configuration, the production round; the JSON gives each round size's and device count's
best beside it (``best_by_devices_and_round``). All nine runs of that day, in order: 0.354,
0.346, 0.350, 0.370, 0.308, 0.333, 0.352, 0.283, 0.320 (the 5th to 7th inside
`benchmarks/dp_ftrl.py`): median 0.346; in the 0.283 run two devices ran only 1.51x one.

Output: progress to stderr; the last stdout line is one JSON object:
  benchmark, machine (cores, devices, threads per device, load caveat), wall_s
  matmul          gflops_by_n {one_device_all_cores, here, here_after: {n: GFLOP/s}},
                  best_gflops (the largest)
  flops_per_client  exact and six_n (per client update: per-example count x 20 x 2)
  vectorised      per devices ("1", "all"), chunk and round size: clients_per_s; best
                  {devices, chunk, clients_per_round, clients_per_s, seconds_per_round};
                  best_by_devices_and_round {clients_per_s, flops_utilization}
  loop            clients_per_s, clients
  speedup_vs_loop, flops_utilization (the best configuration), flops_utilization_six_n,
                  sharded_equals_unsharded (with max_rel_diff), sharding_speedup per round
                  size (all devices / one, best chunks)
  production      rounds 2000 x clients 6500: client_updates, projected_s (client
                  computation only, at the best measured rate), goal_s 1200
  bucketing       sizes summary, padded_slots bucketed / unbucketed, seconds of each,
                  work_saved (1 - bucketed / unbucketed seconds), agree
  goals           flops_utilization >= 0.3, speedup_vs_loop >= 20: met or not

Run: `nice -n 10 .venv/bin/python benchmarks/dp_ftrl_speed.py` (about a minute on 2 cores;
other work on the machine lowers every rate, so read the ratios, which are measured side by
side).
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.experimental.shard_map import shard_map  # noqa: E402
from jax.sharding import Mesh, PartitionSpec  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from children import run_json  # noqa: E402
from dp_ftrl_reference import round_delta_sum_loop  # noqa: E402

from frontier.components.dp_ftrl.host_devices import (  # noqa: E402
    DEVICE_COUNT_FLAG,
    THREADS_VARIABLE,
    available_cores,
    cpu_device_environment,
)

CORES = available_cores()
MATMUL_ONLY = "--matmul" in sys.argv  # the child process of `matmul_gflops_all_cores`
if not MATMUL_ONLY and DEVICE_COUNT_FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ.update(cpu_device_environment(CORES))  # before JAX starts its backend

from frontier.components.dp_ftrl.clients import bucket_clients, pack_clients  # noqa: E402
from frontier.components.dp_ftrl.model import init_params  # noqa: E402
from frontier.components.dp_ftrl.rounds import (  # noqa: E402
    packed_round_delta_sum,
    place_population,
    round_delta_sum,
)

FEATURES, HIDDEN, CLASSES = 64, 64, 10
EXAMPLES, LOCAL_EPOCHS, LOCAL_BATCH, CLIENT_LR, CLIP = 20, 2, 10, 0.5, 0.5
CLIENTS = 2048  # clients of a timed round (the loop's, the bucketing's chunk choice)
CHUNKS = (64, 128, 256, 512)
LOOP_CLIENTS = 256
REPS = 7
MATMUL_SIZES = (512, 1024, 2048)
SKEWED_CLIENTS = 1024
PROD_ROUNDS, PROD_CLIENTS, PROD_GOAL_S = 2000, 6500, 1200
ROUND_SIZES = (CLIENTS, PROD_CLIENTS)  # clients of the timed rounds
LOCAL = dict(client_lr=CLIENT_LR, local_epochs=LOCAL_EPOCHS, batch_size=LOCAL_BATCH, clip=CLIP)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def matmul_gflops(devices=None) -> dict[int, float]:
    """GFLOP/s of float32 n x n products: one on the default device, or one per device of
    `devices` at once (a ``shard_map`` over them), by n."""
    out = {}
    if devices is None or len(devices) == 1:
        dot, copies = jax.jit(lambda a: a @ a), 1
    else:
        spec = PartitionSpec("d")
        dot = jax.jit(
            shard_map(
                lambda b: jnp.einsum("bij,bjk->bik", b, b),
                Mesh(np.array(devices), ("d",)),
                in_specs=spec,
                out_specs=spec,
            )
        )
        copies = len(devices)
    for n in MATMUL_SIZES:
        a = np.random.default_rng(n).normal(size=(n, n)).astype(np.float32)
        a = jnp.asarray(a if copies == 1 else np.stack([a] * copies))
        dot(a).block_until_ready()
        reps = max(3, int(2e10 // (2 * n**3)))
        best = np.inf
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(reps):
                r = dot(a)
            r.block_until_ready()
            best = min(best, (time.perf_counter() - start) / reps)
        out[n] = copies * 2 * n**3 / best / 1e9
    return out


def matmul_gflops_all_cores() -> dict[int, float]:
    """`matmul_gflops` with XLA's defaults (one device, a thread pool over every core): in a
    child process, since the thread pool's size is fixed when this process's backend starts."""
    env = {k: v for k, v in os.environ.items() if k != THREADS_VARIABLE}
    env["XLA_FLAGS"] = " ".join(
        f for f in env.get("XLA_FLAGS", "").split() if not f.startswith(DEVICE_COUNT_FLAG)
    )
    child = run_json(os.path.abspath(__file__), "--matmul", env=env)
    return {int(n): g for n, g in child.items()}


def timed(fn, reps=REPS):
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), float(np.min(times))


def main() -> None:
    wall = time.perf_counter()
    devices = jax.local_devices()
    threads = os.environ.get(THREADS_VARIABLE, "all cores")
    log(f"{len(devices)} host devices ({THREADS_VARIABLE}={threads}), {CORES} cores")
    mm = {"one_device_all_cores": matmul_gflops_all_cores(), "here": matmul_gflops(devices)}
    best_mm = max(g for by_n in mm.values() for g in by_n.values())
    for name, by_n in mm.items():
        log(f"matmul {name}: {', '.join(f'{n}: {g:.0f}' for n, g in by_n.items())} GFLOP/s")

    rng = np.random.default_rng(0)
    n_pop = max(ROUND_SIZES) + 16
    ids = np.repeat(np.arange(n_pop), EXAMPLES)
    x = rng.uniform(0, 1, size=(ids.size, FEATURES)).astype(np.float32)
    y = rng.integers(0, CLASSES, size=ids.size)
    data = pack_clients(x, y, ids, LOCAL_BATCH)
    # The population is put on the devices once, as `train_federated` does.
    placed = {"1": place_population(data, devices[:1]), "all": place_population(data, devices)}
    params = init_params(FEATURES, CLASSES, (HIDDEN,), 0)
    mean, var = np.zeros(FEATURES, np.float32), np.ones(FEATURES, np.float32)
    order = rng.permutation(n_pop)
    clients = order[:CLIENTS]
    key = jax.random.PRNGKey(1)

    configs = [(d, c, k) for k in ROUND_SIZES for d in ("1", "all") for c in CHUNKS]
    run = {}
    for d, c, k in configs:
        devs = devices[:1] if d == "1" else devices
        run[d, c, k] = lambda devs=devs, c=c, k=k, d=d: round_delta_sum(
            params, order[:k], key, placed[d], mean, var, client_chunk=c, devices=devs, **LOCAL
        )
    results = {cfg: fn() for cfg, fn in run.items()}  # compile
    loop_args = (key, placed["1"], mean, var)
    round_delta_sum_loop(params, clients[:1], *loop_args, **LOCAL)  # compile
    times = {cfg: [] for cfg in configs}
    loop_times = []
    for rep in range(REPS):
        for cfg, fn in run.items():
            start = time.perf_counter()
            fn()
            times[cfg].append(time.perf_counter() - start)
        start = time.perf_counter()
        loop_total, _ = round_delta_sum_loop(params, clients[:LOOP_CLIENTS], *loop_args, **LOCAL)
        loop_times.append(time.perf_counter() - start)
        log(f"rep {rep + 1}/{REPS}")
    mm["here_after"] = matmul_gflops(devices)  # the matmul again, after the client updates
    best_mm = max(g for by_n in mm.values() for g in by_n.values())
    rates = {cfg: cfg[2] / float(np.median(ts)) for cfg, ts in times.items()}
    best_cfg = max(rates, key=rates.get)
    best_by = {
        (d, k): max(r for (dd, _, kk), r in rates.items() if (dd, kk) == (d, k))
        for d in ("1", "all")
        for k in ROUND_SIZES
    }
    loop_rate = LOOP_CLIENTS / float(np.median(loop_times))

    def rel_diff(cfg):
        """Largest difference of `cfg`'s sum from one device's on the same round (first
        chunk), relative to the largest coordinate."""
        ref = results["1", CHUNKS[0], cfg[2]][0]
        return float(np.abs(results[cfg][0] - ref).max() / np.abs(ref).max())

    shard_diff = max(rel_diff(cfg) for cfg in configs if cfg[0] == "all")
    sub, _ = round_delta_sum(params, clients[:LOOP_CLIENTS], *loop_args, **LOCAL)
    loop_diff = float(np.abs(sub - loop_total).max() / np.abs(loop_total).max())

    per_example = {
        "exact": 4 * FEATURES * HIDDEN + 6 * HIDDEN * CLASSES,
        "six_n": 6 * (FEATURES * HIDDEN + HIDDEN + HIDDEN * CLASSES + CLASSES),
    }
    per_client = {k: v * EXAMPLES * LOCAL_EPOCHS for k, v in per_example.items()}
    best_rate = rates[best_cfg]

    def utilisation(rate, count="exact"):
        return rate * per_client[count] / (best_mm * 1e9)

    util, util_six = utilisation(best_rate), utilisation(best_rate, "six_n")
    speedup = best_rate / loop_rate
    log(
        f"vectorised best {best_rate:,.0f} clients/s {best_cfg}, "
        + ", ".join(f"{d} device(s) x {k}: {r:,.0f}" for (d, k), r in best_by.items())
        + f"; loop {loop_rate:,.0f}/s: speedup {speedup:.1f}x, utilisation {util:.3f}"
    )

    # --- bucketing on skewed sizes ---
    sizes = np.clip(np.round(rng.lognormal(np.log(15), 1.0, SKEWED_CLIENTS)), 1, 400).astype(int)
    sk_ids = np.repeat(np.arange(SKEWED_CLIENTS), sizes)
    sk_x = rng.uniform(0, 1, size=(sk_ids.size, FEATURES)).astype(np.float32)
    sk_y = rng.integers(0, CLASSES, size=sk_ids.size)
    sk_args = (params, sk_x, sk_y, sizes, np.arange(SKEWED_CLIENTS), key, mean, var)
    best_chunk = best_cfg[1]

    def packed(bucketed):
        return packed_round_delta_sum(*sk_args, bucketed=bucketed, client_chunk=best_chunk, **LOCAL)

    b_total, _ = packed(True)
    u_total, _ = packed(False)
    b_s, _ = timed(lambda: packed(True), 3)
    u_s, _ = timed(lambda: packed(False), 3)
    slots = {
        name: int(sum(b.pad * b.slots.size for b in bucket_clients(sizes, LOCAL_BATCH, flag)))
        for name, flag in (("bucketed", True), ("unbucketed", False))
    }
    bucket_diff = float(np.abs(b_total - u_total).max() / np.abs(u_total).max())
    log(f"bucketing: {b_s:.2f} s vs {u_s:.2f} s unbucketed ({slots})")

    out = {
        "benchmark": "dp_ftrl_speed",
        "machine": {
            "cores": CORES,
            "host_devices": len(devices),
            "threads_per_device": threads,
            "caveat": "shared machine: other processes lower every rate; ratios are side by side",
        },
        "model": {
            "layers": [FEATURES, HIDDEN, CLASSES],
            "examples_per_client": EXAMPLES,
            "local_epochs": LOCAL_EPOCHS,
            "local_batch_size": LOCAL_BATCH,
            "clip": CLIP,
        },
        "matmul": {
            "gflops_by_n": {
                name: {str(n): g for n, g in by_n.items()} for name, by_n in mm.items()
            },
            "best_gflops": best_mm,
            "note": "one_device_all_cores: XLA's defaults, in a child process; here: one "
            "product per device of this run at once; best_gflops: the largest of all",
        },
        "flops_per_client": per_client,
        "flops_formula": {
            "exact": "examples x epochs x (4 D H + 6 H C): forward + backward matmuls",
            "six_n": "examples x epochs x 6 x parameters",
        },
        "vectorised": {
            "clients_per_round": list(ROUND_SIZES),
            "clients_per_s": {
                f"{d} devices, chunk {c}, round {k}": r for (d, c, k), r in rates.items()
            },
            "best": {
                "devices": len(devices) if best_cfg[0] == "all" else 1,
                "chunk": best_cfg[1],
                "clients_per_round": best_cfg[2],
                "clients_per_s": best_rate,
                "seconds_per_round": best_cfg[2] / best_rate,
            },
            "best_by_devices_and_round": {
                f"{d} devices, round {k}": {"clients_per_s": r, "flops_utilization": utilisation(r)}
                for (d, k), r in best_by.items()
            },
        },
        "loop": {"clients_per_s": loop_rate, "clients": LOOP_CLIENTS, "max_rel_diff": loop_diff},
        "speedup_vs_loop": speedup,
        "flops_utilization": util,
        "flops_utilization_six_n": util_six,
        "model_gflops": best_rate * per_client["exact"] / 1e9,
        "sharded_equals_unsharded": shard_diff < 1e-5,
        "sharded_max_rel_diff": shard_diff,
        "sharding_speedup": {
            f"round {k}": best_by["all", k] / best_by["1", k] for k in ROUND_SIZES
        },
        "production": {
            "rounds": PROD_ROUNDS,
            "clients_per_round": PROD_CLIENTS,
            "client_updates": PROD_ROUNDS * PROD_CLIENTS,
            "projected_s": PROD_ROUNDS * PROD_CLIENTS / best_rate,
            "goal_s": PROD_GOAL_S,
            "note": "client computation only (no data reading, noise or server step)",
        },
        "bucketing": {
            "clients": SKEWED_CLIENTS,
            "sizes": {
                "median": float(np.median(sizes)),
                "p90": float(np.percentile(sizes, 90)),
                "max": int(sizes.max()),
                "total_examples": int(sizes.sum()),
            },
            "buckets": [
                {"pad": b.pad, "clients": int(b.slots.size)}
                for b in bucket_clients(sizes, LOCAL_BATCH)
            ],
            "padded_slots": slots,
            "bucketed_s": b_s,
            "unbucketed_s": u_s,
            "work_saved": 1 - b_s / u_s,
            "max_rel_diff": bucket_diff,
            "agree": bucket_diff < 1e-5,
        },
        "goals": {
            "flops_utilization_at_least_0.3": util >= 0.3,
            "speedup_vs_loop_at_least_20": speedup >= 20,
        },
        "wall_s": time.perf_counter() - wall,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    if MATMUL_ONLY:
        print(json.dumps(matmul_gflops()))
    else:
        main()
