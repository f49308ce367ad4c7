"""The data-set contract that ingestion writes and every later component reads.

An `Examples` artifact written by frontier holds, besides TFRecord splits of
`tf.Example`, one `dataset_info.json` at its root describing the columns and
their roles, so that trainers, KIP, CIW and DP-FTRL need no per-pipeline
configuration of feature names. `DatasetInfo` is that file's content.

Feature encoding in each `tf.Example`, in one of two layouts that
`DatasetInfo.image_encoding` names:
  * the float32 layout (`image_encoding` None, every tabular data set and
    anything written from floats, such as KIP's distilled images): every
    feature key in `feature_keys` is a float32 list of fixed length
    (`feature_dims`, 1 for a tabular column, H*W*C for an image);
  * the compact image layout (`image_encoding` "uint8", written by Ingest for
    image folders and NPZ uint8 image arrays): the one image feature `key`
    is stored as two features, `key/uint8` (`uint8_key`: one bytes value of
    the H*W*C pixels as raw uint8 in row-major HWC order, `image_shape`
    giving the shape) and `key/divisor` (`divisor_key`: one int64, the
    `pixel_divisor` d). A stored pixel k decodes to the float32 value
    float32(k) / float32(d), exactly the value the float32 layout holds:
    Ingest reads image files as uint8 / 255 (d = 255) and NPZ uint8 arrays
    as their integers (d = 1). The divisor travels in every example, so that
    a serving signature decodes any example by itself, whatever data set its
    model was trained on (`examples_io.serving_spec` takes either layout).
    A `dataset_info.json` without the field (every file written before the
    compact layout) describes the float32 layout. On 28x28 images the examples are 3.7x smaller before
    compression (1 byte a pixel instead of 4) and 1.6x on the GZIP TFRecord
    files, GZIP having already squeezed the float32 layout's 256 distinct
    values (`benchmarks/image_bytes.py`). Raw bytes rather than PNG:
    `tf.io.decode_raw` decodes a whole batch in one vectorised op where PNG
    needs one decode per example (3.5x the images per second), and GZIP,
    which the files carry anyway, compresses the raw pixels better than PNG
    did (547 against 627 bytes an image). Every reader decodes through
    `examples_io.features_of`; `DatasetInfo.input_dim` stays the decoded
    float width, so models see float32 [N, input_dim] in either layout;
  * `label` (and `weak_label`, `true_label` when present) is one int64 class id
    in [0, num_classes);
  * `teacher_label` and `spl_label` (written by the SPL component) are one
    int64 class id each; `spl_label` lives in its own label space, whose class
    names `label_spaces["spl_label"]` lists;
  * `client_id` and `example_id`, when present, are one bytes value.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping

DATASET_INFO_FILE = "dataset_info.json"

# Split names that ingestion writes and trainers / evaluators read.
TRAIN_SPLIT = "train"
EVAL_SPLIT = "eval"
SPLIT_NAMES = (TRAIN_SPLIT, EVAL_SPLIT)

# Role keys are fixed names in the written examples, whatever the source called them.
LABEL_KEY = "label"
WEAK_LABEL_KEY = "weak_label"
TRUE_LABEL_KEY = "true_label"
CLIENT_ID_KEY = "client_id"
EXAMPLE_ID_KEY = "example_id"
# The group an example belongs to whose members must stay in one split: a video's clips
# (SPL's pools), a patient's scans; Ingest splits by it.
VIDEO_ID_KEY = "video_id"
TEACHER_LABEL_KEY = "teacher_label"  # a teacher model's prediction (SPL)
SPL_LABEL_KEY = "spl_label"  # a pre-training label in its own label space (SPL)
ROLE_KEYS = (
    LABEL_KEY,
    WEAK_LABEL_KEY,
    TRUE_LABEL_KEY,
    CLIENT_ID_KEY,
    EXAMPLE_ID_KEY,
    VIDEO_ID_KEY,
    TEACHER_LABEL_KEY,
    SPL_LABEL_KEY,
)
INT_ROLE_KEYS = (LABEL_KEY, WEAK_LABEL_KEY, TRUE_LABEL_KEY, TEACHER_LABEL_KEY, SPL_LABEL_KEY)
BYTES_ROLE_KEYS = (CLIENT_ID_KEY, EXAMPLE_ID_KEY, VIDEO_ID_KEY)

# Image storage layouts (`DatasetInfo.image_encoding`); None is the float32 layout.
UINT8_ENCODING = "uint8"
IMAGE_ENCODINGS = (UINT8_ENCODING,)
MAX_UINT8 = 255


def uint8_key(feature_key: str) -> str:
    """The bytes feature that holds image feature `feature_key` in the compact layout."""
    return f"{feature_key}/uint8"


def divisor_key(feature_key: str) -> str:
    """The int64 feature that holds the pixel divisor of `feature_key` in the compact layout."""
    return f"{feature_key}/divisor"


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Columns, roles and sizes of a frontier `Examples` artifact.

    Attributes:
      feature_keys: names of the float features, in model-input order.
      feature_dims: length of each feature (same order); the model input is
        their concatenation, of length `input_dim`.
      class_names: the declared classes; class id i is `class_names[i]`.
      image_shape: (height, width, channels) when the concatenated features are
        an image in row-major HWC order, else None.
      role_keys: which role columns the examples carry (subset of ROLE_KEYS;
        always includes `label` and `example_id`).
      split_counts: number of examples per split name.
      class_counts: per split, the number of examples of each class id.
      source: a human-readable description of where the data came from.
      label_spaces: class names of int role columns whose classes are not
        `class_names` (e.g. `spl_label`); see `classes_of`.
      image_encoding: how the image is stored (module docstring): None for
        the float32 layout, "uint8" for the compact one, which needs
        `image_shape` and exactly one feature key.
      pixel_divisor: with "uint8", the integer d >= 1 that stored pixels are
        divided by (255 for image files, 1 for integer arrays); else None.
    """

    feature_keys: tuple[str, ...]
    feature_dims: tuple[int, ...]
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int] | None = None
    role_keys: tuple[str, ...] = (LABEL_KEY, EXAMPLE_ID_KEY)
    split_counts: Mapping[str, int] = dataclasses.field(default_factory=dict)
    class_counts: Mapping[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    source: str = ""
    label_spaces: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    image_encoding: str | None = None
    pixel_divisor: int | None = None

    def __post_init__(self) -> None:
        if len(self.feature_keys) != len(self.feature_dims):
            raise ValueError(
                f"DatasetInfo: {len(self.feature_keys)} feature_keys but "
                f"{len(self.feature_dims)} feature_dims"
            )
        clash = set(self.feature_keys) & set(ROLE_KEYS)
        if clash:
            raise ValueError(f"DatasetInfo: feature names {sorted(clash)} are reserved role keys")
        if self.image_shape is not None:
            h, w, c = self.image_shape
            if h * w * c != self.input_dim:
                raise ValueError(
                    f"DatasetInfo: image_shape {self.image_shape} has {h * w * c} values "
                    f"but the features have {self.input_dim}"
                )
        for key in self.role_keys:
            if key not in ROLE_KEYS:
                raise ValueError(
                    f"DatasetInfo: unknown role key {key!r}; expected one of {ROLE_KEYS}"
                )
        self._check_encoding()

    def _check_encoding(self) -> None:
        if self.image_encoding is None:
            if self.pixel_divisor is not None:
                raise ValueError("DatasetInfo: pixel_divisor is only for image_encoding 'uint8'")
            return
        if self.image_encoding not in IMAGE_ENCODINGS:
            raise ValueError(
                f"DatasetInfo: unknown image_encoding {self.image_encoding!r}; "
                f"expected None or one of {IMAGE_ENCODINGS}"
            )
        if self.image_shape is None or len(self.feature_keys) != 1:
            raise ValueError(
                f"DatasetInfo: image_encoding {self.image_encoding!r} needs image_shape and "
                f"one feature key (got {self.image_shape} and {list(self.feature_keys)})"
            )
        divisor = self.pixel_divisor
        if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < 1:
            raise ValueError(
                f"DatasetInfo: image_encoding {self.image_encoding!r} needs an integer "
                f"pixel_divisor >= 1, got {divisor!r}"
            )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_dim(self) -> int:
        return int(sum(self.feature_dims))

    def has(self, role_key: str) -> bool:
        return role_key in self.role_keys

    def classes_of(self, label_key: str) -> tuple[str, ...]:
        """The class names of int role column `label_key` (ids index them)."""
        return tuple(self.label_spaces.get(label_key, self.class_names))

    def for_label(self, label_key: str) -> DatasetInfo:
        """This info as seen by a model trained on `label_key`: its class names
        become `class_names` (what the model's outputs mean); counts are dropped
        since they count `label`."""
        if label_key not in self.label_spaces:
            return self
        return dataclasses.replace(
            self,
            class_names=self.classes_of(label_key),
            class_counts={},
            label_spaces={k: v for k, v in self.label_spaces.items() if k != label_key},
        )

    @property
    def compact(self) -> bool:
        """Whether the image is stored in the compact uint8 layout."""
        return self.image_encoding is not None

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        if self.image_encoding is None:  # the float32 layout's file is as it always was
            del d["image_encoding"], d["pixel_divisor"]
        return json.dumps(d, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DatasetInfo:
        d = json.loads(text)
        return cls(
            feature_keys=tuple(d["feature_keys"]),
            feature_dims=tuple(int(x) for x in d["feature_dims"]),
            class_names=tuple(d["class_names"]),
            image_shape=tuple(d["image_shape"]) if d.get("image_shape") else None,
            role_keys=tuple(d["role_keys"]),
            split_counts={k: int(v) for k, v in d.get("split_counts", {}).items()},
            class_counts={
                k: tuple(int(c) for c in v) for k, v in d.get("class_counts", {}).items()
            },
            source=d.get("source", ""),
            label_spaces={k: tuple(v) for k, v in d.get("label_spaces", {}).items()},
            image_encoding=d.get("image_encoding"),
            pixel_divisor=int(d["pixel_divisor"]) if d.get("pixel_divisor") is not None else None,
        )

    def write(self, examples_uri: str) -> None:
        """Writes `dataset_info.json` at the root of an Examples artifact."""
        import tensorflow as tf  # gfile, so that gs:// URIs work as well

        tf.io.gfile.makedirs(examples_uri)
        with tf.io.gfile.GFile(os.path.join(examples_uri, DATASET_INFO_FILE), "w") as f:
            f.write(self.to_json())

    @classmethod
    def read(cls, examples_uri: str) -> DatasetInfo:
        """Reads `dataset_info.json`; a clear error if the artifact has none."""
        import tensorflow as tf

        path = os.path.join(examples_uri, DATASET_INFO_FILE)
        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(
                f"{path} not found: these Examples were not written by frontier's Ingest "
                "(or an equivalent writer); frontier components need its dataset_info.json"
            )
        with tf.io.gfile.GFile(path) as f:
            return cls.from_json(f.read())
