"""DP-FTRL's JAX model modules: the built-in MLP, a user's module, the jax2tf export, bad modules."""

from __future__ import annotations

import json
import os
import textwrap

import jax
import numpy as np
import pytest
from conftest import TINY_FEDERATED, examples_artifact, federated_examples, run_executor

from frontier.components.common.errors import InputError

# A user's module: two layers, parameters a nested dict and tuple, sized by custom_config.
TWO_LAYER = """
import jax
import jax.numpy as jnp


def init(rng, input_shape, num_classes, config):
    (d,) = input_shape
    hidden = config.get("hidden", 8)
    k1, k2 = jax.random.split(rng)
    return {
        "hidden": {"w": jax.random.normal(k1, (d, hidden)) / jnp.sqrt(d), "b": jnp.zeros(hidden)},
        "out": (jax.random.normal(k2, (hidden, num_classes)) / jnp.sqrt(hidden),
                jnp.zeros(num_classes)),
    }


def apply(params, x):
    h = jnp.tanh(x @ params["hidden"]["w"] + params["hidden"]["b"])
    w, b = params["out"]
    return h @ w + b
"""


def _write(path, text: str) -> str:
    path.write_text(textwrap.dedent(text))
    return str(path)


def _data(seed=0, n=240, d=6, classes=3, clients=24):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32) * 4.0
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 2)
    return x, y, rng.integers(0, clients, size=n)


def _config(**overrides):
    from frontier.components.dp_ftrl import FederatedConfig

    return FederatedConfig(**{**TINY_FEDERATED, "hidden_units": (7,), **overrides})


def test_the_builtin_module_is_the_mlp_of_before():
    from frontier.components.dp_ftrl import builtin_model, load_model, train_federated
    from frontier.components.dp_ftrl.model import flatten_params, init_params, model_logits

    model = builtin_model((7,))
    params = model.check((6,), 3, seed=123)
    want = init_params(6, 3, (7,), seed=123)  # the same NumPy draw, kernel-first layout
    np.testing.assert_array_equal(flatten_params(params), flatten_params(want))
    x = np.random.default_rng(1).normal(size=(5, 6)).astype(np.float32)
    mean, inv_std = np.full(6, 0.5, np.float32), np.full(6, 2.0, np.float32)
    np.testing.assert_array_equal(
        model.apply(params, (x - mean) * inv_std), model_logits(params, x, mean, inv_std)
    )
    loaded = load_model(hidden_units=(7,), custom_config={"extra": 1})
    assert loaded.apply is model.apply and loaded.config == {"hidden_units": [7], "extra": 1}
    x, y, ids = _data()
    default = train_federated(x, y, ids, _config(), "dp_ftrl", standardize_with=x[:50])
    named = train_federated(x, y, ids, _config(), "dp_ftrl", standardize_with=x[:50], model=model)
    np.testing.assert_array_equal(flatten_params(default.params), flatten_params(named.params))
    assert default.params[0]["kernel"].shape == (6, 7)  # still the MLP's layers


