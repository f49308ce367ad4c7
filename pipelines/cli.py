"""The `frontier` command.

  frontier run demo [--runner local|beam] [--root DIR]   build and run the demo pipeline
  frontier runs [--root DIR]                              list past runs from ML Metadata
"""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_ROOT = "frontier_runs"
PIPELINES = ("demo",)


def _quiet_logs() -> None:
    # TensorFlow and Google client libraries print pages of start-up noise.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def _cmd_run(args: argparse.Namespace) -> int:
    from frontier.pipelines import demo, runner

    root = os.path.abspath(args.root)
    pipeline = demo.create_pipeline(root)
    print(f"running {pipeline.pipeline_info.pipeline_name} with the {args.runner} runner under {root}")
    run, report, seconds = runner.run_and_report(pipeline, root, args.runner)
    n = len(run.components)
    print(f"\nfinished in {seconds:.1f} s: {len(run.executed)} of {n} components executed, "
          f"{len(run.cached)} of {n} reused from cache")
    if run.cached:
        print(f"  reused from cache: {', '.join(run.cached)}")
    for line in demo.outcome(run):
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
    run.add_argument("pipeline", choices=PIPELINES)
    run.add_argument("--runner", choices=("local", "beam"), default="local")
    run.add_argument("--root", default=DEFAULT_ROOT, help="run root: artifacts, MLMD store, report")
    run.set_defaults(func=_cmd_run)
    runs = sub.add_parser("runs", help="list past runs and their artifacts from ML Metadata")
    runs.add_argument("--root", default=DEFAULT_ROOT)
    runs.set_defaults(func=_cmd_runs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_logs()
    try:
        return args.func(args)
    except (FileNotFoundError, LookupError, ValueError) as e:
        print(f"frontier: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
