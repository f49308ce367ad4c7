"""Tests of `frontier submit`: dry runs for Vertex AI and Kubeflow that print
what the real client libraries would send (checked against what they do send:
a patched Vertex transport, and the real kfp.Client talking to a stand-in KFP
server), runtime parameters typed by their declaration, and clear errors."""

from __future__ import annotations

import copy
import json
import socket

import pytest
import yaml
from kfp_stand_in import KfpStandIn

from frontier.pipelines import compiled_spec, vertex
from frontier.pipelines.kubeflow import (
    EXPERIMENT_ID,
    PIPELINE_ID,
    PIPELINE_VERSION_ID,
    PIPELINES,
    UPLOAD_VERSION,
    submit_kubeflow,
)

IMAGE = "us-docker.pkg.dev/p/r/frontier:1"
ROOT = "gs://bucket/runs"
PROJECT, REGION = "my-project", "us-central1"
KFP_ENV = (
    "KF_PIPELINES_ENDPOINT",
    "KF_PIPELINES_DEFAULT_EXPERIMENT_NAME",
    "KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME",
)
TARGET_FLAGS = {
    "kubeflow": ("--target=kubeflow", "--host=http://h"),
    "vertex": ("--target=vertex", f"--project={PROJECT}", f"--region={REGION}"),
}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """kip compiled once: {"json": Vertex PipelineJob, "yaml": Kubeflow PipelineSpec}."""
    from frontier.pipelines.compile import compile_pipeline

    out = tmp_path_factory.mktemp("compiled")
    files = {"json": str(out / "kip.json"), "yaml": str(out / "kip.yaml")}
    compile_pipeline("kip", "vertex", IMAGE, files["json"], ROOT)
    compile_pipeline("kip", "kubeflow", IMAGE, files["yaml"], ROOT)
    return files


@pytest.fixture(autouse=True)
def _no_kfp_context(tmp_path, monkeypatch):
    """kfp.Client reads ~/.config/kfp/context.json and KF_PIPELINES_* variables."""
    from kfp.client import client as kfp_client

    monkeypatch.setattr(kfp_client.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "none.json"))
    for name in KFP_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt or credential lookup fails the test."""
    import google.auth

    def refuse(*args, **kwargs):
        raise AssertionError(f"network or credentials used: {args[1:]!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(google.auth, "default", refuse)


def frontier(capsys, *argv):
    """(exit code, stdout, stderr) of `frontier submit ARGV`."""
    from frontier.pipelines import cli

    code = cli.main(["submit", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def spec_of(path: str) -> dict:
    return compiled_spec.load_spec(path).spec


def tasks(spec: dict) -> dict:
    return spec["root"]["dag"]["tasks"]


def caching_off(spec: dict, options: dict) -> dict:
    """`spec` with every root task's cachingOptions replaced by `options`."""
    spec = copy.deepcopy(spec)
    for task in tasks(spec).values():
        task["cachingOptions"] = dict(options)
    return spec


# -- Vertex AI ------------------------------------------------------------------------


def test_vertex_dry_run_prints_the_create_request(compiled, no_network, capsys):
    code, out, err = frontier(
        capsys,
        compiled["json"],
        "--target=vertex",
        f"--project={PROJECT}",
        f"--region={REGION}",
        "--param=seed=3",
        "--param=source=gs://data/digits.csv",
        "--no-cache",
        "--pipeline-root=gs://other/root",
        "--run-name=kip-try",
        "--service-account=runner@my-project.iam.gserviceaccount.com",
        "--dry-run",
    )
    assert code == 0, err
    printed = json.loads(out)
    assert printed["rpc"].endswith("PipelineService.CreatePipelineJob")
    request = printed["request"]
    assert request["parent"] == f"projects/{PROJECT}/locations/{REGION}"
    assert request["pipelineJobId"].startswith("frontier-kip-")
    job = request["pipelineJob"]
    assert job["displayName"] == "kip-try"
    assert job["serviceAccount"] == "runner@my-project.iam.gserviceaccount.com"
    assert job["runtimeConfig"]["gcsOutputDirectory"] == "gs://other/root"
    values = job["runtimeConfig"]["parameterValues"]
    assert values == {"seed": 3, "source": "gs://data/digits.csv"}
    assert isinstance(values["seed"], (int, float))  # a number, not "3"
    # Numbers included: aiplatform alone reads the JSON's 1e-06 (KIP's reg) as a string.
    assert job["pipelineSpec"] == caching_off(spec_of(compiled["json"]), {"enableCache": False})

    # Without flags: the file's root and defaults, caching as compiled.
    code, out, err = frontier(capsys, compiled["json"], *TARGET_FLAGS["vertex"], "--dry-run")
    job = json.loads(out)["request"]["pipelineJob"]
    assert job["runtimeConfig"]["gcsOutputDirectory"] == f"{ROOT}/pipelines/frontier-kip"
    assert job["runtimeConfig"]["parameterValues"] == {"seed": 0, "source": "sklearn:digits"}
    assert job["pipelineSpec"] == spec_of(compiled["json"])
    assert job["displayName"].startswith("frontier-kip-")


