"""Per-component resources (vCPU, memory, accelerator) of compiled pipelines.

Each pipeline module keeps one table, `RESOURCES: {node id or id prefix:
Resources}`; `frontier compile` sets each matching node's container
`ResourceSpec` (TFX's `with_platform_config`, which `KubeflowV2DagRunner`
copies into the spec). Local runs ignore it. A node matches the key equal to
its id, else the longest key its id starts with (`"KipSubset_"` covers
`KipSubset_1pc` and `KipSubset_10pc`); nodes that match nothing get the
platform's default machine.

Accelerators are named as Vertex AI names them (`NVIDIA_TESLA_T4`,
`NVIDIA_TESLA_A100`, `TPU_V3`, ...: the `AcceleratorType` enum of
google-cloud-aiplatform, which is the list checked against). Open-source
Kubeflow Pipelines reads the accelerator type as a Kubernetes resource name
instead, so for `--target kubeflow` a GPU becomes `nvidia.com/gpu` and a TPU
`cloud-tpus.google.com/v2|v3` or `google.com/tpu`; which GPU model a pod gets
is then up to the cluster's node pools (a node selector, which the pipeline
spec cannot carry). A Kubernetes resource name (`vendor.com/device`) may be
given directly for kubeflow.

`accelerator_count` asks for several on one worker; the Keras trainers
(`Trainer`, `CiwTrainer`) then train on all of them, one replica each
(`trainer.step.local_strategy`), with `batch_size` as the global batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

VERTEX = "vertex"
KUBEFLOW = "kubeflow"
TARGETS = (VERTEX, KUBEFLOW)

# The accelerators shipped pipelines use for their JAX / Keras training steps.
GPU = "NVIDIA_TESLA_T4"


@dataclasses.dataclass(frozen=True)
class Resources:
    """What one component's container asks for.

    Attributes:
      cpu: vCPU limit (None: the platform's default).
      memory_gb: memory limit in GB (None: the platform's default).
      accelerator: accelerator type (see the module docstring), or None.
      accelerator_count: how many; at least 1 with an accelerator.
    """

    cpu: float | None = None
    memory_gb: float | None = None
    accelerator: str | None = None
    accelerator_count: int = 1


def vertex_accelerators() -> tuple[str, ...]:
    """Vertex AI's accelerator type names (google-cloud-aiplatform's enum)."""
    from google.cloud.aiplatform_v1.types import AcceleratorType

    return tuple(a.name for a in AcceleratorType if a.value != 0)


def accelerator_for(name: str, target: str) -> str:
    """The accelerator type to write into the spec for `target`.

    Raises:
      ValueError: an unknown accelerator, naming the valid ones.
    """
    known = vertex_accelerators()
    if target == KUBEFLOW and "/" in name:
        return name  # already a Kubernetes resource name
    if name not in known:
        extra = " or a Kubernetes resource name like nvidia.com/gpu" if target == KUBEFLOW else ""
        raise ValueError(
            f"unknown accelerator type {name!r}; expected one of {', '.join(known)}{extra}"
        )
    if target == VERTEX:
        return name
    if name.startswith("NVIDIA_"):
        return "nvidia.com/gpu"
    if name in ("TPU_V2", "TPU_V3"):
        return f"cloud-tpus.google.com/{name[-2:].lower()}"
    return "google.com/tpu"


def resource_spec(resources: Resources, target: str):
    """`resources` as the pipeline spec's container `ResourceSpec` proto for `target`."""
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec()
    for value, what in ((resources.cpu, "cpu"), (resources.memory_gb, "memory_gb")):
        if value is not None and not value > 0:
            raise ValueError(f"Resources.{what} must be > 0, got {value}")
    if resources.cpu is not None:
        spec.cpu_limit = float(resources.cpu)
    if resources.memory_gb is not None:
        spec.memory_limit = float(resources.memory_gb)
    if resources.accelerator:
        if resources.accelerator_count < 1:
            raise ValueError(
                f"Resources.accelerator_count must be >= 1 with accelerator "
                f"{resources.accelerator!r}, got {resources.accelerator_count}"
            )
        spec.accelerator.type = accelerator_for(resources.accelerator, target)
        spec.accelerator.count = resources.accelerator_count
    return spec


def match(node_id: str, table: Mapping[str, Resources]) -> Resources | None:
    """The table entry for `node_id`: its own key, else the longest prefix key."""
    if node_id in table:
        return table[node_id]
    prefixes = [key for key in table if node_id.startswith(key)]
    return table[max(prefixes, key=len)] if prefixes else None


def apply(
    components: Iterable, table: Mapping[str, Resources], target: str
) -> dict[str, Resources]:
    """Sets each matching node's platform config, in place.

    A key that matches no node is skipped: the demo's table covers branches
    a config may leave out (the tests check that every key of every shipped
    table matches a node of its default pipeline, so a typo does not go
    unnoticed).

    Returns:
      {node id: Resources} for the nodes that got one.

    Raises:
      ValueError: a bad entry (see `resource_spec`).
    """
    applied = {}
    for c in components:
        resources = match(c.id, table)
        if resources is not None:
            c.with_platform_config(resource_spec(resources, target))
            applied[c.id] = resources
    return applied
