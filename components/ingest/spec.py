"""Names and configuration of the Ingest component (ARCHITECTURE.md rule 2).

The component, the executor and the tests import these constants, so that
key and parameter names cannot drift. `IngestConfig` is the typed form of the
execution properties; it converts to and from them (lists travel as JSON
strings, because TFX execution properties must be scalars) and checks what
can be checked without touching any file.

No TFX import here: the plain functions of `frontier.components.ingest` use
this module without TFX.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from frontier.components.common.checks import is_int, is_real
from frontier.components.common.errors import InputError
from frontier.components.common.versioning import COMPONENT_VERSION_KEY  # noqa: F401 (re-exported)

# Split names: the shared ones of `frontier.schemas.dataset` (those of stock
# ExampleGen's default output config), re-exported so that `spec.TRAIN_SPLIT`
# etc. keep working for code that imports them from here.
from frontier.schemas.dataset import (  # noqa: F401 (re-exported)
    EVAL_SPLIT,
    SPLIT_NAMES,
    TRAIN_SPLIT,
)

# Output keys.
EXAMPLES_KEY = "examples"
VISUALIZATION_KEY = "visualization"

# Execution-property (parameter) names.
SOURCE_KEY = "source"
FORMAT_KEY = "format"
FEATURE_COLUMNS_KEY = "feature_columns"  # JSON list of str, or "null"
LABEL_COLUMN_KEY = "label_column"
WEAK_LABEL_COLUMN_KEY = "weak_label_column"
CLIENT_ID_COLUMN_KEY = "client_id_column"
EXAMPLE_ID_COLUMN_KEY = "example_id_column"
VIDEO_ID_COLUMN_KEY = "video_id_column"
SPLIT_COLUMN_KEY = "split_column"
CLASSES_KEY = "classes"  # JSON list of str, or "null"
EVAL_FRACTION_KEY = "eval_fraction"
SEED_KEY = "seed"
COLOR_MODE_KEY = "color_mode"
LABEL_NOISE_KEY = "label_noise"
NOISE_RATE_KEY = "noise_rate"
NOISE_SEED_KEY = "noise_seed"
CLIENT_PARTITION_KEY = "client_partition"
NUM_CLIENTS_KEY = "num_clients"
PARTITION_ALPHA_KEY = "partition_alpha"
PARTITION_SEED_KEY = "partition_seed"
ENCODING_KEY = "encoding"

# Formats.
AUTO = "auto"
CSV = "csv"
PARQUET = "parquet"
NPZ = "npz"
TFRECORD = "tfrecord"
IMAGES = "images"
SKLEARN = "sklearn"
FORMATS = (AUTO, CSV, PARQUET, NPZ, TFRECORD, IMAGES, SKLEARN)
# Formats whose feature columns must be named (npz defaults to one array `x`).
FORMATS_NEEDING_FEATURE_COLUMNS = (CSV, PARQUET, TFRECORD)
# Formats whose classes must be declared (images and sklearn bring their own).
FORMATS_NEEDING_CLASSES = (CSV, PARQUET, NPZ, TFRECORD)
NPZ_DEFAULT_FEATURE_ARRAYS = ("x",)

# Built-in data sets: `sklearn:<name>` (the data ship with scikit-learn).
SKLEARN_PREFIX = "sklearn:"
SKLEARN_DATASETS = ("digits", "iris", "wine", "breast_cancer")

# Image folders.
GRAYSCALE = "grayscale"
RGB = "rgb"
COLOR_MODES = (GRAYSCALE, RGB)
IMAGE_FEATURE_KEY = "image"

# Label noise (train split only; see `noise.py`).
NO_NOISE = "none"
SYMMETRIC = "symmetric"
ASYMMETRIC = "asymmetric"
LABEL_NOISE_KINDS = (NO_NOISE, SYMMETRIC, ASYMMETRIC)

# Custom properties of the `Examples` artifact when label noise is on (the
# settings under their parameter names, plus the realized flip fraction of
# the train split).
FLIPPED_FRACTION_PROPERTY = "flipped_fraction"

# Synthetic clients for data without client ids (see `clients.py`). The
# scheme names are those of `frontier.components.dp_ftrl.PARTITION_SCHEMES`
# (not imported: that package loads JAX).
NO_PARTITION = "none"
IID = "iid"
DIRICHLET = "dirichlet"
CLIENT_PARTITIONS = (NO_PARTITION, IID, DIRICHLET)

# Custom property of the `Examples` artifact when clients are partitioned
# (besides the settings under their parameter names): how many clients have
# at least one train example.
TRAIN_CLIENTS_PROPERTY = "train_clients"

DEFAULT_LABEL_COLUMN = "label"
DEFAULT_EVAL_FRACTION = 0.2
DEFAULT_SEED = 0
DEFAULT_NOISE_RATE = 0.0
DEFAULT_NOISE_SEED = 0
DEFAULT_NUM_CLIENTS = 0  # not set; required (>= 1) with a client partition
DEFAULT_PARTITION_ALPHA = 0.5
DEFAULT_PARTITION_SEED = 0
DEFAULT_ENCODING = "utf-8"


def _json_list(value: Sequence[Any] | None) -> str:
    return json.dumps(None if value is None else [str(v) for v in value])


def _from_json_list(text: str | None, key: str) -> tuple[str, ...] | None:
    if text is None or text == "":
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(
            f"not valid JSON ({e})", parameter=key, expected="a JSON list of strings"
        ) from e
    if value is None:
        return None
    if not isinstance(value, list):
        raise InputError(
            f"{text!r} is not a list", parameter=key, expected="a JSON list of strings"
        )
    return tuple(str(v) for v in value)


def _number(value: Any, key: str, expected: str) -> float:
    """A real number (not a bool, not a string) as float, else an InputError naming `key`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"got {value!r}", parameter=key, expected=expected)
    return float(value)


