"""`frontier compile`: every shipped pipeline for Vertex AI and Kubeflow, read back
with the kfp / pipeline-spec libraries; runtime parameters, resources, image, Beam
options and the errors users hit."""

from __future__ import annotations

import dataclasses
import json
import os
import re

import pytest
import yaml

from frontier.pipelines import cli, parameters, resources, runner
from frontier.pipelines.compile import COMMANDS, beam_args, check_image, compile_pipeline

IMAGE = "us-central1-docker.pkg.dev/example-project/frontier/frontier:0.1.0"
GPU_IMAGE = "us-central1-docker.pkg.dev/example-project/frontier/frontier-gpu:0.1.0"
ROOT = "gs://example-bucket/frontier"
# Runtime parameters each pipeline must expose: {name: (parameterType, default)}.
SPL_DATA = f"{ROOT}/data/spl"
EXPECTED = {
    "kip": {"source": ("STRING", "sklearn:digits"), "seed": ("NUMBER_INTEGER", 0)},
    "ciw": {
        "source": ("STRING", "sklearn:digits"),
        "seed": ("NUMBER_INTEGER", 0),
        "noise_rate": ("NUMBER_DOUBLE", 0.4),
        "noise_seed": ("NUMBER_INTEGER", 0),
    },
    "spl": {
        "target_source": ("STRING", f"{SPL_DATA}/target.npz"),
        "pool_source": ("STRING", f"{SPL_DATA}/pool.npz"),
        "seed": ("NUMBER_INTEGER", 0),
    },
    "dp_ftrl": {
        "population_source": ("STRING", f"{ROOT}/data/dp_ftrl/population.npz"),
        "seed": ("NUMBER_INTEGER", 0),
        "privacy_budget": ("NUMBER_DOUBLE", 10.0),
    },
}
EXPECTED["demo"] = {
    **EXPECTED["ciw"],
    **EXPECTED["spl"],
    **EXPECTED["dp_ftrl"],
    "push_destination": ("STRING", f"{ROOT}/serving"),
}
# Where each parameter must arrive: (task, execution property) pairs.
WIRING = {
    "noise_rate": [("IngestNoisy", "noise_rate")],
    "privacy_budget": [("DpFtrlTrainer", "privacy_budget")],
    "push_destination": [("Pusher", "push_destination")],
    "target_source": [("IngestTarget", "source")],
    "pool_source": [("IngestPool", "source")],
    "population_source": [("IngestFederated", "source")],
}
TARGETS = {"vertex": ".json", "kubeflow": ".yaml"}


def _load(path: str):
    """The compiled file read back the way its consumer reads it: a Vertex JSON as a
    `PipelineJob` proto, a YAML with kfp.Client's own loader."""
    from google.protobuf import json_format
    from kfp.client import client as kfp_client
    from kfp.pipeline_spec import pipeline_spec_pb2

    if path.endswith(".json"):
        with open(path) as f:
            job = json_format.ParseDict(json.load(f), pipeline_spec_pb2.PipelineJob())
        spec = json_format.ParseDict(
            json_format.MessageToDict(job.pipeline_spec), pipeline_spec_pb2.PipelineSpec()
        )
        return spec, job
    return kfp_client._extract_pipeline_yaml(path).pipeline_spec, None


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """{(pipeline, target): (PipelineSpec proto, PipelineJob proto or None, path)}."""
    out = tmp_path_factory.mktemp("compiled")
    found = {}
    for name in cli.PIPELINES:
        for target, suffix in TARGETS.items():
            path = str(out / f"{name}-{target}{suffix}")
            compile_pipeline(name, target, IMAGE, path, ROOT, gpu_image=GPU_IMAGE)
            found[name, target] = (*_load(path), path)
    return found


def _executor(spec, task: str):
    label = spec.components[spec.root.dag.tasks[task].component_ref.name].executor_label
    return spec.deployment_spec["executors"][label]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", sorted(cli.PIPELINES))
