"""SplLabeler on pools larger than memory: its peak memory at N and 10N clips,
and its clips/s against a plain batched `predict` loop (issue 22, point 3).

The data
--------
A pool of N and of 10N clips (4 frames of 8 x 8, 256 pixels k / 16 stored in
the compact uint8 layout, random pixels; `label` and `weak_label` drawn
at random over 10 classes), written as frontier `Examples` (GZIP
TFRecord files of `CHUNK` clips, a `train` split only). The
10N pool is written in chunks so that this script never holds it.

Two teachers (`TEACHERS`), each trained for one epoch on 2,000 clips and
exported with `save_model_artifact` (only their speed matters here):

- `temporal`, the headline: the network of `benchmarks/spl.py`'s video
  setting (`spl.temporal_module` with that benchmark's `MODEL_CONFIG`: a
  per-frame ConvNet, a 1-D convolution over frames, a head; about 13 us a
  clip in the plain loop on this machine), the teacher this labeler serves in
  issue 22;
- `mlp`: one hidden layer of 64 (about 5 us a clip), the smallest teacher,
  where the labeler's own costs weigh most.

The runner
----------
The labeler runs on the DirectRunner with one worker thread per core
(`PARALLEL_ARGS`, passed as the pipeline's `beam_pipeline_args`, as a user
gives a local TFX pipeline the machine): the worker threads read different
files and share one teacher, whose calls release Python's GIL. The labeler's
inference on the default runner (one worker) is timed beside it
(`*_one_worker`). The plain loop is one Python loop, as a user writes it;
its teacher calls use TensorFlow's own threads (every core) as the
labeler's do.

Memory
------
For each pool, the SplLabeler executor (`Do`, strategy `spl`, batch 256,
`PARALLEL_ARGS`) runs in a fresh Python process that reports its
own peak resident memory (`VmHWM` of /proc/self/status) at the end, its
resident memory just before `Do` (TensorFlow, Beam and the executor
imported), and `Do`'s wall time. `labeler_peak_rss_ratio_10x` = peak(10N)
/ peak(N) (goal at most 1.2: memory does not grow with the pool);
`labeler_rss_growth_mb` = peak minus the pre-`Do` RSS at each size.

Speed
-----
In one process, `--repeats` times, each kind on both pools back to back
(its steady-state rate measured within seconds), the kinds in an order
that reverses every repeat; with the `temporal` teacher:

- `plain_streamed`: the plain batched loop a user writes for a pool larger
  than memory: `tf.data` reads the pool's GZIP TFRecords in batches of 256
  (two read ahead) and the teacher's `serving_default` signature (loaded
  once, outside the timing) scores each batch; argmax;
- `plain_in_memory`: the same calls on the pool's serialized records read
  beforehand into a Python list (no I/O timed: a bound no pool larger than
  memory can reach, reported beside);
- `plain_in_beam`: `plain_streamed` run whole inside one DoFn per file of a
  Beam pipeline on the default runner (one worker): the same work, so that
  its ratio to `plain_streamed` is what the runner's environment alone costs;
- `inference`: the labeler's own inference stage alone: a Beam pipeline
  (`PARALLEL_ARGS`) of `ReadRecordBatches` (batches of 256, the weak label
  and label parsed in `tf.data`) -> `TeacherLabels` (Beam `RunInference`
  with our `SavedModelHandler`; argmax) -> a global count; the model loads
  inside the timing, as it does in the labeler; `inference_one_worker` the
  same on the default runner;
- `labeler`: the whole executor `Do` (`PARALLEL_ARGS`): the same inference,
  plus the confusion matrix (a Beam combine), the label map, writing the
  scored pool, reading it back, relabelling every clip, writing the
  relabelled pool (GZIP TFRecords), `dataset_info.json` and the HTML page;

and with the `mlp` teacher `plain_streamed_mlp`, `inference_mlp` and
`inference_one_worker_mlp`.

Rates are steady-state: (10N - N) clips over the difference of the times
at 10N and N, so that fixed costs (starting Beam, loading the teacher,
about half a second) cancel, as they do on a pool of millions of clips.
Both pools have several files (`CHUNK`), so both keep every worker busy.
`labeler_clips_per_s_ratio` = inference / plain_streamed, the median over
the repeats of the ratio within each repeat (the goal is at least 0.8);
beside it the same on one worker, with the `mlp` teacher, against the
in-memory loop, the whole executor (which also writes the pool twice), and
the ratios of the best times and the whole-run rates at 10N.

Run: `python benchmarks/spl_labeler.py [--n 20000] [--repeats 5]` (about 6 minutes).
Last line: one JSON object:
    {n, pool_sizes, batch_size, teachers, workers, parallel_beam_args,
     peak_rss_mb{n: ...}, pre_do_rss_mb{n: ...}, labeler_rss_growth_mb{n: ...},
     labeler_wall_s{n: ...}, labeler_peak_rss_ratio_10x,
     speed_best_s{kind: {n: s}}, steady_clips_per_s{kind},
     whole_run_clips_per_s_at_10n{kind}, ratios_by_repeat{...},
     labeler_clips_per_s_ratio, labeler_clips_per_s_ratio_vs_in_memory,
     labeler_clips_per_s_ratio_one_worker, labeler_clips_per_s_ratio_mlp_teacher,
     labeler_clips_per_s_ratio_mlp_teacher_one_worker,
     labeler_whole_clips_per_s_ratio, plain_in_beam_over_plain_streamed,
     inference_one_worker_over_plain_in_beam,
     labeler_clips_per_s_ratio_of_best_times, whole_run_inference_ratio_at_10n,
     us_per_clip{kind}, wall_s}
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
from children import run_json

FRAMES, SIDE = 4, 8
DIM = FRAMES * SIDE * SIDE
DIVISOR = 16
NUM_CLASSES = 10
BATCH_SIZE = 256
CHUNK = 10_000  # rows per file of the pool: N (20,000) has 2, so both sizes use 2 workers
WORKERS = os.cpu_count() or 1
# The runner a user gives the labeler to use the machine (TFX's
# `beam_pipeline_args`): the DirectRunner with one worker thread per core,
# sharing one teacher (TensorFlow releases the GIL while it computes).
PARALLEL_ARGS = (f"--direct_num_workers={WORKERS}", "--direct_running_mode=multi_threading")
TEACHER_ROWS = 2_000
TEACHERS = ("temporal", "mlp")  # the headline's first; the other timed beside it
SEED = 0


def _info(n: int):
    from frontier.schemas.dataset import DatasetInfo

    return DatasetInfo(
        feature_keys=("clip",),
        feature_dims=(DIM,),
        class_names=tuple(f"action_{c}" for c in range(NUM_CLASSES)),
        image_shape=(FRAMES * SIDE, SIDE, 1),
        role_keys=("label", "weak_label"),
        split_counts={"train": n},
        class_counts={},
        source=f"synthetic clips ({n})",
        image_encoding="uint8",
        pixel_divisor=DIVISOR,
    )


def _rows(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x": rng.integers(0, DIVISOR + 1, (n, DIM)).astype(np.float32) / np.float32(DIVISOR),
        "label": rng.integers(0, NUM_CLASSES, n).astype(np.int64),
        "weak_label": rng.integers(0, NUM_CLASSES, n).astype(np.int64),
    }


def write_pool(uri: str, n: int) -> None:
    """N clips as frontier Examples, `CHUNK` rows per file (never all in memory)."""
    import tensorflow as tf
    from tfx.types import standard_artifacts

    from frontier.components.common.examples_io import (
        serialize_example,
        set_examples_properties,
        split_features,
        split_uri,
    )

    info = _info(n)
    out_dir = split_uri(uri, "train")
    tf.io.gfile.makedirs(out_dir)
    files = -(-n // CHUNK)
    for f in range(files):
        rows = _rows(min(CHUNK, n - f * CHUNK), SEED + f)
        columns = split_features(rows["x"], info)
        path = os.path.join(out_dir, f"data_tfrecord-{f:05d}-of-{files:05d}.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as w:
            for i in range(len(rows["x"])):
                row = {"clip": columns["clip"][i], "label": rows["label"][i]}
                row["weak_label"] = rows["weak_label"][i]
                w.write(serialize_example(row, info))
    info.write(uri)
    artifact = standard_artifacts.Examples()
    artifact.uri = uri
    set_examples_properties(artifact, ["train"])


def train_teacher(uri: str, kind: str) -> None:
    """A teacher of `kind` (`TEACHERS`), trained for one epoch on
    `TEACHER_ROWS` clips and saved as a frontier `Model` artifact."""
    from frontier.components.trainer import save_model_artifact, train

    info = _info(TEACHER_ROWS)
    rows = _rows(TEACHER_ROWS, SEED + 1000)
    build = None
    if kind == "temporal":
        from spl import MODEL_CONFIG  # benchmarks/spl.py: the video setting's network

        from frontier.components.spl import temporal_module
        from frontier.components.trainer.model import feature_stats
        from frontier.components.trainer.modules import ModelSpec

        spec = ModelSpec(info, *feature_stats(rows["x"], info.image_shape))

        def build():
            return temporal_module.build_model(spec, MODEL_CONFIG)

    model, _ = train(
        rows["x"], rows["label"], info, hidden_units=(64,), epochs=1, seed=SEED, build=build
    )
    save_model_artifact(model, info, uri)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _rss_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_labeler(
    pool_uri: str, teacher_uri: str, out_dir: str, beam_args: tuple[str, ...] = PARALLEL_ARGS
) -> float:
    """The executor's `Do` as TFX calls it, with `beam_args` as the pipeline's
    `beam_pipeline_args`; returns its wall time in seconds."""
    from tfx.types import standard_artifacts

    from frontier.components.common.versioning import COMPONENT_VERSION_KEY
    from frontier.components.spl import spec
    from frontier.components.spl.executor import Executor

    pool = standard_artifacts.Examples()
    pool.uri = pool_uri
    from frontier.components.common.examples_io import set_examples_properties

    set_examples_properties(pool, ["train"])
    teacher = standard_artifacts.Model()
    teacher.uri = teacher_uri
    outputs = {key: channel.type() for key, channel in Executor.SPEC_CLASS.OUTPUTS.items()}
    for key, artifact in outputs.items():
        artifact.uri = os.path.join(out_dir, key)
        os.makedirs(artifact.uri, exist_ok=True)
    params = {
        COMPONENT_VERSION_KEY: "benchmark",
        spec.STRATEGY_KEY: "spl",
        spec.MIN_COUNT_KEY: 3,
        spec.BATCH_SIZE_KEY: BATCH_SIZE,
    }
    start = time.perf_counter()
    context = Executor.Context(
        beam_pipeline_args=list(beam_args),
        tmp_dir=os.path.join(out_dir, "tmp"),
        unique_id="benchmark",
    )
    Executor(context).Do(
        {spec.EXAMPLES_KEY: [pool], spec.TEACHER_KEY: [teacher]},
        {k: [v] for k, v in outputs.items()},
        params,
    )
    return time.perf_counter() - start


def run_inference_only(
    pool_uri: str, teacher_uri: str, work: str, beam_args: tuple[str, ...] = PARALLEL_ARGS
) -> tuple[float, int]:
    """The labeler's inference stage alone, on the runner `beam_args` give;
    (seconds, clips)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from frontier.components.common.examples_io import split_files
    from frontier.components.common.record_batches import ReadRecordBatches
    from frontier.components.spl.inference import SCORED_COLUMNS, TeacherLabels
    from frontier.components.trainer.export import serving_dir

    count_file = os.path.join(work, "count.txt")
    start = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(list(beam_args))) as p:
        (
            p
            | ReadRecordBatches(
                split_files(pool_uri, "train"), BATCH_SIZE, int_columns=SCORED_COLUMNS
            )
            | TeacherLabels(serving_dir(teacher_uri))
            | beam.Map(lambda s: len(s.teacher))
            | beam.CombineGlobally(sum)
            | beam.io.WriteToText(count_file, shard_name_template="")
        )
    seconds = time.perf_counter() - start
    with open(count_file) as f:
        return seconds, int(f.read())