def test_vertex_submit_sends_what_the_dry_run_printed(compiled, monkeypatch):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform.compat.types import pipeline_service
    from google.cloud.aiplatform.utils import gcs_utils
    from google.cloud.aiplatform_v1.services.pipeline_service import client as gapic

    sent = {}

    def create_pipeline_job(self, *, parent, pipeline_job, pipeline_job_id, **kwargs):
        sent.update(parent=parent, pipeline_job=pipeline_job, pipeline_job_id=pipeline_job_id)
        created = type(pipeline_job)(pipeline_job)
        created.name = f"{parent}/pipelineJobs/{pipeline_job_id}"
        return created

    monkeypatch.setattr(gapic.PipelineServiceClient, "create_pipeline_job", create_pipeline_job)
    monkeypatch.setattr(
        gcs_utils, "create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist", lambda **k: None
    )
    kwargs = dict(
        project=PROJECT,
        region=REGION,
        params={"seed": 7},
        run_name="kip-sent",
        no_cache=True,
        service_account="sa@my-project.iam.gserviceaccount.com",
    )
    result = vertex.submit_vertex(compiled["json"], credentials=AnonymousCredentials(), **kwargs)
    printed = vertex.vertex_request(compiled["json"], **kwargs)["request"]

    request = pipeline_service.CreatePipelineJobRequest(**sent)
    real = json.loads(type(request).to_json(request, including_default_value_fields=False))
    assert real.pop("pipelineJobId").startswith("frontier-kip-")
    assert printed.pop("pipelineJobId").startswith("frontier-kip-")
    assert real == printed
    assert (
        result["name"] == f"projects/{PROJECT}/locations/{REGION}/pipelineJobs/{result['job_id']}"
    )


@pytest.mark.parametrize(
    "flags, message",
    [
        ([f"--region={REGION}"], "--project"),
        ([f"--project={PROJECT}"], "--region"),
        ([f"--project={PROJECT}", "--region=mars-north1"], "--region 'mars-north1'"),
        ([f"--project={PROJECT}", f"--region={REGION}", "--pipeline-root=/tmp/x"], "gs://"),
        ([f"--project={PROJECT}", f"--region={REGION}", "--host=http://h"], "--host"),
    ],
)
def test_vertex_flag_errors_name_the_flag(compiled, capsys, flags, message):
    code, out, err = frontier(capsys, compiled["json"], "--target=vertex", *flags, "--dry-run")
    assert code == 2 and out == ""
    assert err.startswith("frontier: error: ") and message in err


# -- Kubeflow Pipelines ---------------------------------------------------------------


def kubeflow(capsys, path, host, *flags):
    return frontier(capsys, path, "--target=kubeflow", f"--host={host}", *flags)


def test_kubeflow_dry_run_prints_the_calls_and_the_run(compiled, no_network, capsys):
    code, out, err = kubeflow(
        capsys,
        compiled["yaml"],
        "http://kfp.example:8080",
        "--param=seed=3",
        "--no-cache",
        "--pipeline-root=minio://mlpipeline/frontier",
        "--run-name=kip-try",
        "--dry-run",
    )
    assert code == 0, err
    printed = json.loads(out)
    assert printed["host"] == "http://kfp.example:8080"
    calls = [(r["method"], r["path"]) for r in printed["requests"]]
    assert calls == [
        ("GET", "/apis/v2beta1/healthz"),
        ("GET", "/apis/v2beta1/experiments"),
        ("POST", "/apis/v2beta1/experiments"),
        ("POST", "/apis/v2beta1/runs"),
    ]
    assert "Default" in printed["requests"][1]["query"]["filter"]
    run = printed["requests"][-1]["body"]
    assert run["display_name"] == "kip-try"
    assert run["runtime_config"] == {
        "parameters": {"seed": 3},
        "pipeline_root": "minio://mlpipeline/frontier",
    }
    assert run["pipeline_spec"] == caching_off(spec_of(compiled["yaml"]), {})


