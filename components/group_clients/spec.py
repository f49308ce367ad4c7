"""Names shared by the GroupClients component, its executor and tests (ARCHITECTURE.md rule 2)."""

from __future__ import annotations

from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from frontier.components.common.versioning import COMPONENT_VERSION_KEY
from frontier.schemas.artifacts import ClientStore
from frontier.schemas.dataset import TRAIN_SPLIT

COMPONENT_PACKAGE = "group_clients"
DEPENDS_ON = ("dp_ftrl",)  # the store's writer and format live with the simulation

EXAMPLES_KEY = "examples"
CLIENT_STORE_KEY = "client_store"

SPLIT_KEY = "split"
NUM_SHARDS_KEY = "num_shards"
DEFAULT_SPLIT = TRAIN_SPLIT
DEFAULT_NUM_SHARDS = 16

# Custom properties of the ClientStore.
SPLIT_PROPERTY = "split"
CLIENTS_PROPERTY = "clients"
EXAMPLES_PROPERTY = "examples"


class GroupClientsSpec(ComponentSpec):
    """ComponentSpec of `GroupClients` (see executor.Executor for meanings)."""

    PARAMETERS = {
        SPLIT_KEY: ExecutionParameter(type=str),
        NUM_SHARDS_KEY: ExecutionParameter(type=int),
        COMPONENT_VERSION_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}
    OUTPUTS = {CLIENT_STORE_KEY: ChannelParameter(type=ClientStore)}
