"""The closed-form FC kernel against neural-tangents: values and gradients."""

from __future__ import annotations

import numpy as np
import pytest

from frontier.components.kip.kernels import KernelSpec, fc_relu_kernel, stax_network


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("kind", ["ntk", "nngp"])
def test_closed_form_matches_neural_tangents(depth, kind):
    spec = KernelSpec(depth=depth, kind=kind, b_std=0.3)
    rng = np.random.default_rng(depth)
    x1 = rng.normal(size=(9, 20)).astype(np.float32)
    x2 = rng.normal(size=(6, 20)).astype(np.float32) * 2.0
    _, _, kernel_fn = stax_network(spec, num_outputs=1)
    np.testing.assert_allclose(
        np.asarray(fc_relu_kernel(x1, x2, spec)),
        np.asarray(kernel_fn(x1, x2, kind)),
        rtol=1e-5,
        atol=1e-5,
    )


def test_closed_form_gradients_match_neural_tangents_through_a_krr_loss():
    """KIP differentiates K_ss (whose diagonal pairs a point with itself) and K_ts."""
    import jax
    import jax.numpy as jnp

    spec = KernelSpec(depth=2)
    rng = np.random.default_rng(0)
    x_s = rng.normal(size=(10, 16)).astype(np.float32)
    x_t = rng.normal(size=(50, 16)).astype(np.float32)
    _, _, kernel_fn = stax_network(spec, num_outputs=1)

    def loss(kernel):
        def f(s):
            k_ss = kernel(s, s) + 1e-3 * jnp.eye(len(s))
            return jnp.sum(kernel(x_t, s) @ jnp.linalg.solve(k_ss, jnp.ones((len(s), 1))))

        return f

    ours = jax.grad(loss(lambda a, b: fc_relu_kernel(a, b, spec)))(x_s)
    reference = jax.grad(loss(lambda a, b: kernel_fn(a, b, "ntk")))(x_s)
    assert np.isfinite(np.asarray(ours)).all()
    np.testing.assert_allclose(
        np.asarray(ours), np.asarray(reference), atol=2e-3 * float(jnp.abs(reference).max())
    )
