"""A stand-in Kubeflow Pipelines API server (REST v2beta1) for tests.

It answers the calls the real `kfp.Client` (kfp 2.5) makes to submit a run —
healthz, find / create an experiment, upload a pipeline or a version, list
pipelines and versions, create a run — from memory, on 127.0.0.1 (port 0, a
thread), and records every request. Like the real backend it checks what it is
given: a pipeline spec must parse into `PipelineSpec` (unknown fields fail),
have schemaVersion 2.1.0 and tasks that name declared components, and a run's
runtime parameters must be declared in `root.inputDefinitions` with values of
the declared type (required ones present). A failed check answers 400 with the
backend's error body (`{"error", "code", "message"}`).

    with KfpStandIn() as server:
        kfp.Client(host=server.url).create_run_from_pipeline_package(...)
        server.requests  # [Request(method, path, query, body, files), ...]
"""

from __future__ import annotations

import dataclasses
import datetime
import email.parser
import email.policy
import json
import re
import threading
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SCHEMA_VERSION = "2.1.0"
API = "/apis/v2beta1"
# grpc-gateway status codes in the backend's error bodies.
_CODES = {400: 3, 404: 5, 409: 6, 500: 13}
_EQUALS = (1, "EQUALS")


@dataclasses.dataclass
class Request:
    """One request the stand-in received.

    Attributes:
      method: GET or POST.
      path: the URL path.
      query: query parameters (the last value of each; blank values kept).
      body: the JSON body, parsed (None without one).
      files: multipart file fields: {field: {"filename", "content" (text)}}.
      status: the status the stand-in answered.
    """

    method: str
    path: str
    query: dict[str, str]
    body: Any = None
    files: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    status: int = 0


