"""Ingestion: CSV, Parquet, NPZ, TFRecord, image folders and scikit-learn data
sets -> a frontier `Examples` artifact (train/eval splits + `dataset_info.json`).

Public names:
  * `Ingest`: the TFX component (imported lazily: it needs TFX).
  * `IngestConfig`: the typed, validated configuration.
  * `plan_source`, `read_shard`, `convert_row`, `iter_rows`, `assign_split`,
    `row_split`, `to_split`, `add_noise`, `check_unique_ids`,
    `check_split_counts`, `read_arrays`: the plain functions (no TFX, no
    Beam) that the component's executor runs inside Beam.
  * `noisy_label`, `add_label_noise`, `LabelNoise`, `flip_summary`,
    `flip_summary_of`, `FlipSummary`: seeded synthetic label noise
    (symmetric or pair-flip), usable on plain arrays.
  * `add_client`, `hash_partition`, `client_index`, `client_name`,
    `ClientPartition`, `partition_summary_of`, `PartitionSummary`: seeded
    synthetic clients (IID or Dirichlet label skew), usable on plain arrays.

Modules: `spec` (names, `IngestConfig`), `files` (paths, listing, column
checks), `plan` (`SourcePlan`, `plan_source`), `readers` (one reader per
format), `convert` (typed values, ids, splits), `noise` (label noise),
`clients` (synthetic client partition),
`report`, and the TFX pieces `component` and `executor`.
"""

from frontier.components.common.lazy import lazy_exports
from frontier.components.ingest.clients import (
    ClientPartition,
    PartitionSummary,
    client_index,
    client_name,
    hash_partition,
    partition_summary_of,
)
from frontier.components.ingest.convert import (
    add_client,
    add_noise,
    assign_split,
    check_split_counts,
    check_unique_ids,
    convert_row,
    iter_rows,
    read_arrays,
    row_split,
    split_fraction,
    to_split,
)
from frontier.components.ingest.files import sanitize_key
from frontier.components.ingest.noise import (
    FlipSummary,
    LabelNoise,
    add_label_noise,
    flip_summary,
    flip_summary_of,
    noisy_label,
)
from frontier.components.ingest.plan import SourcePlan, plan_source
from frontier.components.ingest.readers import RawRow, Shard, read_shard
from frontier.components.ingest.spec import IngestConfig

__all__ = [
    "ClientPartition",
    "FlipSummary",
    "Ingest",
    "IngestConfig",
    "LabelNoise",
    "PartitionSummary",
    "RawRow",
    "Shard",
    "SourcePlan",
    "add_client",
    "add_label_noise",
    "add_noise",
    "assign_split",
    "check_split_counts",
    "check_unique_ids",
    "client_index",
    "client_name",
    "convert_row",
    "flip_summary",
    "flip_summary_of",
    "hash_partition",
    "iter_rows",
    "noisy_label",
    "partition_summary_of",
    "plan_source",
    "read_arrays",
    "read_shard",
    "row_split",
    "sanitize_key",
    "split_fraction",
    "to_split",
]

# The component needs TFX (seconds to import); the plain functions do not.
__getattr__ = lazy_exports(__name__, {"Ingest": "frontier.components.ingest.component"})
