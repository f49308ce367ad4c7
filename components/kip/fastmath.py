"""Vectorisable float32 forms of two primitives, swapped into a traced computation.

Why: XLA's CPU backend lowers two primitives of the neural-tangents ReLU
kernels poorly:
  * `atan2` (the arc-cosine angle) becomes a scalar libm call per element,
    which is not vectorised: on a 1000 x 500 kernel it takes ~5 ms, more than
    everything else in a KIP step (forward, backward and Cholesky solve)
    together, and it is no faster in float32 than in float64. `atan2_f32`
    computes the same function from `+ - * /`, `min`, `max` and `where`, which
    XLA vectorises (~0.3 ms on the same kernel).
  * a row-wise dot product (a batched `dot_general` with no free dimension,
    e.g. the squared norm of every input row, [N, D] x [N, D] -> [N]) becomes
    a loop of N tiny matrix products: ~50 us for 1000 x 64, a sixth of a KIP
    step with 10 support points. `sum(a * b)` over the contracted axes is one
    fused, vectorised loop (~5 us).

`with_fast_atan2(fn)` keeps neural-tangents as the one kernel implementation:
it traces `fn` to a jaxpr and evaluates that jaxpr with every float32 `atan2`
replaced by `atan2_f32` and every float32 row-wise `dot_general` by a product
and a sum (float64 is left alone: its `atan2` needs the libm precision). Apply
it to a whole computation whose derivatives are already taken inside it (e.g.
a training step calling `jax.value_and_grad`): the traced derivative of
neural-tangents' custom JVP rules for `atan2` is plain arithmetic, so only
primal angles are replaced. Do not differentiate the wrapped function: it
would differentiate the polynomial, not neural-tangents' rules. Loops (`scan`,
`fori_loop`) are evaluated as they are, without replacements in their bodies:
wrap the loop body instead (it is traced like any function).

Accuracy: the polynomial is Cephes' `atanf` (S. L. Moshier) on |t| <= tan(pi/8)
after the reduction atan(a) = pi/4 + atan((a - 1) / (a + 1)); its relative error
is below 2e-7 (about one float32 ulp), checked against `numpy.arctan2` in the
tests. The row-wise sum adds the same products in another order (float32
rounding only).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

# Cephes atanf: atan(t) ~= t + t * z * P(z), z = t**2, for |t| <= tan(pi / 8).
_ATAN_P = (8.05374449538e-2, -1.38776856032e-1, 1.99777106478e-1, -3.33329491539e-1)
_TAN_PI_8 = math.sqrt(2.0) - 1.0


def atan2_f32(y, x):
    """Elementwise atan2(y, x) in (-pi, pi], like `jnp.arctan2`, for float32.

    Args:
      y, x: float arrays of one shape (or broadcastable), any finite or
        infinite values; NaN in either gives NaN.

    Returns:
      The angle of the point (x, y) in radians, with `jnp.arctan2`'s
      conventions for signed zeros (atan2(+-0, -0) = +-pi, atan2(+-0, +0) = +-0)
      and infinities (atan2(inf, inf) = pi/4).
    """
    import jax.numpy as jnp

    dtype = jnp.result_type(y, x)
    ax, ay = jnp.abs(x), jnp.abs(y)
    big, small = jnp.maximum(ax, ay), jnp.minimum(ax, ay)
    both_inf = jnp.isinf(big) & jnp.isinf(small)
    # a = small / big in [0, 1]; 0/0 and inf/inf are defined by the conventions.
    a = jnp.where(big == 0, 0.0, small / jnp.where(big == 0, 1.0, big))
    a = jnp.where(both_inf, 1.0, a).astype(dtype)
    reduce = a > _TAN_PI_8
    t = jnp.where(reduce, (a - 1.0) / (a + 1.0), a)
    z = t * t
    p = _ATAN_P[0]
    for c in _ATAN_P[1:]:
        p = p * z + c
    angle = t + t * z * p + jnp.where(reduce, math.pi / 4, 0.0)
    angle = jnp.where(ay > ax, math.pi / 2 - angle, angle)
    angle = jnp.where(jnp.signbit(x), math.pi - angle, angle)
    return jnp.where(jnp.signbit(y), -angle, angle).astype(dtype)


def rowwise_dot(lhs, rhs, dimension_numbers):
    """`lax.dot_general` for dimension numbers that leave no free dimension.

    Args:
      lhs, rhs: float arrays whose every axis is a batch or a contracting axis
        of `dimension_numbers` ((lhs_contract, rhs_contract), (lhs_batch,
        rhs_batch)), as `lax.dot_general` takes them.

    Returns:
      The batch-shaped array of dot products, as `lax.dot_general` (in the
      inputs' dtype): the elementwise product summed over the contracting axes.
    """
    import jax.numpy as jnp

    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
    # Batch axes first, then contracting axes, in dimension-number order on both sides.
    lhs = jnp.transpose(lhs, (*lhs_batch, *lhs_contract))
    rhs = jnp.transpose(rhs, (*rhs_batch, *rhs_contract))
    return jnp.sum(lhs * rhs, axis=tuple(range(len(lhs_batch), lhs.ndim)))


def _is_rowwise_dot(eqn) -> bool:
    """A float32 `dot_general` whose operands have no free (non-batch, non-contracting) axis."""
    import jax.numpy as jnp

    if eqn.primitive.name != "dot_general":
        return False
    (lhs_contract, _), (lhs_batch, _) = eqn.params["dimension_numbers"]
    lhs, rhs = (v.aval for v in eqn.invars)
    # lhs and rhs pair their batch and contracting axes, so they have as many
    # of each: no free lhs axis and no free rhs axis iff both ranks match.
    return (
        lhs.dtype == rhs.dtype == eqn.outvars[0].aval.dtype == jnp.float32
        and len(lhs_batch) > 0
        and lhs.ndim == rhs.ndim == len(lhs_contract) + len(lhs_batch)
    )


def with_fast_atan2(fn: Callable) -> Callable:
    """`fn` with its float32 `atan2` by `atan2_f32` and row-wise dots by `rowwise_dot`.

    `fn` takes and returns pytrees of arrays; the wrapper traces it once per
    call (cheap under an enclosing `jax.jit`, which is how it is meant to be
    used: `jax.jit(with_fast_atan2(step))`).
    """
    import jax

    @functools.wraps(fn)
    def wrapped(*args):
        closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(*args)
        flat_args = jax.tree_util.tree_leaves(args)
        out = _eval_jaxpr(closed.jaxpr, closed.consts, flat_args)
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(out_shape), out)

    return wrapped


# Call-like primitives whose body is another jaxpr evaluated once, forward.
# custom_jvp_call appears only forward-only in an already-differentiated
# jaxpr (neural-tangents' JVP rules call the custom function for the primal).
_CALL_JAXPR_PARAM = {"pjit": "jaxpr", "closed_call": "call_jaxpr", "custom_jvp_call": "call_jaxpr"}


def _eval_jaxpr(jaxpr, consts, args) -> list:
    """Evaluate `jaxpr` like `jax.core.eval_jaxpr`, substituting float32 atan2 and row dots."""
    import jax.numpy as jnp
    from jax import core

    env: dict = {}

    def read(var):
        return var.val if isinstance(var, core.Literal) else env[var]

    for var, value in zip(jaxpr.constvars, consts, strict=True):
        env[var] = value
    for var, value in zip(jaxpr.invars, args, strict=True):
        env[var] = value
    for eqn in jaxpr.eqns:
        invals = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        if name == "atan2" and eqn.outvars[0].aval.dtype == jnp.float32:
            outvals = [atan2_f32(*invals)]
        elif _is_rowwise_dot(eqn):
            outvals = [rowwise_dot(*invals, eqn.params["dimension_numbers"])]
        elif name in _CALL_JAXPR_PARAM:
            body = eqn.params[_CALL_JAXPR_PARAM[name]]
            if isinstance(body, core.ClosedJaxpr):
                outvals = _eval_jaxpr(body.jaxpr, body.consts, invals)
            else:
                outvals = _eval_jaxpr(body, (), invals)
        else:
            subfuns, params = eqn.primitive.get_bind_params(eqn.params)
            outvals = eqn.primitive.bind(*subfuns, *invals, **params)
            if not eqn.primitive.multiple_results:
                outvals = [outvals]
        for var, value in zip(eqn.outvars, outvals, strict=True):
            if not isinstance(var, core.DropVar):
                env[var] = value
    return [read(v) for v in jaxpr.outvars]
