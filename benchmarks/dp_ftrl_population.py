"""DP-FTRL at population scale: the participation schedule and client reads at 1M+ clients.

Measures, in one run (`frontier.components.dp_ftrl.participation` and `.client_store`):

1. **Schedule** (`schedule_participation` then `check_schedule`) for the production shape:
   2,000 rounds of 6,500 clients, at most 6 participations, min separation 313 (frontier's
   convention: rounds x < y of a client satisfy y - x >= 313), over 1,000,000 clients, where
   rounds run short (2000 * 6500 / 1e6 = 13 participations would be needed on average, 6 are
   allowed: `short_rounds`, `fill` = filled slots / all slots), and over 2,200,000 clients,
   where they are full. Seconds of the draw and of the check.

2. **Reads per round**: median seconds to read one round of 6,500 clients (the schedule's
   rows) from a 1,000,000-client `SyntheticClientSource` (digits, 20 examples per client,
   made on the fly) and from a `ClientStore` of 100,000 clients (the synthetic population's
   first 100,000 clients written by `write_client_store`, read in rounds drawn with min
   separation 10 so that they are full; the page cache is warm, as just written); plus the
   store's write time.

3. **Memory**: peak RSS of a fresh process that draws a 50-round schedule and reads its 50
   rounds of 6,500 clients from a synthetic source of 1,000,000 clients, and the same for
   100,000 clients (both with min separation 10, so that all 50 rounds are full at 100,000);
   `rss_ratio` = the first over the second. Peak RSS is the process's VmHWM, with
   `resource.getrusage` maxrss beside it (see `vm_hwm_mb`). The process imports the dp_ftrl
   package (JAX) first, so `rss_growth_mb` (peak minus the RSS after imports and building
   the source) is reported too: what the schedule and the reads add.

Prints one JSON object as its last line. `--quick`: fewer rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

import numpy as np
from children import run_json

ROUNDS, CLIENTS_PER_ROUND, MAX_PARTICIPATIONS, MIN_SEPARATION = 2000, 6500, 6, 313
POPULATION, FULL_POPULATION, STORE_CLIENTS = 1_000_000, 2_200_000, 100_000
EXAMPLES_PER_CLIENT = 20
READ_ROUNDS, RSS_ROUNDS = 20, 50
READ_SEPARATION = 10  # for the 100k-client reads: 313 would leave rounds 16 on empty
MACHINE = "CPU only, 2 shared cores with other work running: absolute seconds are indicative"


def log(message: str) -> None:
    print(f"[dp_ftrl_population bench] {message}", file=sys.stderr, flush=True)


def digits_source(num_clients: int):
    from sklearn.datasets import load_digits

    from frontier.components.dp_ftrl.client_store import SyntheticClientSource

    digits = load_digits()
    return SyntheticClientSource(
        digits.images.astype(np.float32),
        digits.target,
        num_clients,
        EXAMPLES_PER_CLIENT,
        num_classes=10,
        pixel_max=16.0,
        seed=0,
    )


def bench_schedule(num_clients: int, rounds: int) -> dict:
    from frontier.components.dp_ftrl.participation import (
        check_schedule,
        schedule_participation,
        short_rounds,
    )

    t0 = time.perf_counter()
    s = schedule_participation(
        num_clients, rounds, CLIENTS_PER_ROUND, MAX_PARTICIPATIONS, MIN_SEPARATION, seed=0
    )
    t1 = time.perf_counter()
    check_schedule(s, num_clients, CLIENTS_PER_ROUND, MAX_PARTICIPATIONS, MIN_SEPARATION)
    t2 = time.perf_counter()
    out = {
        "num_clients": num_clients,
        "rounds": rounds,
        "draw_s": t1 - t0,
        "check_s": t2 - t1,
        "short_rounds": int(len(short_rounds(s))),
        "fill": float((s >= 0).mean()),
        "clients_used": int(np.unique(s[s >= 0]).size),
    }
    log(f"schedule {out}")
    return out, s


def time_reads(source, rows: np.ndarray) -> dict:
    times = []
    for row in rows:
        t0 = time.perf_counter()
        batch = source.read(row)
        times.append(time.perf_counter() - t0)
    return {
        "median_s": float(np.median(times)),
        "max_s": float(np.max(times)),
        "rounds": len(times),
        "examples_per_round": int(batch.sizes.sum()),
    }


def bench_reads(schedule: np.ndarray) -> dict:
    from frontier.components.dp_ftrl.participation import schedule_participation

    full_rows = schedule[:READ_ROUNDS]
    synthetic = digits_source(POPULATION)
    time_reads(synthetic, full_rows[:2])  # warm-up
    out = {"synthetic_1m": time_reads(synthetic, full_rows)}
    log(f"synthetic reads {out['synthetic_1m']}")

    from frontier.components.dp_ftrl.client_store import write_client_store

    small = digits_source(STORE_CLIENTS)
    batch = small.read(np.arange(STORE_CLIENTS))
    ids = np.repeat(np.arange(STORE_CLIENTS), batch.sizes)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        store = write_client_store(batch.x, batch.y, ids, os.path.join(tmp, "store"), 16)
        write_s = time.perf_counter() - t0
        del batch, ids
        rows = schedule_participation(  # full rounds (separation 313 empties 100k in 16)
            STORE_CLIENTS, READ_ROUNDS, CLIENTS_PER_ROUND, MAX_PARTICIPATIONS, READ_SEPARATION
        )
        time_reads(store, rows[:2])
        reads = time_reads(store, rows)
        check = store.read(rows[0])
        same = bool(np.array_equal(check.x, small.read(rows[0]).x))
        size_mb = (
            sum(
                os.path.getsize(os.path.join(tmp, "store", f))
                for f in os.listdir(os.path.join(tmp, "store"))
            )
            / 2**20
        )
    out["store_100k"] = {**reads, "write_s": write_s, "size_mb": size_mb, "equals_source": same}
    log(f"store reads {out['store_100k']}")
    return out


def rss_child(num_clients: int) -> None:
    """In a fresh process: draw a schedule, read its rounds; print RSS numbers as JSON."""
    import frontier.components.dp_ftrl  # noqa: F401 - the package as the trainer imports it
    from frontier.components.dp_ftrl.participation import schedule_participation

    source = digits_source(num_clients)
    base = vm_hwm_mb()
    schedule = schedule_participation(
        num_clients, RSS_ROUNDS, CLIENTS_PER_ROUND, MAX_PARTICIPATIONS, READ_SEPARATION
    )
    total = 0
    for row in schedule:
        total += int(source.read(row).sizes.sum())
    print(
        json.dumps(
            {
                "peak_rss_mb": vm_hwm_mb(),
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rss_after_imports_mb": base,
                "examples": total,
            }
        )
    )


def vm_hwm_mb() -> float:
    """This process's peak RSS (VmHWM). `getrusage`'s maxrss is reported beside it, but on
    Linux it also counts the parent's RSS at fork (kept across exec), so it is only a true
    measure when the parent is small, as it is here (the children run first)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_rss() -> dict:
    out = {}
    for n in (POPULATION, POPULATION // 10):
        child = run_json(os.path.abspath(__file__), "--rss-child", str(n))
        child["rss_growth_mb"] = child["peak_rss_mb"] - child["rss_after_imports_mb"]
        out[str(n)] = child
        log(f"rss {n} clients: {child}")
    big, small = out[str(POPULATION)], out[str(POPULATION // 10)]
    out["rss_ratio"] = big["peak_rss_mb"] / small["peak_rss_mb"]
    out["rss_growth_ratio"] = big["rss_growth_mb"] / max(small["rss_growth_mb"], 1e-9)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 rounds instead of 2000")
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return
    wall = time.perf_counter()
    rounds = 200 if args.quick else ROUNDS
    rss = bench_rss()  # first, while this process is small
    production, schedule = bench_schedule(POPULATION, rounds)
    reads = bench_reads(schedule)  # its first rounds are full
    del schedule
    full, _ = bench_schedule(FULL_POPULATION, rounds)
    result = {
        "benchmark": "dp_ftrl_population",
        "quick": args.quick,
        "machine": MACHINE,
        "config": {
            "rounds": rounds,
            "clients_per_round": CLIENTS_PER_ROUND,
            "max_participations": MAX_PARTICIPATIONS,
            "min_separation": MIN_SEPARATION,
            "examples_per_client": EXAMPLES_PER_CLIENT,
        },
        "schedule": {"production_1m": production, "full_rounds_2_2m": full},
        "reads": reads,
        "rss": rss,
        "wall_s": time.perf_counter() - wall,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