def _integer(value: Any, key: str, expected: str) -> int:
    """An integer (an int, or an integral float; not a bool), else an InputError naming `key`."""
    if is_int(value) or (is_real(value) and float(value).is_integer()):
        return int(value)
    raise InputError(f"got {value!r}", parameter=key, expected=expected)


_RATE_EXPECTED = "a number in [0, 1]: the probability that a train label is flipped"
_SEED_EXPECTED = "an integer seed"
_NUM_CLIENTS_EXPECTED = "an integer >= 1: the number of synthetic clients"
_ALPHA_EXPECTED = "a finite number > 0: the Dirichlet concentration"


def check_num_clients_value(value: Any) -> int:
    """`num_clients` as an int (any integer; the range is checked with the scheme)."""
    return _integer(value, NUM_CLIENTS_KEY, _NUM_CLIENTS_EXPECTED)


def check_alpha_value(value: Any) -> float:
    """`partition_alpha` as a float, finite and > 0, else an InputError naming it."""
    alpha = _number(value, PARTITION_ALPHA_KEY, _ALPHA_EXPECTED)
    if not (math.isfinite(alpha) and alpha > 0.0):
        raise InputError(
            f"partition_alpha {value} is out of range",
            parameter=PARTITION_ALPHA_KEY,
            expected=_ALPHA_EXPECTED,
        )
    return alpha


def check_seed_value(value: Any) -> int:
    """`partition_seed` as an int, else an InputError naming it."""
    return _integer(value, PARTITION_SEED_KEY, _SEED_EXPECTED)


