"""Several devices: one step on two replicas equals one step on one device.

TensorFlow fixes its devices when it first starts, so the comparison runs in a
fresh process that splits the CPU into two logical devices (as a worker's
GPUs are split into replicas), trains the same classifier from the same
initial weights on the same global batch under a two-replica
`MirroredStrategy` and under one device, and prints what the test compares.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

SCRIPT = textwrap.dedent(
    """
    import json
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras
    import numpy as np

    from frontier.components.ciw.train import CiwConfig, ciw_objective, fit_ciw
    from frontier.components.trainer.model import build_model, fit_batches
    from frontier.components.trainer.step import local_strategy

    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6)).astype("float32")
    y = rng.integers(0, 3, 16)
    true_y = y.copy()
    true_y[:3] = (y[:3] + 1) % 3
    config = CiwConfig(method="ciw", burn_in=0, anneal_steps=0, lam=0.5, epochs=1,
                       batch_size=16, train_steps=1, seed=0)

    def classifier(strategy):
        with strategy.scope():
            keras.utils.set_random_seed(0)
            return build_model((6, 3), hidden_units=(8,))

    def weights(strategy):
        model = classifier(strategy)
        objective = ciw_objective(config, 3, total_steps=1)
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
        batch = next(iter(strategy.experimental_distribute_dataset(data)))

        def replica(xb, yb):
            out = objective(model, xb, tf.cast(yb, tf.int32), tf.constant(5), tf.constant([0, 5]))
            return out["weights"], out["loss"]

        w, loss = strategy.run(replica, args=batch)
        w = tf.concat(strategy.experimental_local_results(w), 0).numpy()
        loss = float(strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None))
        return w.tolist(), loss

    def one_step(strategy, method):
        model = classifier(strategy)
        before = [v.numpy() for v in model.trainable_variables]
        if method == "ce":
            data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).repeat()
            fit_batches(model, data, epochs=1, learning_rate=0.01, steps_per_epoch=1,
                        strategy=strategy)
        else:
            data = tf.data.Dataset.from_tensor_slices((x, y, true_y)).batch(16).repeat()
            fit_ciw(model, data, config, 3, steps_per_epoch=1, strategy=strategy)
        return [(v.numpy() - b).tolist() for v, b in zip(model.trainable_variables, before)]

    one, two = local_strategy(["/cpu:0"]), local_strategy(["/cpu:0", "/cpu:1"])
    print(json.dumps({
        "replicas": [one.num_replicas_in_sync, two.num_replicas_in_sync],
        "weights": [weights(one), weights(two)],
        "ciw_step": [one_step(one, "ciw"), one_step(two, "ciw")],
        "ce_step": [one_step(one, "ce"), one_step(two, "ce")],
    }))
    """
)


@pytest.fixture(scope="module")
def compared():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_replicas_run(compared):
    assert compared["replicas"] == [1, 2]


def test_ciw_weights_are_normalised_over_the_global_batch(compared):
    (w_one, loss_one), (w_two, loss_two) = compared["weights"]
    np.testing.assert_allclose(w_two, w_one, rtol=1e-5, atol=1e-6)
    assert sum(w_two) == pytest.approx(16.0, rel=1e-5)
    assert np.std(w_one) > 0.01  # the weights differ between examples: reweighting acted
    assert loss_two == pytest.approx(loss_one, rel=1e-5)


@pytest.mark.parametrize("method", ["ciw_step", "ce_step"])
def test_one_step_on_two_replicas_equals_one_device(compared, method):
    one, two = compared[method]
    for a, b in zip(one, two, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    assert max(np.abs(np.asarray(a)).max() for a in one) > 1e-4  # the step moved the weights
