"""The SplLabeler executor run directly (Beam DirectRunner), and the Trainer's
fine-tuning path that consumes its output."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from conftest import run_executor

from frontier.components.common.errors import InputError

BAG_NOISE = 0.3


def _pool_examples(tmp_path, *, with_weak: bool = True, train_rows: int | None = None):
    """The tiny digits as a weakly-labeled pool: bags with 30% off-topic examples."""
    from conftest import tiny_digits
    from tfx.types import standard_artifacts

    from frontier.components.common.examples_io import write_examples
    from frontier.components.spl.bags import make_bags
    from frontier.schemas.dataset import WEAK_LABEL_KEY

    info, splits = tiny_digits()
    if train_rows is not None:
        splits["train"] = {k: v[:train_rows] for k, v in splits["train"].items()}
        info = dataclasses.replace(info, split_counts={**info.split_counts, "train": train_rows})
    if with_weak:
        for i, arrays in enumerate(splits.values()):
            arrays[WEAK_LABEL_KEY] = make_bags(arrays["label"], BAG_NOISE, 10, seed=i).weak
        info = dataclasses.replace(info, role_keys=(*info.role_keys, WEAK_LABEL_KEY))
    artifact = standard_artifacts.Examples()
    artifact.uri = str(tmp_path / "pool")
    write_examples(artifact, splits, info)
    return artifact, splits


def _model_at(uri: str):
    from tfx.types import standard_artifacts

    artifact = standard_artifacts.Model()
    artifact.uri = uri
    return artifact


def _run(tmp_path, pool, teacher_uri: str, strategy: str = "spl", min_count: int = 3):
    from frontier.components.spl import spec
    from frontier.components.spl.executor import Executor

    inputs = {spec.EXAMPLES_KEY: pool, spec.TEACHER_KEY: _model_at(teacher_uri)}
    params = {
        spec.STRATEGY_KEY: strategy,
        spec.MIN_COUNT_KEY: min_count,
        spec.BATCH_SIZE_KEY: 64,
    }
    return run_executor(Executor, tmp_path / strategy, inputs, params)


def test_relabels_every_split_with_the_teachers_predictions(tmp_path, digits_model_uri):
    from frontier.components.common.examples_io import load_split
    from frontier.components.spl import spec
    from frontier.components.spl.labels import SplLabelMap, confusion_matrix
    from frontier.components.trainer import predict_examples
    from frontier.schemas.artifacts import HTML_FILE_NAME, SPL_LABEL_MAP_FILE
    from frontier.schemas.dataset import DatasetInfo

    pool, splits = _pool_examples(tmp_path)
    out = _run(tmp_path, pool, digits_model_uri, "spl", min_count=3)
    relabeled = out[spec.RELABELED_EXAMPLES_KEY]
    info = DatasetInfo.read(relabeled.uri)
    with open(os.path.join(out[spec.LABEL_MAP_KEY].uri, SPL_LABEL_MAP_FILE)) as f:
        label_map = SplLabelMap.from_json(f.read())

    assert info.has("teacher_label") and info.has("spl_label") and info.has("weak_label")
    assert info.classes_of("spl_label") == label_map.names
    assert info.split_counts == {"train": 200, "eval": 80}  # spl drops nothing
    for split, source in splits.items():
        got = load_split(relabeled.uri, split, info)
        order = np.argsort(got["example_id"])
        want = np.argsort(source["example_id"])
        np.testing.assert_array_equal(got["example_id"][order], source["example_id"][want])
        np.testing.assert_array_equal(got["x"][order], source["x"][want])  # columns kept
        np.testing.assert_array_equal(got["weak_label"][order], source["weak_label"][want])
        teacher = predict_examples(digits_model_uri, pool.uri, split)
        np.testing.assert_array_equal(got["teacher_label"][order], teacher["classes"][want])
        np.testing.assert_array_equal(
            got["spl_label"], label_map.assign(got["weak_label"], got["teacher_label"])
        )
        if split == "train":  # the label space comes from the train split only
            np.testing.assert_array_equal(
                label_map.confusion, confusion_matrix(got["weak_label"], got["teacher_label"], 10)
            )
    assert relabeled.get_string_custom_property(spec.STRATEGY_PROPERTY) == "spl"
    assert relabeled.get_int_custom_property(spec.NUM_CLASSES_PROPERTY) == label_map.num_classes
    page = open(os.path.join(out[spec.VISUALIZATION_KEY].uri, HTML_FILE_NAME)).read()
    assert "Mapping" in page and "data:image/png;base64" in page


def test_relabels_a_pool_that_was_relabelled_before(tmp_path, digits_model_uri):
    """A pool that already has `teacher_label` and `spl_label` gets them replaced,
    each key once per record (not appended a second time)."""
    import tensorflow as tf
    from tfx.types import standard_artifacts

    from frontier.components.common.examples_io import load_split, split_files
    from frontier.components.spl import spec
    from frontier.components.trainer import predict_examples
    from frontier.schemas.dataset import DatasetInfo

    pool, _ = _pool_examples(tmp_path)
    first = _run(tmp_path, pool, digits_model_uri, "spl")[spec.RELABELED_EXAMPLES_KEY]
    again = standard_artifacts.Examples()
    again.uri, again.split_names = first.uri, first.split_names
    out = _run(tmp_path, again, digits_model_uri, "weak")[spec.RELABELED_EXAMPLES_KEY]
    info = DatasetInfo.read(out.uri)
    got = load_split(out.uri, "train", info)
    np.testing.assert_array_equal(got["spl_label"], got["weak_label"])
    teacher = predict_examples(digits_model_uri, pool.uri, "train")["classes"]
    np.testing.assert_array_equal(np.sort(got["teacher_label"]), np.sort(teacher))
    for record in tf.data.TFRecordDataset(split_files(out.uri, "train"), "GZIP").take(5):
        example = tf.train.Example.FromString(record.numpy())
        assert example.SerializeToString(deterministic=True) == record.numpy()


def test_agreement_keeps_only_examples_where_teacher_and_weak_label_agree(
    tmp_path, digits_model_uri
):
    from frontier.components.common.examples_io import load_split
    from frontier.components.spl import spec
    from frontier.schemas.dataset import DatasetInfo

    pool, _ = _pool_examples(tmp_path)
    out = _run(tmp_path, pool, digits_model_uri, "agreement")
    relabeled = out[spec.RELABELED_EXAMPLES_KEY]
    info = DatasetInfo.read(relabeled.uri)
    got = load_split(relabeled.uri, "train", info)
    assert 0 < len(got["spl_label"]) < 200
    assert info.split_counts["train"] == len(got["spl_label"])
    assert sum(info.class_counts["train"]) == len(got["spl_label"])
    np.testing.assert_array_equal(got["teacher_label"], got["weak_label"])
    np.testing.assert_array_equal(got["spl_label"], got["weak_label"])
    assert relabeled.get_int_custom_property(spec.DROPPED_PROPERTY) == 200 - len(got["spl_label"])


def test_pretrain_on_spl_labels_then_fine_tune_with_a_new_head(tmp_path, digits_model_uri):
    """The flow SPL needs from the Trainer: label_key='spl_label' sizes the head
    from the SPL label space; base_model fine-tunes that body under a new head."""
    from tfx.types import standard_artifacts

    from frontier.components.common.examples_io import set_examples_properties
    from frontier.components.spl import spec as spl_spec
    from frontier.components.trainer import load_keras_model, model_info, spec
    from frontier.components.trainer.executor import Executor
    from frontier.schemas.artifacts import HtmlReport

    pool, _ = _pool_examples(tmp_path)
    relabeled = _run(tmp_path, pool, digits_model_uri, "spl_b")[spl_spec.RELABELED_EXAMPLES_KEY]
    set_examples_properties(relabeled, ["train", "eval"])

    def train(name, examples, label_key, base=None):
        outputs = {
            spec.MODEL_KEY: standard_artifacts.Model(),
            spec.MODEL_RUN_KEY: standard_artifacts.ModelRun(),
            spec.VISUALIZATION_KEY: HtmlReport(),
        }
        for key, artifact in outputs.items():
            artifact.uri = str(tmp_path / name / key)
        inputs = {spec.EXAMPLES_KEY: [examples]}
        if base is not None:
            inputs[spec.BASE_MODEL_KEY] = [base]
        Executor().Do(
            inputs,
            {k: [v] for k, v in outputs.items()},
            {
                spec.EPOCHS_KEY: 2,
                spec.BATCH_SIZE_KEY: 32,
                spec.LEARNING_RATE_KEY: 1e-3,
                spec.SEED_KEY: 0,
                spec.MODEL_TYPE_KEY: "mlp",
                spec.HIDDEN_UNITS_KEY: "[24]",
                spec.LABEL_KEY_KEY: label_key,
            },
        )
        return outputs[spec.MODEL_KEY]

    pretrained = train("pretrain", relabeled, "spl_label")
    spl_classes = model_info(pretrained.uri + "/Format-Serving").class_names
    assert len(spl_classes) == relabeled.get_int_custom_property(spl_spec.NUM_CLASSES_PROPERTY)
    assert all("|" in name for name in spl_classes)  # e.g. "3|agree"

    target = _pool_examples(tmp_path / "target", with_weak=False)[0]
    student = train("student", target, "label", base=pretrained)
    body = load_keras_model(pretrained.uri).get_layer("hidden0").get_weights()[0]
    tuned = load_keras_model(student.uri)
    assert tuned.output_shape[-1] == 10
    assert model_info(student.uri + "/Format-Serving").class_names == tuple(map(str, range(10)))
    delta = np.abs(tuned.get_layer("hidden0").get_weights()[0] - body)
    assert 0 < delta.max() < 0.5  # started from the pre-trained body, then moved


def test_rejects_a_pool_without_weak_labels(tmp_path, digits_model_uri):
    pool, _ = _pool_examples(tmp_path, with_weak=False)
    with pytest.raises(InputError, match="column 'weak_label'"):
        _run(tmp_path, pool, digits_model_uri)
    assert not os.path.exists(tmp_path / "spl" / "relabeled_examples" / "Split-train")


def test_rejects_a_teacher_of_another_label_space(tmp_path, digits_model_uri):
    from frontier.components.trainer import save_model_artifact, train
    from frontier.schemas.dataset import DatasetInfo

    pool, splits = _pool_examples(tmp_path)
    info = DatasetInfo.read(pool.uri)
    three = dataclasses.replace(info, class_names=("a", "b", "c"), class_counts={})
    keep = splits["train"]["label"] < 3
    model, _ = train(splits["train"]["x"][keep], splits["train"]["label"][keep], three, epochs=1)
    save_model_artifact(model, three, str(tmp_path / "three"))
    with pytest.raises(
        InputError, match="parameter 'teacher': the teacher predicts 3 classes.*weak labels have 10"
    ):
        _run(tmp_path, pool, str(tmp_path / "three"))


def test_rejects_an_empty_pool(tmp_path, digits_model_uri):
    pool, _ = _pool_examples(tmp_path, train_rows=0)
    with pytest.raises(InputError, match="weakly-labeled pool is empty"):
        _run(tmp_path, pool, digits_model_uri)


def test_rejects_bad_parameters_at_construction():
    from tfx.types import channel, standard_artifacts

    from frontier.components.spl import SplLabeler

    examples = channel.Channel(type=standard_artifacts.Examples)
    model = channel.Channel(type=standard_artifacts.Model)
    with pytest.raises(InputError, match="strategy 'nope'.*weak or teacher"):
        SplLabeler(examples=examples, teacher=model, strategy="nope")
    with pytest.raises(InputError, match="min_count = 0"):
        SplLabeler(examples=examples, teacher=model, min_count=0)
    with pytest.raises(InputError, match="^parameter 'batch_size': batch_size = 0"):
        SplLabeler(examples=examples, teacher=model, batch_size=0)