@dataclasses.dataclass(frozen=True)
class IngestConfig:
    """What to read and which column plays which role.

    Attributes:
      source: a file, a directory, a glob (local or any `tf.io.gfile` URI), or
        `sklearn:<name>` with <name> in `SKLEARN_DATASETS`.
      format: one of `FORMATS`; `auto` picks by file extension (`.csv`,
        `.parquet`/`.pq`, `.npz`, `.tfrecord`/`.tfrecords`/`.tfrec` with an
        optional `.gz`), a directory of sub-folders is an image folder, and a
        `sklearn:` source is `sklearn`. Which files of a directory are read:
        with `auto`, those with a known extension (one format among them);
        with an explicit format, only those with that format's extensions
        (`extensions_of(format)`), so a README beside the data is ignored. A
        single file or a glob is read in the given format whatever its name
        (use `dir/*` for shards without an extension).
      feature_columns: source columns (CSV/Parquet columns, TFRecord feature
        names, NPZ array names) that become float features, in this order.
        Required for csv/parquet/tfrecord; npz defaults to `("x",)`; for
        sklearn an optional subset of the (sanitised) feature names; not used
        for images (one feature `image`).
      label_column: column (NPZ: array) holding the label.
      weak_label_column: optional column of a weak (noisy / coarse) label,
        matched against the same classes.
      client_id_column: optional column of the client (user) id.
      video_id_column: optional column of the video (or any group) an
        example comes from, written as `video_id`; without a split column the
        split is drawn per video (a hash of the seed and the video id), so
        the clips of one video never land in two splits.
      example_id_column: optional column of a unique example id; without it
        the id is `<file relative to the source>#<row>` (images: the relative
        path).
      split_column: optional column of predefined splits (stock
        ImportExampleGen's split patterns, per row): each row's value, as a
        string stripped of spaces (a number by its integral form, like a
        label), must be one of `SPLIT_NAMES` (`train`, `eval`), and the row
        goes to that split; another or a missing value is an error naming
        the file, row and column. With it `eval_fraction` and `seed` assign
        no split (`seed` still picks the page's sample rows), and a split
        that no row names is an error naming this column. It is not a
        feature (not written into the examples) and not allowed for image
        folders and sklearn data sets.
      classes: declared class names; class id i is `classes[i]`. Label values
        are matched by their string form only: a numeric value (a Parquet
        or NPZ number, a TFRecord int64/float, a sklearn target) by its
        integer form when it is integral (3 and 3.0 both match class "3");
        text (every CSV field, Parquet strings, TFRecord bytes) as written,
        stripped of surrounding spaces (CSV `3.0` matches class "3.0", not
        "3"). Required for csv/parquet/npz/tfrecord. Image folders take the
        sorted sub-folder names (if given, `classes` must name exactly those
        folders and sets their order); sklearn takes its target names.
      eval_fraction: fraction of examples in the `eval` split, in (0, 1);
        not used with a `split_column` (still checked to be in range).
      seed: seed of the split assignment (without a `split_column`) and of
        the choice of sample rows shown on the page.
      color_mode: images are converted to `grayscale` (1 channel) or `rgb`
        (3 channels), whatever their stored mode.
      label_noise: synthetic label noise on the `train` split, one of
        `LABEL_NOISE_KINDS`: `none`, `symmetric` (a flipped label goes to
        one of the other C-1 classes, uniformly) or `asymmetric` (pair flip:
        class c goes to (c+1) mod C). Each train example is flipped
        independently with probability `noise_rate` (a Bernoulli draw from
        a SHA-256 hash of (noise_seed, example id); see `noise.py`). The
        `eval` split keeps its clean labels. With noise on (any kind but
        `none`, even at rate 0) every split carries the clean label as
        `true_label`; needs at least 2 classes.
      noise_rate: flip probability in [0, 1]; must be 0 when `label_noise`
        is `none`.
      noise_seed: seed of the flips (independent of `seed`, the split's).
      client_partition: synthetic clients for data without client ids
        (federated simulation), one of `CLIENT_PARTITIONS`: `none`, `iid`
        (each example to one of `num_clients` clients uniformly) or
        `dirichlet` (label skew: per class, client proportions drawn from
        Dirichlet(partition_alpha)). An example's client is a SHA-256 hash of
        (partition_seed, example id) mapped through its class's proportions
        (see `clients.py`), so order-independent like the split. Every
        split carries the `client_id` (`client-00042`); federated training
        uses `train`. Refused with a `client_id_column` (the data has ids).
      num_clients: number of clients K >= 1 with a partition; must be 0 (not
        set) without one. At most the number of examples (checked at run time).
      partition_alpha: Dirichlet concentration > 0 (used by `dirichlet`).
      partition_seed: seed of the partition (independent of the other seeds).
      encoding: the text encoding of CSV files (a Python codec name such as
        `utf-8`, `latin-1`, `cp1252`, `utf-16`); UTF-8 drops a byte-order
        mark. A byte that is not valid in it stops Ingest with an error
        naming the file, line and byte offset.
    """

    source: str
    format: str = AUTO
    feature_columns: tuple[str, ...] | None = None
    label_column: str = DEFAULT_LABEL_COLUMN
    weak_label_column: str | None = None
    client_id_column: str | None = None
    example_id_column: str | None = None
    split_column: str | None = None
    classes: tuple[str, ...] | None = None
    video_id_column: str | None = None
    eval_fraction: float = DEFAULT_EVAL_FRACTION
    seed: int = DEFAULT_SEED
    color_mode: str = GRAYSCALE
    label_noise: str = NO_NOISE
    noise_rate: float = DEFAULT_NOISE_RATE
    noise_seed: int = DEFAULT_NOISE_SEED
    client_partition: str = NO_PARTITION
    num_clients: int = DEFAULT_NUM_CLIENTS
    partition_alpha: float = DEFAULT_PARTITION_ALPHA
    partition_seed: int = DEFAULT_PARTITION_SEED
    encoding: str = DEFAULT_ENCODING

    @classmethod
    def create(
        cls,
        source: str,
        format: str = AUTO,  # noqa: A002 - the parameter's public name
        feature_columns: Sequence[str] | None = None,
        label_column: str = DEFAULT_LABEL_COLUMN,
        weak_label_column: str | None = None,
        client_id_column: str | None = None,
        example_id_column: str | None = None,
        video_id_column: str | None = None,
        split_column: str | None = None,
        classes: Sequence[Any] | None = None,
        eval_fraction: float = DEFAULT_EVAL_FRACTION,
        seed: int = DEFAULT_SEED,
        color_mode: str = GRAYSCALE,
        label_noise: str = NO_NOISE,
        noise_rate: float = DEFAULT_NOISE_RATE,
        noise_seed: int = DEFAULT_NOISE_SEED,
        client_partition: str = NO_PARTITION,
        num_clients: int = DEFAULT_NUM_CLIENTS,
        partition_alpha: float = DEFAULT_PARTITION_ALPHA,
        partition_seed: int = DEFAULT_PARTITION_SEED,
        encoding: str = DEFAULT_ENCODING,
    ) -> IngestConfig:
        """Builds a config from Python values (lists, ints as class names) and validates it."""
        if isinstance(feature_columns, str):
            raise InputError(
                f"got the string {feature_columns!r}",
                parameter=FEATURE_COLUMNS_KEY,
                expected="a list of column names",
            )
        if isinstance(classes, str):
            raise InputError(
                f"got the string {classes!r}",
                parameter=CLASSES_KEY,
                expected="a list of class names",
            )
        config = cls(
            source=source,
            format=format,
            feature_columns=None
            if feature_columns is None
            else tuple(str(c) for c in feature_columns),
            label_column=label_column,
            weak_label_column=weak_label_column or None,
            client_id_column=client_id_column or None,
            example_id_column=example_id_column or None,
            video_id_column=video_id_column or None,
            split_column=split_column or None,
            classes=None if classes is None else tuple(str(c) for c in classes),
            eval_fraction=float(eval_fraction),
            seed=int(seed),
            color_mode=color_mode,
            label_noise=label_noise,
            noise_rate=_number(noise_rate, NOISE_RATE_KEY, _RATE_EXPECTED),
            noise_seed=_integer(noise_seed, NOISE_SEED_KEY, _SEED_EXPECTED),
            client_partition=client_partition,
            num_clients=check_num_clients_value(num_clients),
            partition_alpha=check_alpha_value(partition_alpha),
            partition_seed=check_seed_value(partition_seed),
            encoding=encoding,
        )
        config.validate()
        return config

    @property
    def noisy(self) -> bool:
        """Whether label noise is on (any kind but `none`, whatever the rate)."""
        return self.label_noise != NO_NOISE

    @property
    def partitioned(self) -> bool:
        """Whether synthetic clients are drawn (`client_partition` other than `none`)."""
        return self.client_partition != NO_PARTITION

    # -- execution properties ------------------------------------------------

    def to_exec_properties(self) -> dict[str, Any]:
        """Scalar execution properties (optional columns left out when unset)."""
        props: dict[str, Any] = {
            SOURCE_KEY: self.source,
            FORMAT_KEY: self.format,
            FEATURE_COLUMNS_KEY: _json_list(self.feature_columns),
            LABEL_COLUMN_KEY: self.label_column,
            CLASSES_KEY: _json_list(self.classes),
            EVAL_FRACTION_KEY: float(self.eval_fraction),
            SEED_KEY: int(self.seed),
            COLOR_MODE_KEY: self.color_mode,
            LABEL_NOISE_KEY: self.label_noise,
            NOISE_RATE_KEY: float(self.noise_rate),
            NOISE_SEED_KEY: int(self.noise_seed),
            CLIENT_PARTITION_KEY: self.client_partition,
            NUM_CLIENTS_KEY: int(self.num_clients),
            PARTITION_ALPHA_KEY: float(self.partition_alpha),
            PARTITION_SEED_KEY: int(self.partition_seed),
            ENCODING_KEY: self.encoding,
        }
        for key, value in self.role_columns.items():
            if key != LABEL_COLUMN_KEY and value:
                props[key] = value
        return props

    @classmethod
    def from_exec_properties(cls, props: Mapping[str, Any]) -> IngestConfig:
        """Inverse of `to_exec_properties`; validates the result."""
        if not props.get(SOURCE_KEY):
            raise InputError(
                "no source given", parameter=SOURCE_KEY, expected="a path or sklearn:<name>"
            )
        config = cls(
            source=str(props[SOURCE_KEY]),
            format=str(props.get(FORMAT_KEY) or AUTO),
            feature_columns=_from_json_list(props.get(FEATURE_COLUMNS_KEY), FEATURE_COLUMNS_KEY),
            label_column=str(props.get(LABEL_COLUMN_KEY) or DEFAULT_LABEL_COLUMN),
            weak_label_column=props.get(WEAK_LABEL_COLUMN_KEY) or None,
            client_id_column=props.get(CLIENT_ID_COLUMN_KEY) or None,
            example_id_column=props.get(EXAMPLE_ID_COLUMN_KEY) or None,
            video_id_column=props.get(VIDEO_ID_COLUMN_KEY) or None,
            split_column=props.get(SPLIT_COLUMN_KEY) or None,
            classes=_from_json_list(props.get(CLASSES_KEY), CLASSES_KEY),
            eval_fraction=float(
                DEFAULT_EVAL_FRACTION
                if props.get(EVAL_FRACTION_KEY) is None
                else props[EVAL_FRACTION_KEY]
            ),
            seed=int(DEFAULT_SEED if props.get(SEED_KEY) is None else props[SEED_KEY]),
            color_mode=str(props.get(COLOR_MODE_KEY) or GRAYSCALE),
            label_noise=str(props.get(LABEL_NOISE_KEY) or NO_NOISE),
            noise_rate=float(
                DEFAULT_NOISE_RATE if props.get(NOISE_RATE_KEY) is None else props[NOISE_RATE_KEY]
            ),
            noise_seed=int(
                DEFAULT_NOISE_SEED if props.get(NOISE_SEED_KEY) is None else props[NOISE_SEED_KEY]
            ),
            client_partition=str(props.get(CLIENT_PARTITION_KEY) or NO_PARTITION),
            num_clients=int(
                DEFAULT_NUM_CLIENTS
                if props.get(NUM_CLIENTS_KEY) is None
                else props[NUM_CLIENTS_KEY]
            ),
            partition_alpha=float(
                DEFAULT_PARTITION_ALPHA
                if props.get(PARTITION_ALPHA_KEY) is None
                else props[PARTITION_ALPHA_KEY]
            ),
            partition_seed=int(
                DEFAULT_PARTITION_SEED
                if props.get(PARTITION_SEED_KEY) is None
                else props[PARTITION_SEED_KEY]
            ),
            encoding=str(props.get(ENCODING_KEY) or DEFAULT_ENCODING),
        )
        config.validate()
        return config

    # -- validation ----------------------------------------------------------

    @property
    def role_columns(self) -> dict[str, str | None]:
        """Parameter name -> source column of each role (None when unset)."""
        return {
            LABEL_COLUMN_KEY: self.label_column,
            WEAK_LABEL_COLUMN_KEY: self.weak_label_column,
            CLIENT_ID_COLUMN_KEY: self.client_id_column,
            EXAMPLE_ID_COLUMN_KEY: self.example_id_column,
            VIDEO_ID_COLUMN_KEY: self.video_id_column,
            SPLIT_COLUMN_KEY: self.split_column,
        }

    @property
    def sklearn_name(self) -> str | None:
        """`<name>` of a `sklearn:<name>` source, else None."""
        if self.source.startswith(SKLEARN_PREFIX):
            return self.source[len(SKLEARN_PREFIX) :]
        return None

    def format_from_name(self) -> str:
        """The format, resolved from the source string alone where possible
        (`auto` stays `auto` for directories and unknown extensions)."""
        if self.format != AUTO:
            return self.format
        if self.sklearn_name is not None:
            return SKLEARN
        return format_of_file_name(self.source) or AUTO

    def validate(self) -> None:
        """Checks the configuration without touching any file.

        Raises:
          InputError: naming the parameter (as `column`) and what was expected.
        """
        self._validate_choices()
        self._validate_noise()
        self._validate_partition()
        fmt = self.format_from_name()
        self._validate_source(fmt)
        _check_list(
            self.feature_columns,
            FEATURE_COLUMNS_KEY,
            ("feature column", "columns"),
            fmt in FORMATS_NEEDING_FEATURE_COLUMNS,
            (f"format {fmt!r} needs the feature columns named", "the columns that hold features"),
        )
        _check_list(
            self.classes,
            CLASSES_KEY,
            ("class name", "classes"),
            fmt in FORMATS_NEEDING_CLASSES,
            (
                f"format {fmt!r} needs the classes declared",
                "the list of class names that label values are matched against",
            ),
        )
        if not self.label_column:
            raise InputError(
                "empty label column", parameter=LABEL_COLUMN_KEY, expected="a column name"
            )
        if fmt in (IMAGES, SKLEARN):
            self._validate_fixed_roles(fmt)
        else:
            self._validate_role_columns()

    def _validate_choices(self) -> None:
        """The source is given; format, colour mode and eval fraction are in range."""
        if not isinstance(self.source, str) or not self.source.strip():
            raise InputError(
                "empty source", parameter=SOURCE_KEY, expected="a path or sklearn:<name>"
            )
        if self.format not in FORMATS:
            raise InputError(
                f"unknown format {self.format!r}",
                parameter=FORMAT_KEY,
                expected=f"one of {list(FORMATS)}",
            )
        if self.color_mode not in COLOR_MODES:
            raise InputError(
                f"unknown color mode {self.color_mode!r}",
                parameter=COLOR_MODE_KEY,
                expected=f"one of {list(COLOR_MODES)}",
            )
        check_encoding(self.encoding)
        if not 0.0 < self.eval_fraction < 1.0:
            raise InputError(
                f"eval_fraction {self.eval_fraction} is out of range",
                parameter=EVAL_FRACTION_KEY,
                expected="a fraction strictly between 0 and 1",
            )

    def _validate_source(self, fmt: str) -> None:
        """Format `sklearn` goes exactly with `sklearn:<name>` sources, of a known data set."""
        name = self.sklearn_name
        if (fmt == SKLEARN) != (name is not None):
            raise InputError(
                f"format {fmt!r} does not go with source {self.source!r}",
                parameter=FORMAT_KEY,
                expected=f"format 'sklearn' (or 'auto') exactly for sources '{SKLEARN_PREFIX}<name>'",
            )
        if name is not None and name not in SKLEARN_DATASETS:
            raise InputError(
                f"unknown scikit-learn data set {name!r}",
                parameter=SOURCE_KEY,
                expected=f"one of {[SKLEARN_PREFIX + n for n in SKLEARN_DATASETS]}",
            )

    def _validate_fixed_roles(self, fmt: str) -> None:
        """Image folders and sklearn data sets bring their own label (and, for
        images, their one feature): no role or feature column to choose."""
        given = [
            key for key, value in self.role_columns.items() if key != LABEL_COLUMN_KEY and value
        ]
        if given:
            raise InputError(
                f"format {fmt!r} has no such columns",
                parameter=given[0],
                expected="no weak_label/client_id/example_id/video_id/split column for image "
                "folders and"
                " sklearn data sets",
            )
        if self.label_column != DEFAULT_LABEL_COLUMN:
            raise InputError(
                f"format {fmt!r} has no label column to choose",
                parameter=LABEL_COLUMN_KEY,
                expected=f"the default {DEFAULT_LABEL_COLUMN!r} (labels come from sub-folders / the data set)",
            )
        if fmt == IMAGES and self.feature_columns is not None:
            raise InputError(
                "image folders have one feature 'image'",
                parameter=FEATURE_COLUMNS_KEY,
                expected="feature_columns=None for image folders",
            )

    def _validate_role_columns(self) -> None:
        """Each role (label, weak label, client id, example id, split) has its
        own column, and none of them is also a feature column."""
        roles: dict[str, str] = {}
        for key, column in self.role_columns.items():
            if not column:
                continue
            claim_unique(
                roles,
                column,
                key,
                "column {name!r} given for both {first} and {second}",
                parameter=key,
                expected="a different column for each role",
            )
            if self.feature_columns and column in self.feature_columns:
                raise InputError(
                    f"column {column!r} is both a feature and the {key}",
                    parameter=FEATURE_COLUMNS_KEY,
                    expected="role columns left out of feature_columns",
                )

    def _validate_noise(self) -> None:
        """The label-noise parameters (kind, rate, seed) on their own and together."""
        if self.label_noise not in LABEL_NOISE_KINDS:
            raise InputError(
                f"unknown label noise {self.label_noise!r}",
                parameter=LABEL_NOISE_KEY,
                expected=f"one of {list(LABEL_NOISE_KINDS)}",
            )
        rate = _number(self.noise_rate, NOISE_RATE_KEY, _RATE_EXPECTED)
        if not 0.0 <= rate <= 1.0:  # NaN fails too
            raise InputError(
                f"noise_rate {self.noise_rate} is out of range",
                parameter=NOISE_RATE_KEY,
                expected=_RATE_EXPECTED,
            )
        _integer(self.noise_seed, NOISE_SEED_KEY, _SEED_EXPECTED)
        if not self.noisy and rate > 0.0:
            raise InputError(
                f"noise_rate {self.noise_rate} given with label_noise {NO_NOISE!r}",
                parameter=NOISE_RATE_KEY,
                expected=f"noise_rate 0 without noise, or label_noise one of "
                f"{[SYMMETRIC, ASYMMETRIC]}",
            )
        if self.noisy and self.classes is not None and len(self.classes) < 2:
            raise InputError(
                f"label noise needs at least 2 classes, but classes {list(self.classes)} has one",
                parameter=LABEL_NOISE_KEY,
                expected=f"label_noise {NO_NOISE!r} for single-class data, or two or more classes",
            )

    def _validate_partition(self) -> None:
        """The client-partition parameters (scheme, clients, alpha, seed) on
        their own and together, and against a configured client id column."""
        if self.client_partition not in CLIENT_PARTITIONS:
            raise InputError(
                f"unknown client partition {self.client_partition!r}",
                parameter=CLIENT_PARTITION_KEY,
                expected=f"one of {list(CLIENT_PARTITIONS)}",
            )
        k = check_num_clients_value(self.num_clients)
        check_alpha_value(self.partition_alpha)
        check_seed_value(self.partition_seed)
        if not self.partitioned:
            if k != DEFAULT_NUM_CLIENTS:
                raise InputError(
                    f"num_clients {k} given with client_partition {NO_PARTITION!r}",
                    parameter=NUM_CLIENTS_KEY,
                    expected=f"num_clients 0 (not set) without a partition, or client_partition"
                    f" one of {[IID, DIRICHLET]}",
                )
            return
        if k < 1:
            raise InputError(
                f"client_partition {self.client_partition!r} needs num_clients, got {k}",
                parameter=NUM_CLIENTS_KEY,
                expected=_NUM_CLIENTS_EXPECTED,
            )
        if self.client_id_column:
            raise InputError(
                f"the source already has client ids (client_id_column"
                f" {self.client_id_column!r}); a partition would replace them",
                parameter=CLIENT_PARTITION_KEY,
                expected=f"client_partition {NO_PARTITION!r} to keep the source's clients, or no"
                " client_id_column to draw synthetic clients",
            )


