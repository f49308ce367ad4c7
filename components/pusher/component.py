"""frontier's Pusher: the stock TFX Pusher, with an atomic filesystem publish."""

from __future__ import annotations

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from frontier.components.common.versioning import COMPONENT_VERSION_KEY, code_version
from frontier.components.pusher.executor import AtomicPushExecutor


def Pusher(model, model_blessing, base_directory: str, **kwargs) -> tfx.components.Pusher:  # noqa: N802
    """A stock `tfx.components.Pusher` that publishes atomically.

    Args:
      model: channel of the `Model` to push.
      model_blessing: channel of the `ModelBlessing` (from the Evaluator);
        only a blessed model is pushed.
      base_directory: serving base directory; each push adds `<version>/`.
      **kwargs: passed to `tfx.components.Pusher` (e.g. `infra_blessing`).

    Returns:
      The configured stock component; it runs `AtomicPushExecutor`.
    """
    if not base_directory:
        raise ValueError("Pusher: base_directory must be a non-empty path")
    return tfx.components.Pusher(
        model=model,
        model_blessing=model_blessing,
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=base_directory)
        ),
        # Part of the execution properties, hence of the cache key (ARCHITECTURE.md rule 7).
        custom_config={COMPONENT_VERSION_KEY: code_version("pusher")},
        custom_executor_spec=executor_spec.ExecutorClassSpec(AtomicPushExecutor),
        **kwargs,
    )
