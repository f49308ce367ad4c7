"""GroupClients: a federated population's examples grouped by user (`ClientStore`).

The store's format, writer and reader are plain functions in
`frontier.components.dp_ftrl.client_store`; this package is the TFX
component around the Beam writer (imported lazily: it needs TFX).
"""

from frontier.components.common.lazy import lazy_exports

__all__ = ["GroupClients"]

__getattr__ = lazy_exports(
    __name__, {"GroupClients": "frontier.components.group_clients.component"}
)