def run_plain_in_beam(pool_uri: str, teacher_uri: str, work: str) -> tuple[float, int]:
    """The plain streamed loop (`run_plain_streamed`) run whole inside one Beam
    DoFn per file, in the same runner: what the runner's environment alone
    costs the same work; (seconds, clips)."""
    import apache_beam as beam

    from frontier.components.common.examples_io import split_files
    from frontier.components.trainer.export import load_serving_signature

    class PlainLoop(beam.DoFn):
        def setup(self) -> None:
            self._fn = load_serving_signature(teacher_uri)

        def process(self, path: str):
            yield run_plain_streamed(self._fn, path)[1]

    count_file = os.path.join(work, "count_plain.txt")
    start = time.perf_counter()
    with beam.Pipeline() as p:
        (
            p
            | beam.Create(split_files(pool_uri, "train"))
            | beam.ParDo(PlainLoop())
            | beam.CombineGlobally(sum)
            | beam.io.WriteToText(count_file, shard_name_template="")
        )
    seconds = time.perf_counter() - start
    with open(count_file) as f:
        return seconds, int(f.read())


def _records(pool_uri: str) -> list[bytes]:
    import tensorflow as tf

    from frontier.components.common.examples_io import split_files

    files = split_files(pool_uri, "train")
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def run_plain(fn, records: list[bytes]) -> float:
    """A plain batched loop over the serving signature, the records in memory; seconds."""
    import tensorflow as tf

    from frontier.components.trainer.export import INPUT_NAME, PROBABILITIES

    start = time.perf_counter()
    for i in range(0, len(records), BATCH_SIZE):
        p = fn(**{INPUT_NAME: tf.constant(records[i : i + BATCH_SIZE])})[PROBABILITIES].numpy()
        np.argmax(p, axis=-1)
    return time.perf_counter() - start


