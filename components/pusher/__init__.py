"""Pushing: the stock TFX Pusher with an executor that publishes a model atomically.

Public names: `Pusher` (a stock `tfx.components.Pusher` configured with
`AtomicPushExecutor`) and `push_atomically` (the plain function).
"""

from frontier.components.common.lazy import lazy_exports
from frontier.components.pusher.push import next_version, push_atomically, remove_stale_staging

__all__ = ["Pusher", "next_version", "push_atomically", "remove_stale_staging"]

# The component needs TFX (seconds to import); the plain functions do not.
__getattr__ = lazy_exports(__name__, {"Pusher": "frontier.components.pusher.component"})
