"""The data-set contract that ingestion writes and every later component reads.

An `Examples` artifact written by frontier holds, besides TFRecord splits of
`tf.Example`, one `dataset_info.json` at its root describing the columns and
their roles, so that trainers, KIP, CIW and DP-FTRL need no per-pipeline
configuration of feature names. `DatasetInfo` is that file's content.

Feature encoding in each `tf.Example`:
  * every feature key in `feature_keys` is a float32 list of fixed length
    (`feature_dims`, 1 for a tabular column, H*W*C for an image);
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
TEACHER_LABEL_KEY = "teacher_label"  # a teacher model's prediction (SPL)
SPL_LABEL_KEY = "spl_label"  # a pre-training label in its own label space (SPL)
ROLE_KEYS = (
    LABEL_KEY,
    WEAK_LABEL_KEY,
    TRUE_LABEL_KEY,
    CLIENT_ID_KEY,
    EXAMPLE_ID_KEY,
    TEACHER_LABEL_KEY,
    SPL_LABEL_KEY,
)
INT_ROLE_KEYS = (LABEL_KEY, WEAK_LABEL_KEY, TRUE_LABEL_KEY, TEACHER_LABEL_KEY, SPL_LABEL_KEY)
BYTES_ROLE_KEYS = (CLIENT_ID_KEY, EXAMPLE_ID_KEY)


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

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
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
