"""Pushing: the stock TFX Pusher with an executor that publishes a model atomically.

Public names: `Pusher` (a stock `tfx.components.Pusher` configured with
`AtomicPushExecutor`), `push_atomically` (the plain function), and the push
intent records that recovery reconciles (`PushIntent`, `read_intent`,
`write_intent`, `intent_path`, `INTENT_SUFFIX`, `STAGING_PREFIX`).
"""

from frontier.components.common.lazy import lazy_exports
from frontier.components.pusher.push import (
    INTENT_SUFFIX,
    STAGING_PREFIX,
    PushIntent,
    intent_path,
    next_version,
    push_atomically,
    read_intent,
    remove_stale_staging,
    write_intent,
)

__all__ = [
    "INTENT_SUFFIX",
    "STAGING_PREFIX",
    "PushIntent",
    "Pusher",
    "intent_path",
    "next_version",
    "push_atomically",
    "read_intent",
    "remove_stale_staging",
    "write_intent",
]

# The component needs TFX (seconds to import); the plain functions do not.
__getattr__ = lazy_exports(__name__, {"Pusher": "frontier.components.pusher.component"})
