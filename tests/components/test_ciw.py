"""CIW algorithm: instance weights, closed-form class weights (against a numerical
solver), the lambda schedule, the batch objective and `train_ciw`."""

from __future__ import annotations

import math

import numpy as np
import pytest

from frontier.components.ciw import train as T
from frontier.components.ciw import weights as W
from frontier.components.common.errors import InputError


def _np(t) -> np.ndarray:
    return np.asarray(t)


# --- instance weights ----------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0, 3.0])
def test_instance_weights_follow_the_alpha_family(alpha):
    rng = np.random.default_rng(0)
    losses = rng.uniform(0, 2, size=32).astype(np.float32)
    lam = 1.5
    if alpha == 1.0:
        expected = np.exp(-losses / lam)
    else:
        expected = np.maximum((1 - alpha) * losses + lam, 0) ** (1 / (alpha - 1))
    expected /= expected.sum()
    got = _np(W.instance_weights(losses, alpha, lam))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert got.sum() == pytest.approx(1.0, abs=1e-6)
    # Higher loss, lower weight.
    assert np.all(np.diff(got[np.argsort(losses)]) <= 1e-9)


def test_instance_weights_are_constants_for_the_gradient():
    import tensorflow as tf

    losses = tf.Variable([0.1, 0.5, 2.0])
    with tf.GradientTape() as tape:
        objective = W.weighted_loss(losses, W.instance_weights(losses, 1.0, 0.5))
    grad = _np(tape.gradient(objective, losses))
    np.testing.assert_allclose(grad, _np(W.instance_weights(losses, 1.0, 0.5)), rtol=1e-6)


def test_instance_weights_edge_cases_never_give_nan():
    # exp(-l / lambda) overflows or underflows without the log-domain softmax.
    w = _np(W.instance_weights(np.array([1e4, 2e4, 3e4], np.float32), 1.0, 1e-3))
    np.testing.assert_array_equal(w, [1.0, 0.0, 0.0])
    w = _np(W.instance_weights(np.array([0.0, 1e-3], np.float32), 1.0, 1e6))
    np.testing.assert_allclose(w, [0.5, 0.5], rtol=1e-5)
    # alpha > 1: every loss beyond lambda / (alpha - 1) -> all raw weights 0;
    # the weights are taken on the losses minus their minimum instead.
    losses = np.array([5.0, 6.0, 9.0], np.float32)
    w = _np(W.instance_weights(losses, 2.0, 1.0))
    expected = np.maximum(1.0 - (losses - losses.min()), 0.0)
    np.testing.assert_allclose(w, expected / expected.sum(), rtol=1e-6)
    # Non-finite losses get weight 0 and do not poison the objective.
    losses = np.array([0.5, np.inf, np.nan, 1.0], np.float32)
    for alpha in (0.5, 1.0, 2.0):
        w = _np(W.instance_weights(losses, alpha, 1.0))
        assert np.all(np.isfinite(w)) and w[1] == 0 and w[2] == 0
        assert w.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.isfinite(_np(W.weighted_loss(np.array([1.0, np.inf], np.float32), [1.0, 0.0])))
    w = _np(W.instance_weights(np.array([np.nan, np.inf], np.float32), 1.0, 1.0))
    np.testing.assert_allclose(w, [0.5, 0.5])


def test_annealed_lambda_goes_from_ten_times_to_lambda():
    values = [
        float(W.annealed_lambda(t, 0.5, burn_in=10, anneal_steps=20)) for t in (0, 10, 20, 30, 99)
    ]
    np.testing.assert_allclose(values, [5.0, 5.0, 2.75, 0.5, 0.5], rtol=1e-6)
    assert float(W.annealed_lambda(3, 0.5, burn_in=10, anneal_steps=0)) == 0.5


# --- class weights: closed forms against a numerical solver --------------------------------


def _solve_class_weights(losses, label, divergence, gamma):
    """min_v v.l over the simplex within the ball, by SLSQP (tests only)."""
    from scipy.optimize import minimize

    c = len(losses)
    e = np.eye(c)[label]
    if divergence == W.KL:
        ball = {"type": "ineq", "fun": lambda v: gamma + np.log(max(v[label], 1e-300))}
    else:
        # ||v - e||_1 on the simplex = 2 (1 - v_y): a smooth form of the same set.
        ball = {"type": "ineq", "fun": lambda v: gamma - 2.0 * (1.0 - v[label])}
    best = None
    for start in (e * 0.9 + 0.1 / c, np.full(c, 1.0 / c)):
        res = minimize(
            lambda v: v @ losses,
            start,
            method="SLSQP",
            bounds=[(0, 1)] * c,
            constraints=[{"type": "eq", "fun": lambda v: v.sum() - 1.0}, ball],
            options={"ftol": 1e-12, "maxiter": 500},
        )
        if best is None or res.fun < best.fun:
            best = res
    return best


