"""The Trainer at scale: its memory at N and 8N examples, its training speed
against the stock TFX Trainer's and CIW's step time against cross-entropy's
on the same Examples, side by side in one run, and the bytes per image of
the two Examples layouts.

The data
--------
Synthetic 28x28 grayscale images (784 float32 features, 10 classes: a
class-dependent blob plus seeded noise, so the model has something to
learn), written as frontier `Examples` (GZIP TFRecords of `tf.Example`, 8
shards) with N and with 8N training examples and 1,000 eval examples.

Memory
------
For each size, the Trainer's executor runs in a fresh Python process (the
built-in MLP, one hidden layer of 64, batch 256, one epoch bounded by
`train_steps` so both sizes take the same number of gradient steps; the
checking pass and the final metrics read the whole split), and the process
reports its own peak resident memory (`VmHWM` of /proc/self/status). The
default N (80,000) makes the 8N split's float32 features 2.0 GB, more than
the executor could hold beside TensorFlow if it loaded the split.
Reported: peak RSS in MB for N and 8N, their ratio `rss_ratio_8n_over_n`
(the target is at most 1.3: memory does not grow with the data), the
executor's wall time per size, and the bytes of the split per example.

Speed against the stock TFX Trainer
-----------------------------------
One user model, two Trainers: a small ConvNet (`trainer_scale_module.py`:
rescale, Conv2D 16 3x3, max-pool, Dense 64, softmax; Adam 1e-3,
cross-entropy) trained for `STEPS` = 150 steps of batch 256 from the same
seed, on the smaller of the two train splits that holds 150 full batches
(the N split; the 8N one with --quick), validated on the eval split:

- frontier: `frontier.components.trainer.executor.Executor().Do(...)` with
  `module_file=trainer_scale_module.py` (its `build_model(spec, config)`),
  `train_steps=150`, `epochs=1`;
- stock TFX: `tfx.components.trainer.executor.GenericExecutor().Do(...)` with
  `module_file=stock_tfx_trainer_module.py`, whose `run_fn` is written as
  the TFX templates write it (tfx-bsl's `tf_dataset_factory` with
  `TensorFlowDatasetOptions(batch_size=256, label_key=...)` and the schema of
  a stock StatisticsGen + SchemaGen run on the same Examples, which runs once
  beforehand and is timed apart, `stock_schema_s`; `model.fit(...,
  steps_per_epoch=fn_args.train_steps)` with `TrainArgs(num_steps=150)` and
  `EvalArgs(num_steps=4)`; a TensorBoard callback; a `serving_default` that
  parses `tf.Example`s) and builds the model with the same function.

Each run is a fresh Python process with the same environment (TensorFlow's
default thread pools on both sides); the runs alternate (frontier, stock;
stock, frontier; ...; `--rounds` each, default 5, 3 with --quick) and the
figures are medians (`speed.round_ratios`: each round's own ratio). Both sides are timed the same way: the child wraps
`keras.Model.fit` (each executor calls it once) to add a timing callback.

- `examples_per_s_*`: 150 x 256 examples over the training phase, from
  Keras' `on_train_begin` to the end of the 150th step (`on_train_batch_end`):
  the input pipeline's start (shuffle buffer fill included), the step's
  tracing and every gradient step; not the model's compile, nor the
  validation pass after the last step. `examples_per_s_ratio_vs_stock_tfx`
  is frontier's median over stock's (target: at least 1.0).
- `steady_examples_per_s_*` (in `speed.medians`): steps 2 to 150 only
  (no tracing, no pipeline warm-up).
- `fit_s`: the whole `fit` call (the validation pass included).
- `executor_s`: the whole executor's `Do`. frontier's does more than
  stock's: a checking pass over each split (row checks, counts and the
  standardisation statistics a module may use; stock TFX leaves this to
  StatisticsGen), the final metrics over the whole train and eval splits,
  the Keras model beside the SavedModel, and the page;
  `executor_s_ratio_vs_stock_tfx` is given for information.

CIW's step against cross-entropy's
---------------------------------
A third side in the same rounds: frontier's `CiwTrainer` executor with the
same module, `method="ciw"` with the weights acting from the first step
(`burn_in=0`), the same steps, batch and seed. `ciw_step_time_ratio` is the
Trainer's median steady examples per second over CiwTrainer's, i.e. CIW's
step time over plain cross-entropy's on the same model (target: at most
1.10); `speed.ciw_round_ratios` per round.

Image bytes
-----------
`image_bytes.image_bytes(4000, 0)`: the same 28x28 images (8-bit, / 255)
written by frontier's writer in the float32 and the compact layout.
`image_bytes_ratio` is float32 over compact bytes per image of the GZIP
TFRecord files on disk; `image_bytes_ratio_uncompressed` the same for the
serialized examples (what a reader parses and holds); `image_layouts` has
both layouts' bytes and decode rates, and PNG's for comparison. The speed
figures above read the float32 layout, which the stock Trainer's tfx-bsl
parses without a decode step.

Run:
    .venv/bin/python benchmarks/trainer_scale.py            # N = 80,000 (about 12 min on 2 cores)
    .venv/bin/python benchmarks/trainer_scale.py --quick    # N = 4,800 (about 4 min)

Output: progress lines, then one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from frontier.components.common import progress

SIDE = 28
CLASSES = 10
SHARDS = 8
EVAL_EXAMPLES = 1000
BATCH = 256
STEPS = 150


def _images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n images [n, 784] in 0..255 and labels [n]: a blob at a class-given place."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    grid = np.stack(np.meshgrid(np.arange(SIDE), np.arange(SIDE), indexing="ij"), -1)
    centres = np.array([[6 + 4 * (c % 5), 8 + 12 * (c // 5)] for c in range(CLASSES)])
    x = np.empty((n, SIDE * SIDE), np.float32)
    for start in range(0, n, 10_000):
        stop = min(n, start + 10_000)
        d2 = ((grid[None] - centres[labels[start:stop], None, None]) ** 2).sum(-1)
        blob = 200.0 * np.exp(-d2 / 18.0) + rng.normal(0, 30, (stop - start, SIDE, SIDE))
        x[start:stop] = np.clip(blob, 0, 255).reshape(stop - start, -1)
    return x, labels


def write_examples(root: str, n_train: int) -> str:
    """The Examples directory of `n_train` train and `EVAL_EXAMPLES` eval images."""
    import tensorflow as tf

    from frontier.components.common.examples_io import serialize_example, split_uri
    from frontier.schemas.dataset import DatasetInfo

    info = DatasetInfo(
        feature_keys=("pixels",),
        feature_dims=(SIDE * SIDE,),
        class_names=tuple(str(c) for c in range(CLASSES)),
        image_shape=(SIDE, SIDE, 1),
        role_keys=("label",),
        split_counts={"train": n_train, "eval": EVAL_EXAMPLES},
        source=f"synthetic {SIDE}x{SIDE} blobs",
    )
    for split, n, seed in (("train", n_train, 0), ("eval", EVAL_EXAMPLES, 1)):
        folder = split_uri(root, split)
        os.makedirs(folder, exist_ok=True)
        x, y = _images(n, seed)
        bounds = np.linspace(0, n, SHARDS + 1).astype(int)
        for shard in range(SHARDS):
            path = os.path.join(folder, f"data_tfrecord-{shard:05d}-of-{SHARDS:05d}.gz")
            with tf.io.TFRecordWriter(path, options="GZIP") as writer:
                for i in range(bounds[shard], bounds[shard + 1]):
                    writer.write(serialize_example({"pixels": x[i], "label": y[i]}, info))
    info.write(root)
    return root


# Runs in a fresh process: the executor on the Examples, then its own peak RSS.
CHILD = """
import json, sys, time, pathlib
from conftest import examples_artifact, run_executor
from frontier.components.trainer import spec
from frontier.components.trainer.executor import Executor