def test_runtime_parameters_are_pipeline_inputs_with_defaults(compiled, name, target):
    from google.protobuf import json_format

    spec, job, _ = compiled[name, target]
    assert spec.schema_version == "2.1.0"
    assert spec.default_pipeline_root == f"{ROOT}/pipelines/frontier-{name.replace('_', '-')}"
    inputs = json_format.MessageToDict(spec.root.input_definitions)["parameters"]
    assert {k: (v["parameterType"], v["defaultValue"]) for k, v in inputs.items()} == EXPECTED[name]
    assert all(v["isOptional"] and v["description"] for v in inputs.values())
    if job is not None:  # Vertex's PipelineJob also carries them, typed, in its runtimeConfig
        values = json_format.MessageToDict(job.runtime_config)["parameterValues"]
        assert values == {k: d for k, (_, d) in EXPECTED[name].items()}
    # Every parameter reaches the tasks that use it, and nothing else feeds them.
    tasks = spec.root.dag.tasks
    fed = {
        (task, key): p.component_input_parameter
        for task in tasks
        for key, p in tasks[task].inputs.parameters.items()
        if p.component_input_parameter
    }
    assert set(fed.values()) == set(EXPECTED[name])
    for param, places in WIRING.items():
        if param in EXPECTED[name]:
            assert all(fed[place] == param for place in places), param
    seeded = [task for (task, key), p in fed.items() if p == "seed" and key == "seed"]
    assert len(seeded) >= 2  # the split's seed and at least one training step's


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", sorted(cli.PIPELINES))
def test_resources_and_images_are_in_the_spec(compiled, name, target):
    import importlib

    from google.protobuf import json_format

    spec, _, _ = compiled[name, target]
    table = importlib.import_module(cli.PIPELINES[name]).RESOURCES
    gpus = 0
    for task in spec.root.dag.tasks:
        executor = _executor(spec, task)
        if "container" not in executor:
            continue  # the demo's Vertex resolver steps run no container
        container = json_format.MessageToDict(executor["container"])
        wanted = resources.match(task, table)
        got = container.get("resources", {})
        if wanted is None:
            assert not got, task
            assert container["image"] == IMAGE
            continue
        assert got.get("cpuLimit") == wanted.cpu and got.get("memoryLimit") == wanted.memory_gb
        if wanted.accelerator:
            gpus += 1
            kind = "NVIDIA_TESLA_T4" if target == "vertex" else "nvidia.com/gpu"
            assert got["accelerator"] == {"type": kind, "count": "1"}, task
            assert container["image"] == GPU_IMAGE
        else:
            assert "accelerator" not in got and container["image"] == IMAGE
        assert container["command"] == COMMANDS[target]
    assert gpus > 0 or name == "spl"  # KIP, CIW and DP-FTRL train on a GPU


def test_every_resources_key_names_nodes_of_its_pipeline(tmp_path):
    import importlib

    for name, module in cli.PIPELINES.items():
        definition = importlib.import_module(module)
        ids = [c.id for c in definition.create_pipeline(ROOT).components]
        for key in definition.RESOURCES:
            assert any(i == key or i.startswith(key) for i in ids), (name, key)


def test_demo_keeps_its_blessed_baseline_on_vertex_only(compiled):
    vertex, _, _ = compiled["demo", "vertex"]
    kubeflow, _, _ = compiled["demo", "kubeflow"]
    resolver = "latest_blessed_model_resolver-model-resolver"
    assert resolver in vertex.root.dag.tasks
    assert not any("resolver" in t for t in kubeflow.root.dag.tasks)
    # The kubeflow YAML is exactly what kfp.Client reads: the PipelineSpec, no wrapper.
    with open(compiled["demo", "kubeflow"][2]) as f:
        assert "pipelineSpec" not in yaml.safe_load(f)


