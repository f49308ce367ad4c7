"""The `frontier` command.

frontier run NAME [--runner local|beam] [--root DIR]   build and run a pipeline (demo, kip, ciw, spl, dp_ftrl)
frontier runs [--root DIR] [--artifacts] [--gc [--yes]] list past runs and their headline figures
frontier report [RUN] [--root DIR] [--output FILE]      rebuild a recorded run's page (default: latest)
frontier compile NAME --target vertex|kubeflow ...      compile a pipeline for Vertex AI / Kubeflow
frontier submit FILE --target vertex|kubeflow ...       submit a compiled pipeline (or --dry-run)
frontier privacy --rounds R --max-participations K ...  rho and epsilon of DP-FTRL / DP-FedAvg
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import time

from frontier.pipelines import submit

DEFAULT_ROOT = "frontier_runs"
# Shipped pipelines: each module has `create_pipeline(root)` and `outcome(run)`.
PIPELINES = {
    "demo": "frontier.pipelines.demo",
    "kip": "frontier.pipelines.kip",
    "ciw": "frontier.pipelines.ciw",
    "spl": "frontier.pipelines.spl",
    "dp_ftrl": "frontier.pipelines.dp_ftrl",
}


# Progress worth showing: frontier's own log lines, and the runner's
# "Component X is finished" (local runner) / "node X is finished." (Beam
# runner); with --verbose, their "... is running" lines too.
_RUNNER_SOURCES = ("local_dag_runner.py", "beam_dag_runner.py")
_FRONTIER_DIRS = tuple(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep + d + os.sep
    for d in ("components", "pipelines", "schemas")
)
# Warnings that TFX 1.16 and Beam print on every run and that say nothing about the run.
_BENIGN = (
    "custom_executor_spec` is deprecated",
    "property_predicate is not supported",
    # TFX 1.16 logs this when the image map *has* the default key (inverted check).
    "DEFAULT_IMAGE_PATH_KEY is not found",
)


class _ProgressFilter(logging.Filter):
    def __init__(self, verbose: bool = False) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        path = record.pathname
        if path.startswith(_FRONTIER_DIRS):
            return True
        if path.endswith(_RUNNER_SOURCES):
            message = record.getMessage()
            if not message.startswith(("Component ", "node ")):
                return False
            return self.verbose or message.rstrip(".").endswith("is finished")
        if record.levelno < logging.WARNING:
            return False
        return not any(b in record.getMessage() for b in _BENIGN)


# Warnings that the pinned libraries raise on every run, which frontier cannot fix
# (each is in the library's own code, not in how frontier calls it): (category,
# message regex, the module the warning is attributed to). Nothing else is hidden.
_LIBRARY_WARNINGS = (
    # TFMA 0.47 turns one-element arrays into floats with float(array), which NumPy
    # 1.25+ deprecates; raised for every metric of every slice of a stock Evaluator.
    (DeprecationWarning, r"Conversion of an array with ndim > 0", r"tensorflow_model_analysis\."),
    # TensorFlow 2.16's tf.lite, imported by TensorFlow's own modules, probes JAX's
    # removed jax.xla_computation when JAX is installed (frontier's KIP and DP-FTRL).
    (DeprecationWarning, r"jax\.xla_computation is deprecated", r"tensorflow\.lite\."),
    # google-api-core (under TFX's Google Cloud clients) warns at import that Python
    # 3.10 will not get its updates; TFX 1.16 needs Python 3.10.
    (FutureWarning, r"You are using a non-supported Python version", r"google\.api_core\."),
)


def _filter_library_warnings() -> None:
    import warnings

    for category, message, module in _LIBRARY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)


def _configure_logging(verbose: bool = False) -> None:
    """Shows progress and real warnings; hides TFX/TF start-up chatter. With
    `verbose`, also the per-epoch / per-round detail lines (`common.progress`)
    and the runner's start lines."""
    from frontier.components.common import progress

    if verbose:
        os.environ[progress.VERBOSE_ENV] = "1"
    # TensorFlow's C++ start-up lines (CUDA plugin registration on a CPU machine).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _filter_library_warnings()
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname).1s %(message)s", "%H:%M:%S"))
    handler.addFilter(_ProgressFilter(verbose))
    absl_logger = logging.getLogger("absl")
    absl_logger.handlers[:] = [handler]
    absl_logger.propagate = False
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("apache_beam.io.tfrecordio").setLevel(logging.ERROR)  # "no python-snappy"


