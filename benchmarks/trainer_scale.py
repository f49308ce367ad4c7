"""The Trainer's memory against the size of its data: N and 8N examples, side by side.

What is measured
----------------
Synthetic 28x28 grayscale images (784 float32 features, 10 classes: a
class-dependent blob plus seeded noise, so the model has something to
learn), written as frontier `Examples` (GZIP TFRecords of `tf.Example`, 8
shards) with N and with 8N training examples and 1,000 eval examples. For
each size, the Trainer's executor runs in a fresh Python process (the
built-in MLP, one hidden layer of 64, batch 256, one epoch bounded by
`train_steps` so both sizes take the same number of gradient steps; the
checking pass and the final metrics read the whole split), and the process
reports its own peak resident memory (`VmHWM` of /proc/self/status). The default N
(80,000) makes the 8N split's float32 features 2.0 GB, more than the
executor could hold beside TensorFlow if it loaded the split.

Reported: peak RSS in MB for N and 8N, their ratio `rss_ratio_8n_over_n`
(the target is at most 1.3: memory does not grow with the data), the
executor's wall time per size, and the bytes of the split per example.

Run:
    .venv/bin/python benchmarks/trainer_scale.py            # N = 80,000 (about 10 min)
    .venv/bin/python benchmarks/trainer_scale.py --quick    # N = 4,000 (smoke run)

Output: progress lines, then one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

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


def run_trainer(examples_uri: str, out_dir: str) -> dict:
    """The Trainer executor in a fresh process; its peak RSS, wall time, accuracy."""
    tests = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")
    env = {**os.environ, "PYTHONPATH": tests, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, examples_uri, out_dir, str(BATCH), str(STEPS)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _bytes(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 4,000 (a smoke run)")
    args = parser.parse_args()
    n = 4_000 if args.quick else 80_000
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, size in (("n", n), ("8n", 8 * n)):
            start = time.perf_counter()
            uri = write_examples(os.path.join(tmp, f"examples_{label}"), size)
            written = time.perf_counter() - start
            run = run_trainer(uri, os.path.join(tmp, f"out_{label}"))
            run["examples"] = size
            run["split_bytes_per_example"] = round(_bytes(os.path.join(uri, "Split-train")) / size)
            run["float32_features_gb"] = round(size * SIDE * SIDE * 4 / 1e9, 3)
            run["write_s"] = round(written, 1)
            print(f"[trainer_scale] {label}: {json.dumps(run)}", flush=True)
            results[label] = run
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
            }
        )
    )


if __name__ == "__main__":
    main()