def test_beam_profile_sends_only_the_beam_components_to_dataflow(tmp_path):
    profile = tmp_path / "dataflow.yaml"
    profile.write_text(
        "runner: DataflowRunner\nproject: '{project}'\nregion: '{region}'\n"
        "temp_location: '{root}/beam/tmp'\nsdk_container_image: '{image}'\n"
        "experiments: [use_runner_v2, no_use_multiple_sdk_containers]\n"
    )
    path = str(tmp_path / "kip.json")
    compile_pipeline(
        "kip", "vertex", IMAGE, path, ROOT, beam_profile=str(profile), project="p", region="r"
    )
    spec, _ = _load(path)
    ingest = list(_executor(spec, "Ingest")["container"]["args"])
    assert {
        "--runner=DataflowRunner",
        "--project=p",
        "--region=r",
        f"--temp_location={ROOT}/beam/tmp",
        f"--sdk_container_image={IMAGE}",
        "--experiments=use_runner_v2",
        "--experiments=no_use_multiple_sdk_containers",
    } <= set(ingest)
    trainer = list(_executor(spec, "TrainOnKip_1pc")["container"]["args"])
    assert not any(a.startswith("--runner") for a in trainer)


def test_shipped_dataflow_profile_loads():
    profile = os.path.join(os.path.dirname(__file__), "..", "..", "infra", "dataflow.yaml")
    args = beam_args(profile, {"project": "p", "region": "r", "root": ROOT, "image": IMAGE})
    assert "--runner=DataflowRunner" in args and "--project=p" in args
    assert not any("{" in a for a in args)


def test_runtime_parameters_resolve_for_local_runs_and_take_overrides(tmp_path):
    """`frontier run --param` sets a default; a local run's nodes get plain values
    (the IR TFX compiles then has them, zeros included)."""
    from tfx.dsl.compiler import compiler

    from frontier.pipelines import ciw

    pipeline = ciw.create_pipeline(str(tmp_path))
    parameters.set_values(pipeline.components, {"noise_rate": "0.25", "seed": "7"})
    assert parameters.resolve(pipeline.components) == {
        "source": "sklearn:digits",
        "seed": 7,
        "noise_rate": 0.25,
        "noise_seed": 0,
    }
    ir = compiler.Compiler().compile(pipeline)
    nodes = {n.pipeline_node.node_info.id: n.pipeline_node for n in ir.nodes}
    props = nodes["IngestNoisy"].parameters.parameters
    assert props["noise_rate"].field_value.double_value == 0.25
    assert props["seed"].field_value.int_value == 7
    assert props["noise_seed"].field_value.HasField("int_value")  # 0, not missing
    trainer = nodes["CiwTrainer_ciw"].parameters.parameters
    assert trainer["seed"].field_value.int_value == 7
    pipeline = ciw.create_pipeline(str(tmp_path))
    with pytest.raises(
        ValueError, match=r"unknown runtime parameter.*\['nosie_rate'\].*noise_rate"
    ):
        parameters.set_values(pipeline.components, {"nosie_rate": "0.1"})
    with pytest.raises(ValueError, match=r"--param seed=one: expected an integer"):
        parameters.set_values(pipeline.components, {"seed": "one"})


def test_parameters_whose_nodes_disagree_are_refused(tmp_path):
    from frontier.pipelines import spl

    pipeline = spl.create_pipeline(str(tmp_path))
    for node in pipeline.components:  # undo: plain values again
        for key, value in list(node.exec_properties.items()):
            if hasattr(value, "ptype"):
                node.exec_properties[key] = value.default
    with pytest.raises(ValueError, match=r"'source'.*disagree.*IngestTarget.source=.*IngestPool"):
        parameters.apply(pipeline.components, [parameters.source("IngestTarget", "IngestPool")])
    with pytest.raises(ValueError, match=r"no node with id \['Nowhere'\]"):
        parameters.apply(pipeline.components, [parameters.source("Nowhere")])


@pytest.mark.parametrize(
    "image",
    [
        "frontier:0.1.0",  # no registry
        "frontier",
        "us-central1-docker.pkg.dev/p/r/frontier",  # no tag
        "localhost/frontier@sha256:abc",  # short digest
    ],
)
def test_an_image_that_is_not_a_full_registry_path_is_refused(image):
    with pytest.raises(ValueError, match=r"--image .* not a full registry path.*REGISTRY/PATH"):
        check_image(image)


def test_check_image_accepts_registry_paths():
    for image in (IMAGE, "gcr.io/p/frontier@sha256:" + "a" * 64, "localhost:5000/frontier:dev"):
        assert check_image(image) == image


