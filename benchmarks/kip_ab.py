"""KIP's step loop at an earlier revision against the working tree, interleaved in one process.

What is measured
----------------
`distill.kip` as it stands at `--rev` (its `components/kip/distill.py`, read
with `git show`, loaded as a module beside the current one; everything it
imports is the working tree's) and as it stands now, on scikit-learn digits
(the 1,437-row train split of `benchmarks/kip.py`, raw pixels, `kip`'s own
standardisation), `--ipc` images per class, 1,000 Adam steps, seed 0. Each
repetition runs the old then the new version; steps per second are counted
from step 50 (the end of the first compiled call, which includes
compilation) to the last step. The two versions draw the same batches, so
their supports must be equal; the result says whether they are.

Use it when a change touches `distill.py`'s host-side code, to show that the
compiled loop's speed did not move (machines here are shared: compare the
medians of interleaved runs, not a run against an old figure).

Run:
    .venv/bin/python benchmarks/kip_ab.py --rev 7a24c0c --ipc 1

Output: progress lines, then one JSON object: per-version steps/s of each
repetition, their medians, new / old, and `same_support`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

from frontier.components.common import progress

REPO = pathlib.Path(__file__).resolve().parents[1]
STEPS = 1000
FIRST_CALL = 50  # kip's default steps_per_call


def _old_distill(rev: str):
    """`components/kip/distill.py` at `rev`, imported as module `distill_at_rev`."""
    source = subprocess.run(
        ["git", "show", f"{rev}:components/kip/distill.py"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = pathlib.Path(tempfile.mkdtemp()) / "distill_at_rev.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("distill_at_rev", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _steps_per_s(kip_module, x, y, ipc: int):
    marks = {}

    def on_step(step: int, loss: float, accuracy: float) -> None:
        if step in (FIRST_CALL, STEPS):
            marks[step] = time.perf_counter()

    result = kip_module.kip(x, y, 10, images_per_class=ipc, steps=STEPS, seed=0, on_step=on_step)
    return (STEPS - FIRST_CALL) / (marks[STEPS] - marks[FIRST_CALL]), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", required=True, help="the git revision to compare with")
    parser.add_argument("--ipc", type=int, default=1, help="images per class")
    parser.add_argument("--reps", type=int, default=8, help="interleaved repetitions")
    args = parser.parse_args()
    progress.show_lines()

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from frontier.components.kip import distill as new

    old = _old_distill(args.rev)
    digits = load_digits()
    x, _, y, _ = train_test_split(
        digits.data.astype(np.float32),
        digits.target,
        test_size=360,
        stratify=digits.target,
        random_state=0,
    )
    rates: dict[str, list[float]] = {"old": [], "new": []}
    same = True
    for rep in progress.track(range(args.reps), f"kip_ab ipc {args.ipc}", unit="rep"):
        old_rate, old_result = _steps_per_s(old, x, y, args.ipc)
        new_rate, new_result = _steps_per_s(new, x, y, args.ipc)
        rates["old"].append(old_rate)
        rates["new"].append(new_rate)
        same = same and np.array_equal(old_result.x, new_result.x)
        progress.write(
            f"[kip_ab] rep {rep}: old {old_rate:.0f}, new {new_rate:.0f} steps/s", sys.stdout
        )
    medians = {k: float(np.median(v)) for k, v in rates.items()}
    print(
        json.dumps(
            {
                "benchmark": "kip_ab",
                "rev": args.rev,
                "ipc": args.ipc,
                "steps": STEPS,
                "steps_per_s": {k: [round(r, 1) for r in v] for k, v in rates.items()},
                "median_steps_per_s": {k: round(v, 1) for k, v in medians.items()},
                "new_over_old": round(medians["new"] / medians["old"], 3),
                "same_support": bool(same),
            }
        )
    )


if __name__ == "__main__":
    main()
