"""The Ingest executor: a Beam pipeline around the plain readers and converters."""

from __future__ import annotations

import json
import logging
import os
import uuid
from typing import Any, NamedTuple

import apache_beam as beam
import tensorflow as tf
from tfx import types
from tfx.components.example_gen import write_split
from tfx.proto import example_gen_pb2

from frontier.components.common.errors import raise_unwrapped
from frontier.components.common.examples_io import (
    FEATURES,
    parse_examples,
    remove_split_outputs,
    serialize_example,
    set_examples_properties,
    split_features,
    split_uri,
)
from frontier.components.common.executor import BeamComponentExecutor, Job
from frontier.components.common.html import write_report
from frontier.components.ingest import spec
from frontier.components.ingest.clients import (
    PartitionSummary,
    check_num_clients,
    partition_summary,
)
from frontier.components.ingest.component_spec import IngestSpec
from frontier.components.ingest.convert import (
    add_client,
    add_noise,
    check_split_counts,
    client_index_of,
    convert_row,
    duplicate_id_error,
    row_split,
    split_fraction,
)
from frontier.components.ingest.noise import FlipSummary, flip_summary
from frontier.components.ingest.plan import SourcePlan, plan_source
from frontier.components.ingest.readers import read_shard
from frontier.components.ingest.report import SAMPLES_PER_CLASS, build_report
from frontier.schemas.dataset import (
    BYTES_ROLE_KEYS,
    EXAMPLE_ID_KEY,
    LABEL_KEY,
    VIDEO_ID_KEY,
    DatasetInfo,
)

_COUNTS_FILE = "counts.json"
_SAMPLES_FILE = "samples.tfrecord"
_CLIENTS_FILE = "clients.json"


class _Tally(NamedTuple):
    """What the pipeline counted, read back from its temporary folder.

    Attributes:
      split_counts: split -> examples.
      class_counts: split -> examples per class id [C] (noisy labels in `train`).
      train_pairs: (clean class, label) -> train examples (they differ when flipped).
      samples: a few rows per class for the page (`Executor._read_samples`).
      clients: the partition's summary, None without a client partition.
    """

    split_counts: dict[str, int]
    class_counts: dict[str, list[int]]
    train_pairs: dict[tuple[int, int], int]
    samples: list[dict[str, Any]]
    clients: PartitionSummary | None


class _WriteCounts(beam.PTransform):
    """Counts converted rows by a key and writes the counts as one JSON file.

    The key is `(split, int, int)`; the file holds one sorted JSON list of
    `[split, int, int, count]` (read back with `Executor._read_json`).
    """

    def __init__(self, key: Any, path: str):
        """key: `row -> (split, int, int)`; path: the JSON file to write."""
        super().__init__()
        self._key = key
        self._path = path

    def expand(self, rows):
        return (
            rows
            | "Key" >> beam.Map(lambda r, key: (key(r), 1), self._key)
            | "Count" >> beam.CombinePerKey(sum)
            | "List" >> beam.combiners.ToList()
            | "Json"
            >> beam.Map(
                lambda kv: json.dumps(sorted([s, int(a), int(b), int(n)] for (s, a, b), n in kv))
            )
            | "Write" >> beam.io.WriteToText(self._path, shard_name_template="")
        )


class _Convert(beam.DoFn):
    """Raw row -> (split, label, example id, (file, row), serialized tf.Example,
    clean label, client index): `label` is the noisy one in `train` when the
    plan has label noise, and the clean label otherwise; the client index is
    -1 without a client partition."""

    def __init__(self, plan: SourcePlan, info: DatasetInfo, seed: int, eval_fraction: float):
        self._plan, self._info, self._seed, self._eval_fraction = plan, info, seed, eval_fraction
        self._index: dict[str, int] = {}

    def setup(self):
        self._index = {n: i for i, n in enumerate(self._plan.class_names)}

    def process(self, raw):
        row = convert_row(self._plan, raw, self._index)
        example_id = row[EXAMPLE_ID_KEY]
        split = row_split(
            self._plan, raw, row.get(VIDEO_ID_KEY, example_id), self._seed, self._eval_fraction
        )
        clean = row[LABEL_KEY]
        client = client_index_of(self._plan, row)
        row = add_noise(self._plan, add_client(self._plan, row, client), split)
        where = (raw.file, 0 if raw.row is None else raw.row)
        yield (
            split,
            row[LABEL_KEY],
            example_id,
            where,
            serialize_example(row, self._info),
            clean,
            client,
        )


def _check_unique(item: tuple[str, Any]) -> list:
    """Raises when one example id comes from more than one row."""
    example_id, wheres = item
    wheres = list(wheres)
    if len(wheres) > 1:
        raise duplicate_id_error(example_id, wheres)
    return []


