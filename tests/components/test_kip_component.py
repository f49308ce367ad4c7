"""KipDistill: the executor on each method, its three outputs (the distilled
support in input space, or with ZCA in the preprocessed space), the SavedModel
against the JAX predictions on raw examples (standardised, with and without
ZCA), parameter and data errors, and a LocalDagRunner pipeline in which the
stock Evaluator evaluates the model."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from conftest import examples_artifact, run_executor

from frontier.components.common.errors import InputError
from frontier.components.common.examples_io import load_split, write_examples
from frontier.components.kip import distill, export, preprocess
from frontier.schemas.dataset import DatasetInfo

PARAMS = {
    "images_per_class": 1,
    "method": "kip",
    "kernel": "fc",
    "kernel_kind": "ntk",
    "depth": None,
    "steps": 30,
    "learning_rate": 0.04,
    "target_batch_size": 100,
    "learn_labels": 0,
    "standardize": 1,
    "use_zca": 0,
    "reg": 1e-6,
    "seed": 0,
}


def _run(out_dir, examples_uri: str, split_names=("train", "eval"), **params):
    """Runs the executor on an Examples directory; returns the output artifacts."""
    from frontier.components.kip import spec
    from frontier.components.kip.executor import Executor

    examples = examples_artifact(examples_uri, split_names)
    return run_executor(Executor, out_dir, {spec.EXAMPLES_KEY: examples}, {**PARAMS, **params})


def _page(outputs) -> str:
    with open(os.path.join(outputs["visualization"].uri, "index.html")) as f:
        return f.read()


@pytest.fixture(scope="module")
def digits_arrays(digits_examples_uri):
    info = DatasetInfo.read(digits_examples_uri)
    return info, {s: load_split(digits_examples_uri, s, info) for s in ("train", "eval")}


@pytest.fixture(scope="module")
def kip_run(tmp_path_factory, digits_examples_uri):
    return _run(tmp_path_factory.mktemp("kip"), digits_examples_uri)


@pytest.fixture(scope="module")
def zca_run(tmp_path_factory, digits_examples_uri):
    """KIP with learned labels on standardised then ZCA-whitened inputs, 2 per class."""
    return _run(
        tmp_path_factory.mktemp("kip_zca"),
        digits_examples_uri,
        images_per_class=2,
        steps=10,
        learn_labels=1,
        use_zca=1,
    )


def _assert_serving_agrees(outputs, examples_uri: str, x_eval: np.ndarray) -> dict:
    """The SavedModel on the stored eval records vs `krr_predict` in JAX."""
    import tensorflow as tf

    from frontier.components.trainer.export import load_serving_signature, predict_examples

    model_uri = outputs["model"].uri
    expected = export.krr_predict(export.load_krr_model(model_uri), x_eval)
    served = predict_examples(model_uri, examples_uri, "eval", batch_size=32)  # several batches
    np.testing.assert_array_equal(served["classes"], expected["classes"])
    np.testing.assert_allclose(
        served["probabilities"], expected["probabilities"], rtol=1e-4, atol=1e-5
    )
    assert served["probabilities"].dtype == np.float32
    np.testing.assert_allclose(served["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    fn = load_serving_signature(model_uri, export.FEATURES_SIGNATURE)
    out = fn(x=tf.constant(x_eval))
    np.testing.assert_allclose(out["scores"].numpy(), expected["scores"], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(out["classes"].numpy(), expected["classes"])
    empty = fn(x=tf.zeros([0, x_eval.shape[1]]))
    assert empty["scores"].shape == (0, 10) and empty["classes"].shape == (0,)
    return expected


# --- the executor -------------------------------------------------------------------------


def test_kip_writes_distilled_examples_model_and_page(kip_run, digits_examples_uri, digits_arrays):
    info, data = digits_arrays
    distilled, model = kip_run["distilled"], kip_run["model"]
    out_info = DatasetInfo.read(distilled.uri)
    assert out_info.feature_keys == info.feature_keys and out_info.image_shape == (8, 8, 1)
    assert out_info.role_keys == ("label", "example_id")
    assert out_info.split_counts == {"train": 10, "eval": 80}
    assert out_info.source.startswith(
        "KIP support; 1 per class, kernel fc-ntk-1; features in input space "
        "(distilled after per-channel standardisation, mapped back); eval split: the source's;"
    )
    train = load_split(distilled.uri, "train", out_info)
    result = export.load_kip_result(distilled.uri)
    prep = result.preprocessing
    # Standardised per channel (one channel: the train split's scalar mean and std).
    assert prep.standardization == "per_channel" and prep.zca is None
    x_train = data["train"]["x"].astype(np.float64)
    np.testing.assert_allclose(prep.mean, x_train.mean(), rtol=1e-5)
    np.testing.assert_allclose(prep.std, x_train.std(), rtol=1e-5)
    # The written features are the support mapped back to input space ...
    assert train["x"].shape == (10, 64)
    np.testing.assert_array_equal(train["x"], result.support_in_input_space())
    np.testing.assert_array_equal(train["x"], prep.invert(result.x))
    # ... which the preprocessing maps onto the support the kernel saw.
    np.testing.assert_allclose(prep.apply(train["x"]), result.x, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(train["label"], np.arange(10))
    np.testing.assert_array_equal(result.labels, data["train"]["label"][result.init_indices])
    np.testing.assert_array_equal(result.y, distill.centered_one_hot(result.labels, 10))
    assert train["example_id"][0] == b"kip/" + data["train"]["example_id"][result.init_indices[0]]
    init_x = prep.apply(data["train"]["x"][result.init_indices])
    assert not np.allclose(result.x, init_x)  # KIP moved them
    assert result.history.step == list(range(1, 31))
    assert result.history.eval_step == [0, 30]
    # The eval split is copied as is, so a Trainer on `distilled` reports held-out curves.
    copied = load_split(distilled.uri, "eval", out_info)
    np.testing.assert_array_equal(copied["x"], data["eval"]["x"])
    np.testing.assert_array_equal(copied["label"], data["eval"]["label"])

    assert distilled.get_string_custom_property("method") == "kip"
    assert distilled.get_string_custom_property("kernel") == "fc-ntk-1"
    assert distilled.get_int_custom_property("images_per_class") == 1
    assert distilled.get_int_custom_property("use_zca") == 0
    assert distilled.get_int_custom_property("standardize") == 1
    held_out = result.history.eval_loss
    assert distilled.get_float_custom_property("eval_loss") == pytest.approx(held_out[-1], 1e-5)
    assert held_out[-1] < held_out[0]
    assert distilled.get_float_custom_property("final_loss") > 0
    assert model.get_string_custom_property("model_type") == "krr"
    accuracy = model.get_float_custom_property("eval_accuracy")
    assert accuracy == pytest.approx(result.history.eval_accuracy[-1])

    assert os.path.exists(os.path.join(model.uri, "Format-Serving", "saved_model.pb"))
    assert DatasetInfo.read(os.path.join(model.uri, "Format-Serving")) == info
    krr = export.load_krr_model(model.uri)
    np.testing.assert_array_equal(krr.preprocessing.mean, prep.mean)
    np.testing.assert_array_equal(krr.preprocessing.std, prep.std)
    assert krr.preprocessing.zca is None and krr.preprocessing.standardization == "per_channel"
    # Served on the raw source records, standardised inside the SavedModel.
    expected = _assert_serving_agrees(kip_run, digits_examples_uri, data["eval"]["x"])
    assert np.mean(expected["classes"] == data["eval"]["label"]) == pytest.approx(accuracy)

    page = _page(kip_run)
    for part in (
        "KRR metrics of the support",
        "Training curves",
        "Support images",
        "fc-ntk-1",
        "In input space",
        "<td>standardize</td><td>True</td>",
        "per-channel standardisation (fitted on train)",
    ):
        assert part in page, part
    assert "Support labels" not in page  # fixed one-hot labels: nothing to show
    assert page.count("data:image/png;base64") == 2


def test_zca_is_applied_to_support_eval_split_and_serving(
    zca_run, digits_examples_uri, digits_arrays
):
    _, data = digits_arrays
    distilled = zca_run["distilled"]
    result = export.load_kip_result(distilled.uri)
    prep = result.preprocessing
    assert prep.zca is not None and prep.standardization == "per_channel"
    assert result.x.shape == (20, 64)
    with pytest.raises(ValueError, match="not invertible"):
        result.support_in_input_space()
    out_info = DatasetInfo.read(distilled.uri)
    assert out_info.source.startswith(
        "KIP support, ZCA-whitened; 2 per class, kernel fc-ntk-1; features in the preprocessed "
        "space (per-channel standardisation, then ZCA whitening)"
    )
    assert "eval split: the source's, preprocessed alike" in out_info.source
    # Both splits in the preprocessed space: the support as distilled, the eval split alike.
    train = load_split(distilled.uri, "train", out_info)
    np.testing.assert_array_equal(train["x"], result.x)
    copied = load_split(distilled.uri, "eval", out_info)
    np.testing.assert_array_equal(copied["x"], prep.apply(data["eval"]["x"]))
    # Standardisation first, then ZCA fitted on the standardised train split.
    standardized = preprocess.fit_preprocessing(data["train"]["x"], (8, 8, 1))
    np.testing.assert_array_equal(prep.mean, standardized.mean)
    zca = preprocess.fit_zca(standardized.apply(data["train"]["x"]))
    np.testing.assert_allclose(prep.zca.whitening, zca.whitening, rtol=1e-4, atol=1e-4)
    # Learned labels: the Examples carry their arg-max, the npz the soft labels.
    assert not np.allclose(result.y, distill.centered_one_hot(result.labels, 10))
    np.testing.assert_array_equal(train["label"], np.argmax(result.y, axis=1))
    # The model preprocesses raw features itself: served on the *source* eval records.
    model = export.load_krr_model(zca_run["model"].uri)
    np.testing.assert_array_equal(model.preprocessing.zca.whitening, prep.zca.whitening)
    np.testing.assert_array_equal(model.preprocessing.std, prep.std)
    _assert_serving_agrees(zca_run, digits_examples_uri, data["eval"]["x"])
    page = _page(zca_run)
    assert "Support labels" in page and "each rescaled to its own range" in page


def test_label_solve_and_random_share_kips_initial_support(
    tmp_path, kip_run, digits_examples_uri, digits_arrays
):
    _, data = digits_arrays
    kip_result = export.load_kip_result(kip_run["distilled"].uri)
    x_train = data["train"]["x"]
    prep = kip_result.preprocessing
    init = kip_result.init_indices
    results = {}
    for method in ("random", "label_solve"):
        out = _run(tmp_path / method, digits_examples_uri, method=method)
        results[method] = (out, export.load_kip_result(out["distilled"].uri))
        out_result = results[method][1]
        # The same preprocessing as KIP's, the same initial support in that space.
        for field in ("mean", "std", "standardization", "zca"):
            assert np.array_equal(getattr(out_result.preprocessing, field), getattr(prep, field)), (
                field
            )
        np.testing.assert_array_equal(out_result.init_indices, init)
        np.testing.assert_array_equal(out_result.x, prep.apply(x_train[init]))
        assert out_result.history.step == []
        assert out["distilled"].get_string_custom_property("method") == method
        # Written in input space: the source rows (up to float32 round-off).
        info = DatasetInfo.read(out["distilled"].uri)
        written = load_split(out["distilled"].uri, "train", info)["x"]
        np.testing.assert_array_equal(written, out_result.support_in_input_space())
        np.testing.assert_allclose(written, x_train[init], rtol=1e-6, atol=1e-5)
    random_out, random_result = results["random"]
    np.testing.assert_array_equal(
        random_result.y, distill.centered_one_hot(random_result.labels, 10)
    )
    assert "Training curves" not in _page(random_out)
    solve_out, solve_result = results["label_solve"]
    x_prep = prep.apply(x_train)
    expected = distill.label_solve(
        distill.make_kernel(distill.KernelSpec()),
        x_prep[init],
        x_prep,
        distill.centered_one_hot(data["train"]["label"], 10),
        1e-6,
    )
    np.testing.assert_allclose(solve_result.y, expected, rtol=1e-5, atol=1e-6)
    # Label Solve fits the train split better than the one-hot labels it starts from.
    assert solve_out["distilled"].get_float_custom_property("final_loss") < random_out[
        "distilled"
    ].get_float_custom_property("final_loss")
    assert "Support labels" in _page(solve_out)


def test_same_seed_same_distilled_examples(tmp_path, kip_run, digits_examples_uri):
    again = _run(tmp_path, digits_examples_uri)
    for path in ("Split-train/data_tfrecord-00000-of-00001.gz", "kip_result.npz"):
        with open(os.path.join(kip_run["distilled"].uri, path), "rb") as f:
            first = f.read()
        with open(os.path.join(again["distilled"].uri, path), "rb") as f:
            assert f.read() == first, path


def test_without_eval_split_or_standardization(tmp_path, digits_examples_uri, digits_arrays):
    out = _run(
        tmp_path, digits_examples_uri, split_names=("train",), method="random", standardize=0
    )
    info = DatasetInfo.read(out["distilled"].uri)
    assert info.split_counts == {"train": 10}
    assert info.source.startswith("random class-balanced subset; 1 per class, kernel fc-ntk-1; ")
    assert "features in input space; of " in info.source
    # No preprocessing at all: the support is exactly the source rows.
    result = export.load_kip_result(out["distilled"].uri)
    assert result.preprocessing.standardization == "none"
    written = load_split(out["distilled"].uri, "train", info)["x"]
    np.testing.assert_array_equal(written, digits_arrays[1]["train"]["x"][result.init_indices])
    np.testing.assert_array_equal(written, result.x)
    assert out["distilled"].get_int_custom_property("standardize") == 0
    assert not out["model"].has_custom_property("eval_accuracy")
    assert not out["distilled"].has_custom_property("eval_loss")
    assert "<td>eval</td>" not in _page(out)


def test_conv_kernel_model_serves_like_jax(tmp_path, digits_arrays):
    import tensorflow as tf

    from frontier.components.trainer.export import load_serving_signature

    info, data = digits_arrays
    x, labels = data["train"]["x"], data["train"]["label"]
    init = distill.class_balanced_indices(labels, 1, 10, np.random.default_rng(0))
    prep = preprocess.fit_preprocessing(x, info.image_shape)
    support = distill.KipResult(
        prep.apply(x[init]), distill.centered_one_hot(labels[init], 10), labels[init], init, prep,
        distill.KipHistory(),
    )  # fmt: skip
    conv = distill.KernelSpec(architecture="conv", depth=1)
    model = export.fit_krr_model(support, conv, info.image_shape, 1e-6)
    export.save_model_artifact(model, info, str(tmp_path))
    fn = load_serving_signature(str(tmp_path), export.FEATURES_SIGNATURE)
    expected = export.krr_predict(model, data["eval"]["x"][:8])
    got = fn(x=tf.constant(data["eval"]["x"][:8]))
    np.testing.assert_allclose(got["scores"].numpy(), expected["scores"], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(got["classes"].numpy(), expected["classes"])


def test_saved_model_evaluates_requests_in_blocks(tmp_path, monkeypatch, digits_arrays):
    import tensorflow as tf

    from frontier.components.trainer.export import load_serving_signature

    info, data = digits_arrays
    x, labels = data["train"]["x"], data["train"]["label"]
    result = distill.kip(x, labels, 10, images_per_class=1, steps=1, target_batch_size=50)
    model = export.fit_krr_model(result, distill.KernelSpec(kind="nngp"), None, 1e-6)
    monkeypatch.setattr(export, "MAX_SERVING_BLOCK_ROWS", 7)
    assert export.serving_block_rows(model.spec, None, 10) == 7
    export.save_model_artifact(model, info, str(tmp_path))
    loaded = export.load_krr_model(str(tmp_path))
    assert loaded.spec == model.spec and loaded.reg == model.reg
    assert (
        loaded.preprocessing.zca is None and loaded.preprocessing.standardization == "per_feature"
    )
    np.testing.assert_array_equal(loaded.preprocessing.mean, model.preprocessing.mean)
    np.testing.assert_array_equal(loaded.preprocessing.std, model.preprocessing.std)
    np.testing.assert_array_equal(loaded.alpha, model.alpha)
    fn = load_serving_signature(str(tmp_path), export.FEATURES_SIGNATURE)
    for n in (1, 7, 30):  # one short block, one full block, four full ones and a short one
        expected = export.krr_predict(model, data["eval"]["x"][:n])
        got = fn(x=tf.constant(data["eval"]["x"][:n]))
        np.testing.assert_allclose(got["scores"].numpy(), expected["scores"], rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(got["classes"].numpy(), expected["classes"])


def test_scores_to_probabilities():
    scores = np.array([[0.8, -0.1, -0.2], [-0.5, -0.5, -0.5]], np.float32)  # C = 3
    p = export.scores_to_probabilities(scores)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    # Shifted by 1/3: [1.133, 0.233, 0.133] (a distribution up to the epsilon) ...
    np.testing.assert_allclose(p[0], [1.1333, 0.2333, 0.1333] / np.float32(1.5), atol=1e-3)
    # ... and uniform when every shifted score is <= 0.
    np.testing.assert_allclose(p[1], 1 / 3, rtol=1e-6)


# --- errors ---------------------------------------------------------------------------------


def test_component_validates_parameters_at_construction():
    from tfx import types
    from tfx.types import standard_artifacts

    from frontier.components.common.versioning import COMPONENT_VERSION_KEY, code_version
    from frontier.components.kip import KipDistill, spec

    examples = types.Channel(type=standard_artifacts.Examples)
    component = KipDistill(examples=examples, method="label_solve", use_zca=True, depth=2)
    props = component.exec_properties
    assert props[spec.USE_ZCA_KEY] == 1 and props[spec.LEARN_LABELS_KEY] == 0
    assert props[spec.STANDARDIZE_KEY] == 1
    assert KipDistill(examples=examples, standardize=False).exec_properties["standardize"] == 0
    assert props[spec.DEPTH_KEY] == 2 and props[spec.METHOD_KEY] == "label_solve"
    assert props[COMPONENT_VERSION_KEY] == code_version("kip", "trainer")
    assert set(component.outputs) == {"distilled", "model", "visualization"}
    assert KipDistill(examples=examples).exec_properties.get(spec.DEPTH_KEY) is None
    for bad, match in (
        (dict(kernel="rbf"), r"parameter 'kernel': unknown kernel architecture 'rbf'"),
        (dict(kernel_kind="gp"), r"parameter 'kernel_kind': unknown kernel kind 'gp'"),
        (dict(method="dc"), r"parameter 'method': unknown method 'dc'"),
        (dict(images_per_class=0), "parameter 'images_per_class': images_per_class = 0"),
        (dict(steps=0), "steps = 0"),
        (dict(target_batch_size=0), "target_batch_size"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(reg=-1.0), "reg = -1.0"),
        (dict(reg=float("nan")), "reg = nan"),
        (dict(depth=0), "parameter 'depth': depth = 0"),
        (
            dict(method="random", learn_labels=True),
            r"parameter 'learn_labels'.*only with method 'kip'",
        ),
        (dict(standardize="yes"), r"parameter 'standardize': standardize = 'yes'"),
    ):
        with pytest.raises(InputError, match=match):
            KipDistill(examples=examples, **bad)


def _write(tmp_path, name: str, info: DatasetInfo, splits: dict) -> str:
    from tfx.types import standard_artifacts

    artifact = standard_artifacts.Examples()
    artifact.uri = str(tmp_path / name)
    write_examples(artifact, splits, info)
    return artifact.uri


def test_executor_rejects_bad_data(tmp_path, digits_examples_uri, digits_arrays):
    info, data = digits_arrays
    with pytest.raises(
        InputError,
        match=r"Split-train, parameter 'images_per_class': images_per_class = 15 but class 0 "
        r"\('0'\) has only 14 training examples \(expected images_per_class <= 14",
    ):
        _run(tmp_path / "a", digits_examples_uri, images_per_class=15)

    tabular = dataclasses.replace(info, image_shape=None)
    uri = _write(tmp_path, "tabular", tabular, data)
    with pytest.raises(InputError, match=r"dataset_info.json.*conv kernel needs image-shaped"):
        _run(tmp_path / "b", uri, kernel="conv")

    bad = {s: dict(a) for s, a in data.items()}
    bad["eval"]["x"] = bad["eval"]["x"].copy()
    bad["eval"]["x"][6, 3] = np.nan
    uri = _write(tmp_path, "nan", info, bad)
    with pytest.raises(
        InputError, match=r"Split-eval, row 7, column 'pixels': 1 examples hold NaN"
    ):
        _run(tmp_path / "c", uri)

    with pytest.raises(InputError, match="no 'train' split"):
        _run(tmp_path / "d", digits_examples_uri, split_names=("eval",))
    with pytest.raises(InputError, match="learn_labels only with method 'kip'"):
        _run(tmp_path / "e", digits_examples_uri, method="random", learn_labels=1)


# --- a pipeline with the stock Evaluator ----------------------------------------------------


def test_stock_evaluator_evaluates_the_krr_model(tmp_path, digits_examples_uri):
    from ml_metadata.metadata_store import metadata_store
    from tfx import v1 as tfx
    from tfx.types import standard_artifacts

    from frontier.components.evaluate import load_tfma_results, make_evaluator
    from frontier.components.kip import KipDistill

    importer = tfx.dsl.Importer(
        source_uri=digits_examples_uri,
        artifact_type=standard_artifacts.Examples,
        properties={"split_names": '["train", "eval"]'},
    ).with_id("import_examples")
    examples = importer.outputs["result"]
    kip = KipDistill(examples=examples, steps=10, target_batch_size=100, use_zca=True)
    evaluator = make_evaluator(examples, kip.outputs["model"], num_classes=10, min_accuracy=0.0)
    store_config = tfx.orchestration.metadata.sqlite_metadata_connection_config(
        str(tmp_path / "metadata.sqlite")
    )
    tfx.orchestration.LocalDagRunner().run(
        tfx.dsl.Pipeline(
            pipeline_name="kip_test",
            pipeline_root=str(tmp_path / "root"),
            components=[importer, kip, evaluator],
            enable_cache=False,
            metadata_connection_config=store_config,
            beam_pipeline_args=["--direct_num_workers=1", "--direct_running_mode=in_memory"],
        )
    )
    store = metadata_store.MetadataStore(store_config)
    (evaluation,) = store.get_artifacts_by_type("ModelEvaluation")
    (blessing,) = store.get_artifacts_by_type("ModelBlessing")
    (model,) = store.get_artifacts_by_type("Model")
    assert blessing.custom_properties["blessed"].int_value == 1
    tfma = load_tfma_results(evaluation.uri).metrics["Overall"]
    assert tfma["example_count"] == 80
    # TFMA's accuracy (arg-max of `probabilities`) is the KRR accuracy of the support.
    assert tfma["sparse_categorical_accuracy"] == pytest.approx(
        model.custom_properties["eval_accuracy"].double_value, abs=1e-6
    )
