"""A CPU host's cores as XLA devices: one single-threaded XLA CPU device per core.

On a machine without an accelerator JAX gives a process one CPU device, whose intra-op thread
pool spans every core. A federated round is thousands of small per-client matrix products
(`rounds`): on one device they run one after another, and the pool splits each small product
over the cores, which then wait on each other. The round is sharded over
``jax.local_devices()`` (`rounds.round_delta_sum`), so the cores are used whole with one XLA
device per core (``--xla_force_host_platform_device_count``) whose thread pool has one thread
(``NPROC=1``). Measured on this project's 2-core machine with `benchmarks/dp_ftrl_speed.py`
(rounds of 6,500 clients, the best client chunk; two runs each way): two devices sharing
XLA's default two-thread pool 58-70k client updates a second (1.1-1.4x one device), two
single-threaded devices 87-92k (1.8-1.9x); the same work in two separate processes, one
pinned to each core, 52k each.

Both settings are read once, when JAX starts its CPU backend (its first computation or
device query), so they must be in the environment before that: `use_cpu_cores()` at the top
of a pipeline script, or the variables of `cpu_device_environment()` in the container's
environment (a Kubeflow / Vertex AI component, a Beam worker). ``NPROC`` is the variable XLA
reads for the size of its CPU thread pools (``DefaultThreadPoolSize`` in xla/pjrt/utils.cc);
JAX 0.4.30 has no option for either (later JAX has ``jax_num_cpu_devices`` for the count).
GPU and TPU devices are not affected; on such a host the round is sharded over them.
The settings hold for every JAX computation of the process: one that is not sharded runs on
one core (a 2,048 x 2,048 matmul at 105 GFLOP/s instead of 215 here; KIP's kernels would
too), so make them in the DP-FTRL trainer's own process, whose heavy work is the sharded
client updates.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from frontier.components.common.checks import check_int
from frontier.components.common.errors import InputError

DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"
THREADS_VARIABLE = "NPROC"


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; os.cpu_count() where there is none)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_device_environment(
    cores: int | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment variables for `cores` single-threaded XLA CPU devices.

    Args:
      cores: devices to make (default: `available_cores()`).
      environ: the environment to start from (default: ``os.environ``); its other XLA flags
        are kept and a device count in its ``XLA_FLAGS`` is replaced.

    Returns:
      ``{"XLA_FLAGS": ..., "NPROC": "1"}``, to set before JAX starts its backend.
    """
    cores = available_cores() if cores is None else check_int(cores, "cores", 1)
    environ = os.environ if environ is None else environ
    flags = [f for f in environ.get("XLA_FLAGS", "").split() if not f.startswith(DEVICE_COUNT_FLAG)]
    return {"XLA_FLAGS": " ".join([*flags, f"{DEVICE_COUNT_FLAG}={cores}"]), THREADS_VARIABLE: "1"}


def use_cpu_cores(cores: int | None = None) -> int:
    """Makes this process's JAX see `cores` single-threaded CPU devices; returns `cores`.

    Sets `cpu_device_environment` in ``os.environ``. Call it before any JAX computation.

    Raises:
      InputError: JAX's backend has already started with another number of CPU devices or
        with multi-threaded ones (the settings can no longer take effect).
    """
    cores = available_cores() if cores is None else check_int(cores, "cores", 1)
    if _backends_started():
        import jax

        count = len(jax.devices("cpu"))
        threads = os.environ.get(THREADS_VARIABLE)
        if count != cores or (cores > 1 and threads != "1"):
            raise InputError(
                f"JAX's CPU backend has already started with {count} device(s) and "
                f"{THREADS_VARIABLE}={threads}",
                parameter="cores",
                expected="use_cpu_cores() called before the first JAX computation, or the "
                "variables of cpu_device_environment() set before the process starts",
            )
        return cores
    os.environ.update(cpu_device_environment(cores))
    return cores


def _backends_started() -> bool:
    try:
        from jax._src import xla_bridge
    except ImportError:  # JAX not installed: nothing has started
        return False
    started = getattr(xla_bridge, "backends_are_initialized", None)
    # Without the query (another JAX version) assume started, so a mismatch is reported.
    return True if started is None else bool(started())