def _top_samples(item: tuple[int, list]) -> list[bytes]:
    _, examples = item
    return [s for _, s in sorted(examples)[:SAMPLES_PER_CLASS]]


class Executor(BeamComponentExecutor):
    """Reads a source into an `Examples` artifact with `train` and `eval` splits.

    Inputs: none.

    Outputs:
      examples: `Examples`: `Split-train/` and `Split-eval/` of gzip TFRecords
        of `tf.Example` written by TFX's `WriteSplit` (stock ExampleGen's
        layout, split names and payload format), plus `dataset_info.json`
        (`frontier.schemas.dataset.DatasetInfo`, with split and per-split
        class counts; with label noise, `role_keys` lists `true_label`, the
        `train` counts are of the noisy labels and `source` names the
        noise). With label noise the artifact also carries the custom
        properties `label_noise`, `noise_rate`, `noise_seed` and
        `flipped_fraction` (the realized share of flipped train labels).
        With a client partition, `role_keys` lists `client_id`, `source`
        names the partition, and the artifact carries `client_partition`,
        `num_clients`, `partition_alpha`, `partition_seed` and
        `train_clients` (clients with at least one train example). With a
        split column, the artifact carries `split_column` (its name).
      visualization: `HtmlReport`: source, columns and roles, counts per split
        and class, sample images or rows; with label noise, its settings, the
        realized flip fraction and the flips per clean class; with a client
        partition, its settings, examples per client and the label skew.

    Parameters (execution properties; see `spec.IngestConfig` for the rules):
      source: path, directory, glob, or `sklearn:<name>`.
      format: `auto`, `csv`, `parquet`, `npz`, `tfrecord`, `images`, `sklearn`.
      feature_columns: JSON list of feature column (or NPZ array) names, or "null".
      label_column: column of the label.
      weak_label_column: optional column of the weak label.
      client_id_column: optional column of the client id.
      example_id_column: optional column of the example id.
      video_id_column: optional column of the video (group) id, written as
        `video_id`; without a split column the split is drawn per video.
      split_column: optional column of predefined splits: each row goes to
        the split its value names (`train` or `eval`, `convert.to_split`);
        the column is not written into the examples. With it,
        `eval_fraction` and `seed` assign no split.
      classes: JSON list of declared class names, or "null".
      eval_fraction: share of examples in `eval`, in (0, 1) (without a
        split column).
      seed: seed of the split assignment (without a split column): an
        example goes to `eval` when SHA-256 of (seed, example id), as a
        fraction of 2**64, is below `eval_fraction`
        (`convert.assign_split`): order-independent. Also picks the
        page's sample rows, with or without a split column.
      color_mode: `grayscale` or `rgb` for image folders.
      label_noise: `none`, `symmetric` (a flipped label goes uniformly to one
        of the other C-1 classes) or `asymmetric` (pair flip: class c goes to
        (c+1) mod C); applied to the `train` split only, `eval` keeps clean
        labels. With noise on, every split carries the clean label as
        `true_label` (in `eval` equal to `label`).
      noise_rate: probability in [0, 1] that a train label is flipped, drawn
        independently per example (Bernoulli, not an exact count).
      noise_seed: seed of the flips: an example is flipped when SHA-256 of
        (noise_seed, example id), as a fraction, is below `noise_rate`
        (`noise.noisy_label`): order-independent, like the split.
      client_partition: `none`, `iid` or `dirichlet`: synthetic clients for
        data without client ids; every example of every split gets a
        `client_id` (`client-00042`) from a SHA-256 hash of (partition_seed,
        example id), mapped uniformly (`iid`) or through its clean class's
        Dirichlet(partition_alpha) client proportions (`clients.py`):
        order-independent, like the split. Federated training uses `train`.
      num_clients: K >= 1 with a partition (0 without); a run with fewer
        examples than K fails naming it. Clients may end up empty (hash
        sampling); the page and `train_clients` say how many have data.
      partition_alpha: Dirichlet concentration > 0.
      partition_seed: seed of the partition.
      component_version: code version (cache key only; not read).

    Nothing is left in the output URIs when the input is bad: the source is
    planned (files, columns, first row) before anything is written, and on a
    failure inside the Beam pipeline, a repeated example id, or an empty
    split (`convert.check_split_counts`: the trainer and the stock Evaluator
    need both), the partial splits are removed before the `InputError` is
    raised (TFX then publishes nothing).
    """

    SPEC_CLASS = IngestSpec

    def run(self, job: Job) -> None:
        """Plans the source, writes the splits, then `dataset_info.json`, the
        artifact's properties and the page."""
        self._log_startup(job.inputs, job.outputs, dict(job.params))
        config = spec.IngestConfig.from_exec_properties(job.params)
        examples = job.output(spec.EXAMPLES_KEY)
        report = job.output(spec.VISUALIZATION_KEY)
        plan = plan_source(config)  # raises InputError before anything is written
        tally = self._write_splits(plan, config, examples.uri, dict(job.params))
        class_counts = {s: tuple(v) for s, v in tally.class_counts.items()}
        info = plan.dataset_info(tally.split_counts, class_counts)
        info.write(examples.uri)
        set_examples_properties(examples, list(spec.SPLIT_NAMES))
        if plan.split_column:
            # Recorded like the noise and partition settings: which column
            # made the splits is visible in MLMD without the page.
            examples.set_string_custom_property(spec.SPLIT_COLUMN_KEY, plan.split_column)
        flips = None
        if plan.label_noise is not None:
            flips = flip_summary(tally.train_pairs, len(plan.class_names))
            self._set_noise_properties(examples, config, flips)
            logging.info(
                "Ingest: %s flipped %d of %d train labels (%.4f)",
                plan.label_noise.describe(),
                flips.flipped,
                flips.total,
                flips.flipped_fraction,
            )
        if tally.clients is not None:
            self._set_partition_properties(examples, config, tally.clients)
            logging.info(
                "Ingest: %s: %d of %d clients have train examples",
                plan.client_partition.describe(),
                tally.clients.clients_with_examples(spec.TRAIN_SPLIT),
                tally.clients.num_clients,
            )
        write_report(
            report,
            f"Ingest: {plan.describe()}",
            build_report(plan, info, tally.samples, flips, tally.clients),
        )
        logging.info("Ingest: wrote %s", info.split_counts)

    def _write_splits(
        self,
        plan: SourcePlan,
        config: spec.IngestConfig,
        examples_uri: str,
        exec_properties: dict[str, Any],
    ) -> _Tally:
        """Runs the Beam pipeline (`_run_pipeline`) and reads back and checks its tallies.

        On any failure the partial splits are removed and the error is raised
        unwrapped (`raise_unwrapped`); the temporary folder is removed always.

        Raises:
          InputError: a bad value or a repeated example id inside the
            pipeline, an empty split, or fewer examples than clients.
        """
        info = plan.dataset_info()
        tmp = self._tmp_dir(examples_uri)
        try:
            self._run_pipeline(plan, info, config, examples_uri, tmp, exec_properties)
            tally = self._read_tally(tmp, info, len(plan.class_names))
            check_split_counts(tally.split_counts, config.eval_fraction, plan.split_column)
            if plan.client_partition is not None:
                check_num_clients(
                    plan.client_partition, sum(tally.split_counts.values()), plan.source
                )
                clients = partition_summary(
                    {
                        (s, k, c): n
                        for s, k, c, n in self._read_json(os.path.join(tmp, _CLIENTS_FILE))
                    },
                    plan.client_partition.num_clients,
                    len(plan.class_names),
                )
                tally = tally._replace(clients=clients)
        except Exception as e:
            remove_split_outputs(examples_uri, list(spec.SPLIT_NAMES))
            raise_unwrapped(e)
        finally:
            if tf.io.gfile.exists(tmp):
                tf.io.gfile.rmtree(tmp)
        return tally

    def _read_tally(self, tmp: str, info: DatasetInfo, num_classes: int) -> _Tally:
        """The pipeline's counts and samples, read from its temporary folder."""
        counts = self._read_json(os.path.join(tmp, _COUNTS_FILE))
        samples = self._read_samples(os.path.join(tmp, _SAMPLES_FILE), info)
        split_counts = dict.fromkeys(spec.SPLIT_NAMES, 0)
        class_counts = {s: [0] * num_classes for s in spec.SPLIT_NAMES}
        train_pairs: dict[tuple[int, int], int] = {}
        for split, clean, label, n in counts:
            split_counts[split] += n
            class_counts[split][label] += n
            if split == spec.TRAIN_SPLIT:
                train_pairs[(clean, label)] = train_pairs.get((clean, label), 0) + n
        return _Tally(split_counts, class_counts, train_pairs, samples, None)

    # -- pieces ----------------------------------------------------------------

    @staticmethod
    def _set_noise_properties(
        examples: types.Artifact, config: spec.IngestConfig, flips: FlipSummary
    ) -> None:
        """The noise settings and the realized train flip fraction, as custom
        properties of the `Examples` artifact (visible in MLMD and `frontier runs`)."""
        examples.set_string_custom_property(spec.LABEL_NOISE_KEY, config.label_noise)
        examples.set_float_custom_property(spec.NOISE_RATE_KEY, float(config.noise_rate))
        examples.set_int_custom_property(spec.NOISE_SEED_KEY, int(config.noise_seed))
        examples.set_float_custom_property(
            spec.FLIPPED_FRACTION_PROPERTY, float(flips.flipped_fraction)
        )

    @staticmethod
    def _set_partition_properties(
        examples: types.Artifact, config: spec.IngestConfig, clients: PartitionSummary
    ) -> None:
        """The partition settings and the number of clients with train
        examples, as custom properties of the `Examples` artifact."""
        examples.set_string_custom_property(spec.CLIENT_PARTITION_KEY, config.client_partition)
        examples.set_int_custom_property(spec.NUM_CLIENTS_KEY, int(config.num_clients))
        examples.set_float_custom_property(spec.PARTITION_ALPHA_KEY, float(config.partition_alpha))
        examples.set_int_custom_property(spec.PARTITION_SEED_KEY, int(config.partition_seed))
        examples.set_int_custom_property(
            spec.TRAIN_CLIENTS_PROPERTY, clients.clients_with_examples(spec.TRAIN_SPLIT)
        )

    def _tmp_dir(self, examples_uri: str) -> str:
        name = f".ingest-tmp-{uuid.uuid4().hex}"
        if self._context is not None:
            return os.path.join(self._get_tmp_dir(), name)
        return os.path.join(examples_uri, name)  # removed before returning

    def _run_pipeline(
        self,
        plan: SourcePlan,
        info: DatasetInfo,
        config: spec.IngestConfig,
        examples_uri: str,
        tmp: str,
        exec_properties: dict[str, Any],
    ) -> None:
        seed = config.seed
        # pylint: disable=expression-not-assigned, no-value-for-parameter
        with self._make_beam_pipeline() as p:
            rows = (
                p
                | "Shards" >> beam.Create(list(plan.shards))
                | "Read" >> beam.FlatMap(lambda shard, plan: read_shard(plan, shard), plan)
                | "Convert" >> beam.ParDo(_Convert(plan, info, seed, config.eval_fraction))
            )
            for split in spec.SPLIT_NAMES:
                (
                    rows
                    | f"Select[{split}]" >> beam.Filter(lambda r, s: r[0] == s, split)
                    | f"Serialized[{split}]" >> beam.Map(lambda r: r[4])
                    | f"WriteSplit[{split}]"
                    >> write_split.WriteSplit(
                        split_uri(examples_uri, split),
                        example_gen_pb2.FORMAT_TFRECORDS_GZIP,
                        exec_properties,
                    )
                )
            if plan.example_id_column:
                # Only ids read from a column can repeat: generated ids
                # (`<file>#<row>`, an image's relative path, `<data set>#<i>`)
                # are unique by construction, so they skip this shuffle.
                (
                    rows
                    | "IdWhere" >> beam.Map(lambda r: (r[2], r[3]))
                    | "GroupIds" >> beam.GroupByKey()
                    | "CheckUnique" >> beam.FlatMap(_check_unique)
                )
            # (split, clean label, label): the two labels differ only for flipped
            # train examples.
            rows | "Counts" >> _WriteCounts(
                lambda r: (r[0], r[5], r[1]), os.path.join(tmp, _COUNTS_FILE)
            )
            if plan.client_partition is not None:
                # (split, client index, clean label): the partition follows the
                # clean classes.
                rows | "ClientCounts" >> _WriteCounts(
                    lambda r: (r[0], r[6], r[5]), os.path.join(tmp, _CLIENTS_FILE)
                )
            (
                rows
                | "SampleKey"
                >> beam.Map(lambda r, s: (r[1], (split_fraction(r[2], s, "sample"), r[4])), seed)
                | "SampleGroup" >> beam.combiners.Top.PerKey(SAMPLES_PER_CLASS, key=lambda v: -v[0])
                | "SampleList" >> beam.FlatMap(_top_samples)
                | "WriteSamples"
                >> beam.io.WriteToTFRecord(os.path.join(tmp, _SAMPLES_FILE), shard_name_template="")
            )

    @staticmethod
    def _read_json(path: str) -> list:
        with tf.io.gfile.GFile(path) as f:
            return json.loads(f.read())

    @staticmethod
    def _read_samples(path: str, info: DatasetInfo) -> list[dict[str, Any]]:
        """The sample rows (a few per class), parsed and decoded in `info`'s
        layout (`parse_examples`): float32 vectors, int class ids, str ids;
        sorted by (label, example id)."""
        if not tf.io.gfile.exists(path):
            return []
        records = list(tf.data.TFRecordDataset(path).as_numpy_iterator())
        if not records:
            return []
        parsed = {k: v.numpy() for k, v in parse_examples(records, info).items()}
        features = split_features(parsed[FEATURES], info)
        rows = []
        for i in range(len(records)):
            row: dict[str, Any] = {k: features[k][i] for k in info.feature_keys}
            for key in info.role_keys:
                value = parsed[key][i]
                row[key] = value.decode() if key in BYTES_ROLE_KEYS else int(value)
            rows.append(row)
        rows.sort(key=lambda r: (r[LABEL_KEY], r[EXAMPLE_ID_KEY]))
        return rows
