"""Compile a function for XLA's CPU backend without splitting its fusions across threads.

Why: XLA's CPU compiler runs a pass, `cpu-parallel-task-assigner`, that
splits every elementwise fusion its cost model prices above ~200,000 cycles
into one slice per schedulable core, run on the intra-op thread pool. The
cost model counts 10 cycles per byte touched, so KIP's [1000, 10] and
[1000, 100] kernel fusions (10^4 to 10^5 elements, a few to tens of
microseconds of work each) are all split. Handing a slice to another thread
and waiting for it costs more than the slice saves: on 2 cores, where the
second core also serves the host thread that draws the next target batches,
compiling KIP's fused step without the pass gave 1.93x / 1.98x its steps per
second at 1 image per class (10 support points, target batch 1000; fixed /
learned labels), 1.22x / 1.11x at 10, and 0.93x / 1.09x at 50, i.e. no
difference beyond noise (`benchmarks/kip.py`, `fusion_splitting`). With many
cores and large supports splitting may pay: `kip(split_fusions=True)`.

How: `Lowered.compile(compiler_options)` sets only scalar fields of XLA's
`DebugOptions`, and the disabled-pass list is a repeated field (jaxlib 0.4.30
fails the compile with a protobuf reflection error), so `compile_unsplit`
lowers with `jax.jit`, compiles the StableHLO text with the device's client
and `CompileOptions` whose debug options disable that one pass, and runs the
executable on the flattened arguments. Nothing else changes: the other HLO
passes, the single device and the results are the same (the pass only
partitions a fusion's outer loop, which reorders no floating-point
operation). The client, `execute_sharded` and `buffer_from_pyval` are
jaxlib's own layer beneath `jax.jit`, not a public API: the JAX pin holds
them still, and `tests/components/test_kip.py` checks this module against
`jax.jit`. On other backends (GPU, TPU) it is `jax.jit` (the pass is CPU-only).
"""

from __future__ import annotations

from collections.abc import Callable

SPLITTING_PASS = "cpu-parallel-task-assigner"


def compile_unsplit(fn: Callable, *args) -> Callable:
    """`jax.jit(fn)` compiled for `args`' shapes without the fusion-splitting pass.

    Args:
      fn: a function of arrays (pytrees of them) returning a pytree of arrays,
        traceable by JAX; all its arguments are traced (none static).
      *args: example arguments; the compiled function accepts arguments of
        exactly their tree structure, shapes and dtypes.

    Returns:
      `call(*args) -> outputs`, the compiled `fn` (outputs as `jax.Array`s in
      `fn`'s output tree); `call.executable` is the XLA executable (its
      `hlo_modules()` are the optimised HLO). On a non-CPU default backend,
      `jax.jit(fn)`.

    Raises:
      TypeError: `call` is given arguments of another structure, shape or
        dtype than the example arguments.
    """
    import jax
    import numpy as np
    from jax.lib import xla_client

    jitted = jax.jit(fn, keep_unused=True)
    device = jax.devices()[0]
    if device.platform != "cpu":
        return jitted
    lowered = jitted.lower(*args)
    options = xla_client.CompileOptions()
    build = options.executable_build_options
    build.num_replicas = 1
    build.num_partitions = 1
    build.device_assignment = xla_client.DeviceAssignment.create(np.array([[device.id]]))
    build.debug_options.xla_disable_hlo_passes = SPLITTING_PASS
    client = device.client
    executable = client.compile(lowered.as_text(), options)
    expected_tree, expected = _signature(args)
    # The dtype each parameter has in the executable (e.g. float32 for a
    # float64 NumPy array when JAX's x64 mode is off).
    param_dtypes = [jax.dtypes.canonicalize_dtype(dtype) for _, dtype in expected]
    on_device = {device}

    def call(*call_args):
        tree, signature = _signature(call_args)
        if tree != expected_tree or signature != expected:
            raise TypeError(
                f"compiled for arguments {expected_tree} {expected}, called with "
                f"{tree} {signature}: compile again for new shapes"
            )
        # Arrays already on the device go as they are; the rest are copied by
        # the client (`jax.device_put` costs ~25 us per array, as much as a
        # small KIP step; this ~2 us).
        flat = [
            a if _is_on(a, on_device) else client.buffer_from_pyval(np.asarray(a, dtype), device)
            for a, dtype in zip(jax.tree_util.tree_leaves(call_args), param_dtypes, strict=True)
        ]
        results = executable.execute_sharded([[a] for a in flat])
        outputs = [shards[0] for shards in results.disassemble_into_single_device_arrays()]
        return jax.tree_util.tree_unflatten(lowered.out_tree, outputs)

    call.executable = executable
    return call


def _signature(args) -> tuple:
    """Tree structure, and (shape, dtype) of every leaf: what the executable was built for."""
    import jax
    import numpy as np

    leaves, tree = jax.tree_util.tree_flatten(args)
    # A jax.Array's dtype without a copy to the host; Python scalars by NumPy's rules.
    return tree, [
        (np.shape(a), a.dtype if hasattr(a, "dtype") else np.result_type(a)) for a in leaves
    ]


def _is_on(value, devices: set) -> bool:
    """Whether `value` is a `jax.Array` held on exactly `devices`."""
    import jax

    return isinstance(value, jax.Array) and value.devices() == devices
