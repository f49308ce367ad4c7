"""Evaluation: NumPy metrics against hand-computed values, the TFMA config, and
one LocalDagRunner pipeline Importer -> Trainer -> Evaluator -> EvaluationReport."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from frontier.components.evaluate import metrics as m

# --- metrics.py ---------------------------------------------------------------------------


def test_accuracy_recall_confusion_by_hand():
    labels = np.array([0, 0, 1, 1, 2])
    probs = np.array(
        [
            [0.8, 0.1, 0.1],  # 0 -> 0
            [0.2, 0.7, 0.1],  # 0 -> 1
            [0.1, 0.8, 0.1],  # 1 -> 1
            [0.1, 0.6, 0.3],  # 1 -> 1
            [0.5, 0.1, 0.4],  # 2 -> 0
        ]
    )
    assert m.accuracy(labels, probs) == pytest.approx(3 / 5)
    np.testing.assert_array_equal(
        m.confusion_matrix(labels, probs), [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    )
    np.testing.assert_allclose(m.per_class_recall(labels, probs), [0.5, 1.0, 0.0])
    expected = -np.mean(np.log([0.8, 0.2, 0.8, 0.6, 0.4]))
    assert m.log_loss(labels, probs) == pytest.approx(expected)


def test_recall_of_absent_class_is_nan_and_log_loss_is_clipped():
    labels = np.array([0, 0])
    probs = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    recall = m.per_class_recall(labels, probs)
    assert recall[0] == 0.5 and np.isnan(recall[1]) and np.isnan(recall[2])
    # -log(1 - 1e-7) ~ 0 and -log(1e-7) ~ 16.118: clipped as Keras does, never inf.
    assert m.log_loss(labels, probs) == pytest.approx(-math.log(1e-7) / 2, rel=1e-6)


def test_ece_on_constructed_case():
    # Bin (0.6, 0.6667] holds 4 examples at confidence 0.65, 2 right: |0.5 - 0.65| = 0.15.
    # Bin (0.8667, 0.9333] holds 6 examples at confidence 0.9, all right: |1 - 0.9| = 0.1.
    labels = np.zeros(10, np.int64)
    probs = np.zeros((10, 2))
    probs[:4] = [[0.65, 0.35]] * 2 + [[0.35, 0.65]] * 2
    probs[4:] = [0.9, 0.1]
    expected = 0.4 * 0.15 + 0.6 * 0.1
    assert m.expected_calibration_error(labels, probs) == pytest.approx(expected)
    bins = m.reliability_bins(labels, probs)
    assert bins.counts.sum() == 10 and len(bins.counts) == m.DEFAULT_NUM_BINS
    # 0.65 falls in (9/15, 10/15], 0.9 in (13/15, 14/15].
    assert bins.counts[9] == 4 and bins.counts[13] == 6
    assert bins.accuracy[9] == pytest.approx(0.5) and bins.confidence[13] == pytest.approx(0.9)
    assert np.isnan(bins.accuracy[0])


def test_ece_zero_for_perfect_calibration_and_one_bin_formula():
    # 4 examples at confidence 0.75, 3 of them right: calibrated, ECE 0.
    labels = np.array([0, 0, 0, 1])
    probs = np.tile([0.75, 0.25], (4, 1))
    assert m.expected_calibration_error(labels, probs) == pytest.approx(0.0, abs=1e-12)
    # Confident and always right at confidence 1 -> 0; overconfident -> |acc - conf|.
    assert m.expected_calibration_error(np.array([1, 1]), np.array([[0.0, 1.0]] * 2)) == 0.0
    assert m.expected_calibration_error(
        np.array([0, 1]), np.tile([0.9, 0.1], (2, 1)), 1
    ) == pytest.approx(0.4)


def test_bins_are_right_closed():
    bins = m.reliability_bins(
        np.array([0, 0, 0]), np.array([[0.5, 0.5], [0.6, 0.4], [1.0, 0.0]]), num_bins=5
    )
    # 0.5 -> (0.4, 0.6]; 0.6 -> (0.4, 0.6] as well; 1.0 -> (0.8, 1.0].
    np.testing.assert_array_equal(bins.counts, [0, 0, 2, 0, 1])


def test_sliced_metrics_overall_class_and_client():
    labels = np.array([0, 1, 1, 0])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    sliced = m.sliced_metrics(labels, probs, client_ids=[b"a", b"a", b"b", b"b"])
    assert list(sliced) == ["Overall", "label=0", "label=1", "client_id=a", "client_id=b"]
    assert sliced["Overall"].accuracy == pytest.approx(0.5)
    assert sliced["label=1"].accuracy == pytest.approx(sliced["Overall"].recall[1])
    assert sliced["client_id=a"].accuracy == 1.0 and sliced["client_id=b"].accuracy == 0.0
    d = m.to_dict(sliced["label=0"])
    json.dumps(d)  # NaN became None
    assert d["recall"][1] is None and d["examples"] == 2


def test_slice_metrics_agree_with_the_single_metrics():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=50)
    probs = rng.dirichlet(np.ones(4), size=50)
    s = m.slice_metrics(labels, probs, num_bins=7)
    assert s.examples == 50
    assert s.accuracy == pytest.approx(m.accuracy(labels, probs))
    assert s.log_loss == pytest.approx(m.log_loss(labels, probs))
    assert s.ece == pytest.approx(m.expected_calibration_error(labels, probs, 7))
    np.testing.assert_array_equal(s.confusion, m.confusion_matrix(labels, probs))
    np.testing.assert_allclose(s.recall, m.per_class_recall(labels, probs))
    for got, want in zip(s.reliability, m.reliability_bins(labels, probs, 7), strict=True):
        np.testing.assert_allclose(got, want)
    empty = m.slice_metrics(labels[:0], probs[:0])
    assert empty.examples == 0 and np.isnan(empty.accuracy) and np.isnan(empty.ece)
    assert np.isnan(empty.log_loss) and np.isnan(empty.recall).all()
    assert empty.confusion.sum() == 0 and empty.reliability.counts.sum() == 0


def test_metrics_reject_bad_shapes():
    with pytest.raises(ValueError):
        m.accuracy(np.array([0, 1]), np.ones((3, 2)))
    with pytest.raises(ValueError):
        m.accuracy(np.array([0, 2]), np.ones((2, 2)))


# --- config.py ----------------------------------------------------------------------------


def test_eval_config_builds():
    import tensorflow_model_analysis as tfma

    from frontier.components.common.errors import InputError
    from frontier.components.evaluate.config import eval_config
    from frontier.schemas.dataset import DatasetInfo

    info = DatasetInfo(
        ("x",), (4,), ("a", "b", "c"), role_keys=("label", "example_id", "client_id")
    )
    config = eval_config(info, min_accuracy=0.8, max_accuracy_drop=0.02)
    assert config.model_specs[0].signature_name == "serving_default"
    assert config.model_specs[0].label_key == "label"
    assert config.model_specs[0].prediction_key == "probabilities"
    names = [c.class_name for spec in config.metrics_specs for c in spec.metrics]
    assert {"SparseCategoricalAccuracy", "SparseCategoricalCrossentropy", "Recall"} <= set(names)
    assert "MultiClassConfusionMatrixPlot" not in names  # off by default: nothing reads it
    recall = config.metrics_specs[1].metrics[0]
    assert recall.class_name == "Recall" and json.loads(recall.config) == {
        "top_k": 1,
        "thresholds": [0.0],
    }
    assert list(config.metrics_specs[1].binarize.class_ids.values) == [0, 1, 2]
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["label"], ["client_id"]]
    threshold = config.metrics_specs[0].metrics[0].per_slice_thresholds[0].threshold
    assert threshold.value_threshold.lower_bound.value == pytest.approx(0.8)
    assert threshold.change_threshold.absolute.value == pytest.approx(-0.02)
    assert threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    # TFMA accepts it, with and without a baseline.
    for has_baseline in (False, True):
        tfma.utils.verify_eval_config(
            tfma.utils.update_eval_config_with_defaults(
                config, has_baseline=has_baseline, rubber_stamp=True
            )
        )
    assert not eval_config(num_classes=2, slice_by_label=False).slicing_specs[0].feature_keys
    with_plot = eval_config(num_classes=2, confusion_matrix_plot=True, label_key="true_label")
    assert "MultiClassConfusionMatrixPlot" in [
        c.class_name for c in with_plot.metrics_specs[0].metrics
    ]
    assert with_plot.model_specs[0].label_key == "true_label"
    assert list(with_plot.slicing_specs[1].feature_keys) == ["true_label"]
    with pytest.raises(InputError, match="^parameter 'min_accuracy': min_accuracy = 1.5"):
        eval_config(info, min_accuracy=1.5)
    with pytest.raises(InputError, match="^parameter 'num_classes'"):
        eval_config()
    with pytest.raises(InputError, match="^parameter 'max_accuracy_drop'"):
        eval_config(info, max_accuracy_drop=-0.1)
    with pytest.raises(InputError, match="label_key"):
        eval_config(info, label_key="client_id")


def test_make_evaluator_passes_its_arguments_on():
    from tfx import types
    from tfx.types import standard_artifacts

    from frontier.components.evaluate.config import eval_config, make_evaluator

    examples = types.Channel(type=standard_artifacts.Examples)
    model = types.Channel(type=standard_artifacts.Model)

    def config_of(evaluator) -> dict:
        return json.loads(evaluator.exec_properties["eval_config"])

    built = config_of(
        make_evaluator(
            examples, model, num_classes=3, label_key="weak_label", confusion_matrix_plot=True
        )
    )
    assert built["model_specs"][0]["label_key"] == "weak_label"
    classes = [c["class_name"] for spec in built["metrics_specs"] for c in spec["metrics"]]
    assert "MultiClassConfusionMatrixPlot" in classes
    # A given config is used as is; the arguments that would build one are not used.
    given = eval_config(num_classes=4, slice_by_label=False)
    used = config_of(make_evaluator(examples, model, num_classes=3, label_key="x", config=given))
    assert used["metrics_specs"][1]["binarize"]["class_ids"]["values"] == [0, 1, 2, 3]
    assert used["model_specs"][0]["label_key"] == "label"


# --- end to end ---------------------------------------------------------------------------


def _import_digits(root: str):
    """Tiny digits Examples with client ids, written where an Importer can find them."""
    from sklearn.datasets import load_digits
    from tfx.types import standard_artifacts

    from frontier.components.common.examples_io import write_examples
    from frontier.schemas.dataset import DatasetInfo

    digits = load_digits()
    x, y = digits.data.astype(np.float32), digits.target.astype(np.int64)
    info = DatasetInfo(
        feature_keys=("pixels",),
        feature_dims=(64,),
        class_names=tuple(str(i) for i in range(10)),
        image_shape=(8, 8, 1),
        role_keys=("label", "example_id", "client_id"),
        source="sklearn digits subset",
    )

    def arrays(lo: int, hi: int) -> dict:
        idx = np.arange(lo, hi)
        return {
            "x": x[idx],
            "label": y[idx],
            "example_id": np.array([b"d%d" % i for i in idx], dtype=object),
            "client_id": np.array([b"c%d" % (i % 3) for i in idx], dtype=object),
        }

    artifact = standard_artifacts.Examples()
    artifact.uri = os.path.join(root, "digits")
    write_examples(artifact, {"train": arrays(0, 400), "eval": arrays(400, 600)}, info)
    return artifact


def _pipeline(
    tmp_path,
    examples_artifact,
    min_accuracy: float,
    epochs: int = 3,
    hidden_units: tuple[int, ...] = (128,),
):
    from tfx import v1 as tfx
    from tfx.types import standard_artifacts

    from frontier.components.evaluate import EvaluationReport, baseline_resolver, make_evaluator
    from frontier.components.trainer import Trainer

    importer = tfx.dsl.Importer(
        source_uri=examples_artifact.uri,
        artifact_type=standard_artifacts.Examples,
        properties={"split_names": examples_artifact.split_names},
        custom_properties={
            k: examples_artifact.get_string_custom_property(k)
            for k in ("payload_format", "file_format")
        },
    ).with_id("import_examples")
    examples = importer.outputs["result"]
    trainer = Trainer(
        examples=examples,
        epochs=epochs,
        hidden_units=hidden_units,
        batch_size=32,
        learning_rate=0.01,
        seed=1,
    )
    baseline = baseline_resolver()
    evaluator = make_evaluator(
        examples,
        trainer.outputs["model"],
        baseline.outputs["model"],
        num_classes=10,
        min_accuracy=min_accuracy,
        max_accuracy_drop=0.01,
        slice_by_client=True,
    )
    report = EvaluationReport(
        examples=examples,
        model=trainer.outputs["model"],
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
    )
    return tfx.dsl.Pipeline(
        pipeline_name="evaluate_test",
        pipeline_root=str(tmp_path / "root"),
        components=[importer, trainer, baseline, evaluator, report],
        enable_cache=True,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(tmp_path / "metadata.sqlite")
        ),
        beam_pipeline_args=["--direct_num_workers=1", "--direct_running_mode=in_memory"],
    )


def _assert_tfma_recall_is_top1(summary: dict) -> None:
    """TFMA's per-class recall (Recall, top_k=1, binarized by class) is top-1 recall:
    it matches frontier's NumPy recall and the accuracy on each label=k slice, on
    the Overall slice and on label=k (where a good model may predict k for all)."""
    tfma, ours = summary["tfma"], summary["slices"]
    tfma_recall = [tfma["Overall"][f"recall[class {k}][top 1]"] for k in range(10)]
    np.testing.assert_allclose(tfma_recall, ours["Overall"]["recall"], atol=1e-6)
    label_accuracy = [tfma[f"label={k}"]["sparse_categorical_accuracy"] for k in range(10)]
    np.testing.assert_allclose(tfma_recall, label_accuracy, atol=1e-6)
    in_slice = [tfma[f"label={k}"][f"recall[class {k}][top 1]"] for k in range(10)]
    np.testing.assert_allclose(in_slice, [ours[f"label={k}"]["recall"][k] for k in range(10)])
    assert not [m for m in tfma["Overall"] if m.startswith("recall") and "[top 1]" not in m]


def _latest(store, type_name: str):
    artifacts = sorted(store.get_artifacts_by_type(type_name), key=lambda a: a.id)
    assert artifacts, f"no {type_name} artifact"
    return artifacts[-1]


def test_pipeline_blesses_then_rejects(tmp_path):
    from ml_metadata.metadata_store import metadata_store
    from tfx import v1 as tfx

    from frontier.components.evaluate import spec

    examples = _import_digits(str(tmp_path / "data"))
    runner = tfx.orchestration.LocalDagRunner()
    store_config = tfx.orchestration.metadata.sqlite_metadata_connection_config(
        str(tmp_path / "metadata.sqlite")
    )

    # Run 1: reachable threshold, no blessed baseline yet -> blessed.
    runner.run(_pipeline(tmp_path, examples, min_accuracy=0.5))
    store = metadata_store.MetadataStore(store_config)
    blessing = _latest(store, "ModelBlessing")
    assert blessing.custom_properties["blessed"].int_value == 1
    assert os.path.exists(os.path.join(blessing.uri, "BLESSED"))
    report = _latest(store, "frontier.HtmlReport")
    assert report.custom_properties[spec.BLESSED_PROPERTY].int_value == 1
    accuracy = report.custom_properties[spec.ACCURACY_PROPERTY].double_value
    assert 0.5 <= accuracy <= 1.0
    assert 0.0 <= report.custom_properties[spec.ECE_PROPERTY].double_value <= 1.0
    with open(os.path.join(report.uri, spec.METRICS_FILE)) as f:
        summary = json.load(f)
    assert summary["blessed"] is True and summary["baseline_model"] is None
    first_model = summary["model"]
    assert {"Overall", "label=0", "client_id=c2"} <= set(summary["slices"])
    assert summary["slices"]["Overall"]["examples"] == 200
    # TFMA and frontier agree on accuracy (same model, same examples).
    tfma_overall = summary["tfma"]["Overall"]
    assert tfma_overall["sparse_categorical_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert "client_id=c0" in summary["tfma"]
    _assert_tfma_recall_is_top1(summary)
    page = open(os.path.join(report.uri, "index.html")).read()
    assert "BLESSED" in page and "Reliability diagram" in page and "data:image/png;base64" in page

    # Run 2: unreachable threshold; the model blessed in run 1 is now the baseline.
    runner.run(_pipeline(tmp_path, examples, min_accuracy=0.999))
    blessing = _latest(store, "ModelBlessing")
    assert blessing.custom_properties["blessed"].int_value == 0
    assert "baseline_model" in blessing.custom_properties
    report = _latest(store, "frontier.HtmlReport")
    assert report.custom_properties[spec.BLESSED_PROPERTY].int_value == 0
    with open(os.path.join(report.uri, spec.METRICS_FILE)) as f:
        summary = json.load(f)
    assert summary["blessed"] is False and summary["baseline_model"]
    failed = {(f["slice"], f["metric"]) for f in summary["failures"]}
    assert failed == {("Overall", "sparse_categorical_accuracy")}
    assert "NOT BLESSED" in open(os.path.join(report.uri, "index.html")).read()

    # Run 3: a clearly worse candidate (1 epoch, 2 hidden units: not cached) against the
    # model blessed in run 1; no absolute bar, so only the change threshold can fail.
    runner.run(_pipeline(tmp_path, examples, min_accuracy=0.0, epochs=1, hidden_units=(2,)))
    blessing = _latest(store, "ModelBlessing")
    assert blessing.custom_properties["blessed"].int_value == 0
    report = _latest(store, "frontier.HtmlReport")
    with open(os.path.join(report.uri, spec.METRICS_FILE)) as f:
        summary = json.load(f)
    assert summary["blessed"] is False and summary["model"] != first_model
    (failure,) = summary["failures"]
    assert failure["slice"] == "Overall"
    assert failure["metric"] == "sparse_categorical_accuracy (diff)"
    assert "change vs baseline >= -0.01" in failure["threshold"]
    assert failure["value"] < -0.01  # the candidate's accuracy minus the baseline's
    assert summary["tfma"]["Overall"]["sparse_categorical_accuracy (baseline)"] == pytest.approx(
        accuracy, abs=1e-6
    )
    assert report.custom_properties[spec.BASELINE_ACCURACY_PROPERTY].double_value == pytest.approx(
        accuracy, abs=1e-6
    )
    page = open(os.path.join(report.uri, "index.html")).read()
    assert "NOT BLESSED" in page and "change vs baseline" in page
    # This weak model gets examples right with a top-1 probability <= 0.5, which a
    # one-vs-rest recall at p_k > 0.5 would count as misses: the check below tells them apart.
    bins = summary["slices"]["Overall"]["reliability"]
    right_but_unsure = sum(
        n * (acc or 0.0)
        for n, acc, hi in zip(bins["counts"], bins["accuracy"], bins["edges"][1:], strict=True)
        if hi <= 0.5
    )
    assert right_but_unsure >= 1
    _assert_tfma_recall_is_top1(summary)


# --- reading TFMA output, component parameters ----------------------------------------------


def test_tfma_names_and_blessing_outcome(tmp_path):
    from tensorflow_model_analysis.proto import metrics_for_slice_pb2 as pb
    from tfx.types import standard_artifacts

    from frontier.components.evaluate.executor import blessing_outcome
    from frontier.components.evaluate.tfma_results import TfmaResults, metric_label, slice_name

    key = pb.SliceKey()
    assert slice_name(key) == "Overall"
    key.single_slice_keys.add(column="client_id", bytes_value=b"c7")
    key.single_slice_keys.add(column="label", int64_value=3)
    assert slice_name(key) == "client_id=c7&label=3"
    metric = pb.MetricKey(name="recall", model_name="baseline")
    metric.sub_key.class_id.value = 2
    assert metric_label(metric) == "recall[class 2] (baseline)"
    assert metric_label(pb.MetricKey(name="auc", is_diff=True)) == "auc (diff)"

    not_validated = TfmaResults({}, None, [])
    assert blessing_outcome(None, not_validated) is None
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    assert blessing_outcome(blessing, not_validated) is None  # Evaluator had no thresholds
    assert blessing_outcome(blessing, TfmaResults({}, False, [])) is False
    blessing.set_int_custom_property("blessed", 1)
    assert blessing_outcome(blessing, TfmaResults({}, False, [])) is True


def test_evaluation_report_rejects_bad_parameters():
    from tfx import types
    from tfx.types import standard_artifacts

    from frontier.components.common.errors import InputError
    from frontier.components.common.versioning import COMPONENT_VERSION_KEY, code_version
    from frontier.components.evaluate import EvaluationReport

    channels = dict(
        examples=types.Channel(type=standard_artifacts.Examples),
        model=types.Channel(type=standard_artifacts.Model),
        evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
    )
    report = EvaluationReport(**channels, num_bins=10)
    assert report.exec_properties["num_bins"] == 10 and "visualization" in report.outputs
    # The executor runs trainer code (predict_examples, check_labels): it is in the cache key.
    version = report.exec_properties[COMPONENT_VERSION_KEY]
    assert version == code_version("evaluate", "trainer") != code_version("evaluate")
    with pytest.raises(InputError, match="num_bins"):
        EvaluationReport(**channels, num_bins=0)
    with pytest.raises(InputError, match="batch_size"):
        EvaluationReport(**channels, batch_size=0)
    with pytest.raises(InputError, match="^parameter 'eval_split'"):
        EvaluationReport(**channels, eval_split="")


def test_evaluation_report_rejects_an_empty_split(tmp_path, digits_examples_uri, digits_model_uri):
    from tfx.types import standard_artifacts

    from frontier.components.common.errors import InputError
    from frontier.components.common.examples_io import load_split, write_examples
    from frontier.components.evaluate import spec
    from frontier.components.evaluate.executor import Executor
    from frontier.schemas.artifacts import HtmlReport
    from frontier.schemas.dataset import DatasetInfo

    info = DatasetInfo.read(digits_examples_uri)
    train = load_split(digits_examples_uri, "train", info)
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    write_examples(examples, {"train": train, "eval": {k: v[:0] for k, v in train.items()}}, info)
    model = standard_artifacts.Model()
    model.uri = digits_model_uri
    evaluation = standard_artifacts.ModelEvaluation()
    evaluation.uri = str(tmp_path / "evaluation")
    report = HtmlReport()
    report.uri = str(tmp_path / "report")
    inputs = {
        spec.EXAMPLES_KEY: [examples],
        spec.MODEL_KEY: [model],
        spec.EVALUATION_KEY: [evaluation],
    }
    with pytest.raises(InputError, match=r"Split-eval: the 'eval' split has no examples"):
        Executor().Do(inputs, {spec.VISUALIZATION_KEY: [report]}, {})
