"""Baseline trainer: model building, seeded training, the SavedModel contract, the component."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import TINY_NETWORK, run_executor

from frontier.components.common.errors import InputError
from frontier.components.trainer import export
from frontier.components.trainer import model as tm
from frontier.schemas.dataset import DatasetInfo

INFO = DatasetInfo(
    feature_keys=("pixels",),
    feature_dims=(64,),
    class_names=tuple(str(i) for i in range(10)),
    image_shape=(8, 8, 1),
    source="sklearn digits",
)
# Two features, to check that serving concatenates them in feature_keys order.
TWO_FEATURES = DatasetInfo(
    feature_keys=("top", "bottom"),
    feature_dims=(32, 32),
    class_names=INFO.class_names,
    role_keys=("label", "example_id", "client_id"),
)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.float32), d.target.astype(np.int64)


def _arrays(x, y, idx, info=INFO):
    out = {
        "x": x[idx],
        "label": y[idx],
        "example_id": np.array([b"e%d" % i for i in idx], dtype=object),
    }
    if info.has("client_id"):
        out["client_id"] = np.array([b"c%d" % (i % 2) for i in idx], dtype=object)
    return out


def _examples(tmp_path, digits, splits=("train", "eval"), info=INFO, n=(300, 100)):
    from tfx.types import standard_artifacts

    from frontier.components.common.examples_io import write_examples

    x, y = digits
    artifact = standard_artifacts.Examples()
    artifact.uri = str(tmp_path / "examples")
    ranges = {"train": np.arange(0, n[0]), "eval": np.arange(n[0], n[0] + n[1])}
    write_examples(artifact, {s: _arrays(x, y, ranges[s], info) for s in splits}, info)
    return artifact


# --- model.py -----------------------------------------------------------------------------


def test_build_model_shapes():
    mlp = tm.build_model(INFO, "mlp", hidden_units=(16, 8))
    assert mlp.input_shape == (None, 64) and mlp.output_shape == (None, 10)
    conv = tm.build_model(INFO, "convnet", hidden_units=(8,))
    assert conv.output_shape == (None, 10)
    widths = [layer.filters for layer in conv.layers if layer.name.startswith("conv")]
    assert widths == list(tm.DEFAULT_CONV_FILTERS)
    # conv_filters are the conv layers' widths; pooling stops at 1x1 (8 -> 4 -> 2 -> 1).
    conv = tm.build_model(INFO, "convnet", hidden_units=(), conv_filters=(3, 5, 7, 2))
    convs = [layer for layer in conv.layers if layer.name.startswith("conv")]
    assert [layer.filters for layer in convs] == [3, 5, 7, 2]
    assert convs[-1].output.shape[1:] == (1, 1, 2)
    assert not any(
        layer.name.startswith("conv")
        for layer in tm.build_model(INFO, "convnet", hidden_units=(), conv_filters=()).layers
    )
    out = tm.build_model((5, 3), hidden_units=())(np.zeros((2, 5), np.float32))
    np.testing.assert_allclose(np.sum(out, axis=1), 1.0, rtol=1e-5)


def test_build_model_rejects_convnet_without_image_and_unknown_type():
    with pytest.raises(InputError, match="image_shape"):
        tm.build_model(TWO_FEATURES, "convnet")
    with pytest.raises(InputError, match="model_type"):
        tm.build_model(INFO, "resnet")
    with pytest.raises(InputError, match="^parameter 'class_names': 1 class"):
        tm.build_model((5, 1))


def test_feature_stats_keeps_constant_columns_finite():
    x = np.array([[0.0, 1.0], [0.0, 3.0]], np.float32)
    mean, var = tm.feature_stats(x)
    np.testing.assert_allclose(mean, [0.0, 2.0])
    np.testing.assert_allclose(var, [1.0, 1.0])  # constant column -> variance 1, not ~0


def test_feature_stats_are_per_channel_for_images():
    # Two 1x2 RGB-like images with 2 channels: HWC order, so columns alternate channels.
    x = np.array([[0.0, 10.0, 2.0, 10.0], [4.0, 10.0, 6.0, 10.0]], np.float32)
    mean, var = tm.feature_stats(x, image_shape=(1, 2, 2))
    np.testing.assert_allclose(mean, [3.0, 10.0, 3.0, 10.0])
    np.testing.assert_allclose(var, [5.0, 1.0, 5.0, 1.0])  # channel 1 is constant -> 1


def test_train_is_seeded_and_learns(digits):
    x, y = digits
    kwargs = dict(hidden_units=(32,), epochs=3, batch_size=32, learning_rate=0.01)
    m1, h1 = tm.train(
        x[:300], y[:300], INFO, seed=3, validation_data=(x[300:500], y[300:500]), **kwargs
    )
    m2, h2 = tm.train(
        x[:300], y[:300], INFO, seed=3, validation_data=(x[300:500], y[300:500]), **kwargs
    )
    assert h1 == h2
    for w1, w2 in zip(m1.get_weights(), m2.get_weights(), strict=True):
        np.testing.assert_array_equal(w1, w2)
    assert set(h1) == {"loss", "accuracy", "val_loss", "val_accuracy"} and len(h1["loss"]) == 3
    assert h1["val_accuracy"][-1] > 0.7  # chance is 0.1
    _, h3 = tm.train(x[:300], y[:300], INFO, seed=4, **kwargs)
    assert h3["loss"] != h1["loss"]


def test_train_convnet_and_progress_callback(digits):
    x, y = digits
    seen = []
    _, history = tm.train(
        x[:200],
        y[:200],
        INFO,
        model_type="convnet",
        hidden_units=(),
        epochs=2,
        on_epoch_end=lambda epoch, logs: seen.append((epoch, sorted(logs))),
    )
    assert [e for e, _ in seen] == [0, 1] and "loss" in seen[0][1]
    assert len(history["loss"]) == 2


def test_sample_weight_scales_each_examples_loss(digits):
    import keras

    x, y = digits[0][:64], digits[1][:64]
    kwargs = dict(hidden_units=(8,), epochs=2, batch_size=16, seed=5)
    _, plain = tm.train(x, y, INFO, **kwargs)
    _, ones = tm.train(x, y, INFO, sample_weight=np.ones(64), **kwargs)
    assert ones == plain  # weight 1 everywhere is plain training
    # Weight 0 everywhere: zero loss, zero gradients, the initial weights unchanged.
    model, zeros = tm.train(x, y, INFO, sample_weight=np.zeros(64), **kwargs)
    assert zeros["loss"] == [0.0, 0.0]
    keras.utils.set_random_seed(5)
    initial = tm.build_model(INFO, hidden_units=(8,), train_x=x)
    for w, w0 in zip(model.get_weights(), initial.get_weights(), strict=True):
        np.testing.assert_array_equal(w, w0)


def test_train_rejects_bad_input(digits):
    x, y = digits
    with pytest.raises(InputError, match="epochs"):
        tm.train(x[:10], y[:10], INFO, epochs=0)
    with pytest.raises(InputError, match="learning_rate"):
        tm.train(x[:10], y[:10], INFO, learning_rate=0.0)
    bad = y[:10].copy()
    bad[4] = 12
    with pytest.raises(InputError, match=r"row 5.*column 'label'.*\[0, 10\)"):
        tm.train(x[:10], bad, INFO)
    with pytest.raises(InputError, match="columns"):
        tm.train(x[:10, :5], y[:10], INFO)
    with pytest.raises(InputError, match=r"sample_weight.*shape \[10\]"):
        tm.train(x[:10], y[:10], INFO, sample_weight=np.ones(9))
    with pytest.raises(InputError, match=r"row 3, column 'sample_weight'"):
        tm.train(x[:10], y[:10], INFO, sample_weight=[1, 1, -1, 1, 1, 1, 1, 1, 1, np.nan])
    with pytest.raises(InputError, match="initial_model maps 5 inputs to 3 classes"):
        tm.train(x[:10], y[:10], INFO, initial_model=tm.build_model((5, 3)))


def test_parse_hidden_units():
    assert tm.parse_hidden_units("[64, 32]") == (64, 32)
    assert tm.parse_hidden_units([8]) == (8,)
    assert tm.parse_hidden_units("[]") == ()
    for bad in ("[0]", "64,", '["a"]', "[1.5]"):
        with pytest.raises(InputError, match="hidden_units"):
            tm.parse_hidden_units(bad)


# --- export.py ----------------------------------------------------------------------------


def test_saved_model_reproduces_keras_predictions(tmp_path, digits):
    from frontier.components.common.examples_io import to_tf_example

    x, y = digits
    model, first = tm.train(x[:200], y[:200], TWO_FEATURES, hidden_units=(16,), epochs=1)
    path = export.save_model_artifact(model, TWO_FEATURES, str(tmp_path / "model"))
    assert path == str(tmp_path / "model" / "Format-Serving")
    from tfx.utils import path_utils

    assert path == path_utils.serving_model_path(str(tmp_path / "model"))
    assert export.model_info(str(tmp_path / "model")) == TWO_FEATURES

    idx = np.arange(200, 260)
    rows = _arrays(x, y, idx, TWO_FEATURES)
    records = [
        to_tf_example(
            {
                "top": x[i, :32],
                "bottom": x[i, 32:],
                **{k: rows[k][j] for k in TWO_FEATURES.role_keys},
            },
            TWO_FEATURES,
        ).SerializeToString()
        for j, i in enumerate(idx)
    ]
    expected = model.predict(x[idx], verbose=0)
    fn = export.load_serving_signature(str(tmp_path / "model"))
    assert list(fn.structured_input_signature[1]) == ["examples"]
    out = export.predict_serialized(fn, records, batch_size=16)  # several batches
    assert out["probabilities"].dtype == np.float32 and out["probabilities"].shape == (60, 10)
    assert out["classes"].dtype == np.int64
    np.testing.assert_allclose(out["probabilities"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["classes"], expected.argmax(axis=1))

    # A request carrying only the features (no label, no ids) is served too.
    import tensorflow as tf

    bare = tf.train.Example()
    bare.features.feature["top"].float_list.value.extend(x[200, :32])
    bare.features.feature["bottom"].float_list.value.extend(x[200, 32:])
    one = export.predict_serialized(fn, [bare.SerializeToString()])
    np.testing.assert_allclose(one["probabilities"][0], expected[0], rtol=1e-5, atol=1e-6)

    feats = export.load_serving_signature(str(tmp_path / "model"), export.FEATURES_SIGNATURE)
    np.testing.assert_allclose(
        feats(x=tf.constant(x[idx]))["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6
    )
    keras_model = export.load_keras_model(str(tmp_path / "model"))
    np.testing.assert_allclose(
        keras_model.predict(x[idx], verbose=0), expected, rtol=1e-5, atol=1e-6
    )

    # Warm start from the saved Keras model: training goes on from where it stopped.
    warm, second = tm.train(x[:200], y[:200], TWO_FEATURES, initial_model=keras_model, epochs=1)
    assert warm is keras_model
    assert second["loss"][0] < first["loss"][0]


def test_predict_examples_reads_a_split(tmp_path, digits):
    x, y = digits
    examples = _examples(tmp_path, digits, info=TWO_FEATURES, n=(100, 50))
    model, _ = tm.train(x[:100], y[:100], TWO_FEATURES, hidden_units=(8,), epochs=1)
    export.save_model_artifact(model, TWO_FEATURES, str(tmp_path / "model"))
    out = export.predict_examples(str(tmp_path / "model"), examples.uri, "eval", batch_size=20)
    np.testing.assert_array_equal(out["label"], y[100:150])
    assert out["client_id"][0] == b"c0" and out["probabilities"].shape == (50, 10)
    np.testing.assert_allclose(
        out["probabilities"], model.predict(x[100:150], verbose=0), rtol=1e-5, atol=1e-6
    )


# --- component and executor ---------------------------------------------------------------


def test_component_validates_parameters_at_construction():
    from tfx import types
    from tfx.types import standard_artifacts

    from frontier.components.common.versioning import COMPONENT_VERSION_KEY, code_version
    from frontier.components.trainer import Trainer, spec

    examples = types.Channel(type=standard_artifacts.Examples)
    trainer = Trainer(examples=examples, epochs=2, hidden_units=[32, 16], model_type="convnet")
    props = trainer.exec_properties
    assert props[spec.HIDDEN_UNITS_KEY] == "[32, 16]" and props[spec.EPOCHS_KEY] == 2
    assert props[COMPONENT_VERSION_KEY] == code_version("trainer")
    assert set(trainer.outputs) == {spec.MODEL_KEY, spec.MODEL_RUN_KEY, spec.VISUALIZATION_KEY}
    for bad, match in (
        (dict(epochs=0), "epochs"),
        (dict(batch_size=0), "batch_size"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(learning_rate=-1e-3), "learning_rate"),
        (dict(model_type="resnet"), "model_type"),
        (dict(hidden_units="[128,"), "hidden_units"),
        (dict(label_key="client_id"), "label_key"),
    ):
        with pytest.raises(InputError, match=match):
            Trainer(examples=examples, **bad)


def _run_executor(tmp_path, examples, **params):
    from frontier.components.trainer import spec
    from frontier.components.trainer.executor import Executor

    base = {**TINY_NETWORK, spec.EPOCHS_KEY: 2}
    return run_executor(Executor, tmp_path, {spec.EXAMPLES_KEY: examples}, {**base, **params})


def test_executor_writes_model_logs_and_report(tmp_path, digits):
    import tensorflow as tf

    from frontier.components.trainer import spec

    examples = _examples(tmp_path, digits)
    out = _run_executor(tmp_path, examples)
    model_uri = out[spec.MODEL_KEY].uri
    assert tf.io.gfile.exists(os.path.join(model_uri, "Format-Serving", "saved_model.pb"))
    assert tf.io.gfile.exists(os.path.join(model_uri, "Format-Serving", "dataset_info.json"))
    assert tf.io.gfile.exists(os.path.join(model_uri, "keras", "model.keras"))
    run_dirs = tf.io.gfile.listdir(out[spec.MODEL_RUN_KEY].uri)
    assert {"train", "validation"} <= {d.strip("/") for d in run_dirs}
    model = out[spec.MODEL_KEY]
    assert model.get_float_custom_property(spec.EVAL_ACCURACY_PROPERTY) > 0.5
    assert model.get_string_custom_property(spec.MODEL_TYPE_PROPERTY) == "mlp"
    page = open(os.path.join(out[spec.VISUALIZATION_KEY].uri, "index.html")).read()
    assert "Learning curves" in page and "val_accuracy" in page and "data:image/png;base64" in page


def test_executor_treats_an_empty_eval_split_as_absent(tmp_path, digits):
    import tensorflow as tf

    from frontier.components.trainer import spec

    examples = _examples(tmp_path, digits, n=(60, 0))
    out = _run_executor(tmp_path, examples)
    model = out[spec.MODEL_KEY]
    assert model.has_custom_property(spec.TRAIN_ACCURACY_PROPERTY)
    assert not model.has_custom_property(spec.EVAL_ACCURACY_PROPERTY)
    assert not model.has_custom_property(spec.EVAL_LOSS_PROPERTY)
    run_dirs = {d.strip("/") for d in tf.io.gfile.listdir(out[spec.MODEL_RUN_KEY].uri)}
    assert "train" in run_dirs and "validation" not in run_dirs
    page = open(os.path.join(out[spec.VISUALIZATION_KEY].uri, "index.html")).read()
    assert "val_accuracy" not in page and "<td>eval</td>" not in page
    # Predicting on the empty split gives empty arrays, not an error.
    preds = export.predict_examples(model.uri, examples.uri, "eval")
    assert preds["probabilities"].shape == (0, 10) and preds["label"].shape == (0,)


def test_executor_rejects_bad_examples(tmp_path, digits):
    examples = _examples(tmp_path, digits, splits=("eval",), n=(0, 20))
    with pytest.raises(InputError, match="'train' split"):
        _run_executor(tmp_path, examples)
    empty_train = _examples(tmp_path / "e", digits, n=(0, 20))
    with pytest.raises(InputError, match=r"Split-train: the 'train' split has no examples"):
        _run_executor(tmp_path, empty_train)
    with pytest.raises(InputError, match="weak_label"):
        _run_executor(
            tmp_path, _examples(tmp_path / "b", digits, n=(20, 10)), label_key="weak_label"
        )


def test_with_new_head_keeps_the_body_and_replaces_the_head():
    import keras

    base = tm.build_model((4, 6), hidden_units=(8,))
    tuned = tm.with_new_head(base, 3, seed=1)
    assert tuned.output_shape == (None, 3)
    # The body is shared (same weights), the head is new.
    assert tuned.get_layer("hidden0") is base.get_layer("hidden0")
    assert tuned.get_layer("probabilities") is not base.get_layer("probabilities")
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(tuned(x).numpy().sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(InputError, match="parameter 'base_model'.*no 'probabilities' layer"):
        inputs = keras.Input(shape=(4,))
        tm.with_new_head(keras.Model(inputs, keras.layers.Dense(2)(inputs)), 3)
    with pytest.raises(InputError, match="^parameter 'class_names': 1 class"):
        tm.with_new_head(base, 1)


def test_classes_of_a_label_space_size_the_model():
    import dataclasses

    info = dataclasses.replace(INFO, label_spaces={"spl_label": ("a|agree", "a|disagree")})
    assert info.classes_of("label") == INFO.class_names
    assert info.for_label("spl_label").class_names == ("a|agree", "a|disagree")
    assert info.for_label("label") is info
    assert DatasetInfo.from_json(info.to_json()) == info