def run_plain_streamed(fn, pool_uri_or_file: str) -> tuple[float, int]:
    """A plain batched loop over the serving signature reading the pool's files
    (or one file) with `tf.data`: GZIP TFRecords, batches, two batches read
    ahead; (seconds, clips)."""
    import tensorflow as tf

    from frontier.components.common.examples_io import split_files
    from frontier.components.trainer.export import INPUT_NAME, PROBABILITIES

    start = time.perf_counter()
    clips = 0
    files = [pool_uri_or_file]
    if os.path.isdir(pool_uri_or_file):
        files = split_files(pool_uri_or_file, "train")
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP")
    for batch in ds.batch(BATCH_SIZE).prefetch(2):
        p = fn(**{INPUT_NAME: batch})[PROBABILITIES].numpy()
        clips += len(np.argmax(p, axis=-1))
    return time.perf_counter() - start, clips


def memory_child(pool_uri: str, teacher_uri: str, out_dir: str) -> None:
    import frontier.components.spl.executor  # noqa: F401 - imports counted before Do

    before = _rss_mb("VmRSS")
    wall = run_labeler(pool_uri, teacher_uri, out_dir)
    print(json.dumps({"wall_s": wall, "pre_do_rss_mb": before, "peak_rss_mb": _rss_mb("VmHWM")}))


