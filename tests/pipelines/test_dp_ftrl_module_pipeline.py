"""A user's JAX model module through DpFtrlTrainer, the stock Evaluator and the Pusher."""

from __future__ import annotations

import os
import textwrap

from conftest import TINY_FEDERATED, federated_examples

# Two layers, written by the user (see dp_ftrl.model_module for the contract).
USER_MODULE = """
import jax
import jax.numpy as jnp


def init(rng, input_shape, num_classes, config):
    k1, k2 = jax.random.split(rng)
    d, h = input_shape[0], config["hidden"]
    return {"w1": jax.random.normal(k1, (d, h)) / jnp.sqrt(d), "b1": jnp.zeros(h),
            "w2": jax.random.normal(k2, (h, num_classes)) / jnp.sqrt(h),
            "b2": jnp.zeros(num_classes)}


def apply(params, x):
    h = jax.nn.relu(x @ params["w1"] + params["b1"])
    return h @ params["w2"] + params["b2"]
"""


def test_user_module_is_trained_privately_evaluated_blessed_and_pushed(
    tmp_path, digits_examples_uri
):
    from ml_metadata.metadata_store import metadata_store
    from tfx import v1 as tfx
    from tfx.types import standard_artifacts

    from frontier.components.dp_ftrl import DpFtrlTrainer
    from frontier.components.evaluate import make_evaluator
    from frontier.components.pusher import Pusher

    module = tmp_path / "user" / "two_layer.py"
    module.parent.mkdir()
    module.write_text(textwrap.dedent(USER_MODULE))
    importer = tfx.dsl.Importer(
        source_uri=federated_examples(tmp_path, digits_examples_uri),
        artifact_type=standard_artifacts.Examples,
        properties={"split_names": '["train", "eval"]'},
        custom_properties={"payload_format": "FORMAT_TF_EXAMPLE", "file_format": "tfrecords_gzip"},
    ).with_id("import_examples")
    examples = importer.outputs["result"]
    trainer = DpFtrlTrainer(
        examples=examples,
        module_file=str(module),
        custom_config={"hidden": 16},
        baselines=(),
        feature_scale=16.0,
        **{**TINY_FEDERATED, "client_lr": 0.5},
    )
    evaluator = make_evaluator(examples, trainer.outputs["model"], num_classes=10, min_accuracy=0.0)
    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        base_directory=str(tmp_path / "serving"),
    )
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="dp_ftrl_module_test",
        pipeline_root=str(tmp_path / "root"),
        components=[importer, trainer, evaluator, pusher],
        enable_cache=False,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(tmp_path / "metadata.sqlite")
        ),
        beam_pipeline_args=["--direct_num_workers=1", "--direct_running_mode=in_memory"],
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)

    store = metadata_store.MetadataStore(pipeline.metadata_connection_config)
    (model,) = store.get_artifacts_by_type("Model")
    assert model.custom_properties["mechanism"].string_value == "dp_ftrl_tree_aggregation"
    (blessing,) = store.get_artifacts_by_type("ModelBlessing")
    assert blessing.custom_properties["blessed"].int_value == 1
    (pushed,) = store.get_artifacts_by_type("PushedModel")
    assert pushed.custom_properties["pushed"].int_value == 1
    (version,) = os.listdir(tmp_path / "serving")  # the SavedModel, copied whole
    assert os.path.isfile(tmp_path / "serving" / version / "saved_model.pb")
    wheels = os.listdir(tmp_path / "root" / "_wheels")  # the module, packaged as stock TFX does
    assert wheels and all(w.endswith(".whl") for w in wheels)