_ENCODING_EXPECTED = "a Python text codec name such as 'utf-8', 'latin-1', 'cp1252' or 'utf-16'"


def check_encoding(encoding: Any) -> None:
    """`encoding` names a text codec that Python knows, else an InputError naming it."""
    try:
        info = codecs.lookup(encoding) if isinstance(encoding, str) else None
    except LookupError:
        info = None
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise InputError(
            f"unknown text encoding {encoding!r}",
            parameter=ENCODING_KEY,
            expected=_ENCODING_EXPECTED,
        )


def _check_list(
    values: tuple[str, ...] | None,
    key: str,
    names: tuple[str, str],
    required: bool,
    missing: tuple[str, str],
) -> None:
    """An optional list parameter: when given, non-empty and without repeats;
    when `required` (by the format), given.

    Args:
      values: the list, or None when not given.
      key: the parameter's name.
      names: (an item, the plural in messages), e.g. ("class name", "classes").
      required: whether the format needs the list.
      missing: (message, expected) of the error when a required list is missing.
    """
    item, plural = names
    if values is not None:
        if not values:
            raise InputError("empty list", parameter=key, expected=f"at least one {item}")
        dup = sorted({v for v in values if values.count(v) > 1})
        if dup:
            raise InputError(
                f"{plural} {dup} given twice", parameter=key, expected=f"distinct {item}s"
            )
    if required and not values:
        raise InputError(missing[0], parameter=key, expected=missing[1])