uri, out, batch, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
params = {"model_type": "mlp", "hidden_units": "[64]", "learning_rate": 0.001, "seed": 0,
          "batch_size": batch, "label_key": "label", "epochs": 1, "train_steps": steps}
start = time.perf_counter()
model = run_executor(Executor, pathlib.Path(out), {"examples": examples_artifact(uri)}, params)["model"]
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would count the
# parent's pages at fork (the benchmark's generated images).
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({"peak_rss_mb": int(status["VmHWM"].split()[0]) / 1024,
                  "executor_s": time.perf_counter() - start,
                  "eval_accuracy": model.get_float_custom_property("eval_accuracy")}))
"""


# Speed: both children time Keras' `fit` the same way, by wrapping `keras.Model.fit`
# (the one fit of each executor) to add a timing callback: the training phase runs
# from `on_train_begin` to the last `on_train_batch_end` (iterator start, pipeline
# warm-up, tracing and every gradient step; not the validation pass after them).
TIMED_FIT = """
import json, os, sys, time, pathlib
import keras

FIT = {"steps": 0}


class _Timer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        FIT["begin"] = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        FIT.setdefault("first_step_end", now)
        FIT["last_step_end"] = now
        FIT["steps"] += 1

    def on_epoch_end(self, epoch, logs=None):
        FIT["val_accuracy"] = float((logs or {}).get("val_accuracy", float("nan")))