@pytest.mark.parametrize("divergence", [W.KL, W.TV])
def test_class_weight_closed_forms_match_a_numerical_solver(divergence):
    rng = np.random.default_rng(1)
    for trial in range(12):
        c = int(rng.integers(2, 7))
        losses = rng.uniform(0, 4, size=c)
        label = int(rng.integers(c))
        gamma = float(rng.uniform(0.05, 2.0 if divergence == W.TV else 3.0))
        v = _np(W.class_weights(losses[None].astype(np.float32), [label], divergence, gamma))[0]
        assert v.min() >= 0 and v.sum() == pytest.approx(1.0, abs=1e-6)
        if divergence == W.KL:
            assert -math.log(v[label]) <= gamma + 1e-5
        else:
            assert np.abs(v - np.eye(c)[label]).sum() <= gamma + 1e-5
        best = _solve_class_weights(losses, label, divergence, gamma)
        assert v @ losses == pytest.approx(best.fun, abs=1e-4), (trial, v, best.x)
        closed = _np(
            W.class_reweighted_losses(
                losses[None].astype(np.float32), np.eye(c)[label][None], divergence, gamma
            )
        )[0]
        assert closed == pytest.approx(v @ losses, rel=1e-5)


def test_class_reweighted_loss_of_a_mixed_label_mixes_the_two_closed_forms():
    rng = np.random.default_rng(2)
    losses = rng.uniform(0, 3, size=(5, 4)).astype(np.float32)
    a, b, r = rng.integers(4, size=5), rng.integers(4, size=5), rng.uniform(size=5)
    q = r[:, None] * np.eye(4)[a] + (1 - r[:, None]) * np.eye(4)[b]
    got = _np(W.class_reweighted_losses(losses, q, W.KL, 0.7))
    one = _np(W.class_reweighted_losses(losses, np.eye(4)[a], W.KL, 0.7))
    two = _np(W.class_reweighted_losses(losses, np.eye(4)[b], W.KL, 0.7))
    np.testing.assert_allclose(got, r * one + (1 - r) * two, rtol=1e-5)


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"lam": 0.0}, "lam"),
        ({"lam": -1.0}, "lam"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"divergence": "js"}, "divergence"),
        ({"divergence": "tv", "gamma": 2.5}, "gamma"),
        ({"gamma": -0.1}, "gamma"),
        ({"method": "coteaching"}, "method"),
        ({"burn_in": -1}, "burn_in"),
        ({"schedule": "cosine"}, "schedule"),
        ({"epochs": 0}, "epochs"),
        ({"mixup_alpha": 0}, "mixup_alpha"),
    ],
)
def test_invalid_hyperparameters_are_refused(kwargs, name):
    with pytest.raises(InputError) as e:
        T.CiwConfig(**kwargs)
    assert name in str(e.value)


# --- training ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def noisy_digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(d.target))[:600]
    x, y = d.data[idx].astype(np.float32), d.target[idx]
    flip = rng.random(len(y)) < 0.4
    noisy = np.where(flip, (y + rng.integers(1, 10, len(y))) % 10, y)
    return x, noisy, y


def test_objective_is_one_graph_for_every_method_and_weights_sum_to_the_batch():
    import tensorflow as tf

    from frontier.components.trainer.model import build_model

    model = build_model((6, 3), hidden_units=(8,))
    x = tf.random.stateless_normal([5, 6], [0, 0])
    y = tf.constant([0, 1, 2, 0, 1], tf.int32)
    for method in T.METHODS:
        objective = tf.function(
            T.ciw_objective(T.CiwConfig(method=method, burn_in=1), 3, total_steps=10)
        )
        for t in range(3):  # burn-in, then reweighting: no retracing on the step index
            out = objective(model, x, y, tf.constant(t, tf.int32), tf.constant([1, t]))
            assert np.isfinite(float(out["loss"])) and out["weights"].shape == (5,)
            assert float(tf.reduce_sum(out["weights"])) == pytest.approx(5.0, rel=1e-5)
            assert out["probabilities"].shape == (5, 3)
        assert objective.experimental_get_tracing_count() == 1


def test_schedule_is_a_share_of_the_run_unless_set_in_steps():
    config = T.CiwConfig(burn_in_fraction=0.2, anneal_fraction=0.3)
    assert config.lam_schedule(1000) == (config.lam, 200, 300)
    assert config.lam_schedule(120) == (config.lam, 24, 36)
    absolute = T.CiwConfig(burn_in=7, anneal_steps=9)
    assert absolute.lam_schedule(1000) == (absolute.lam, 7, 9)
    assert T.CiwConfig(schedule="constant").lam_schedule(1000)[2] == 0
    # epochs x steps per epoch, bounded by train_steps
    assert T.CiwConfig(epochs=3, batch_size=10).total_steps(95) == 30
    assert T.CiwConfig(epochs=3, batch_size=10, train_steps=12).total_steps(95) == 12