def test_a_user_module_trains_and_its_export_agrees_with_jax(tmp_path):
    """Plain functions: train a user's pytree model, export it with jax2tf (the feature scale
    folded in) and compare the SavedModel's probabilities with JAX's on held-out inputs."""
    from frontier.components.dp_ftrl import load_model, train_federated
    from frontier.components.dp_ftrl.export import (
        jax_probabilities,
        save_model_artifact,
        saved_model_probabilities,
    )
    from frontier.components.trainer.export import model_info
    from frontier.schemas.dataset import DatasetInfo

    module = load_model(module_file=_write(tmp_path / "two_layer.py", TWO_LAYER),
                        custom_config='{"hidden": 5}')  # fmt: skip
    x, y, ids = _data()
    scale = 4.0
    result = train_federated(
        x / scale, y, ids, _config(), "fedavg", eval_data=(x[:60] / scale, y[:60]), model=module
    )
    assert result.params["hidden"]["w"].shape == (6, 5) and len(result.params["out"]) == 2
    first = jax.tree_util.tree_leaves(module.check((6,), 3))
    assert not np.allclose(jax.tree_util.tree_leaves(result.params)[0], first[0])  # trained
    acc, _ = result.evaluate(x[:60] / scale, y[:60])
    assert acc == result.history[-1]["eval_accuracy"]
    info = DatasetInfo(feature_keys=("x",), feature_dims=(6,), class_names=("a", "b", "c"))
    path = save_model_artifact(
        result.apply, result.params, info, str(tmp_path / "model"), x[60:],
        name=module.name, feature_scale=scale,
    )  # fmt: skip
    want = jax_probabilities(result.apply, result.params, x[60:], feature_scale=scale)
    got = saved_model_probabilities(path, x[60:])
    assert got.shape == (180, 3) and np.max(np.abs(got - want)) < 1e-5
    np.testing.assert_array_equal(np.argmax(want, 1), np.argmax(result.logits(x[60:] / scale), 1))
    assert model_info(str(tmp_path / "model")).class_names == ("a", "b", "c")
    # An empty request is served too (the converted function is skipped).
    assert saved_model_probabilities(path, np.zeros((0, 6), np.float32)).shape[0] == 0


def _executor(tmp_path, examples_uri, name="run", module_file=None, custom_config=None):
    from frontier.components.dp_ftrl import FederatedConfig, spec
    from frontier.components.dp_ftrl.executor import Executor

    params = {
        spec.MECHANISM_KEY: "dp_ftrl",
        spec.BASELINES_KEY: json.dumps([]),
        spec.PRIVACY_BUDGET_KEY: 0.0,
        spec.FEATURE_SCALE_KEY: 16.0,
        spec.MODULE_FILE_KEY: module_file,
        spec.CUSTOM_CONFIG_KEY: custom_config,
        **spec.config_to_properties(FederatedConfig(**TINY_FEDERATED)),
    }
    examples = {spec.EXAMPLES_KEY: examples_artifact(examples_uri)}
    return run_executor(Executor, tmp_path / name, examples, params)