def test_kubeflow_submit_through_kfp_client(compiled, capsys):
    flags = ("--param=seed=3", "--no-cache", "--run-name=kip-e2e")
    with KfpStandIn() as server:
        code, out, err = kubeflow(capsys, compiled["yaml"], server.url, *flags)
        assert code == 0, err
        sent = server.requests
    assert server.calls() == [
        ("GET", "/apis/v2beta1/healthz"),
        ("GET", "/apis/v2beta1/experiments"),
        ("POST", "/apis/v2beta1/experiments"),
        ("POST", "/apis/v2beta1/runs"),
    ]
    assert all(r.status == 200 for r in sent)
    (experiment_id,) = server.experiments
    run = sent[-1].body
    assert run["experiment_id"] == experiment_id
    assert run["display_name"] == "kip-e2e"
    assert run["runtime_config"] == {"parameters": {"seed": 3}}
    assert type(run["runtime_config"]["parameters"]["seed"]) is int
    assert run["pipeline_spec"] == caching_off(spec_of(compiled["yaml"]), {})
    (run_id,) = server.runs
    assert f"run id:        {run_id}" in out

    # The dry run printed the same calls, queries and bodies (the server's ids aside).
    code, out, err = kubeflow(capsys, compiled["yaml"], server.url, *flags, "--dry-run")
    printed = json.loads(out)["requests"]
    assert [(r["method"], r["path"]) for r in printed] == server.calls()
    for dry, real in zip(printed, sent, strict=True):
        assert dry.get("query", {}) == real.query
        body = dry.get("body")
        if body is not None and body.get("experiment_id") == EXPERIMENT_ID:
            body["experiment_id"] = experiment_id
        assert body == real.body


@pytest.fixture
def kubeflow_job(compiled, tmp_path):
    """The Kubeflow spec as a PipelineJob .json (as other tooling writes one): its
    defaults and pipeline root only in the job's runtimeConfig."""
    spec = spec_of(compiled["yaml"])
    for param in spec["root"]["inputDefinitions"]["parameters"].values():
        param.pop("defaultValue")
        param.pop("isOptional")
    spec.pop("defaultPipelineRoot")
    runtime_config = compiled_spec.load_spec(compiled["json"]).runtime_config
    path = tmp_path / "kip.json"
    path.write_text(json.dumps({"pipelineSpec": spec, "runtimeConfig": runtime_config}))
    return str(path)


@pytest.mark.parametrize("target, other", [("vertex", "kubeflow"), ("kubeflow", "vertex")])
def test_a_file_compiled_for_the_other_target_is_refused(compiled, capsys, target, other):
    path = compiled["yaml" if other == "kubeflow" else "json"]
    assert compiled_spec.load_spec(path).compiled_for == other
    code, out, err = frontier(capsys, path, *TARGET_FLAGS[target], "--dry-run")
    assert code == 2 and not out
    assert f"compiled for --target {other}, not {target}" in err
    assert f"frontier compile ... --target {target}" in err