def _cmd_run(args: argparse.Namespace) -> int:
    import importlib

    from frontier.pipelines import native_log, parameters, runner

    runner.check_local_root(args.root)
    definition = importlib.import_module(PIPELINES[args.pipeline])
    root = os.path.abspath(args.root)
    pipeline = definition.create_pipeline(root)
    parameters.set_values(pipeline.components, parameters.parse_assignments(args.param))
    print(
        f"running {pipeline.pipeline_info.pipeline_name} with the {args.runner} runner under {root}"
    )
    # TensorFlow's XLA start-up lines reach stderr from C++ past every log setting
    # (`native_log`): dropped in a log; --verbose shows them, and so does a terminal,
    # whose progress bars redraw with carriage returns that a line filter would hold.
    keep = args.verbose or sys.stderr.isatty()
    quiet = contextlib.nullcontext() if keep else native_log.drop_native_lines()
    with quiet:
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


def _cmd_compile(args: argparse.Namespace) -> int:
    from frontier.pipelines.compile import compile_pipeline

    document = compile_pipeline(
        args.pipeline,
        args.target,
        args.image,
        args.output,
        args.root,
        gpu_image=args.gpu_image,
        beam_profile=args.beam_profile,
        project=args.project,
        region=args.region,
    )
    spec = document.get("pipelineSpec", document)
    params = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    print(f"compiled {spec['pipelineInfo']['name']} for {args.target} into {args.output}")
    print(f"  tasks:              {len(spec['root']['dag']['tasks'])}")
    print(f"  pipeline root:      {spec['defaultPipelineRoot']}")
    for name in sorted(params):
        print(f"  --param {name}={params[name].get('defaultValue')!r}")
    return 0


def _add_compile_parser(sub) -> None:
    p = sub.add_parser(
        "compile",
        help="compile a pipeline for Vertex AI or Kubeflow Pipelines",
        description="Compile a shipped pipeline with TFX's KubeflowV2DagRunner into a pipeline"
        " spec: .json (a Vertex AI PipelineJob) or .yaml (the PipelineSpec; the form kubeflow"
        " needs). Runtime parameters (data, seeds, noise rate, privacy budget, push"
        " destination) stay settable per run with `frontier submit --param`.",
    )
    p.add_argument("pipeline", choices=sorted(PIPELINES))
    p.add_argument("--target", choices=("vertex", "kubeflow"), required=True)
    p.add_argument(
        "--image",
        required=True,
        help="component image, a full registry path with tag or digest"
        " (e.g. us-central1-docker.pkg.dev/PROJECT/REPO/frontier:0.1.0)",
    )
    p.add_argument("--output", required=True, help="file to write (.json or .yaml)")
    p.add_argument(
        "--root",
        required=True,
        help="remote run root (gs://BUCKET/frontier): artifacts under ROOT/pipelines/NAME,"
        " pushed models under ROOT/serving",
    )
    p.add_argument("--gpu-image", help="image for components with an accelerator")
    p.add_argument(
        "--beam-profile",
        help="YAML of Beam options for the Beam components (infra/dataflow.yaml: Dataflow);"
        " default: DirectRunner inside each component's container",
    )
    p.add_argument("--project", help="Google Cloud project (fills {project} in the profile)")
    p.add_argument("--region", help="Google Cloud region (fills {region} in the profile)")
    p.set_defaults(func=_cmd_compile)


