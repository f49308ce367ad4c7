"""Executor of frontier's Pusher: the stock one, with an atomic publish."""

from __future__ import annotations

import os
import time
from typing import Any

from absl import logging
from tfx.components.pusher import executor as stock
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from frontier.components.common import progress
from frontier.components.pusher.push import (
    PushIntent,
    latest_version,
    next_version,
    push_atomically,
    same_model,
    staging_name,
    write_intent,
)


class AtomicPushExecutor(stock.Executor):
    """Pushes a blessed model to a filesystem destination, all or nothing.

    Inputs:
      model: the `Model` to push (its `Format-Serving` SavedModel).
      model_blessing: optional `ModelBlessing`; an unblessed model is not
        pushed (`pushed` = 0) and nothing is written to the destination.
    Outputs:
      pushed_model: `PushedModel`, with custom properties `pushed` (0/1),
        `pushed_destination` and `pushed_version`, and a copy of the model for
        the record, as the stock Pusher leaves.
    Parameters:
      push_destination: `PushDestination` JSON (only `filesystem` is served),
        or the filesystem base directory itself (a path or URI): the form a
        runtime parameter of a compiled pipeline takes
        (`frontier.pipelines.parameters`).
      custom_config: JSON; carries `component_version` for the cache key.

    Only the publishing step differs from the stock executor: see
    `frontier.components.pusher.push` for why and how. A model identical to
    the latest served version (same graph and variables) is not copied again;
    `pushed_version` then names that version. A new version is pushed in two
    phases: an intent record first, ML Metadata's record of `pushed_model` as
    the commit (`frontier.components.pusher.push`).
    """

    def Do(
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        pushed = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY]
        )
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(pushed)
            return
        destination = pusher_pb2.PushDestination()
        value = exec_properties[standard_component_specs.PUSH_DESTINATION_KEY]
        if value.lstrip().startswith("{"):
            proto_utils.json_to_proto(value, destination)
        elif value.strip():
            destination.filesystem.base_directory = value.strip()
        else:
            raise ValueError("frontier Pusher: push_destination is empty; expected a directory")
        if destination.WhichOneof("destination") != "filesystem":
            raise ValueError(
                "frontier Pusher: push_destination must be a filesystem destination, got "
                f"{destination.WhichOneof('destination')!r}"
            )
        model_path = self.GetModelPath(input_dict)
        base = destination.filesystem.base_directory
        latest = latest_version(base)
        if latest is not None and same_model(model_path, os.path.join(base, latest)):
            # Re-blessed but unchanged (e.g. re-evaluated against a new baseline):
            # the server already has it, and a duplicate version would only churn it.
            version, serving_path = latest, os.path.join(base, latest)
            logging.info("Model is already served as version %s; not copied again", latest)
        else:
            version = next_version(base)
            staging = staging_name(version)
            write_intent(
                PushIntent(
                    version=version,
                    base_directory=base,
                    staging=os.path.join(base, staging),
                    pushed_model_uri=pushed.uri,
                    model_uri=model_path,
                    created=time.time(),
                )
            )
            serving_path = push_atomically(model_path, base, version=version, staging=staging)
        io_utils.copy_dir(model_path, pushed.uri)
        self._MarkPushed(pushed, pushed_destination=serving_path, pushed_version=version)
        progress.detail("Model pushed to %s", serving_path)  # the run's summary says it too