def claim_unique(
    claimed: dict[str, str], name: str, claimant: str, message: str, **where: Any
) -> None:
    """Records that `claimant` takes `name`, unless another claimant took it first.

    Used where names must not collide: two roles naming one column, two
    columns sanitised to one feature key.

    Args:
      claimed: name -> its first claimant, updated here.
      name: the name taken; claimant: who takes it.
      message: the error's message, formatted with `name`, `first` (the
        earlier claimant) and `second` (`claimant`).
      **where: the error's `column`, `expected` etc. (`InputError`'s keywords).

    Raises:
      InputError: `name` was claimed before.
    """
    if name in claimed:
        raise InputError(message.format(name=name, first=claimed[name], second=claimant), **where)
    claimed[name] = claimant


_EXTENSIONS = (
    (".csv", CSV),
    (".parquet", PARQUET),
    (".pq", PARQUET),
    (".npz", NPZ),
    (".tfrecord", TFRECORD),
    (".tfrecords", TFRECORD),
    (".tfrec", TFRECORD),
    (".tfrecord.gz", TFRECORD),
    (".tfrecords.gz", TFRECORD),
    (".tfrec.gz", TFRECORD),
)


def format_of_file_name(name: str) -> str | None:
    """The format a file (or glob) name implies by its extension, or None."""
    lower = name.lower()
    for ext, fmt in sorted(_EXTENSIONS, key=lambda e: -len(e[0])):
        if lower.endswith(ext):
            return fmt
    return None


def extensions_of(fmt: str) -> tuple[str, ...]:
    """The file extensions that a (file-based) format's files carry, e.g.
    `(".parquet", ".pq")`; empty for `auto`, `images` and `sklearn`."""
    return tuple(ext for ext, f in _EXTENSIONS if f == fmt)