def test_kubeflow_upload_of_a_pipeline_job_json(kubeflow_job, capsys):
    """A PipelineJob .json is adapted; --upload makes a pipeline, then a new version."""
    with KfpStandIn() as server:
        for run_name in ("first", "second"):
            code, out, err = kubeflow(
                capsys, kubeflow_job, server.url, "--upload", f"--run-name={run_name}"
            )
            assert code == 0, err
    assert server.calls() == [
        ("GET", "/apis/v2beta1/healthz"),
        ("GET", "/apis/v2beta1/experiments"),
        ("POST", "/apis/v2beta1/experiments"),
        ("GET", "/apis/v2beta1/pipelines"),
        ("POST", "/apis/v2beta1/pipelines/upload"),
        ("GET", f"/apis/v2beta1/pipelines/{next(iter(server.pipelines))}/versions"),
        ("POST", "/apis/v2beta1/runs"),
        ("GET", "/apis/v2beta1/healthz"),
        ("GET", "/apis/v2beta1/experiments"),
        ("GET", "/apis/v2beta1/pipelines"),
        ("POST", "/apis/v2beta1/pipelines/upload_version"),
        ("POST", "/apis/v2beta1/runs"),
    ]
    (pipeline,) = server.pipelines.values()
    assert pipeline["display_name"] == "frontier-kip"
    versions = list(server.versions.values())
    assert [v["display_name"] for v in versions] == ["frontier-kip", "second"]
    spec = versions[0]["pipeline_spec"]
    # runtimeConfig merged into the spec: typed defaults and the pipeline root.
    declared = spec["root"]["inputDefinitions"]["parameters"]
    assert declared["seed"]["defaultValue"] == 0 and type(declared["seed"]["defaultValue"]) is int
    assert declared["source"]["defaultValue"] == "sklearn:digits"
    assert spec["defaultPipelineRoot"] == f"{ROOT}/pipelines/frontier-kip"
    runs = list(server.runs.values())
    assert [r["pipeline_version_reference"]["pipeline_version_id"] for r in runs] == [
        v["pipeline_version_id"] for v in versions
    ]
    uploaded = [r for r in server.requests if r.files]
    assert [r.files["uploadfile"]["filename"] for r in uploaded] == ["kip.yaml", "kip.yaml"]
    assert yaml.safe_load(uploaded[0].files["uploadfile"]["content"]) == spec

    # The dry run of the first submission, the server's ids filled in, is what was sent.
    code, out, err = kubeflow(
        capsys, kubeflow_job, server.url, "--upload", "--run-name=first", "--dry-run"
    )
    ids = {
        EXPERIMENT_ID: runs[0]["experiment_id"],
        PIPELINE_ID: pipeline["pipeline_id"],
        PIPELINE_VERSION_ID: versions[0]["pipeline_version_id"],
    }
    text = out
    for placeholder, value in ids.items():
        text = text.replace(placeholder, value)
    printed = json.loads(text)["requests"]
    printed = [r for r in printed if r["path"] != UPLOAD_VERSION]  # the other case
    for dry, real in zip(printed, server.requests[:7], strict=True):
        assert (dry["method"], dry["path"]) == (real.method, real.path)
        assert dry.get("query", {}) == real.query
        assert dry.get("body") == real.body
        for field, upload in dry.get("files", {}).items():
            assert upload["filename"] == real.files[field]["filename"]
            assert upload["pipeline_spec"] == yaml.safe_load(real.files[field]["content"])


def test_kubeflow_upload_looks_the_pipeline_up_in_its_namespace(compiled, capsys):
    """Multi-user KFP: a shared pipeline of the same name is not the namespace's own."""
    with KfpStandIn() as server:
        code, _, err = kubeflow(capsys, compiled["yaml"], server.url, "--upload")
        assert code == 0, err
        (shared,) = server.pipelines
        first = len(server.requests)
        for run_name in ("first", "second"):
            code, _, err = kubeflow(
                capsys, compiled["yaml"], server.url, "--upload", "--namespace=team-a",
                f"--run-name={run_name}",
            )  # fmt: skip
            assert code == 0, err
        sent = server.requests[first:]
        code, out, err = kubeflow(
            capsys, compiled["yaml"], server.url, "--upload", "--namespace=team-a",
            "--run-name=first", "--dry-run",
        )  # fmt: skip
    assert code == 0, err
    owned = [p for p in server.pipelines.values() if p["namespace"] == "team-a"]
    assert len(server.pipelines) == 2 and len(owned) == 1
    by_pipeline = {}
    for v in server.versions.values():
        by_pipeline.setdefault(v["pipeline_id"], []).append(v["display_name"])
    assert by_pipeline[shared] == ["frontier-kip"]
    assert by_pipeline[owned[0]["pipeline_id"]] == ["frontier-kip", "second"]
    # The dry run's lookup is the query the client sent.
    lookups = [r for r in sent if (r.method, r.path) == ("GET", PIPELINES)]
    printed = json.loads(out)["requests"]
    (dry,) = [r for r in printed if (r["method"], r["path"]) == ("GET", PIPELINES)]
    assert dry["query"] == lookups[0].query and dry["query"]["namespace"] == "team-a"


