"""SPL pseudo-labeling: Sub-Pseudo Labels from weak labels and a teacher.

Plain functions on NumPy arrays (no TFX import):

    from frontier.components.spl import relabel
    spl_labels, label_map = relabel(weak, teacher_predictions, strategy="spl", min_count=5)
    # train on spl_labels (label_map.num_classes classes), then fine-tune on
    # the target set under a new head: trainer.model.with_new_head

`confusion_matrix` and `build_label_map` are the two halves of `relabel`;
`SplLabelMap` is the label space (JSON round trip); `make_bags` draws a
weakly-labeled pool of bags (the SPL pipeline's and benchmark's synthetic data).
`spl.videos` makes untrimmed videos of real labelled images and clips of
them (`make_clip_sets`: a weakly-labeled pool of clips, some straddling two
actions, and trimmed target and test clips; `write_clips_npz` for Ingest);
`spl.temporal_module` is a temporal student for such clips, a model module
of the Trainer's contract (`Trainer(module_path=TEMPORAL_MODULE, ...)`).
The Beam pieces (teacher
inference through RunInference) live in `frontier.components.spl.inference`,
and the `SplLabeler` component is imported lazily.
"""

from frontier.components.common.lazy import lazy_exports
from frontier.components.spl.bags import DEFAULT_BAG_SIZE, DEFAULT_NUM_RELATED, BagPool, make_bags
from frontier.components.spl.labels import (
    AGREEMENT,
    DEFAULT_MIN_COUNT,
    DEFAULT_STRATEGY,
    DROPPED,
    SPL,
    SPL_B,
    STRATEGIES,
    TEACHER,
    WEAK,
    SplClass,
    SplLabelMap,
    build_label_map,
    confusion_matrix,
    relabel,
)
from frontier.components.spl.videos import (
    ClipSets,
    VideoClips,
    VideoConfig,
    concat_clips,
    filmstrip,
    make_clip_sets,
    make_videos,
    related_classes,
    split_by_video,
    split_images,
    trimmed_clips,
    write_clips_npz,
)

# The temporal student's module path (for Trainer(module_path=...)).
TEMPORAL_MODULE = "frontier.components.spl.temporal_module"

__all__ = [
    "AGREEMENT",
    "DEFAULT_BAG_SIZE",
    "DEFAULT_MIN_COUNT",
    "DEFAULT_NUM_RELATED",
    "DEFAULT_STRATEGY",
    "DROPPED",
    "SPL",
    "SPL_B",
    "STRATEGIES",
    "TEACHER",
    "TEMPORAL_MODULE",
    "WEAK",
    "BagPool",
    "ClipSets",
    "SplClass",
    "SplLabelMap",
    "SplLabeler",
    "VideoClips",
    "VideoConfig",
    "build_label_map",
    "concat_clips",
    "confusion_matrix",
    "filmstrip",
    "make_bags",
    "make_clip_sets",
    "make_videos",
    "related_classes",
    "relabel",
    "split_by_video",
    "split_images",
    "trimmed_clips",
    "write_clips_npz",
]

# The component needs TFX (seconds to import); the plain functions do not.
__getattr__ = lazy_exports(__name__, {"SplLabeler": "frontier.components.spl.component"})
