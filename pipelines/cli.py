"""The `frontier` command.

frontier run NAME [--runner local|beam] [--root DIR]   build and run a pipeline (demo, kip, ciw, spl)
frontier runs [--root DIR]                              list past runs from ML Metadata
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

DEFAULT_ROOT = "frontier_runs"
# Shipped pipelines: each module has `create_pipeline(root)` and `outcome(run)`.
PIPELINES = {
    "demo": "frontier.pipelines.demo",
    "kip": "frontier.pipelines.kip",
    "ciw": "frontier.pipelines.ciw",
    "spl": "frontier.pipelines.spl",
}


# Progress worth showing: frontier's own log lines, and the runner's
# "Component X is running / is finished".
_RUNNER_SOURCES = ("local_dag_runner.py", "beam_dag_runner.py")
_FRONTIER_DIRS = tuple(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep + d + os.sep
    for d in ("components", "pipelines", "schemas")
)
# Warnings that TFX 1.16 and Beam print on every run and that say nothing about the run.
_BENIGN = (
    "custom_executor_spec` is deprecated",
    "property_predicate is not supported",
)


class _ProgressFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        path = record.pathname
        if path.startswith(_FRONTIER_DIRS):
            return True
        if path.endswith(_RUNNER_SOURCES):
            return record.getMessage().startswith("Component ")
        if record.levelno < logging.WARNING:
            return False
        return not any(b in record.getMessage() for b in _BENIGN)


def _configure_logging() -> None:
    """Shows progress and real warnings; hides TFX/TF start-up chatter."""
    # TensorFlow's C++ start-up lines (CUDA plugin registration on a CPU machine).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname).1s %(message)s", "%H:%M:%S"))
    handler.addFilter(_ProgressFilter())
    absl_logger = logging.getLogger("absl")
    absl_logger.handlers[:] = [handler]
    absl_logger.propagate = False
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("apache_beam.io.tfrecordio").setLevel(logging.ERROR)  # "no python-snappy"


def _cmd_run(args: argparse.Namespace) -> int:
    import importlib

    from frontier.pipelines import runner

    definition = importlib.import_module(PIPELINES[args.pipeline])
    root = os.path.abspath(args.root)
    pipeline = definition.create_pipeline(root)
    print(
        f"running {pipeline.pipeline_info.pipeline_name} with the {args.runner} runner under {root}"
    )
    run, report, seconds = runner.run_and_report(pipeline, root, args.runner)
    n = len(run.components)
    print(
        f"\nfinished in {seconds:.1f} s: {len(run.executed)} of {n} components executed, "
        f"{len(run.cached)} of {n} reused from cache"
    )
    if run.cached:
        print(f"  reused from cache: {', '.join(run.cached)}")
    for line in definition.outcome(run):
        print(f"  {line}")
    print(f"  artifacts:  {runner.pipeline_root(root, pipeline.pipeline_info.pipeline_name)}")
    print(f"  metadata:   {runner.metadata_path(root)}")
    print(f"  report:     {report}")
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from frontier.pipelines import runs

    print(runs.format_runs(runs.list_runs(os.path.abspath(args.root))))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frontier", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="build and run a pipeline locally")
    run.add_argument("pipeline", choices=sorted(PIPELINES))
    run.add_argument("--runner", choices=("local", "beam"), default="local")
    run.add_argument("--root", default=DEFAULT_ROOT, help="run root: artifacts, MLMD store, report")
    run.set_defaults(func=_cmd_run)
    runs = sub.add_parser("runs", help="list past runs and their artifacts from ML Metadata")
    runs.add_argument("--root", default=DEFAULT_ROOT)
    runs.set_defaults(func=_cmd_runs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging()
    try:
        return args.func(args)
    except (FileNotFoundError, LookupError, ValueError) as e:
        print(f"frontier: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