def speed_child(pools: list[str], teachers: list[str], work: str, repeats: int) -> None:
    """Every way of scoring each pool (the kinds of the module docstring), `repeats` times;
    prints {clips: [per pool], times: {kind: [[seconds per repeat] per pool]}}."""
    from frontier.components.trainer.export import load_serving_signature

    os.makedirs(work, exist_ok=True)
    fns = [load_serving_signature(t) for t in teachers]
    records = [_records(pool) for pool in pools]
    for fn in fns:
        run_plain(fn, records[0][: BATCH_SIZE * 4])  # trace once
    other = "_" + TEACHERS[1]

    def counted(seconds_and_count: tuple[float, int], n: int, kind: str) -> float:
        if seconds_and_count[1] != n:
            raise RuntimeError(f"{kind} counted {seconds_and_count[1]} clips; the pool has {n}")
        return seconds_and_count[0]

    runs = {  # kind -> pool index -> seconds or (seconds, clips); the headline's two first
        "plain_streamed": lambda i: run_plain_streamed(fns[0], pools[i]),
        "inference": lambda i: run_inference_only(pools[i], teachers[0], work),
        "inference_one_worker": lambda i: run_inference_only(pools[i], teachers[0], work, ()),
        "plain_in_beam": lambda i: run_plain_in_beam(pools[i], teachers[0], work),
        "plain_in_memory": lambda i: run_plain(fns[0], records[i]),
        "labeler": lambda i: run_labeler(pools[i], teachers[0], os.path.join(work, "out")),
        "plain_streamed" + other: lambda i: run_plain_streamed(fns[1], pools[i]),
        "inference" + other: lambda i: run_inference_only(pools[i], teachers[1], work),
        "inference_one_worker" + other: lambda i: run_inference_only(
            pools[i], teachers[1], work, ()
        ),
    }
    times: dict[str, list[list[float]]] = {k: [[] for _ in pools] for k in runs}
    for r in range(repeats):
        # Each kind runs on both pools back to back, so that its steady-state
        # rate is measured within seconds; the order of the kinds reverses
        # every repeat, so that no kind always follows the same one.
        order = list(runs) if r % 2 == 0 else list(runs)[::-1]
        for kind in order:
            for i in range(len(pools)):
                n = len(records[i])
                result = runs[kind](i)
                seconds = result if isinstance(result, float) else counted(result, n, kind)
                times[kind][i].append(seconds)
                shutil.rmtree(os.path.join(work, "out"), ignore_errors=True)  # the labeler's
        latest = {k: round(v[1][-1], 2) for k, v in times.items()}
        log(f"speed repeat {r + 1}/{repeats}, seconds at {len(records[1])} clips: {latest}")
    print(json.dumps({"clips": [len(x) for x in records], "times": times}))


