"""Orchestration overhead of the demo pipeline under TFX's LocalDagRunner.

Runs the demo pipeline (default configuration, real digits data) in a fresh
run root, timing every executor's `Do` by wrapping TFX's
`python_executor_operator.run_with_executor` (the call both the Python and the
Beam executor operators make). Everything else in the pipeline's wall time -
drivers, input resolution, MLMD publishing, cache look-ups, artifact
bookkeeping - is orchestration. A second run with unchanged inputs, timed in
the same process, shows what the cache saves.

Prints one JSON object as its last line:
  pipeline_wall_s       wall seconds of the first run (after imports)
  executor_s            seconds inside component executors, summed
  orchestration_s       pipeline_wall_s - executor_s
  overhead_ratio        orchestration_s / executor_s
  per_executor_s        executor seconds per component
  import_s              seconds to import TFX and frontier in this process
  rerun_wall_s          wall seconds of the second run (cache on)
  rerun_executed        components the second run executed (the rest were reused)
  rerun_speedup         pipeline_wall_s / rerun_wall_s
  demo_output_lines     lines `frontier run demo` prints when its output is
                        not a terminal (as in CI or a log file; at most 80)
  demo_pipeline_s       that run's pipeline seconds, as it reports them
Usage: .venv/bin/python benchmarks/pipeline_overhead.py [--runner local|beam]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def demo_output(runner: str) -> tuple[int, float]:
    """(lines printed, pipeline seconds) of `frontier run demo` in a fresh root,
    its stdout and stderr a pipe as in CI (progress then goes to log lines)."""
    with tempfile.TemporaryDirectory(prefix="frontier-bench-") as root:
        cmd = [sys.executable, "-m", "frontier.pipelines.cli", "run", "demo", "--root", root]
        done = subprocess.run(
            [*cmd, "--runner", runner], capture_output=True, text=True, check=True
        )
    text = done.stdout + done.stderr
    seconds = re.search(r"finished in ([0-9.]+) s", text)
    return len(text.splitlines()), float(seconds.group(1)) if seconds else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runner", choices=("local", "beam"), default="local")
    args = parser.parse_args()

    t0 = time.perf_counter()
    from tfx.orchestration.portable import python_executor_operator as operator

    from frontier.pipelines import demo, runner

    import_s = time.perf_counter() - t0

    timings: list[tuple[str, float]] = []
    real = operator.run_with_executor

    def timed(execution_info, executor):
        start = time.perf_counter()
        try:
            return real(execution_info, executor)
        finally:
            timings.append((execution_info.pipeline_node.node_info.id, time.perf_counter() - start))

    operator.run_with_executor = timed

    with tempfile.TemporaryDirectory(prefix="frontier-bench-") as root:
        run, _, wall = runner.run_and_report(demo.create_pipeline(root), root, args.runner)
        first = list(timings)
        timings.clear()
        rerun, _, rerun_wall = runner.run_and_report(demo.create_pipeline(root), root, args.runner)

    demo_lines, demo_seconds = demo_output(args.runner)
    executor_s = sum(s for _, s in first)
    result = {
        "runner": args.runner,
        "pipeline_wall_s": round(wall, 3),
        "executor_s": round(executor_s, 3),
        "orchestration_s": round(wall - executor_s, 3),
        "overhead_ratio": round((wall - executor_s) / executor_s, 4),
        "per_executor_s": {name: round(s, 3) for name, s in first},
        "components": len(run.components),
        "import_s": round(import_s, 3),
        "rerun_wall_s": round(rerun_wall, 3),
        "rerun_executed": rerun.executed,
        "rerun_speedup": round(wall / rerun_wall, 2),
        "demo_output_lines": demo_lines,
        "demo_pipeline_s": demo_seconds,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
