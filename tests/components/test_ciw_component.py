"""The CiwTrainer component: parameters checked at construction, the executor run directly."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from conftest import TINY_NETWORK, examples_artifact, run_executor

from frontier.components.common.errors import InputError

NOISE_RATE = 0.3


def _noisy_examples(tmp_path):
    """The tiny digits with 30% of the labels flipped, in both splits, and `true_label`.

    Unlike Ingest (which keeps `eval` clean) the eval labels are flipped too,
    so that a test can tell which column the eval metrics are scored on.
    """
    from conftest import tiny_digits
    from tfx.types import standard_artifacts

    from frontier.components.common.examples_io import write_examples
    from frontier.schemas.dataset import TRUE_LABEL_KEY

    info, splits = tiny_digits()
    rng = np.random.default_rng(0)
    for arrays in splits.values():
        clean = arrays["label"]
        flip = rng.random(len(clean)) < NOISE_RATE
        arrays[TRUE_LABEL_KEY] = clean
        arrays["label"] = np.where(flip, (clean + rng.integers(1, 10, len(clean))) % 10, clean)
    info = dataclasses.replace(info, role_keys=(*info.role_keys, TRUE_LABEL_KEY))
    artifact = standard_artifacts.Examples()
    artifact.uri = str(tmp_path / "noisy_examples")
    write_examples(artifact, splits, info)
    return artifact, splits


def _run_executor(tmp_path, examples, **params):
    from frontier.components.ciw import spec
    from frontier.components.ciw.executor import Executor

    exec_properties = {
        spec.METHOD_KEY: "ciw",
        spec.ALPHA_KEY: spec.DEFAULT_ALPHA,
        spec.LAM_KEY: 1.0,  # fixed here, not the tuned default: the data are tiny
        spec.DIVERGENCE_KEY: spec.DEFAULT_DIVERGENCE,
        spec.GAMMA_KEY: spec.DEFAULT_GAMMA,
        spec.BURN_IN_KEY: 14,
        spec.SCHEDULE_KEY: "constant",
        spec.ANNEAL_STEPS_KEY: 0,
        spec.MIXUP_ALPHA_KEY: spec.DEFAULT_MIXUP_ALPHA,
        **TINY_NETWORK,
        spec.EPOCHS_KEY: 6,
        **params,
    }
    return run_executor(Executor, tmp_path, {spec.EXAMPLES_KEY: examples}, exec_properties)


def _event_files(log_dir: str) -> list[str]:
    import tensorflow as tf

    return tf.io.gfile.glob(os.path.join(log_dir, "events.out.tfevents.*"))


def test_spec_defaults_are_ciw_configs():
    from frontier.components.ciw import CiwConfig, spec

    fields = dataclasses.fields(CiwConfig)
    assert spec.CONFIG_KEYS == tuple(f.name for f in fields)
    defaults = CiwConfig()
    for key in spec.CONFIG_KEYS:
        assert getattr(spec, f"DEFAULT_{key.upper()}") == getattr(defaults, key), key
        assert key in spec.CiwTrainerSpec.PARAMETERS


def test_component_validates_parameters_at_construction():
    from tfx import types
    from tfx.types import standard_artifacts

    from frontier.components import CiwTrainer as FromComponents
    from frontier.components.ciw import CiwTrainer, spec
    from frontier.components.common.versioning import COMPONENT_VERSION_KEY, code_version

    assert FromComponents is CiwTrainer
    examples = types.Channel(type=standard_artifacts.Examples)
    trainer = CiwTrainer(examples=examples, method="cicw_mixup", alpha=2, hidden_units=[16, 8])
    props = trainer.exec_properties
    assert props[spec.METHOD_KEY] == "cicw_mixup" and props[spec.HIDDEN_UNITS_KEY] == "[16, 8]"
    assert props[spec.ALPHA_KEY] == 2.0 and isinstance(props[spec.ALPHA_KEY], float)
    assert props[spec.EPOCHS_KEY] == spec.DEFAULT_EPOCHS
    assert props[spec.LABEL_KEY_KEY] == "label"
    assert props[COMPONENT_VERSION_KEY] == code_version("ciw", "trainer")
    assert set(trainer.outputs) == {spec.MODEL_KEY, spec.MODEL_RUN_KEY, spec.VISUALIZATION_KEY}
    for bad in (
        dict(method="bootstrap"),
        dict(alpha=0.0),
        dict(lam=-1.0),
        dict(divergence="js"),
        dict(divergence="tv", gamma=2.5),
        dict(burn_in=-1),
        dict(burn_in_fraction=1.0),
        dict(anneal_fraction=-0.1),
        dict(train_steps=-3),
        dict(schedule="cosine"),
        dict(anneal_steps=1.5),
        dict(mixup_alpha=0.0),
        dict(epochs=0),
        dict(batch_size=0),
        dict(learning_rate=float("nan")),
        dict(seed="0"),
        dict(model_type="resnet"),
        dict(hidden_units="[128,"),
        dict(label_key="client_id"),
    ):
        name = "gamma" if "gamma" in bad else next(iter(bad))
        with pytest.raises(InputError, match=f"parameter '{name}'"):
            CiwTrainer(examples=examples, **bad)


def test_executor_with_true_labels_reports_clean_and_flipped_weights(tmp_path):
    from frontier.components.ciw import spec
    from frontier.components.ciw.report import WEIGHTS_SECTION
    from frontier.components.trainer import export

    examples, splits = _noisy_examples(tmp_path)
    out = _run_executor(tmp_path, examples)
    model = out[spec.MODEL_KEY]

    # The SavedModel serves, as the Trainer's does.
    preds = export.predict_examples(model.uri, examples.uri, "eval")
    assert preds["probabilities"].shape == (80, 10)
    keras_model = export.load_keras_model(model.uri)
    np.testing.assert_allclose(
        preds["probabilities"],
        keras_model.predict(splits["eval"]["x"], verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )

    assert model.get_string_custom_property(spec.METHOD_PROPERTY) == "ciw"
    assert model.get_string_custom_property(spec.MODEL_TYPE_PROPERTY) == "mlp"
    # The eval split is scored on its clean `true_label`, not its (here noisy) `label`.
    clean_accuracy = float(np.mean(preds["classes"] == splits["eval"]["true_label"]))
    eval_accuracy = model.get_float_custom_property(spec.EVAL_ACCURACY_PROPERTY)
    assert eval_accuracy == pytest.approx(clean_accuracy, abs=1e-6)
    assert eval_accuracy > 0.3 and model.get_float_custom_property(spec.EVAL_LOSS_PROPERTY) > 0
    train = splits["train"]
    flipped = train["label"] != train["true_label"]
    assert model.get_float_custom_property(spec.FLIPPED_FRACTION_PROPERTY) == pytest.approx(
        flipped.mean()
    )
    train_pred = keras_model.predict(train["x"], verbose=0).argmax(axis=1)
    assert model.get_float_custom_property(spec.TRUE_TRAIN_ACCURACY_PROPERTY) == pytest.approx(
        np.mean(train_pred == train["true_label"]), abs=1e-6
    )
    assert model.get_float_custom_property(spec.TRAIN_ACCURACY_PROPERTY) == pytest.approx(
        np.mean(train_pred == train["label"]), abs=1e-6
    )
    # CIW down-weights the flipped labels.
    clean_weight = model.get_float_custom_property(spec.MEAN_WEIGHT_CLEAN_PROPERTY)
    flipped_weight = model.get_float_custom_property(spec.MEAN_WEIGHT_FLIPPED_PROPERTY)
    assert clean_weight > 1.0 > flipped_weight

    run = out[spec.MODEL_RUN_KEY].uri
    assert _event_files(os.path.join(run, "train")) and _event_files(
        os.path.join(run, "validation")
    )
    page = open(os.path.join(out[spec.VISUALIZATION_KEY].uri, "index.html")).read()
    assert WEIGHTS_SECTION in page and "flipped labels" in page and "true_accuracy" in page
    assert page.count("data:image/png;base64") == 2
    assert out[spec.VISUALIZATION_KEY].get_string_custom_property("title").endswith("(ciw)")


def test_executor_without_true_labels(tmp_path, digits_examples_uri):
    from frontier.components.ciw import spec
    from frontier.components.ciw.report import WEIGHTS_SECTION

    out = _run_executor(tmp_path, examples_artifact(digits_examples_uri), method="ce", epochs=1)
    model = out[spec.MODEL_KEY]
    assert model.get_string_custom_property(spec.METHOD_PROPERTY) == "ce"
    assert model.get_float_custom_property(spec.EVAL_ACCURACY_PROPERTY) > 0.2
    for key in (
        spec.TRUE_TRAIN_ACCURACY_PROPERTY,
        spec.MEAN_WEIGHT_CLEAN_PROPERTY,
        spec.MEAN_WEIGHT_FLIPPED_PROPERTY,
    ):
        assert not model.has_custom_property(key)
    page = open(os.path.join(out[spec.VISUALIZATION_KEY].uri, "index.html")).read()
    assert WEIGHTS_SECTION in page and "all examples" in page and "does not reweight" in page
    assert "flipped labels" not in page


def test_executor_rejects_bad_input(tmp_path, digits_examples_uri):
    examples = examples_artifact(digits_examples_uri)
    with pytest.raises(InputError, match=r"dataset_info\.json, column 'true_label'"):
        _run_executor(tmp_path, examples, label_key="true_label")
    with pytest.raises(InputError, match=r"parameter 'lam': lam = 0\.0"):
        _run_executor(tmp_path, examples, lam=0.0)
