"""Executor of `GroupClients`: one split of an `Examples` artifact as a client store."""

from __future__ import annotations

from frontier.components.common.checks import check_int
from frontier.components.common.executor import BeamComponentExecutor, Job, set_properties
from frontier.components.group_clients import spec


class Executor(BeamComponentExecutor):
    """Groups the examples of one split by `client_id` into a `ClientStore`.

    A Beam pipeline (`dp_ftrl.client_store.write_client_store_from_examples`:
    read the split's TFRecords, key by `client_id`, group, write shards, write
    the index last) on the pipeline's `beam_pipeline_args`, so a population
    larger than one machine is grouped by Dataflow or Flink workers.

    Inputs:
      examples: frontier `Examples` with `client_id` and `label` columns.

    Outputs:
      client_store: `ClientStore` with custom properties `split`, `clients`,
        `examples`.

    Parameters:
      split: the split to group (default `train`).
      num_shards: shard files of the store, >= 1.
      component_version: code version (cache key only; not read).
    """

    SPEC_CLASS = spec.GroupClientsSpec

    def run(self, job: Job) -> None:
        from apache_beam.options.pipeline_options import PipelineOptions

        from frontier.components.dp_ftrl.client_store import write_client_store_from_examples

        p = job.params
        num_shards = check_int(p[spec.NUM_SHARDS_KEY], spec.NUM_SHARDS_KEY, 1)
        examples = job.input(spec.EXAMPLES_KEY)
        out = job.output(spec.CLIENT_STORE_KEY)
        store = write_client_store_from_examples(
            examples.uri,
            p[spec.SPLIT_KEY],
            out.uri,
            num_shards,
            pipeline_options=PipelineOptions(self._beam_pipeline_args or []),
        )
        set_properties(
            out,
            {
                spec.SPLIT_PROPERTY: p[spec.SPLIT_KEY],
                spec.CLIENTS_PROPERTY: int(store.num_clients),
                spec.EXAMPLES_PROPERTY: int(store.num_examples),
            },
        )
