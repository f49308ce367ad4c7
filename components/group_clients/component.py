"""The `GroupClients` TFX component: a thin wrapper around `client_store.write_client_rows`."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec

from frontier.components.common.checks import check_int
from frontier.components.common.versioning import COMPONENT_VERSION_KEY, code_version
from frontier.components.group_clients import spec
from frontier.components.group_clients.executor import Executor
from frontier.schemas.artifacts import ClientStore


class GroupClients(base_beam_component.BaseBeamComponent):
    """Groups a federated population's examples by user, for `DpFtrlTrainer`.

    `DpFtrlTrainer(examples=...)` alone loads the train split into memory;
    with `client_store=GroupClients(examples=...).outputs["client_store"]` it
    reads each round's clients from the store instead (`ClientStore`, see
    `dp_ftrl.client_store`), so its memory does not grow with the number of
    users, and only the eval split is loaded. The grouping is a Beam
    pipeline (group by `client_id`, shards, an index written last) on the
    pipeline's `beam_pipeline_args`.

    Example:
      ingest = Ingest(source="users.parquet", client_id_column="user")
      store = GroupClients(examples=ingest.outputs["examples"])
      trainer = DpFtrlTrainer(examples=ingest.outputs["examples"],
                              client_store=store.outputs["client_store"], ...)
    """

    SPEC_CLASS = spec.GroupClientsSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        *,
        split: str = spec.DEFAULT_SPLIT,
        num_shards: int = spec.DEFAULT_NUM_SHARDS,
    ) -> None:
        """Builds the component.

        Args:
          examples: channel of frontier `Examples` with `client_id`.
          split: the split to group (default `train`).
          num_shards: shard files of the store, >= 1.

        Raises:
          InputError: `num_shards` is not an int >= 1.
        """
        component_spec = spec.GroupClientsSpec(
            **{
                spec.EXAMPLES_KEY: examples,
                spec.SPLIT_KEY: str(split),
                spec.NUM_SHARDS_KEY: check_int(num_shards, spec.NUM_SHARDS_KEY, 1),
                COMPONENT_VERSION_KEY: code_version(spec.COMPONENT_PACKAGE, *spec.DEPENDS_ON),
                spec.CLIENT_STORE_KEY: types.Channel(type=ClientStore),
            }
        )
        super().__init__(spec=component_spec)