class ApiError(Exception):
    """An error answer: HTTP status and message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _name_filter(query: Mapping[str, str]) -> str | None:
    """The display name an EQUALS display_name filter asks for (None: no filter)."""
    text = query.get("filter")
    if not text:
        return None
    try:
        predicates = json.loads(text)["predicates"]
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, f"invalid filter {text!r}") from None
    for p in predicates:
        if p.get("key") == "display_name" and p.get("operation") in _EQUALS:
            return p.get("stringValue") or p.get("string_value")
    raise ApiError(400, f"unsupported filter {text!r} (stand-in: display_name EQUALS only)")


def _value_ok(kind: str, value: Any) -> bool:
    if kind == "NUMBER_INTEGER":
        integral = isinstance(value, float) and value.is_integer()
        return (isinstance(value, int) and not isinstance(value, bool)) or integral
    if kind == "NUMBER_DOUBLE":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "STRING":
        return isinstance(value, str)
    if kind == "BOOLEAN":
        return isinstance(value, bool)
    if kind == "LIST":
        return isinstance(value, list)
    if kind == "STRUCT":
        return isinstance(value, dict)
    return True


def validate_spec(spec: Any, parameters: Mapping[str, Any] | None = None):
    """Checks a pipeline spec (and a run's parameters) as the backend would.

    Args:
      spec: the PipelineSpec dict, or kfp's {"pipeline_spec", "platform_spec"}.
      parameters: a run's runtime parameters (None: not a run).

    Returns:
      The parsed `PipelineSpec` proto.

    Raises:
      ApiError(400): naming what is wrong.
    """
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    if not isinstance(spec, dict):
        raise ApiError(400, "pipeline spec: expected a JSON object")
    if "pipeline_spec" in spec:
        spec = spec["pipeline_spec"]
    try:
        proto = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as e:
        raise ApiError(400, f"invalid pipeline spec: {e}") from None
    if proto.schema_version != SCHEMA_VERSION:
        raise ApiError(
            400,
            f"invalid pipeline spec: schemaVersion {proto.schema_version!r} is not supported;"
            f" expected {SCHEMA_VERSION}",
        )
    if not proto.pipeline_info.name:
        raise ApiError(400, "invalid pipeline spec: pipelineInfo.name is empty")
    for name, task in proto.root.dag.tasks.items():
        if task.component_ref.name not in proto.components:
            raise ApiError(
                400,
                f"invalid pipeline spec: task {name!r} refers to undeclared component"
                f" {task.component_ref.name!r}",
            )
    if parameters is not None:
        declared = proto.root.input_definitions.parameters
        for name, value in parameters.items():
            if name not in declared:
                raise ApiError(
                    400,
                    f"runtime parameter {name!r} is not declared in root.inputDefinitions"
                    f" (declared: {', '.join(sorted(declared)) or 'none'})",
                )
            kind = pipeline_spec_pb2.ParameterType.ParameterTypeEnum.Name(
                declared[name].parameter_type
            )
            if not _value_ok(kind, value):
                raise ApiError(400, f"runtime parameter {name!r}: {value!r} is not of type {kind}")
        for name, decl in declared.items():
            if name not in parameters and not decl.is_optional:
                if not decl.HasField("default_value"):
                    raise ApiError(400, f"runtime parameter {name!r} is required")
    return proto


class KfpStandIn:
    """The stand-in server; state lives in plain dicts keyed by id.

    Attributes:
      requests: every request received, in order.
      experiments, pipelines, versions, runs: what was created, by id.
      multi_user: what healthz answers.
    """

    def __init__(self, multi_user: bool = False):
        self.multi_user = multi_user
        self.requests: list[Request] = []
        self.experiments: dict[str, dict] = {}
        self.pipelines: dict[str, dict] = {}
        self.versions: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url = ""

    # -- lifecycle ----------------------------------------------------------------

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT (kept after `stop`)."""
        return self._url

    def start(self) -> KfpStandIn:
        stand_in = self

        class Handler(_Handler):
            server_state = stand_in

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self._url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> KfpStandIn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def calls(self) -> list[tuple[str, str]]:
        """(method, path) of every request, in order."""
        return [(r.method, r.path) for r in self.requests]

    # -- the API ------------------------------------------------------------------

    def handle(self, request: Request) -> tuple[int, dict]:
        routes = [
            ("GET", rf"{API}/healthz", self._healthz),
            ("GET", rf"{API}/experiments", self._list_experiments),
            ("POST", rf"{API}/experiments", self._create_experiment),
            ("GET", rf"{API}/pipelines", self._list_pipelines),
            ("POST", rf"{API}/pipelines/upload", self._upload_pipeline),
            ("POST", rf"{API}/pipelines/upload_version", self._upload_version),
            ("GET", rf"{API}/pipelines/(?P<pipeline_id>[^/]+)/versions", self._list_versions),
            ("POST", rf"{API}/runs", self._create_run),
            ("GET", rf"{API}/runs/(?P<run_id>[^/]+)", self._get_run),
        ]
        for method, pattern, handler in routes:
            m = re.fullmatch(pattern, request.path)
            if m and method == request.method:
                with self._lock:
                    return 200, handler(request, **m.groupdict())
        raise ApiError(404, f"{request.method} {request.path}: not found")

    def _healthz(self, request: Request) -> dict:
        return {"multi_user": self.multi_user}

    def _list_experiments(self, request: Request) -> dict:
        name = _name_filter(request.query)
        namespace = request.query.get("namespace") or ""
        found = [
            e
            for e in self.experiments.values()
            if (name is None or e["display_name"] == name)
            and (not namespace or e.get("namespace", "") == namespace)
        ]
        return {"experiments": found, "total_size": len(found)} if found else {}

    def _create_experiment(self, request: Request) -> dict:
        body = request.body if isinstance(request.body, dict) else {}
        name = body.get("display_name")
        if not name:
            raise ApiError(400, "experiment: display_name is empty")
        namespace = body.get("namespace") or ""
        for e in self.experiments.values():
            if e["display_name"] == name and e.get("namespace", "") == namespace:
                raise ApiError(409, f"experiment {name!r} already exists")
        experiment = {
            "experiment_id": str(uuid.uuid4()),
            "display_name": name,
            "description": body.get("description") or "",
            "namespace": namespace,
            "created_at": _now(),
            "storage_state": "AVAILABLE",
        }
        self.experiments[experiment["experiment_id"]] = experiment
        return experiment

    def _list_pipelines(self, request: Request) -> dict:
        # As multi-user KFP: a namespace's own pipelines, or the shared ones without one.
        name = _name_filter(request.query)
        namespace = request.query.get("namespace") or ""
        found = [
            p
            for p in self.pipelines.values()
            if (name is None or p["display_name"] == name) and p["namespace"] == namespace
        ]
        return {"pipelines": found, "total_size": len(found)} if found else {}

    def _uploaded_spec(self, request: Request) -> dict:
        import yaml

        upload = request.files.get("uploadfile")
        if upload is None:
            raise ApiError(400, "upload: no uploadfile in the multipart body")
        if not upload["filename"].lower().endswith((".yaml", ".yml")):
            raise ApiError(400, f"upload: {upload['filename']!r} is not a .yaml/.yml file")
        try:
            docs = [d for d in yaml.safe_load_all(upload["content"]) if d is not None]
        except yaml.YAMLError as e:
            raise ApiError(400, f"upload: invalid YAML: {e}") from None
        if not docs:
            raise ApiError(400, "upload: empty pipeline file")
        validate_spec(docs[0])
        return docs[0]

    def _new_version(self, pipeline_id: str, name: str, spec: dict) -> dict:
        version = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": str(uuid.uuid4()),
            "display_name": name,
            "created_at": _now(),
            "pipeline_spec": spec,
        }
        self.versions[version["pipeline_version_id"]] = version
        return version

    def _upload_pipeline(self, request: Request) -> dict:
        spec = self._uploaded_spec(request)
        name = request.query.get("name") or request.files["uploadfile"]["filename"]
        namespace = request.query.get("namespace", "")
        if any(
            (p["display_name"], p["namespace"]) == (name, namespace)
            for p in self.pipelines.values()
        ):
            raise ApiError(409, f"pipeline {name!r} already exists in namespace {namespace!r}")
        pipeline = {
            "pipeline_id": str(uuid.uuid4()),
            "display_name": name,
            "description": request.query.get("description", ""),
            "namespace": namespace,
            "created_at": _now(),
        }
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        self._new_version(pipeline["pipeline_id"], name, spec)
        return pipeline

    def _upload_version(self, request: Request) -> dict:
        spec = self._uploaded_spec(request)
        pipeline_id = request.query.get("pipelineid", "")
        if pipeline_id not in self.pipelines:
            raise ApiError(404, f"pipeline {pipeline_id!r} not found")
        name = request.query.get("name") or request.files["uploadfile"]["filename"]
        return self._new_version(pipeline_id, name, spec)

    def _list_versions(self, request: Request, pipeline_id: str) -> dict:
        if pipeline_id not in self.pipelines:
            raise ApiError(404, f"pipeline {pipeline_id!r} not found")
        found = [v for v in self.versions.values() if v["pipeline_id"] == pipeline_id]
        if request.query.get("sort_by", "").endswith(" desc"):
            found.reverse()  # created in order
        size = int(request.query.get("page_size") or 0)
        found = found[:size] if size > 0 else found
        listed = [{k: v for k, v in version.items() if k != "pipeline_spec"} for version in found]
        return {"pipeline_versions": listed, "total_size": len(listed)} if listed else {}

    def _create_run(self, request: Request) -> dict:
        body = request.body
        if not isinstance(body, dict):
            raise ApiError(400, "run: expected a JSON object")
        if not body.get("display_name"):
            raise ApiError(400, "run: display_name is empty")
        experiment_id = body.get("experiment_id")
        if experiment_id and experiment_id not in self.experiments:
            raise ApiError(404, f"experiment {experiment_id!r} not found")
        spec, reference = body.get("pipeline_spec"), body.get("pipeline_version_reference")
        if (spec is None) == (reference is None):
            raise ApiError(
                400, "run: give exactly one of pipeline_spec and pipeline_version_reference"
            )
        if reference is not None:
            version = self.versions.get(reference.get("pipeline_version_id", ""))
            if version is None or version["pipeline_id"] != reference.get("pipeline_id"):
                raise ApiError(404, f"pipeline version {reference} not found")
            spec = version["pipeline_spec"]
        runtime_config = body.get("runtime_config") or {}
        validate_spec(spec, runtime_config.get("parameters") or {})
        run = dict(body)
        run.update(
            run_id=str(uuid.uuid4()),
            experiment_id=experiment_id or "",
            state="PENDING",
            storage_state="AVAILABLE",
            created_at=_now(),
        )
        self.runs[run["run_id"]] = run
        return run

    def _get_run(self, request: Request, run_id: str) -> dict:
        if run_id not in self.runs:
            raise ApiError(404, f"run {run_id!r} not found")
        return self.runs[run_id]


