"""The Ingest component: a custom Beam-based ExampleGen for frontier."""

from __future__ import annotations

from collections.abc import Sequence

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts

from frontier.components.common.versioning import COMPONENT_VERSION_KEY, code_version
from frontier.components.ingest import spec
from frontier.components.ingest.component_spec import IngestSpec
from frontier.components.ingest.executor import Executor
from frontier.schemas.artifacts import HtmlReport


class Ingest(base_beam_component.BaseBeamComponent):
    """Reads CSV, Parquet, NPZ, TFRecord, an image folder or a scikit-learn data
    set into `Examples` with `train` and `eval` splits (stock ExampleGen layout)
    and a `dataset_info.json` describing features and roles. The splits are a
    seeded hash of each example's id, or predefined: named per row by a
    `split_column`.

    Optionally adds seeded synthetic label noise to the `train` split (for
    label-noise research such as CIW training), keeping the clean label as
    `true_label`, and a seeded synthetic client partition (IID or Dirichlet
    label skew) for federated simulation of data without client ids.

    Outputs: `examples` (`Examples`) and `visualization` (`HtmlReport`).
    """

    SPEC_CLASS = IngestSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
        self,
        source: str,
        format: str = spec.AUTO,  # noqa: A002 - the parameter's public name
        feature_columns: Sequence[str] | None = None,
        label_column: str = spec.DEFAULT_LABEL_COLUMN,
        weak_label_column: str | None = None,
        client_id_column: str | None = None,
        example_id_column: str | None = None,
        split_column: str | None = None,
        classes: Sequence[str] | None = None,
        eval_fraction: float = spec.DEFAULT_EVAL_FRACTION,
        seed: int = spec.DEFAULT_SEED,
        color_mode: str = spec.GRAYSCALE,
        label_noise: str = spec.NO_NOISE,
        noise_rate: float = spec.DEFAULT_NOISE_RATE,
        noise_seed: int = spec.DEFAULT_NOISE_SEED,
        client_partition: str = spec.NO_PARTITION,
        num_clients: int = spec.DEFAULT_NUM_CLIENTS,
        partition_alpha: float = spec.DEFAULT_PARTITION_ALPHA,
        partition_seed: int = spec.DEFAULT_PARTITION_SEED,
        encoding: str = spec.DEFAULT_ENCODING,
        video_id_column: str | None = None,
    ):
        """Configures the component; configuration errors raise here.

        Args:
          source: a file, directory or glob (local or `gs://...`), or
            `sklearn:digits|iris|wine|breast_cancer`.
          format: `auto` (by extension; a directory of sub-folders is an image
            folder; `sklearn:` sources are `sklearn`) or one of `csv`,
            `parquet`, `npz`, `tfrecord`, `images`, `sklearn`. Of a directory,
            an explicit format reads only the files with its extensions; a
            glob is read whatever the names.
          feature_columns: columns (NPZ: arrays of shape (N, ...), each row
            flattened) that become float32 features, in this order; keys are
            the names sanitised (`sepal length (cm)` -> `sepal_length_cm`).
            Required for csv/parquet/tfrecord; npz defaults to `["x"]`;
            sklearn: optional subset of its sanitised feature names; images:
            None (one feature `image` of length H*W*C, values in [0, 1]).
          label_column: column (NPZ: array, e.g. `"y"`) of the label.
          weak_label_column: optional column of a weak label (same classes).
          client_id_column: optional column of the client id (federated use).
          video_id_column: optional column of the video (or any group) each
            example comes from, written as `video_id`; without a split
            column, whole videos go to one split (a hash of the seed and the
            video id), so no video is in two splits.
          example_id_column: optional column of a unique example id; default
            `<file relative to the source>#<row>`.
          split_column: optional column (NPZ: array, TFRecord: feature) of
            predefined splits, like the split patterns of stock
            ImportExampleGen but per row: each row goes to the split its
            value names, `train` or `eval` (the value as a string stripped
            of spaces; a number by its integral form, as labels are
            matched); any other or a missing value fails naming the file,
            row and column. With it, `eval_fraction` and `seed` assign no
            split (`seed` still picks the page's sample rows), and a split
            that no row names fails naming this column. The column is not
            a feature and is not written into the examples; label noise
            still applies to `train` only. The `Examples` artifact carries
            the custom property `split_column`. Not for image folders or
            sklearn data sets.
          classes: declared class names, matched against label values by
            their string form: numeric values (Parquet/NPZ numbers, TFRecord
            int64/float, sklearn targets) by their integer form when integral
            (3 and 3.0 match class "3"); text (CSV fields, Parquet strings,
            TFRecord bytes) as written, so CSV `3.0` matches only "3.0".
            Required for csv/parquet/npz/tfrecord; images default to the
            sorted sub-folder names, sklearn to its target names.
          eval_fraction: expected share of examples in `eval`, in (0, 1);
            the run fails (naming this parameter) when a split ends up empty.
            Not used with a `split_column`.
          seed: seed of the (hash-based, order-independent) split, without a
            `split_column`; also picks the sample rows shown on the page.
          color_mode: `grayscale` (C=1) or `rgb` (C=3) for image folders.
          label_noise: synthetic label noise on the `train` split: `none`
            (default), `symmetric` (a flipped label goes to one of the other
            C-1 classes, uniformly) or `asymmetric` (pair flip: class c goes
            to (c+1) mod C). The `eval` split keeps its clean labels (a
            curated test set is clean, so evaluation measures clean
            accuracy). With noise on, every split carries the clean label
            as an int feature `true_label` (in `eval` equal to `label`),
            `dataset_info.json` lists it among the roles, the page shows
            the realized flips, and the `Examples` artifact carries the
            custom properties `label_noise`, `noise_rate`, `noise_seed` and
            `flipped_fraction`. Needs labelled data with 2 or more classes,
            without a `true_label` column already.
          noise_rate: probability in [0, 1] that a train label is flipped.
            Each example is flipped independently (Bernoulli sampling, not an
            exact count), so the realized fraction is close to, not exactly,
            the rate; 0 with a noise kind writes `true_label` and flips
            nothing. Must be 0 with `label_noise="none"`.
          noise_seed: seed of the flips: an example's noisy label depends only
            on (noise_seed, its example id, its class), through SHA-256 like
            the split, so the same seed gives byte-identical files and a
            higher rate only adds flips. Independent of `seed`.
          client_partition: synthetic clients (users) for federated simulation
            of data without client ids: `none` (default), `iid` (each example
            to one of `num_clients` clients uniformly) or `dirichlet` (label
            skew: per class, client proportions drawn from
            Dirichlet(`partition_alpha`); small alpha, few classes per
            client). Every example of both splits gets a `client_id` bytes
            value `client-00042` (federated training uses `train`; `eval`
            holds the same users' held-out examples), `dataset_info.json`
            lists `client_id`, the page shows examples per client and the
            label skew, and the `Examples` artifact carries the custom
            properties `client_partition`, `num_clients`, `partition_alpha`,
            `partition_seed` and `train_clients`. An example's client is a
            SHA-256 hash of (partition_seed, its example id) mapped through
            its clean class's proportions: order-independent and parallel,
            the same distribution as `dp_ftrl.partition_clients` but not the
            same assignment, and a client can end up empty (see
            `frontier.components.ingest.clients`). Refused with a
            `client_id_column` or a source that has a `client_id` column.
          num_clients: number of clients, >= 1 with a partition (0, the
            default, without); a source with fewer examples fails naming it.
          partition_alpha: Dirichlet concentration > 0 (default 0.5; `dirichlet` only).
          partition_seed: seed of the partition, independent of the other seeds.
          encoding: text encoding of CSV files (default `utf-8`, a byte-order
            mark dropped; any Python codec name, e.g. `latin-1`, `cp1252`,
            `utf-16`). An undecodable byte fails naming file, line and byte.

        Raises:
          InputError: a configuration that no source could satisfy (unknown
            format or data set, missing feature columns or classes, a
            fraction out of range, a column given two roles (the split
            column included), a split column for an image folder or a
            sklearn data set, an unknown label noise, a noise rate outside
            [0, 1] or given without noise, a seed that is no integer, an
            unknown client partition, a partition without num_clients or
            with a client_id_column, num_clients without a partition,
            partition_alpha <= 0, an unknown text encoding, ...).
        """
        config = spec.IngestConfig.create(
            source=source,
            format=format,
            feature_columns=feature_columns,
            label_column=label_column,
            weak_label_column=weak_label_column,
            client_id_column=client_id_column,
            example_id_column=example_id_column,
            split_column=split_column,
            classes=classes,
            eval_fraction=eval_fraction,
            seed=seed,
            color_mode=color_mode,
            label_noise=label_noise,
            noise_rate=noise_rate,
            noise_seed=noise_seed,
            client_partition=client_partition,
            num_clients=num_clients,
            partition_alpha=partition_alpha,
            partition_seed=partition_seed,
            encoding=encoding,
            video_id_column=video_id_column,
        )
        super().__init__(
            spec=IngestSpec(
                **config.to_exec_properties(),
                **{COMPONENT_VERSION_KEY: code_version("ingest")},
                **{
                    spec.EXAMPLES_KEY: types.Channel(type=standard_artifacts.Examples),
                    spec.VISUALIZATION_KEY: types.Channel(type=HtmlReport),
                },
            )
        )