def _cmd_runs(args: argparse.Namespace) -> int:
    from frontier.pipelines import recovery, runs

    root = os.path.abspath(args.root)
    if not args.gc:
        from frontier.pipelines import report

        recorded = runs.list_runs(root)
        headlines, failed = {}, []
        for run in recorded:
            found = report.run_results(run, log=False)  # None when they cannot be computed
            headlines[run.run_id] = [r.headline for r in found or ()]
            if found is None:
                failed.append(run)
        print(runs.format_runs(recorded, headlines, artifacts=args.artifacts))
        if failed:  # one line for them all, not one per run of a pipeline without results
            logging.getLogger("absl").warning(
                "no headline figures for %d run(s) of %s: computing their results failed;"
                " `frontier report RUN` says why",
                len(failed),
                ", ".join(sorted({r.pipeline for r in failed})),
            )
        return 0
    orphans = recovery.orphan_folders(root)
    for folder in orphans:
        print(folder)
    if not args.yes:
        print(f"{len(orphans)} artifact folders that no live artifact names; --yes removes them")
        return 0
    for folder in orphans:
        shutil.rmtree(folder)
    print(f"removed {len(orphans)} artifact folders")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from frontier.pipelines import runner

    runner.check_local_root(args.root)
    _, path = runner.rebuild_report(args.root, args.run, args.output)
    print(path)
    return 0


def _add_report_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="rebuild the page of a recorded run from ML Metadata",
        description="Write the run page of a recorded run again, from ML Metadata and the"
        " files of its artifacts: its results, DAG, parameters and code versions, pages and"
        " artifacts. Written beside report.html as report-<run id>.html (so its links work);"
        " prints the page's path.",
    )
    p.add_argument(
        "run",
        nargs="?",
        help="run id as `frontier runs` prints it, or an unambiguous prefix (default: the latest)",
    )
    p.add_argument("--root", default=DEFAULT_ROOT, help="run root holding metadata.sqlite")
    p.add_argument(
        "--output", help="page to write (default ROOT/report-<run id>.html); links are relative"
    )
    p.set_defaults(func=_cmd_report)


# -- frontier privacy ---------------------------------------------------------------

TREE = "tree"
BLT = "blt"
GAUSSIAN = "gaussian"
# delta of the Gboard DP-FTRL deployment (Xu et al. 2023), whose production
# configuration (7.0, 2000 rounds, 6 participations, separation 313) has
# rho = 0.81 and epsilon = 8.90 at this delta.
DEFAULT_DELTA = 1e-10
_MECHANISM_NAMES = {
    TREE: "DP-FTRL, tree aggregation",
    BLT: "BLT-DP-FTRL, buffered-linear Toeplitz noise (optimised for the run)",
    GAUSSIAN: "DP-FedAvg, independent Gaussian noise per round (no amplification)",
}
# Parameter names in frontier.components.dp_ftrl errors -> the options that set them.
_OPTIONS = {
    "noise_multiplier": "--noise-multiplier",
    "target_epsilon": "--target-epsilon",
    "rounds": "--rounds",
    "max_participations": "--max-participations",
    "participations": "--max-participations",
    "min_separation": "--min-separation",
    "restart_every": "--restart-every",
    "delta": "--delta",
}


class _OptionError(ValueError):
    """A bad `frontier privacy` option; the message names it."""


