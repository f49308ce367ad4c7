"""Compile a function for XLA's CPU backend without splitting its fusions across threads.

Why: XLA's CPU compiler runs a pass, `cpu-parallel-task-assigner`, that
splits every elementwise fusion its cost model prices above ~200,000 cycles
into one slice per schedulable core, run on the intra-op thread pool. The
cost model counts 10 cycles per byte touched, so KIP's [1000, 10] and
[1000, 100] kernel fusions (10^4 to 10^5 elements, a few to tens of
microseconds of work each) are all split. Handing a slice to another thread
and waiting for it costs more than the slice saves: on 2 cores, where the
second core also serves the host thread that draws the next target batches,
compiling KIP's fused step without the pass gave it 1.9-2.1x its steps per
second at 1 image per class (10 support points, target batch 1000) and
1.1-1.3x at 10, over three runs of `benchmarks/kip.py` (`fusion_splitting`).
At 50 (500 support points) the gain is gone: 0.82-0.99x with fixed labels,
1.09-1.30x with learned ones. With many cores and large supports splitting
may pay: `kip(split_fusions=True)`.

How: `Lowered.compile(compiler_options)` sets only scalar fields of XLA's
`DebugOptions`, and the disabled-pass list is a repeated field (jaxlib 0.4.30
fails the compile with a protobuf reflection error), so `compile_unsplit`
lowers with `jax.jit`, takes the `CompileOptions` JAX would build
(`compiler.get_compile_options`), disables that one pass in their debug
options, compiles the StableHLO module as JAX does (`compiler.backend_compile`)
and runs the executable on the flattened arguments. Nothing else changes:
the other HLO passes and the results are the same (the pass only partitions
a fusion's outer loop, which reorders no floating-point operation). Those
functions, the client's `execute_sharded` and `buffer_from_pyval` are JAX's
own layer beneath `jax.jit`, not a public API: the JAX pin holds them still,
and `tests/components/test_kip.py` checks this module against `jax.jit`. On
other backends (GPU, TPU) it is `jax.jit` (the pass is CPU-only).
"""

from __future__ import annotations

from collections.abc import Callable

SPLITTING_PASS = "cpu-parallel-task-assigner"


def compile_unsplit(fn: Callable, *args) -> Callable:
    """`jax.jit(fn)` compiled for `args`' shapes without the fusion-splitting pass.

    Unlike `jax.jit`, it runs on JAX's default device whatever device the
    arguments are on (they are copied there), it compiles no host callbacks
    (`jax.debug.print`, `pure_callback`), and its outputs are not weakly typed.

    Args:
      fn: a function of arrays (pytrees of them) returning a pytree of arrays,
        traceable by JAX; all its arguments are traced (none static).
      *args: example arguments; the compiled function accepts arguments of
        their tree structure and shapes, and of their dtypes as JAX
        canonicalises them (float64 and float32 alike when x64 is off).

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
    from jax._src import compiler

    jitted = jax.jit(fn, keep_unused=True)
    device = jax.devices()[0]
    if device.platform != "cpu":
        return jitted
    lowered = jitted.lower(*args)
    client = device.client
    options = compiler.get_compile_options(1, 1, device_assignment=[device], backend=client)
    options.executable_build_options.debug_options.xla_disable_hlo_passes = SPLITTING_PASS
    executable = compiler.backend_compile(client, lowered.compiler_ir("stablehlo"), options, [])
    expected_tree, expected = _signature(args)
    param_dtypes = [dtype for _, dtype in expected]
    on_device = {device}

    def call(*call_args):
        tree, signature = _signature(call_args)
        if tree != expected_tree or signature != expected:
            raise TypeError(
                f"compiled for arguments {expected_tree} {expected}, called with "
                f"{tree} {signature}: compile again for another structure, shape or dtype"
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
    """Tree structure, and (shape, dtype) of every leaf as the executable takes it.

    The dtype is JAX's canonical one (float32 for a float64 NumPy array or a
    Python float when x64 is off), so that a NumPy carry and the arrays the
    executable returns for it match.
    """
    import jax
    import numpy as np

    leaves, tree = jax.tree_util.tree_flatten(args)
    return tree, [(np.shape(a), jax.dtypes.canonicalize_dtype(_dtype(a))) for a in leaves]


def _dtype(value):
    """A jax.Array's dtype without a copy to the host; Python scalars' by NumPy's rules."""
    import numpy as np

    return value.dtype if hasattr(value, "dtype") else np.result_type(value)


def _is_on(value, devices: set) -> bool:
    """Whether `value` is a `jax.Array` held on exactly `devices`."""
    import jax

    return isinstance(value, jax.Array) and value.devices() == devices