def test_the_executor_trains_a_user_module_and_exports_the_trainers_contract(
    tmp_path, digits_examples_uri
):
    from frontier.components.dp_ftrl import spec
    from frontier.components.trainer import predict_examples

    uri = federated_examples(tmp_path, digits_examples_uri)
    module = _write(tmp_path / "two_layer.py", TWO_LAYER)
    out = _executor(tmp_path, uri, module_file=module, custom_config='{"hidden": 12}')
    model = out[spec.MODEL_KEY]
    assert os.path.isfile(os.path.join(model.uri, "Format-Serving", "saved_model.pb"))
    preds = predict_examples(model.uri, uri, "eval")  # serialized tf.Examples, as TFMA feeds
    assert preds["probabilities"].shape == (80, 10)
    np.testing.assert_allclose(preds["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    accuracy = float(np.mean(preds["classes"] == preds["label"]))
    assert accuracy == pytest.approx(model.get_float_custom_property(spec.EVAL_ACCURACY_PROPERTY))
    assert model.get_string_custom_property(spec.MECHANISM_PROPERTY) == "dp_ftrl_tree_aggregation"


MISSING_APPLY = "def init(rng, input_shape, num_classes, config):\n    return {}\n"
WRONG_SHAPE = TWO_LAYER.replace("return h @ w + b", "return (h @ w + b)[:, :2]")


@pytest.mark.parametrize(
    "name, source, custom_config, match",
    [
        ("missing", None, None, r"missing\.py: no such module file"),
        ("broken", "import no_such_package_here\n", None, r"cannot import .*no_such_package"),
        ("no_init", "def apply(params, x):\n    return x\n", None, r"has no function 'init'"),
        ("no_apply", MISSING_APPLY, None, r"no_apply\.py has no function 'apply'"),
        ("wrong", WRONG_SHAPE, None, r"wrong\.py: apply returned .*\(2, 2\).*\[2, 10\]"),
        ("config", TWO_LAYER, "[1, 2]", r"custom_config is list"),
    ],
)
def test_bad_modules_are_refused_before_training_and_nothing_is_written(
    tmp_path, digits_examples_uri, name, source, custom_config, match
):
    uri = federated_examples(tmp_path, digits_examples_uri)
    path = tmp_path / f"{name}.py"
    if source is not None:
        _write(path, source)
    with pytest.raises(InputError, match=match):
        _executor(tmp_path, uri, name, module_file=str(path), custom_config=custom_config)
    assert not [f for _, _, files in os.walk(tmp_path / name) for f in files]


def test_module_checks_name_the_function_and_what_was_expected(tmp_path):
    from frontier.components.dp_ftrl import JaxModel
    from frontier.components.dp_ftrl import export as dp_export

    ints = JaxModel("ints.py", lambda rng, shape, c, config: {"w": np.ones(3, int)}, None)
    with pytest.raises(InputError, match=r"ints\.py: init returned a pytree with a leaf .*int"):
        ints.check((6,), 3)
    raising = JaxModel("raising.py", lambda *a: [np.ones((6, 3))], lambda p, x: x @ p[1])
    with pytest.raises(InputError, match=r"raising\.py: apply raised IndexError") as e:
        raising.check((6,), 3)
    assert e.value.function == "apply"
    nan = JaxModel("nan.py", lambda *a: [np.ones((6, 3))], lambda p, x: x @ p[0] / 0.0 * 0.0)
    with pytest.raises(InputError, match=r"nan\.py: apply returned logits that are not all"):
        nan.check((6,), 3)
    # An export that does not agree with JAX is refused and removed.
    good = JaxModel("good.py", lambda *a: [np.ones((6, 3), np.float32)], lambda p, x: x @ p[0])
    from frontier.schemas.dataset import DatasetInfo

    info = DatasetInfo(feature_keys=("x",), feature_dims=(6,), class_names=("a", "b", "c"))
    params = good.check((6,), 3)
    x = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    original = dp_export.saved_model_probabilities
    try:
        dp_export.saved_model_probabilities = lambda path, x: original(path, x) + 1e-3
        with pytest.raises(InputError, match=r"good\.py: the exported SavedModel's .* differ"):
            dp_export.save_model_artifact(
                good.apply, params, info, str(tmp_path / "m"), x, name=good.name
            )
    finally:
        dp_export.saved_model_probabilities = original
    assert not os.path.exists(tmp_path / "m" / "Format-Serving")


def test_component_takes_a_module_and_keys_the_cache_on_its_source(tmp_path):
    from tfx.types import channel_utils, standard_artifacts

    from frontier.components.common.versioning import COMPONENT_VERSION_KEY
    from frontier.components.dp_ftrl import DpFtrlTrainer, spec

    examples = channel_utils.as_channel([standard_artifacts.Examples()])
    module = tmp_path / "two_layer.py"
    _write(module, TWO_LAYER)
    first = DpFtrlTrainer(examples=examples, module_file=str(module), custom_config={"hidden": 4})
    again = DpFtrlTrainer(examples=examples, module_file=str(module), custom_config={"hidden": 4})
    builtin = DpFtrlTrainer(examples=examples)
    versions = [c.exec_properties[COMPONENT_VERSION_KEY] for c in (first, again, builtin)]
    assert versions[0] == versions[1] != versions[2]
    assert first.exec_properties[spec.CUSTOM_CONFIG_KEY] == '{"hidden": 4}'
    assert first.exec_properties[spec.MODULE_FILE_KEY] == str(module)
    _write(module, TWO_LAYER.replace("jnp.tanh", "jax.nn.relu"))
    edited = DpFtrlTrainer(examples=examples, module_file=str(module))
    assert edited.exec_properties[COMPONENT_VERSION_KEY] != versions[0]
    with pytest.raises(InputError, match=r"no such module file.*init and apply"):
        DpFtrlTrainer(examples=examples, module_file=str(tmp_path / "missing.py"))
    with pytest.raises(InputError, match="custom_config"):
        DpFtrlTrainer(examples=examples, module_file=str(module), custom_config="[1]")
    with pytest.raises(InputError, match="one of module_file and module_path"):
        DpFtrlTrainer(examples=examples, module_file=str(module), module_path="json")