_fit = keras.Model.fit


def _timed_fit(self, *args, **kwargs):
    kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), _Timer()]
    start = time.perf_counter()
    try:
        return _fit(self, *args, **kwargs)
    finally:
        FIT["fit_s"] = time.perf_counter() - start


keras.Model.fit = _timed_fit


def report(executor_s, batch):
    train_s = FIT["last_step_end"] - FIT["begin"]
    steady_s = FIT["last_step_end"] - FIT["first_step_end"]
    print(json.dumps({
        "steps": FIT["steps"],
        "train_s": train_s,
        "examples_per_s": FIT["steps"] * batch / train_s,
        "steady_examples_per_s": (FIT["steps"] - 1) * batch / steady_s,
        "fit_s": FIT["fit_s"],
        "executor_s": executor_s,
        "val_accuracy": FIT.get("val_accuracy"),
    }))
"""

# frontier's Trainer executor with the shared model module (`module_file`); with
# `config["ciw"]`, its CiwTrainer executor instead (method `ciw`, the weights acting
# from the first step): CIW's step against the Trainer's plain cross-entropy step
# on the same model.
FRONTIER_SPEED_CHILD = (
    TIMED_FIT
    + """
import importlib
from conftest import examples_artifact, run_executor

uri, out, module, config = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
package = "ciw" if config.get("ciw") else "trainer"
Executor = importlib.import_module(f"frontier.components.{package}.executor").Executor
params = {"model_type": "mlp", "hidden_units": "[64]", "learning_rate": config["learning_rate"],
          "seed": config["seed"], "batch_size": config["batch_size"], "label_key": config["label_key"],
          "epochs": 1, "train_steps": config["train_steps"], "module_file": module,
          "custom_config": json.dumps(config["model"])}
if config.get("ciw"):
    params.update(method="ciw", burn_in=0)
start = time.perf_counter()
run_executor(Executor, pathlib.Path(out), {"examples": examples_artifact(uri)}, params)
report(time.perf_counter() - start, config["batch_size"])
"""
)

# The stock TFX Trainer's executor with the stock module's run_fn (`module_file`).
STOCK_SPEED_CHILD = (
    TIMED_FIT
    + """
from conftest import examples_artifact
from tfx.components.trainer.executor import GenericExecutor
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

uri, out, module, config = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
schema = standard_artifacts.Schema()
schema.uri = config["schema_uri"]
outputs = {"model": standard_artifacts.Model(), "model_run": standard_artifacts.ModelRun()}
for key, artifact in outputs.items():
    artifact.uri = os.path.join(out, key)
    os.makedirs(artifact.uri)
custom_config = {**config["model"], **{k: config[k] for k in (
    "feature_key", "label_key", "image_shape", "num_classes", "batch_size", "learning_rate", "seed")}}
start = time.perf_counter()
GenericExecutor().Do(
    {"examples": [examples_artifact(uri)], "schema": [schema]},
    {key: [artifact] for key, artifact in outputs.items()},
    {"train_args": proto_utils.proto_to_json(trainer_pb2.TrainArgs(num_steps=config["train_steps"])),
     "eval_args": proto_utils.proto_to_json(trainer_pb2.EvalArgs(num_steps=config["eval_steps"])),
     "module_file": module, "custom_config": json.dumps(custom_config)},
)
report(time.perf_counter() - start, config["batch_size"])
"""
)

# What a stock TFX pipeline runs before its Trainer: StatisticsGen, then SchemaGen.
SCHEMA_CHILD = """
import json, os, sys, time
from conftest import examples_artifact
from tfx.components.schema_gen.executor import Executor as SchemaGen
from tfx.components.statistics_gen.executor import Executor as StatisticsGen
from tfx.types import standard_artifacts