def test_a_spec_the_server_rejects_is_reported(compiled, tmp_path, capsys):
    spec = spec_of(compiled["yaml"])
    spec["schemaVersion"] = "2.0.0"
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump(spec))
    with KfpStandIn() as server:
        code, out, err = kubeflow(capsys, str(old), server.url)
        assert code == 1
        assert err.startswith(f"frontier: error: Kubeflow Pipelines at {server.url} answered 400")
        assert "schemaVersion '2.0.0' is not supported; expected 2.1.0" in err

        # A parameter the spec does not declare (the CLI refuses it before sending).
        with pytest.raises(compiled_spec.SubmitError, match="'steps' is not declared"):
            submit_kubeflow(compiled["yaml"], host=server.url, params={"steps": 2})


def test_kubeflow_needs_a_host(compiled, capsys):
    code, out, err = frontier(capsys, compiled["yaml"], "--target=kubeflow", "--dry-run")
    assert code == 2 and "--host" in err


def test_unreachable_kubeflow_host_is_reported(compiled):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(compiled_spec.SubmitError, match="cannot reach Kubeflow Pipelines"):
        submit_kubeflow(compiled["yaml"], host=f"http://127.0.0.1:{port}")


# -- parameters and files -------------------------------------------------------------


def test_unknown_param_fails_listing_the_known_ones(compiled, capsys):
    code, out, err = kubeflow(capsys, compiled["yaml"], "http://h", "--param=sed=3", "--dry-run")
    assert code == 2
    assert "--param sed" in err
    assert "seed (NUMBER_INTEGER), source (STRING)" in err


def test_a_value_that_does_not_parse_names_parameter_and_type(compiled, capsys):
    code, out, err = kubeflow(capsys, compiled["yaml"], "http://h", "--param=seed=3.5", "--dry-run")
    assert code == 2
    assert "--param seed='3.5': expected an integer (seed is NUMBER_INTEGER" in err


@pytest.fixture
def typed_spec(tmp_path):
    """A minimal PipelineSpec YAML declaring one parameter of each type."""
    kinds = ("STRING", "NUMBER_INTEGER", "NUMBER_DOUBLE", "BOOLEAN", "LIST", "STRUCT")
    spec = {
        "pipelineInfo": {"name": "typed"},
        "schemaVersion": "2.1.0",
        "root": {
            "inputDefinitions": {
                "parameters": {k.lower(): {"parameterType": k, "isOptional": True} for k in kinds}
            },
            "dag": {"tasks": {}},
        },
    }
    path = tmp_path / "typed.yml"
    path.write_text("# a comment line\n" + yaml.safe_dump(spec))
    return str(path)


@pytest.mark.parametrize(
    "item, value",
    [
        ("string=3", "3"),
        ("string=a=b", "a=b"),
        ("number_integer=-12", -12),
        ("number_double=1e-3", 0.001),
        ("number_double=2", 2.0),
        ("boolean=False", False),
        ("list=[1, 2]", [1, 2]),
        ('struct={"a": 1}', {"a": 1}),
    ],
)
def test_params_are_typed_by_their_declaration(typed_spec, item, value):
    name = item.split("=", 1)[0]
    parsed = compiled_spec.parse_params([item], typed_spec)
    assert parsed == {name: value} and type(parsed[name]) is type(value)


@pytest.mark.parametrize(
    "item, message",
    [
        ("number_double=nan", "expected a finite number"),
        ("boolean=maybe", "expected true or false"),
        ("list={}", "expected a JSON list"),
        ("seed", "expected NAME=VALUE"),
    ],
)
def test_bad_params(typed_spec, item, message):
    with pytest.raises(ValueError, match=message):
        compiled_spec.parse_params([item], typed_spec)


@pytest.mark.parametrize("target", sorted(TARGET_FLAGS))
@pytest.mark.parametrize(
    "name, text, message",
    [
        ("missing.json", None, "no such file"),
        ("other.json", '{"a": 1}', "not a compiled pipeline"),
        ("broken.yaml", "a: [1,", "cannot be parsed"),
        (
            "extra.yaml",
            "pipelineInfo: {name: p}\nroot: {}\nschemaVersion: 2.1.0\nx: 1\n",
            'no field named "x"',
        ),
    ],
)
def test_files_that_are_not_compiled_pipelines(tmp_path, capsys, target, name, text, message):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    code, out, err = frontier(capsys, str(path), *TARGET_FLAGS[target], "--dry-run")
    assert code == 2
    assert err.startswith(f"frontier: error: {path}") and message in err