def privacy_account(
    mechanism: str,
    rounds: int,
    max_participations: int,
    delta: float = DEFAULT_DELTA,
    *,
    noise_multiplier: float | None = None,
    target_epsilon: float | None = None,
    min_separation: int | None = None,
    restart_every: int | None = None,
) -> dict:
    """What `frontier privacy` prints, as a dict: the fields of the
    `PrivacyAccount` plus `target_epsilon` (None unless calibrated) and
    `calibrated`.

    The account is `accounting.account`, the one the DpFtrlTrainer's ledger
    and page come from. With `target_epsilon`, the noise multiplier is the
    smallest (within 1e-6) whose epsilon is at most the target
    (`calibrate_noise_multiplier` of the mechanism). More participations
    than `rounds` allow at `min_separation` (None: 1) are refused for both
    mechanisms, as by the trainer (`accounting.check_participations`), not
    capped (before, `frontier privacy --mechanism gaussian` ignored the
    separation and could report a larger epsilon than the trainer's).

    Raises:
      ValueError (an `InputError` from the accountant, naming the parameter,
        or an option error naming the option).
    """
    # Imported here: the rest of the CLI loads TFX; this needs only dp_accounting.
    from frontier.components import dp_ftrl

    if (noise_multiplier is None) == (target_epsilon is None):
        raise _OptionError(
            "give exactly one of --noise-multiplier and --target-epsilon (to calibrate it)"
        )
    accounted = {
        TREE: dp_ftrl.MECHANISM_TREE,
        BLT: dp_ftrl.MECHANISM_BLT,
        GAUSSIAN: dp_ftrl.MECHANISM_GAUSSIAN,
    }
    if mechanism not in accounted:
        raise _OptionError(
            f"--mechanism: unknown mechanism {mechanism!r} (expected tree, blt or gaussian)"
        )
    if mechanism in (TREE, BLT) and min_separation is None:
        raise _OptionError(
            f"--min-separation: the {mechanism} mechanism needs it (the least difference"
            " y - x between two rounds of one client; 1 allows consecutive rounds;"
            " TF Privacy's min_separation is this minus 1)"
        )
    run = dict(restart_every=restart_every if mechanism == TREE else None)
    if target_epsilon is not None:
        noise_multiplier = dp_ftrl.calibrate_noise_multiplier(
            target_epsilon,
            delta,
            rounds,
            max_participations,
            min_separation,
            mechanism=accounted[mechanism],
            **run,
        )
    account = dp_ftrl.account(
        accounted[mechanism],
        noise_multiplier,
        rounds,
        max_participations,
        min_separation,
        delta,
        **run,
    )
    out = account.to_dict()
    out["calibrated"] = target_epsilon is not None
    out["target_epsilon"] = None if target_epsilon is None else float(target_epsilon)
    return out


def _format_privacy(result: dict, mechanism: str, args: argparse.Namespace) -> list[str]:
    nm = f"{result['noise_multiplier']:.6g}"
    if result["calibrated"]:
        nm += f" (calibrated: smallest with epsilon <= {result['target_epsilon']:g})"
    separation = "-" if args.min_separation is None else str(args.min_separation)
    if mechanism == GAUSSIAN:
        # The Gaussian account's sensitivity^2 is the participation cap.
        separation += f" (caps participations at {result['sensitivity_squared']:g})"
    if args.restart_every is not None:
        restart = str(args.restart_every)
        if mechanism != TREE:
            restart += f" (not used by the {mechanism} mechanism)"
    else:
        restart = "- (one tree)" if mechanism == TREE else "-"
    return [
        f"mechanism:           {_MECHANISM_NAMES[mechanism]}",
        f"noise multiplier:    {nm}",
        f"rounds:              {result['rounds']}",
        f"max participations:  {result['max_participations']}",
        f"min separation:      {separation}",
        f"restart every:       {restart}",
        f"sensitivity^2:       {result['sensitivity_squared']:g} (units of clip^2)",
        f"rho (zCDP):          {result['rho']:.4g}",
        f"epsilon:             {result['epsilon']:.4g} at delta {result['delta']:g}",
        f"seconds:             {result['seconds']:.3f}",
    ]


def _cmd_privacy(args: argparse.Namespace) -> int:
    import inspect

    from frontier.components import dp_ftrl  # noqa: F401 (imported before timing)
    from frontier.components.common.errors import InputError

    start = time.perf_counter()
    try:
        # The options are named after privacy_account's parameters.
        names = inspect.signature(privacy_account).parameters
        result = privacy_account(**{name: getattr(args, name) for name in names})
    except InputError as e:
        message = str(e)
        prefix = f"parameter {e.parameter!r}: "
        if message.startswith(prefix):
            message = message[len(prefix) :]
        option = _OPTIONS.get(e.parameter or "", e.parameter)
        raise _OptionError(f"{option}: {message}" if option else message) from None
    result["seconds"] = time.perf_counter() - start
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print("\n".join(_format_privacy(result, args.mechanism, args)))
    return 0