uri, out = sys.argv[1], sys.argv[2]
start = time.perf_counter()
statistics, schema = standard_artifacts.ExampleStatistics(), standard_artifacts.Schema()
for name, artifact in (("statistics", statistics), ("schema", schema)):
    artifact.uri = os.path.join(out, name)
    os.makedirs(artifact.uri)
StatisticsGen().Do({"examples": [examples_artifact(uri)]}, {"statistics": [statistics]},
                   {"exclude_splits": "[]"})
SchemaGen().Do({"statistics": [statistics]}, {"schema": [schema]},
               {"infer_feature_shape": 1, "exclude_splits": "[]"})
print(json.dumps({"schema_uri": schema.uri, "seconds": time.perf_counter() - start}))
"""


def _child_env() -> dict:
    """The children's environment: tests/ (conftest's helpers) and benchmarks/
    (the shared model module) importable, TensorFlow's C++ logs quiet."""
    here = os.path.dirname(os.path.abspath(__file__))
    tests = os.path.join(os.path.dirname(here), "tests")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([tests, here]), "TF_CPP_MIN_LOG_LEVEL": "2"}


def _run_child(code: str, *args: str) -> dict:
    """`code` in a fresh Python process; the JSON object of its last line."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=_child_env(),
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-5000:])
        raise RuntimeError(f"benchmark child failed with exit status {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_trainer(examples_uri: str, out_dir: str) -> dict:
    """The Trainer executor in a fresh process; its peak RSS, wall time, accuracy."""
    return _run_child(CHILD, examples_uri, out_dir, str(BATCH), str(STEPS))


def speed_runs(examples_uri: str, out_dir: str, rounds: int) -> dict:
    """Both Trainers on the same Examples, `rounds` times each, interleaved
    (frontier first in even rounds, stock TFX first in odd ones), each run in
    a fresh process; their runs and the medians."""
    here = os.path.dirname(os.path.abspath(__file__))
    prepared = _run_child(SCHEMA_CHILD, examples_uri, os.path.join(out_dir, "stock_schema"))
    print(
        f"[trainer_scale] stock StatisticsGen + SchemaGen: {prepared['seconds']:.1f} s", flush=True
    )
    config = {
        "feature_key": "pixels",
        "label_key": "label",
        "image_shape": [SIDE, SIDE, 1],
        "num_classes": CLASSES,
        "batch_size": BATCH,
        "learning_rate": 0.001,
        "seed": 0,
        "train_steps": STEPS,
        "eval_steps": -(-EVAL_EXAMPLES // BATCH),
        "model": {"filters": 16, "hidden": 64},
        "schema_uri": prepared["schema_uri"],
    }
    module = os.path.join(here, "trainer_scale_module.py")
    sides = {  # side -> (child, module file, its own config)
        "frontier": (FRONTIER_SPEED_CHILD, module, {}),
        "stock_tfx": (STOCK_SPEED_CHILD, os.path.join(here, "stock_tfx_trainer_module.py"), {}),
        "frontier_ciw": (FRONTIER_SPEED_CHILD, module, {"ciw": True}),
    }
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    # One bar over all the speed runs (rounds x sides), each a fresh process.
    with progress.Progress("trainer_scale speed", rounds * len(sides), "run") as shown:
        for r in range(rounds):
            for side in sides if r % 2 == 0 else reversed(sides):
                code, side_module, own = sides[side]
                shown.update(0, round=r, side=side)
                out = os.path.join(out_dir, f"speed_{side}_{r}")
                run = _run_child(
                    code, examples_uri, out, side_module, json.dumps({**config, **own})
                )
                progress.write(
                    f"[trainer_scale] speed round {r} {side}: {json.dumps(run)}", sys.stdout
                )
                if run["steps"] != STEPS:
                    raise RuntimeError(f"{side} took {run['steps']} steps, not {STEPS}")
                runs[side].append(run)
                shown.update(1)
    medians = {
        side: {k: statistics.median(run[k] for run in side_runs) for k in MEDIANS}
        for side, side_runs in runs.items()
    }
    # Each round's own ratio too: the two runs of a round shared the machine's load.
    round_ratios = [
        round(f["examples_per_s"] / t["examples_per_s"], 3)
        for f, t in zip(runs["frontier"], runs["stock_tfx"], strict=True)
    ]
    # CIW's step time over cross-entropy's: steady steps (tracing apart), per round.
    ciw_round_ratios = [
        round(f["steady_examples_per_s"] / c["steady_examples_per_s"], 3)
        for f, c in zip(runs["frontier"], runs["frontier_ciw"], strict=True)
    ]
    return {
        "runs": runs,
        "medians": medians,
        "round_ratios": round_ratios,
        "ciw_round_ratios": ciw_round_ratios,
        "stock_schema_s": round(prepared["seconds"], 1),
    }


MEDIANS = ("examples_per_s", "steady_examples_per_s", "train_s", "fit_s", "executor_s")


def _bytes(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 4,800 (a smoke run)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="speed runs per Trainer (default 5; 3 with --quick)",
    )
    args = parser.parse_args()
    n = 4_800 if args.quick else 80_000
    rounds = args.rounds or (3 if args.quick else 5)
    progress.show_lines()
    results, uris = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        sizes = (("n", n), ("8n", 8 * n))
        for label, size in progress.track(sizes, "trainer_scale memory", unit="size"):
            start = time.perf_counter()
            uri = uris[label] = write_examples(os.path.join(tmp, f"examples_{label}"), size)
            written = time.perf_counter() - start
            run = run_trainer(uri, os.path.join(tmp, f"out_{label}"))
            run["examples"] = size
            run["split_bytes_per_example"] = round(_bytes(os.path.join(uri, "Split-train")) / size)
            run["float32_features_gb"] = round(size * SIDE * SIDE * 4 / 1e9, 3)
            run["write_s"] = round(written, 1)
            progress.write(f"[trainer_scale] {label}: {json.dumps(run)}", sys.stdout)
            results[label] = run
        # The smaller split that holds the examples of STEPS full batches: both
        # Trainers then take their STEPS steps inside one epoch (frontier's
        # epochs end with a validation pass, which would land inside the timing).
        speed_label = "n" if n >= STEPS * BATCH else "8n"
        speed = speed_runs(uris[speed_label], os.path.join(tmp, "speed"), rounds)
    frontier, stock = speed["medians"]["frontier"], speed["medians"]["stock_tfx"]
    ciw = speed["medians"]["frontier_ciw"]
    from image_bytes import image_bytes  # beside this file; it imports _images from here

    layouts = image_bytes(4_000, seed=0)
    print(f"[trainer_scale] image bytes: {json.dumps(layouts)}", flush=True)
    print(
        json.dumps(
            {
                "benchmark": "trainer_scale",
                "quick": args.quick,
                "image": f"{SIDE}x{SIDE}x1 float32 features",
                "batch_size": BATCH,
                "train_steps": STEPS,
                "runs": results,
                "rss_ratio_8n_over_n": round(
                    results["8n"]["peak_rss_mb"] / results["n"]["peak_rss_mb"], 3
                ),
                "speed": {"examples": results[speed_label]["examples"], **speed},
                "examples_per_s_frontier": round(frontier["examples_per_s"], 1),
                "examples_per_s_stock_tfx": round(stock["examples_per_s"], 1),
                "examples_per_s_ratio_vs_stock_tfx": round(
                    frontier["examples_per_s"] / stock["examples_per_s"], 3
                ),
                "steady_examples_per_s_ratio_vs_stock_tfx": round(
                    frontier["steady_examples_per_s"] / stock["steady_examples_per_s"], 3
                ),
                "executor_s_ratio_vs_stock_tfx": round(
                    frontier["executor_s"] / stock["executor_s"], 3
                ),
                "ciw_step_time_ratio": round(
                    frontier["steady_examples_per_s"] / ciw["steady_examples_per_s"], 3
                ),
                "image_layouts": layouts,
                "image_bytes_ratio": layouts["image_bytes_ratio"],
                "image_bytes_ratio_uncompressed": layouts["image_bytes_ratio_uncompressed"],
            }
        )
    )


if __name__ == "__main__":
    main()