def test_compile_errors_name_the_flag(tmp_path, capsys):
    out = str(tmp_path / "x.json")
    (tmp_path / "list.yaml").write_text("- runner\n")
    (tmp_path / "file").write_text("a file, not a directory")
    cases = [
        (["--root", "/data/frontier"], r"--root '/data/frontier': a vertex pipeline needs a gs://"),
        (["--root", "s3://b/f"], r"needs a gs://BUCKET root"),
        (["--root", "gs://"], r"--root 'gs://': a vertex pipeline needs a gs://BUCKET root"),
        (["--output", str(tmp_path / "file" / "x.json")], r"--output .*x.json': cannot write"),
        (["--target", "kubeflow"], r"--output .*x.json: kfp.Client reads only .yaml"),
        (["--region", "us-central1"], r"--region: it only fills the Beam profile's \{region\}"),
        (["--beam-profile", str(tmp_path / "list.yaml")], r"--beam-profile .*: expected a mapping"),
        (["--beam-profile", str(tmp_path / "none.yaml")], r"--beam-profile .*: cannot be read"),
    ]
    for extra, pattern in cases:
        argv = ["compile", "kip", "--target", "vertex", "--image", IMAGE, "--root", ROOT]
        argv += ["--output", out, *extra]
        assert cli.main(argv) == 2, extra
        err = capsys.readouterr().err
        assert err.startswith("frontier: error: ") and re.search(pattern, err), err
    assert not os.path.exists(out)  # nothing half-written


def test_beam_profile_without_project_names_the_flag(tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text("project: '{project}'\n")
    with pytest.raises(ValueError, match=r"option project needs --project"):
        beam_args(str(profile), {"project": None})
    profile.write_text("zone: '{zone}'\n")
    with pytest.raises(ValueError, match=r"unknown placeholder \{zone\}"):
        beam_args(str(profile), {})


def test_unknown_accelerator_is_refused_naming_the_valid_ones():
    bad = resources.Resources(accelerator="NVIDIA_TESLA_T5")
    with pytest.raises(ValueError, match=r"unknown accelerator type 'NVIDIA_TESLA_T5'.*NVIDIA_L4"):
        resources.resource_spec(bad, "vertex")
    tpu = resources.resource_spec(resources.Resources(accelerator="TPU_V3"), "kubeflow")
    assert tpu.accelerator.type == "cloud-tpus.google.com/v3"
    k8s = resources.resource_spec(resources.Resources(accelerator="amd.com/gpu"), "kubeflow")
    assert k8s.accelerator.type == "amd.com/gpu"
    with pytest.raises(ValueError, match="unknown accelerator type 'amd.com/gpu'"):
        resources.resource_spec(resources.Resources(accelerator="amd.com/gpu"), "vertex")


def test_several_accelerators_reach_the_step_spec():
    four = resources.Resources(accelerator="NVIDIA_L4", accelerator_count=4)
    for target in resources.TARGETS:
        assert resources.resource_spec(four, target).accelerator.count == 4
    with pytest.raises(ValueError, match="accelerator_count must be >= 1"):
        resources.resource_spec(dataclasses.replace(four, accelerator_count=0), "vertex")


def test_kubeflow_refuses_a_pipeline_with_a_resolver(tmp_path):
    from frontier.pipelines import demo

    with pytest.raises(ValueError, match=r"resolver node.*resolver executors not implemented"):
        compile_pipeline(
            "demo", "kubeflow", IMAGE, str(tmp_path / "d.yaml"), ROOT, config=demo.DemoConfig()
        )


def test_a_local_run_refuses_a_gs_root(capsys):
    assert cli.main(["run", "kip", "--root", ROOT]) == 2
    assert "--root gs://example-bucket/frontier: a local run needs a local directory" in (
        capsys.readouterr().err
    )
    assert runner.is_remote(ROOT) and not runner.is_remote("frontier_runs")


def test_vertex_json_reads_the_same_as_yaml(compiled):
    """aiplatform reads a JSON template with yaml.safe_load: 1e-06 must stay a number."""
    for (name, target), (_, _, path) in compiled.items():
        if target == "vertex":
            with open(path) as f:
                text = f.read()
            assert yaml.safe_load(text) == json.loads(text), name
