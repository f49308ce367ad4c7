"""The model-module contract: a user's Keras model trained by Trainer and CiwTrainer."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from conftest import TINY_NETWORK, examples_artifact, run_executor

from frontier.components.common.errors import InputError

# A user's module: a small CNN with a custom layer and its own in-graph
# preprocessing (flat features -> scaled images), sized from the spec and
# configured by custom_config.
USER_MODULE = '''
import keras
import tensorflow as tf


class Scale(keras.layers.Layer):
    """A custom layer: multiplies its input by a constant."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def preprocess_inputs(x, spec, config):
    """In the graph: the flat pixels (0..16) as images scaled to [0, 1]."""
    return tf.reshape(x / 16.0, [-1, *spec.image_shape])


def build_model(spec, config):
    inputs = keras.Input(shape=spec.image_shape, name="image")
    h = Scale(2.0)(inputs)
    h = keras.layers.Conv2D(config.get("filters", 8), 3, padding="same", activation="relu")(h)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(spec.num_classes, activation="softmax", name="probabilities")(h)
    return keras.Model(inputs, outputs)
'''


def _write(path, text: str) -> str:
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_trainer_and_ciw_train_a_user_module(tmp_path, digits_examples_uri):
    from frontier.components.ciw import spec as ciw_spec
    from frontier.components.ciw.executor import Executor as CiwExecutor
    from frontier.components.ciw.train import CiwConfig
    from frontier.components.trainer import predict_examples, spec
    from frontier.components.trainer.executor import Executor

    module = _write(tmp_path / "user_cnn.py", USER_MODULE)
    examples = examples_artifact(digits_examples_uri)
    user = {spec.MODULE_FILE_KEY: module, spec.CUSTOM_CONFIG_KEY: '{"filters": 4}'}
    trained = run_executor(
        Executor,
        tmp_path / "trainer",
        {spec.EXAMPLES_KEY: examples},
        {**TINY_NETWORK, spec.EPOCHS_KEY: 8, **user},
    )[spec.MODEL_KEY]
    assert trained.get_string_custom_property(spec.MODEL_TYPE_PROPERTY) == module
    served = predict_examples(trained.uri, digits_examples_uri, "eval")
    accuracy = float(np.mean(served["classes"] == served["label"]))
    assert accuracy == pytest.approx(trained.get_float_custom_property("eval_accuracy"), abs=1e-6)
    assert accuracy > 0.5  # the CNN learned the digits, through the served signature
    # The preprocessing is in the SavedModel: serving raw features equals the
    # Keras model on preprocessed images.
    from frontier.components.common.examples_io import load_split
    from frontier.components.trainer import load_keras_model, load_serving_signature

    x = load_split(digits_examples_uri, "eval")["x"][:16]
    raw = load_serving_signature(trained.uri, "serving_features")(x=x)["probabilities"]
    keras_model = load_keras_model(trained.uri)
    np.testing.assert_allclose(
        raw, keras_model.predict((x / 16.0).reshape(-1, 8, 8, 1), verbose=0), rtol=1e-5, atol=1e-6
    )

    config = {**dict(CiwConfig(epochs=3, burn_in=5).__dict__), **TINY_NETWORK, **user}
    ciw = run_executor(CiwExecutor, tmp_path / "ciw", {ciw_spec.EXAMPLES_KEY: examples}, config)[
        ciw_spec.MODEL_KEY
    ]
    assert ciw.get_string_custom_property(ciw_spec.MODEL_TYPE_PROPERTY) == module
    assert ciw.get_float_custom_property("train_accuracy") > 0.3


def test_builtin_module_trains_the_same_model_as_model_type(digits_examples_uri):
    from frontier.components.common.examples_io import load_split
    from frontier.components.trainer import load_model_module, model_spec, train
    from frontier.schemas.dataset import DatasetInfo

    info = DatasetInfo.read(digits_examples_uri)
    data = load_split(digits_examples_uri, "train", info)
    x, y = data["x"][:120], data["label"][:120]
    kwargs = dict(epochs=2, seed=3, batch_size=16)
    plain, _ = train(x, y, info, hidden_units=(16,), **kwargs)
    module = load_model_module(module_path="frontier.components.trainer.mlp_module")
    built, _ = train(
        x,
        y,
        info,
        build=lambda: module.build(model_spec(info, x), {"hidden_units": [16]}),
        **kwargs,
    )
    np.testing.assert_array_equal(plain.predict(x, verbose=0), built.predict(x, verbose=0))


def test_bad_modules_are_refused_naming_module_and_function(tmp_path, digits_examples_uri):
    from frontier.components.common.examples_io import load_split
    from frontier.components.trainer import load_model_module, model_spec, parse_custom_config
    from frontier.schemas.dataset import DatasetInfo

    info = DatasetInfo.read(digits_examples_uri)
    spec = model_spec(info, load_split(digits_examples_uri, "train", info)["x"])
    missing = str(tmp_path / "nowhere.py")
    with pytest.raises(InputError, match="no such module file"):
        load_model_module(module_file=missing)
    broken = _write(tmp_path / "broken.py", "import no_such_package_here\n")
    with pytest.raises(InputError, match=r"cannot import .*broken\.py.*no_such_package_here"):
        load_model_module(module_file=broken)
    empty = _write(tmp_path / "empty.py", "X = 1\n")
    with pytest.raises(InputError, match=r"empty\.py has no function 'build_model'"):
        load_model_module(module_file=empty)
    not_model = _write(tmp_path / "not_model.py", "def build_model(spec, config):\n    return 3\n")
    with pytest.raises(InputError, match=r"not_model\.py: build_model returned int") as e:
        load_model_module(module_file=not_model).build(spec, {})
    assert e.value.function == "build_model" and e.value.column is None
    wrong = _write(
        tmp_path / "wrong.py",
        """
        import keras

        def build_model(spec, config):
            inputs = keras.Input(shape=(spec.input_dim,))
            return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
        """,
    )
    with pytest.raises(InputError, match=r"wrong\.py: build_model .* to 3 outputs.*10 class"):
        load_model_module(module_file=wrong).build(spec, {})
    raising = _write(
        tmp_path / "raising.py", "def build_model(spec, config):\n    return config['units']\n"
    )
    with pytest.raises(InputError, match=r"raising\.py: build_model raised KeyError"):
        load_model_module(module_file=raising).build(spec, {})
    bad_preprocess = _write(
        tmp_path / "bad_preprocess.py",
        """
        def preprocess_inputs(x, spec, config):
            return [1, 2]

        def build_model(spec, config):
            return None
        """,
    )
    module = load_model_module(module_file=bad_preprocess)
    with pytest.raises(InputError, match=r"bad_preprocess\.py: preprocess_inputs returned list"):
        module.preprocessor(spec, {})
    flat_model = wrong.replace("wrong.py", "flat.py")
    _write(
        tmp_path / "flat.py",
        """
        import keras
        import tensorflow as tf

        def preprocess_inputs(x, spec, config):
            return tf.reshape(x, [-1, 8, 8, 1])

        def build_model(spec, config):
            inputs = keras.Input(shape=(spec.input_dim,))
            return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(inputs))
        """,
    )
    module = load_model_module(module_file=flat_model)
    with pytest.raises(InputError, match=r"inputs \(64,\) to 10.*\(8, 8, 1\) \(preprocess_inputs"):
        module.build(spec, {}, module.preprocessor(spec, {}))
    for bad in ("[1, 2]", "{not json", "3"):
        with pytest.raises(InputError, match="custom_config"):
            parse_custom_config(bad)
    with pytest.raises(InputError, match="one of module_file and module_path"):
        load_model_module(module_file=empty, module_path="json")


def test_component_checks_the_module_and_keys_the_cache_on_its_source(tmp_path):
    from tfx.types import channel_utils, standard_artifacts

    from frontier.components.ciw import CiwTrainer
    from frontier.components.common.versioning import COMPONENT_VERSION_KEY
    from frontier.components.trainer import Trainer

    examples = channel_utils.as_channel([standard_artifacts.Examples()])
    module = tmp_path / "user_cnn.py"
    _write(module, USER_MODULE)
    for component_class in (Trainer, CiwTrainer):
        first = component_class(examples=examples, module_file=str(module))
        again = component_class(examples=examples, module_file=str(module))
        builtin = component_class(examples=examples)
        versions = [c.exec_properties[COMPONENT_VERSION_KEY] for c in (first, again, builtin)]
        assert versions[0] == versions[1] != versions[2]
        module.write_text(USER_MODULE.replace("filters", "kernels"))
        edited = component_class(examples=examples, module_file=str(module))
        assert edited.exec_properties[COMPONENT_VERSION_KEY] != versions[0]
        _write(module, USER_MODULE)
        with pytest.raises(InputError, match="no such module file"):
            component_class(examples=examples, module_file=str(tmp_path / "missing.py"))
        with pytest.raises(InputError, match="custom_config"):
            component_class(examples=examples, module_file=str(module), custom_config="[1]")


def _module_pipeline(tmp_path, examples_uri: str, module: str):
    """Importer -> Trainer and CiwTrainer on the user module -> stock Evaluator -> Pusher."""
    from tfx import v1 as tfx
    from tfx.types import standard_artifacts

    from frontier.components.ciw import CiwTrainer
    from frontier.components.evaluate import make_evaluator
    from frontier.components.pusher import Pusher
    from frontier.components.trainer import Trainer

    importer = tfx.dsl.Importer(
        source_uri=examples_uri,
        artifact_type=standard_artifacts.Examples,
        properties={"split_names": '["train", "eval"]'},
        custom_properties={"payload_format": "FORMAT_TF_EXAMPLE", "file_format": "tfrecords_gzip"},
    ).with_id("import_examples")
    examples = importer.outputs["result"]
    user = dict(module_file=module, custom_config={"filters": 4}, batch_size=32, seed=0)
    trainer = Trainer(examples=examples, epochs=4, learning_rate=0.01, **user)
    ciw = CiwTrainer(examples=examples, epochs=2, burn_in=5, learning_rate=0.01, **user)
    evaluator = make_evaluator(examples, trainer.outputs["model"], num_classes=10, min_accuracy=0.0)
    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        base_directory=str(tmp_path / "serving"),
    )
    return tfx.dsl.Pipeline(
        pipeline_name="user_module_test",
        pipeline_root=str(tmp_path / "root"),
        components=[importer, trainer, ciw, evaluator, pusher],
        enable_cache=True,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(tmp_path / "metadata.sqlite")
        ),
        beam_pipeline_args=["--direct_num_workers=1", "--direct_running_mode=in_memory"],
    )


def test_pipeline_packages_the_module_and_reruns_only_when_it_changes(
    tmp_path, digits_examples_uri
):
    import os

    from ml_metadata.metadata_store import metadata_store
    from tfx import v1 as tfx

    module = tmp_path / "user" / "user_cnn.py"
    module.parent.mkdir()
    _write(module, USER_MODULE)

    def run() -> int:
        pipeline = _module_pipeline(tmp_path, digits_examples_uri, str(module))
        tfx.orchestration.LocalDagRunner().run(pipeline)
        store = metadata_store.MetadataStore(pipeline.metadata_connection_config)
        return len(store.get_artifacts_by_type("Model"))

    assert run() == 2  # Trainer and CiwTrainer each published a model
    wheels = os.listdir(tmp_path / "root" / "_wheels")
    assert wheels and all(w.endswith(".whl") for w in wheels)  # packaged as stock TFX does
    assert os.listdir(tmp_path / "serving")  # evaluated, blessed and pushed
    assert run() == 2  # unchanged module: both trainers come from the cache
    module.write_text(
        USER_MODULE.replace('name="probabilities"', 'name="probabilities", use_bias=True')
    )
    assert run() == 4  # edited module: both trainers run again


# A user module with a registered custom layer and its own head name.
HEADED_MODULE = """
import keras

HEAD_LAYER = "head"


@keras.saving.register_keras_serializable(package="headed_test")
class Shift(keras.layers.Layer):
    def call(self, x):
        return x - 8.0


def build_model(spec, config):
    inputs = keras.Input(shape=(spec.input_dim,), name="x")
    h = keras.layers.Dense(32, activation="relu", name="body")(Shift()(inputs) / 8.0)
    outputs = keras.layers.Dense(spec.num_classes, activation="softmax", name=HEAD_LAYER)(h)
    return keras.Model(inputs, outputs)
"""


def test_user_model_pretrained_on_spl_labels_is_fine_tuned_under_a_fresh_head(
    tmp_path, digits_examples_uri
):
    import dataclasses

    from frontier.components.common.examples_io import load_split, write_examples
    from frontier.components.trainer import load_keras_model, spec
    from frontier.components.trainer.executor import Executor, fine_tuning_model
    from frontier.schemas.dataset import SPL_LABEL_KEY, DatasetInfo

    module = _write(tmp_path / "headed.py", HEADED_MODULE)
    info = DatasetInfo.read(digits_examples_uri)
    splits = {s: load_split(digits_examples_uri, s, info) for s in ("train", "eval")}
    for arrays in splits.values():  # a 4-class pre-training label space
        arrays[SPL_LABEL_KEY] = arrays["label"] % 4
    info = dataclasses.replace(
        info,
        role_keys=(*info.role_keys, SPL_LABEL_KEY),
        label_spaces={SPL_LABEL_KEY: ("0/4/8", "1/5/9", "2/6", "3/7")},
    )
    pool = examples_artifact(tmp_path / "pool")
    write_examples(pool, splits, info)
    user = {**TINY_NETWORK, spec.MODULE_FILE_KEY: module, spec.EPOCHS_KEY: 3}
    pre = run_executor(
        Executor, tmp_path / "pre", {spec.EXAMPLES_KEY: pool}, {**user, "label_key": SPL_LABEL_KEY}
    )[spec.MODEL_KEY]
    base = load_keras_model(pre.uri)
    assert base.get_layer("head").units == 4

    fresh = fine_tuning_model(user, pre.uri, 10)
    assert fresh.get_layer("head").units == 10  # a new head of the target's classes ...
    np.testing.assert_array_equal(  # ... on the pre-trained body
        fresh.get_layer("body").get_weights()[0], base.get_layer("body").get_weights()[0]
    )
    tuned = run_executor(
        Executor,
        tmp_path / "tuned",
        {spec.EXAMPLES_KEY: examples_artifact(digits_examples_uri), spec.BASE_MODEL_KEY: pre},
        user,
    )[spec.MODEL_KEY]
    assert load_keras_model(tuned.uri).get_layer("head").units == 10
    assert tuned.get_float_custom_property("train_accuracy") > 0.5


def test_trainer_streams_its_splits_and_train_steps_bounds_the_run(tmp_path, digits_examples_uri):
    import keras

    from frontier.components.common import examples_io
    from frontier.components.trainer import load_keras_model, spec
    from frontier.components.trainer.executor import Executor

    def refuse(*args, **kwargs):
        raise AssertionError("the Trainer loaded a whole split into memory")

    examples = examples_artifact(digits_examples_uri)
    original = examples_io.load_split
    examples_io.load_split = refuse  # the executor must stream
    try:
        params = {**TINY_NETWORK, spec.EPOCHS_KEY: 50, spec.TRAIN_STEPS_KEY: 9}
        out = run_executor(Executor, tmp_path, {spec.EXAMPLES_KEY: examples}, params)
    finally:
        examples_io.load_split = original
    model = out[spec.MODEL_KEY]
    # 200 train examples in batches of 32: 7 steps an epoch; 9 steps end in the second.
    keras_model = load_keras_model(model.uri)
    assert int(keras_model.optimizer.iterations) == 9
    assert isinstance(keras_model, keras.Model)
    assert model.has_custom_property("eval_accuracy")