class _Handler(BaseHTTPRequestHandler):
    server_state: KfpStandIn

    def log_message(self, format, *args) -> None:  # noqa: A002 (quiet)
        pass

    def _read(self) -> Request:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        request = Request(self.command, parts.path, query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "")
        if raw and ctype.startswith("multipart/form-data"):
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {ctype}\r\n\r\n".encode() + raw
            )
            for part in message.iter_parts():
                field = part.get_param("name", header="content-disposition")
                content = part.get_payload(decode=True) or b""
                request.files[field] = {
                    "filename": part.get_filename() or "",
                    "content": content.decode("utf-8", "replace"),
                }
        elif raw:
            try:
                request.body = json.loads(raw)
            except ValueError:
                request.body = raw.decode("utf-8", "replace")
        return request

    def _answer(self) -> None:
        state = self.server_state
        request = self._read()
        with state._lock:
            state.requests.append(request)
        try:
            status, payload = state.handle(request)
        except ApiError as e:
            status = e.status
            payload = {"error": e.message, "code": _CODES.get(e.status, 2), "message": e.message}
        except Exception as e:  # noqa: BLE001 (a stand-in bug shows as a 500)
            status, payload = 500, {"error": repr(e), "code": 13, "message": repr(e)}
        request.status = status
        data = json.dumps(payload).encode()
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _answer
    do_POST = _answer
