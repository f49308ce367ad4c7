"""Pushing: the stock TFX Pusher with an executor that publishes a model atomically.

Public names: `Pusher` (a stock `tfx.components.Pusher` configured with
`AtomicPushExecutor`) and `push_atomically` (the plain function).
"""

from frontier.components.pusher.push import next_version, push_atomically

__all__ = ["Pusher", "push_atomically", "next_version"]


def __getattr__(name: str):
    # The component needs TFX (8 s to import); the plain function does not.
    if name == "Pusher":
        from frontier.components.pusher.component import Pusher

        return Pusher
    raise AttributeError(name)