def _add_privacy_parser(sub) -> None:
    p = sub.add_parser(
        "privacy",
        help="rho and epsilon of DP-FTRL (tree or blt) or DP-FedAvg (gaussian), or the noise"
        " for a target epsilon",
        description="User-level privacy of federated training: rho (zCDP) and epsilon at delta"
        " for a noise multiplier, or the smallest noise multiplier for a target epsilon, from"
        " the accountant the DpFtrlTrainer's ledger uses. The tree mechanism is DP-FTRL with"
        " tree aggregation (Kairouz et al. 2021), accounted exactly over every participation"
        " pattern with at most --max-participations rounds per client, --min-separation apart"
        " (rounds x < y with y - x >= it; TF Privacy's min_separation is this minus 1);"
        " blt is BLT-DP-FTRL (McMahan, Xu, Zhang 2024) with the buffers optimised for the"
        " run, its sensitivity exact for the optimised (non-increasing) coefficients;"
        " gaussian is DP-FedAvg with fresh noise each round and no sampling amplification, a"
        " client taking part in at most min(--max-participations, 1 + (rounds - 1) //"
        " --min-separation) rounds (the separation caps the participations here too, as in"
        " the trainer; earlier versions ignored it for gaussian).",
    )
    noise = p.add_mutually_exclusive_group(required=True)
    noise.add_argument(
        "--noise-multiplier",
        type=float,
        help="noise standard deviation per tree node (tree), per round before the BLT's"
        " correlation (blt) or per round (gaussian) / clip norm",
    )
    noise.add_argument(
        "--target-epsilon",
        type=float,
        help="calibrate: the smallest noise multiplier whose epsilon is at most this",
    )
    p.add_argument("--rounds", type=int, required=True, help="number of training rounds")
    p.add_argument(
        "--max-participations",
        type=int,
        required=True,
        help="most rounds one client takes part in",
    )
    p.add_argument(
        "--min-separation",
        type=int,
        help="least difference y - x between two rounds x < y of one client (tree: required;"
        " gaussian: caps the participations; TensorFlow Privacy's min_separation plus one)",
    )
    p.add_argument(
        "--restart-every",
        type=int,
        help="restart the tree every this many rounds (tree only; default: one tree)",
    )
    p.add_argument(
        "--delta",
        type=float,
        default=DEFAULT_DELTA,
        help=f"delta of epsilon (default {DEFAULT_DELTA:g}, the Gboard deployment's)",
    )
    p.add_argument("--mechanism", choices=(TREE, BLT, GAUSSIAN), default=TREE, help="default: tree")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.set_defaults(func=_cmd_privacy, quiet=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frontier", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="build and run a pipeline locally")
    run.add_argument("pipeline", choices=sorted(PIPELINES))
    run.add_argument("--runner", choices=("local", "beam"), default="local")
    run.add_argument("--root", default=DEFAULT_ROOT, help="run root: artifacts, MLMD store, report")
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a runtime parameter of the pipeline (repeatable), e.g. seed=1",
    )
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also log each epoch, round and KIP step, and each component's start",
    )
    run.set_defaults(func=_cmd_run)
    runs = sub.add_parser("runs", help="list past runs and their headline figures from ML Metadata")
    runs.add_argument("--root", default=DEFAULT_ROOT)
    runs.add_argument(
        "--artifacts",
        action="store_true",
        help="also list each run's nodes and their output artifacts (MLMD id, type, URI)",
    )
    runs.add_argument(
        "--gc",
        action="store_true",
        help="list the artifact folders no live artifact names (a dry run; add --yes to remove)",
    )
    runs.add_argument("--yes", action="store_true", help="with --gc: remove the listed folders")
    runs.set_defaults(func=_cmd_runs)
    _add_report_parser(sub)
    _add_privacy_parser(sub)
    _add_compile_parser(sub)
    submit.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not getattr(args, "quiet", False):  # `frontier privacy` logs nothing
        _configure_logging(getattr(args, "verbose", False))
    try:
        return args.func(args)
    except (FileNotFoundError, LookupError, ValueError) as e:
        print(f"frontier: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