def _child(*args: str) -> dict:
    return run_json(os.path.abspath(__file__), "--child", *args)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        kind, *rest = sys.argv[2:]
        del sys.argv[1:]  # Beam's default pipeline options parse sys.argv
        if kind == "memory":
            memory_child(*rest)
        else:
            speed_child(rest[0].split(","), rest[1].split(","), rest[2], int(rest[3]))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    t0 = time.perf_counter()
    sizes = (args.n, 10 * args.n)
    with tempfile.TemporaryDirectory(prefix="spl_labeler_") as tmp:
        teachers = {kind: os.path.join(tmp, f"teacher_{kind}") for kind in TEACHERS}
        for kind, uri in teachers.items():
            train_teacher(uri, kind)
        teacher = teachers[TEACHERS[0]]
        pools = {}
        for n in sizes:
            pools[n] = os.path.join(tmp, f"pool_{n}")
            start = time.perf_counter()
            write_pool(pools[n], n)
            log(f"pool of {n} clips written in {time.perf_counter() - start:.1f} s")
        memory = {}
        for n in sizes:
            memory[n] = _child("memory", pools[n], teacher, os.path.join(tmp, f"out_{n}"))
            log(f"labeler on {n} clips: {memory[n]}")
        speed = _child(
            "speed",
            ",".join(pools[n] for n in sizes),
            ",".join(teachers[kind] for kind in TEACHERS),
            os.path.join(tmp, "speed"),
            str(args.repeats),
        )

    clips = speed["clips"]
    best = {k: [min(t) for t in v] for k, v in speed["times"].items()}
    # Steady-state rate: the extra clips of the larger pool over the extra
    # seconds they took, so that fixed costs (starting Beam, loading the
    # teacher) cancel; the whole-run rates at the larger pool are beside it.
    rate = {k: (clips[1] - clips[0]) / (t[1] - t[0]) for k, t in best.items()}
    whole = {k: clips[1] / t[1] for k, t in best.items()}
    # The same ratios per repeat (each kind timed within seconds of the
    # others); their median is the headline, less exposed to a noisy moment.
    times = speed["times"]

    def per_repeat(kind: str, base: str) -> list[float]:
        return [
            (times[base][1][r] - times[base][0][r]) / (times[kind][1][r] - times[kind][0][r])
            for r in range(len(times[kind][0]))
        ]

    other = f"_{TEACHERS[1]}"
    ratios = {
        "inference_over_plain_streamed": per_repeat("inference", "plain_streamed"),
        "inference_one_worker_over_plain_streamed": per_repeat(
            "inference_one_worker", "plain_streamed"
        ),
        "inference_over_plain_in_memory": per_repeat("inference", "plain_in_memory"),
        "labeler_over_plain_streamed": per_repeat("labeler", "plain_streamed"),
        "plain_in_beam_over_plain_streamed": per_repeat("plain_in_beam", "plain_streamed"),
        "inference_one_worker_over_plain_in_beam": per_repeat(
            "inference_one_worker", "plain_in_beam"
        ),
        "inference_over_plain_streamed" + other: per_repeat(
            "inference" + other, "plain_streamed" + other
        ),
        "inference_one_worker_over_plain_streamed" + other: per_repeat(
            "inference_one_worker" + other, "plain_streamed" + other
        ),
    }
    median = {k: float(np.median(v)) for k, v in ratios.items()}
    peak = {n: memory[n]["peak_rss_mb"] for n in sizes}
    result = {
        "n": args.n,
        "pool_sizes": list(sizes),
        "batch_size": BATCH_SIZE,
        "teachers": list(TEACHERS),
        "workers": WORKERS,
        "parallel_beam_args": list(PARALLEL_ARGS),
        "peak_rss_mb": {str(n): round(peak[n], 1) for n in sizes},
        "pre_do_rss_mb": {str(n): round(memory[n]["pre_do_rss_mb"], 1) for n in sizes},
        "labeler_rss_growth_mb": {
            str(n): round(peak[n] - memory[n]["pre_do_rss_mb"], 1) for n in sizes
        },
        "labeler_wall_s": {str(n): round(memory[n]["wall_s"], 1) for n in sizes},
        "labeler_peak_rss_ratio_10x": round(peak[sizes[1]] / peak[sizes[0]], 3),
        "speed_best_s": {
            k: {str(n): round(t, 2) for n, t in zip(sizes, v, strict=True)} for k, v in best.items()
        },
        "steady_clips_per_s": {k: round(v, 1) for k, v in rate.items()},
        "whole_run_clips_per_s_at_10n": {k: round(v, 1) for k, v in whole.items()},
        "ratios_by_repeat": {k: [round(x, 3) for x in v] for k, v in ratios.items()},
        "labeler_clips_per_s_ratio": round(median["inference_over_plain_streamed"], 3),
        "labeler_clips_per_s_ratio_vs_in_memory": round(
            median["inference_over_plain_in_memory"], 3
        ),
        "labeler_clips_per_s_ratio_one_worker": round(
            median["inference_one_worker_over_plain_streamed"], 3
        ),
        f"labeler_clips_per_s_ratio{other}_teacher": round(
            median["inference_over_plain_streamed" + other], 3
        ),
        f"labeler_clips_per_s_ratio{other}_teacher_one_worker": round(
            median["inference_one_worker_over_plain_streamed" + other], 3
        ),
        "labeler_whole_clips_per_s_ratio": round(median["labeler_over_plain_streamed"], 3),
        "plain_in_beam_over_plain_streamed": round(median["plain_in_beam_over_plain_streamed"], 3),
        "inference_one_worker_over_plain_in_beam": round(
            median["inference_one_worker_over_plain_in_beam"], 3
        ),
        "labeler_clips_per_s_ratio_of_best_times": round(
            rate["inference"] / rate["plain_streamed"], 3
        ),
        "whole_run_inference_ratio_at_10n": round(whole["inference"] / whole["plain_streamed"], 3),
        "us_per_clip": {k: round(1e6 / v, 2) for k, v in rate.items()},
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