def test_cicw_mixup_burns_in_with_plain_mixup_then_mixes_by_weight():
    # As in the reference code (ciw_label_noise): the burn-in of the mixup variant
    # is plain mixup, not cross-entropy; afterwards the instance weights choose the
    # partners and ratios.
    import dataclasses

    import tensorflow as tf

    from frontier.components.trainer.model import build_model

    model = build_model((6, 3), hidden_units=(8,))
    # Fixed weights of unit scale: Keras' unseeded initialisation gives a nearly
    # uniform softmax, where the two mixing ratios' losses differed by < 0.1 %
    # on some draws and the test failed by chance.
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    x = tf.random.stateless_normal([8, 6], [1, 2])
    y = tf.constant([0, 1, 2, 0, 1, 2, 0, 1], tf.int32)
    cfg = T.CiwConfig(method=T.CICW_MIXUP, burn_in=5)
    objective = {
        m: T.ciw_objective(dataclasses.replace(cfg, method=m), 3, total_steps=100)
        for m in (T.CICW_MIXUP, T.MIXUP, T.CE)
    }

    def loss(method, step, seed=(3, 4)):
        out = objective[method](model, x, y, tf.constant(step), tf.constant(seed, tf.int32))
        return float(out["loss"]), np.asarray(out["weights"])

    burn, w = loss(T.CICW_MIXUP, 4)
    assert burn == pytest.approx(loss(T.MIXUP, 4)[0], rel=1e-6)
    assert burn != pytest.approx(loss(T.CE, 4)[0], rel=1e-3)
    assert burn != pytest.approx(loss(T.CICW_MIXUP, 4, seed=(5, 6))[0], rel=1e-3)
    np.testing.assert_array_equal(w, np.ones(8))
    after, w = loss(T.CICW_MIXUP, 5)
    assert after != pytest.approx(loss(T.MIXUP, 5)[0], rel=1e-3)
    assert np.isfinite(after) and w.sum() == pytest.approx(8.0, rel=1e-5)


def test_ciw_gives_flipped_labels_low_weight_and_beats_ce(noisy_digits):
    x, noisy, clean = noisy_digits
    results = {}
    for method in (T.CE, T.CIW):
        cfg = T.CiwConfig(method=method, epochs=25, burn_in=60, anneal_steps=60, seed=0)
        results[method] = T.train_ciw(x, noisy, (64, 10), cfg, true_labels=clean)
    h = results[T.CIW].history
    assert h["mean_weight_flipped"][-1] < 0.5 * h["mean_weight_clean"][-1]
    assert results[T.CE].history["mean_weight_flipped"][-1] == pytest.approx(1.0)
    # Accuracy on the clean labels of the training inputs: CE memorises the flips.
    assert h["true_accuracy"][-1] > results[T.CE].history["true_accuracy"][-1] + 0.03


def test_train_ciw_is_deterministic_for_a_seed(noisy_digits):
    x, noisy, _ = noisy_digits
    cfg = T.CiwConfig(method=T.CICW_MIXUP, epochs=2, burn_in=5, anneal_steps=5, seed=3)
    a = T.train_ciw(x[:200], noisy[:200], (64, 10), cfg, true_labels=noisy[:200])
    b = T.train_ciw(x[:200], noisy[:200], (64, 10), cfg, true_labels=noisy[:200])
    np.testing.assert_array_equal(a.weight_histogram, b.weight_histogram)
    assert a.history == b.history
    np.testing.assert_array_equal(
        a.model.predict(x[:50], verbose=0), b.model.predict(x[:50], verbose=0)
    )


def test_train_ciw_refuses_bad_labels(noisy_digits):
    x, noisy, _ = noisy_digits
    with pytest.raises(InputError, match="true_label"):
        T.train_ciw(x[:20], noisy[:20], (64, 10), true_labels=np.full(20, 12))
    with pytest.raises(InputError, match="label"):
        T.train_ciw(x[:20], np.full(20, -1), (64, 10))


def test_schedule_warnings_say_when_the_run_is_too_short_for_the_weights():
    from frontier.components.ciw import CiwConfig, schedule_warnings

    # 120 examples in batches of 32: 4 steps an epoch.
    short = CiwConfig(method="ciw", epochs=30, batch_size=32, burn_in=200, anneal_steps=300)
    (warning,) = schedule_warnings(short, 120)
    assert "burn_in is 200 steps but the run has 120" in warning
    assert "never act" in warning
    partial = CiwConfig(method="ciw", epochs=30, batch_size=32, burn_in=20, anneal_steps=300)
    (warning,) = schedule_warnings(partial, 120)
    assert "lambda never comes down" in warning
    long_enough = CiwConfig(method="ciw", epochs=30, batch_size=32, burn_in=20, anneal_steps=50)
    assert schedule_warnings(long_enough, 120) == []
    constant = CiwConfig(method="ciw", epochs=30, batch_size=32, burn_in=20, schedule="constant")
    assert schedule_warnings(constant, 120) == []  # no annealing to finish
    assert schedule_warnings(CiwConfig(method="ce", epochs=1, burn_in=200), 120) == []
    # The default schedule is a share of the run: 120 steps leave 96 to the weights ...
    assert schedule_warnings(CiwConfig(method="ciw", epochs=30, batch_size=32), 120) == []
    # ... and a run of 10 steps too few.
    (warning,) = schedule_warnings(CiwConfig(method="ciw", epochs=10, batch_size=32), 32)
    assert "the weights act for 8 of the run's 10 steps" in warning
