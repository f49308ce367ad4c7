"""Untrimmed "web videos" made of real labelled frames: SPL's setting on offline data.

Li et al. (AAAI 2022) pre-train on clips of untrimmed web videos found by a
query `w`: most of such a video shows `w`, but parts show related actions
(a "baking cookies" video also shows whisking eggs), and a clip that crosses
from one part to the next carries both. This module builds that setting
from any labelled images (arrays; the benchmark uses scikit-learn's digits),
with NumPy only, every random choice seeded.

A video (`make_videos`) has a query class `w` and a timeline of
`num_segments` segments of `segment_frames` frames each (a "shot"). A share
`off_topic` of the segments (rounded, at random places in the timeline) shows
one of `w`'s `num_related` related classes (each drawn at random from them),
the others show `w`. The relation is seeded (`related_classes`: class `q` is
related to `q + s mod C` for a fixed set of shifts `s`, so every class is
related to the same number of queries, as in `spl.bags`); pass your own
`related` to use another. A segment of action `t` is one real image of class
`t` moving smoothly: frame `j` of the segment is the image shifted by an
integer offset that goes linearly (rounded) from a random start to a random
end offset, each axis in [-max_shift, max_shift] pixels, the uncovered border
filled with zeros. A clip is `frames` consecutive frames at a random start
(distinct starts within a video, drawn in order: the first `c` clips of each
video are the pool at `c` clips per video, so a sweep over clips per video
uses the same videos). A clip that crosses a segment boundary *straddles* it;
when the two segments show different actions the clip is *mixed* and carries
both. With uniform starts and `frames <= segment_frames` the expected rates
are exact functions of the configuration (`VideoConfig.straddle_rate`,
`VideoConfig.mixed_rate`).

Trimmed clips (`trimmed_clips`) are single-segment videos of one action,
clipped the same way: the clean target set and the test set. `split_images`
keeps test, target and pool images disjoint, so test clips share no source
frame with anything trained on. `write_clips_npz` writes clips for
`Ingest(source=..., feature_columns=["clips"], weak_label_column="weak_label",
example_id_column="clip_id", video_id_column="video_id", split_column="split")`:
a clip of `frames`
frames of H x W (x C) is stored as one image of (frames * H) x W (x C), the
frames stacked top to bottom (a filmstrip; the same values in the same order
as [frames, H, W, C]), which Ingest reads as an image; Ingest writes the video
as `video_id` (and, without a split column, splits whole videos), and it is
also the `clip_id`'s prefix (`video-00042/clip-003`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from frontier.components.common.checks import check_int, is_real
from frontier.components.common.errors import InputError

DEFAULT_FRAMES = 4
DEFAULT_SEGMENT_FRAMES = 8
DEFAULT_NUM_SEGMENTS = 10
DEFAULT_OFF_TOPIC = 0.3
DEFAULT_NUM_RELATED = 2
DEFAULT_MAX_SHIFT = 1
CLIPS_ARRAY = "clips"  # the NPZ array of filmstrips (Ingest's feature column)
CLIP_ID_ARRAY = "clip_id"  # unique per clip: `<video_id>/clip-<index>` (example_id_column)
SPLIT_ARRAY = "split"  # `train` / `eval`, whole videos (split_column)


@dataclasses.dataclass(frozen=True)
class VideoConfig:
    """The shape of the untrimmed videos and their clips.

    Attributes:
      frames: k, frames per clip (1 <= k <= segment_frames: a clip carries
        at most two actions).
      segment_frames: S, frames per segment (one shot of one action).
      num_segments: n, segments per video; a video has n * S frames.
      off_topic: share of a video's segments that show a related action,
        in [0, 1); round(off_topic * n) segments do.
      num_related: R, the related classes of each query, in [1, C - 1].
      max_shift: largest offset in pixels (each axis) of a frame's motion,
        >= 0 and below the image's height and width.
    """

    frames: int = DEFAULT_FRAMES
    segment_frames: int = DEFAULT_SEGMENT_FRAMES
    num_segments: int = DEFAULT_NUM_SEGMENTS
    off_topic: float = DEFAULT_OFF_TOPIC
    num_related: int = DEFAULT_NUM_RELATED
    max_shift: int = DEFAULT_MAX_SHIFT

    @property
    def video_frames(self) -> int:
        """Frames of one video, n * S."""
        return self.num_segments * self.segment_frames

    @property
    def off_topic_segments(self) -> int:
        """m, the segments of a video that show a related action."""
        return int(round(self.off_topic * self.num_segments))

    @property
    def starts(self) -> int:
        """Distinct clip starts in a video, n * S - k + 1."""
        return self.video_frames - self.frames + 1

    @property
    def straddle_rate(self) -> float:
        """Expected share of clips that cross a segment boundary:
        (n - 1)(k - 1) / (n S - k + 1) (uniform starts, k <= S)."""
        return (self.num_segments - 1) * (self.frames - 1) / self.starts

    @property
    def mixed_rate(self) -> float:
        """Expected share of clips whose frames show two actions: the expected
        number of boundaries between different actions, [2 m (n - m) +
        m (m - 1)(1 - 1/R)] / n, times (k - 1) / (n S - k + 1)."""
        n, m, r = self.num_segments, self.off_topic_segments, self.num_related
        changes = (2 * m * (n - m) + m * (m - 1) * (1 - 1 / r)) / n
        return changes * (self.frames - 1) / self.starts

    def check(self, num_classes: int | None = None, image_hw: Sequence[int] | None = None) -> None:
        """Raises `InputError` naming the first parameter out of range.

        Args:
          num_classes: C, to check `num_related` against (skipped when None).
          image_hw: (H, W) of the images, to check `max_shift` (skipped when None).
        """
        check_int(self.segment_frames, "segment_frames", 1)
        check_int(self.num_segments, "num_segments", 1)
        check_int(self.frames, "frames", 1)
        if self.frames > self.segment_frames:
            raise InputError(
                f"frames = {self.frames} with segment_frames = {self.segment_frames}",
                parameter="frames",
                expected="at most segment_frames (a clip carries at most two actions)",
            )
        if not is_real(self.off_topic) or not 0.0 <= self.off_topic < 1.0:
            raise InputError(
                f"off_topic = {self.off_topic!r}",
                parameter="off_topic",
                expected="a share in [0, 1)",
            )
        check_int(self.num_related, "num_related", 1)
        if num_classes is not None and self.num_related > num_classes - 1:
            raise InputError(
                f"num_related = {self.num_related} with {num_classes} classes",
                parameter="num_related",
                expected=f"in [1, {num_classes - 1}]",
            )
        check_int(self.max_shift, "max_shift", 0)
        if image_hw is not None and self.max_shift >= min(image_hw):
            raise InputError(
                f"max_shift = {self.max_shift} for images of {tuple(image_hw)}",
                parameter="max_shift",
                expected=f"below the image's height and width ({min(image_hw)})",
            )


@dataclasses.dataclass(frozen=True)
class VideoClips:
    """Clips with their labels and where they come from; N clips of k frames.

    Attributes:
      clips: [N, k, H, W] or [N, k, H, W, C], the images' dtype.
      label: int64 [N], the clip's action: the action of most of its frames
        (on a tie, the first frame's).
      actions: int64 [N, k], the action of each frame.
      weak: int64 [N], the weak label: the video's query (a trimmed clip's
        action).
      video_id: str [N], the video each clip was cut from.
      clip_index: int64 [N], the order in which the clip was drawn from its
        video (0-based): clips with `clip_index < c` form the pool at c
        clips per video.
      start: int64 [N], the clip's first frame in its video.
      straddles: bool [N], whether the clip crosses a segment boundary.
      source: int64 [N, k], the row of `images` each frame was made from.
    """

    clips: np.ndarray
    label: np.ndarray
    actions: np.ndarray
    weak: np.ndarray
    video_id: np.ndarray
    clip_index: np.ndarray
    start: np.ndarray
    straddles: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return len(self.label)

    @property
    def mixed(self) -> np.ndarray:
        """bool [N]: the clip's frames show two actions."""
        return np.any(self.actions != self.actions[:, :1], axis=1)

    @property
    def flat(self) -> np.ndarray:
        """float32 [N, k * H * W * C]: the model's input (frames in order, HWC)."""
        return self.clips.reshape(len(self), -1).astype(np.float32)

    def select(self, index: np.ndarray) -> VideoClips:
        """The clips at `index` (a bool mask [N] or integer rows)."""
        return VideoClips(
            **{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)}
        )

    def first(self, clips_per_video: int) -> VideoClips:
        """The pool at `clips_per_video`: each video's first clips drawn."""
        return self.select(self.clip_index < clips_per_video)


def concat_clips(parts: Sequence[VideoClips]) -> VideoClips:
    """The clips of `parts` in order (their video ids should differ)."""
    return VideoClips(
        **{
            f.name: np.concatenate([getattr(p, f.name) for p in parts])
            for f in dataclasses.fields(VideoClips)
        }
    )


class ClipSets(NamedTuple):
    """The three sets of one SPL experiment (`make_clip_sets`).

    Attributes:
      pool: clips of untrimmed videos, weakly labelled by their query.
      target: trimmed clean clips (teacher training and fine-tuning).
      test: trimmed clips of held-out images (scoring only).
      related: int64 [C, R], each query's related classes.
      config: the `VideoConfig` they were made with.
    """

    pool: VideoClips
    target: VideoClips
    test: VideoClips
    related: np.ndarray
    config: VideoConfig


def related_classes(num_classes: int, num_related: int, seed: int = 0) -> np.ndarray:
    """int64 [C, R]: query q's related classes (q + s) mod C for R distinct
    seeded shifts s in [1, C - 1], so every class is related to R queries and
    never to itself.

    Raises:
      InputError: num_related outside [1, C - 1].
    """
    check_int(num_related, "num_related", 1)
    if num_related > num_classes - 1:
        raise InputError(
            f"num_related = {num_related} with {num_classes} classes",
            parameter="num_related",
            expected=f"in [1, {num_classes - 1}]",
        )
    rng = np.random.default_rng([seed, 1])
    shifts = rng.choice(np.arange(1, num_classes), size=num_related, replace=False)
    return ((np.arange(num_classes)[:, None] + shifts[None, :]) % num_classes).astype(np.int64)


def _check_images(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim not in (3, 4) or len(images) == 0:
        raise InputError(
            f"images of shape {images.shape}",
            parameter="images",
            expected="a non-empty array [M, H, W] or [M, H, W, C]",
        )
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(
            f"labels of shape {labels.shape} and dtype {labels.dtype} for {len(images)} images",
            parameter="labels",
            expected="one integer class id per image, shape [M]",
        )
    if labels.min() < 0:
        raise InputError(
            f"class id {int(labels.min())}", parameter="labels", expected="class ids >= 0"
        )
    return images, labels.astype(np.int64)


def _members(
    labels: np.ndarray, use: np.ndarray | None, classes: np.ndarray, parameter: str
) -> list[np.ndarray]:
    """Per class, the rows of `use` (default all rows) of that class; each must be non-empty."""
    rows = np.arange(len(labels)) if use is None else np.asarray(use, np.int64)
    members = [rows[labels[rows] == c] for c in range(len(classes))]
    empty = [c for c in classes if len(members[c]) == 0]
    if empty:
        raise InputError(
            f"no image of class {int(empty[0])} to draw from",
            parameter=parameter,
            expected="at least one image of every class",
        )
    return members


def _shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """`image` [H, W, ...] moved by (dy, dx) pixels, the uncovered border zero."""
    out = np.zeros_like(image)
    h, w = image.shape[:2]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = image[ys, xs]
    return out


def _segment(image: np.ndarray, length: int, max_shift: int, rng: np.random.Generator):
    """[length, H, W, ...]: `image` moving linearly from a random offset to another."""
    a, b = rng.integers(-max_shift, max_shift + 1, size=(2, 2))
    steps = np.arange(length) / max(length - 1, 1)
    offsets = np.rint(a[None, :] + (b - a)[None, :] * steps[:, None]).astype(int)
    return np.stack([_shifted(image, int(dy), int(dx)) for dy, dx in offsets])


def _label_of(actions: np.ndarray) -> np.ndarray:
    """int64 [N]: per row of actions [N, k], the most frequent (ties: the first frame's)."""
    first = actions[:, :1]
    n_first = np.sum(actions == first, axis=1)
    # With at most two actions per clip the other one is the last frame's when they differ.
    last = actions[:, -1]
    n_last = np.sum(actions == last[:, None], axis=1)
    return np.where(n_last > n_first, last, first[:, 0]).astype(np.int64)


def make_videos(
    images: np.ndarray,
    labels: np.ndarray,
    num_videos: int,
    clips_per_video: int,
    config: VideoConfig = VideoConfig(),
    *,
    use: np.ndarray | None = None,
    related: np.ndarray | None = None,
    num_classes: int | None = None,
    seed: int = 0,
    id_prefix: str = "video-",
) -> VideoClips:
    """Clips of `num_videos` untrimmed videos made of real images (module docstring).

    Video v's query is class v mod C (queries balanced), in a seeded order.

    Args:
      images: [M, H, W] or [M, H, W, C] labelled images (any dtype; frames
        keep it).
      labels: int [M] their classes in [0, C).
      num_videos: V >= 1.
      clips_per_video: clips drawn from each video, in [1, n S - k + 1].
      config: the videos' shape (`VideoConfig`).
      use: rows of `images` the frames may come from (default all), e.g.
        `split_images(...)["pool"]`; every class needs one.
      related: int [C, R] each query's related classes (default
        `related_classes(C, config.num_related, seed)`).
      num_classes: C (default max label + 1).
      seed: seed of every random choice.
      id_prefix: video ids are `<id_prefix><v:05d>`.

    Returns:
      `VideoClips`, V * clips_per_video clips, video by video.

    Raises:
      InputError: naming the parameter out of range.
    """
    images, labels = _check_images(images, labels)
    c = int(num_classes if num_classes is not None else labels.max() + 1)
    config.check(c, images.shape[1:3])
    check_int(num_videos, "num_videos", 1)
    check_int(clips_per_video, "clips_per_video", 1)
    if clips_per_video > config.starts:
        raise InputError(
            f"clips_per_video = {clips_per_video} but a video of {config.video_frames} frames "
            f"has {config.starts} clips of {config.frames} frames",
            parameter="clips_per_video",
            expected=f"in [1, {config.starts}]",
        )
    if related is None:
        related = related_classes(c, config.num_related, seed)
    related = np.asarray(related, np.int64)
    if related.ndim != 2 or len(related) != c or related.min() < 0 or related.max() >= c:
        raise InputError(
            f"related of shape {related.shape}",
            parameter="related",
            expected=f"int class ids in [0, {c}), shape [{c}, R]",
        )
    members = _members(labels, use, np.arange(c), "use")
    rng = np.random.default_rng([seed, 2])
    queries = rng.permutation(np.arange(num_videos) % c)
    n, s, k, m = (
        config.num_segments,
        config.segment_frames,
        config.frames,
        config.off_topic_segments,
    )
    parts: dict[str, list] = {name: [] for name in ("clips", "actions", "start", "source")}
    for w in queries:
        segment_action = np.full(n, w, np.int64)
        off = rng.choice(n, size=m, replace=False)
        segment_action[off] = rng.choice(related[w], size=m)
        sources = np.array([rng.choice(members[a]) for a in segment_action])
        video = np.concatenate(
            [_segment(images[i], s, config.max_shift, rng) for i in sources]
        )  # [n S, H, W, ...]
        starts = rng.choice(config.starts, size=clips_per_video, replace=False)
        frame_index = starts[:, None] + np.arange(k)[None, :]  # [clips, k]
        parts["clips"].append(video[frame_index])
        parts["actions"].append(segment_action[frame_index // s])
        parts["source"].append(sources[frame_index // s])
        parts["start"].append(starts)
    actions = np.concatenate(parts["actions"])
    start = np.concatenate(parts["start"]).astype(np.int64)
    width = max(5, len(str(num_videos - 1)))
    video_ids = np.array([f"{id_prefix}{v:0{width}d}" for v in range(num_videos)])
    return VideoClips(
        clips=np.concatenate(parts["clips"]),
        label=_label_of(actions),
        actions=actions,
        weak=np.repeat(queries, clips_per_video).astype(np.int64),
        video_id=np.repeat(video_ids, clips_per_video),
        clip_index=np.tile(np.arange(clips_per_video, dtype=np.int64), num_videos),
        start=start,
        straddles=start // s != (start + k - 1) // s,
        source=np.concatenate(parts["source"]).astype(np.int64),
    )


def trimmed_clips(
    images: np.ndarray,
    labels: np.ndarray,
    config: VideoConfig = VideoConfig(),
    *,
    use: np.ndarray | None = None,
    clips_per_image: int = 1,
    seed: int = 0,
    id_prefix: str = "trimmed-",
) -> VideoClips:
    """Clean clips of single actions: each image of `use` (default all) is a
    one-segment video of `config.segment_frames` frames (the same motion as
    a segment of `make_videos`), cut into `clips_per_image` clips of
    `config.frames` frames; weak label = label = the image's class.

    Raises:
      InputError: naming the parameter out of range.
    """
    images, labels = _check_images(images, labels)
    config.check(None, images.shape[1:3])
    check_int(clips_per_image, "clips_per_image", 1)
    s, k = config.segment_frames, config.frames
    if clips_per_image > s - k + 1:
        raise InputError(
            f"clips_per_image = {clips_per_image} but a segment has {s - k + 1} clips",
            parameter="clips_per_image",
            expected=f"in [1, {s - k + 1}]",
        )
    rows = np.arange(len(labels)) if use is None else np.asarray(use, np.int64)
    if len(rows) == 0:
        raise InputError("no images to cut clips from", parameter="use", expected="some rows")
    rng = np.random.default_rng([seed, 3])
    clips, starts = [], []
    for i in rows:
        segment = _segment(images[i], s, config.max_shift, rng)
        start = rng.choice(s - k + 1, size=clips_per_image, replace=False)
        clips.append(segment[start[:, None] + np.arange(k)[None, :]])
        starts.append(start)
    label = np.repeat(labels[rows], clips_per_image)
    width = max(5, len(str(len(rows) - 1)))
    video_ids = np.array([f"{id_prefix}{v:0{width}d}" for v in range(len(rows))])
    return VideoClips(
        clips=np.concatenate(clips),
        label=label,
        actions=np.repeat(label[:, None], k, axis=1),
        weak=label.copy(),
        video_id=np.repeat(video_ids, clips_per_image),
        clip_index=np.tile(np.arange(clips_per_image, dtype=np.int64), len(rows)),
        start=np.concatenate(starts).astype(np.int64),
        straddles=np.zeros(len(label), bool),
        source=np.repeat(np.repeat(rows, clips_per_image)[:, None], k, axis=1).astype(np.int64),
    )


def split_images(
    labels: np.ndarray, test_size: int, target_per_class: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """Disjoint rows {"test", "target", "pool"} of a labelled image set.

    `test_size` rows at random are the test images, then `target_per_class`
    of each class among the rest the target images; the pool is the rest.

    Raises:
      InputError: sizes out of range, or a class without enough images.
    """
    labels = np.asarray(labels, np.int64)
    check_int(test_size, "test_size", 1)
    check_int(target_per_class, "target_per_class", 1)
    if test_size >= len(labels):
        raise InputError(
            f"test_size = {test_size} of {len(labels)} images",
            parameter="test_size",
            expected="fewer than the images",
        )
    order = np.random.default_rng([seed, 4]).permutation(len(labels))
    test, rest = order[:test_size], order[test_size:]
    target = []
    for c in range(int(labels.max()) + 1):
        rows = rest[labels[rest] == c]
        if len(rows) < target_per_class + 1:
            raise InputError(
                f"class {c} has {len(rows)} images outside the test set",
                parameter="target_per_class",
                expected=f"fewer than {len(rows)} (the pool needs one image of each class)",
            )
        target.append(rows[:target_per_class])
    target = np.concatenate(target)
    return {"test": np.sort(test), "target": np.sort(target), "pool": np.setdiff1d(rest, target)}


def make_clip_sets(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    num_videos: int,
    clips_per_video: int,
    test_size: int,
    target_per_class: int,
    config: VideoConfig = VideoConfig(),
    seed: int = 0,
) -> ClipSets:
    """Pool, target and test clips of one experiment, from disjoint images
    (`split_images`): the pool from `make_videos`, target and test from
    `trimmed_clips` (one clip per image). Deterministic in `seed`."""
    images, labels = _check_images(images, labels)
    c = int(labels.max()) + 1
    rows = split_images(labels, test_size, target_per_class, seed)
    related = related_classes(c, config.num_related, seed)
    pool = make_videos(
        images,
        labels,
        num_videos,
        clips_per_video,
        config,
        use=rows["pool"],
        related=related,
        num_classes=c,
        seed=seed,
    )
    target = trimmed_clips(
        images, labels, config, use=rows["target"], seed=seed, id_prefix="target-"
    )
    test = trimmed_clips(images, labels, config, use=rows["test"], seed=seed + 1, id_prefix="test-")
    return ClipSets(pool, target, test, related, config)


def split_by_video(video_id: np.ndarray, eval_fraction: float, seed: int = 0) -> np.ndarray:
    """str [N] `train` / `eval` per clip: round(eval_fraction * videos) whole
    videos (at least one, and at least one left for train) go to `eval`.

    Raises:
      InputError: eval_fraction outside (0, 1), or fewer than two videos.
    """
    if not is_real(eval_fraction) or not 0.0 < eval_fraction < 1.0:
        raise InputError(
            f"eval_fraction = {eval_fraction!r}",
            parameter="eval_fraction",
            expected="a share strictly between 0 and 1",
        )
    videos = np.unique(video_id)
    if len(videos) < 2:
        raise InputError(
            f"{len(videos)} video(s)", parameter="video_id", expected="at least two videos to split"
        )
    n_eval = min(max(int(round(eval_fraction * len(videos))), 1), len(videos) - 1)
    held = np.random.default_rng([seed, 5]).choice(videos, size=n_eval, replace=False)
    return np.where(np.isin(video_id, held), "eval", "train")


def filmstrip(clips: np.ndarray) -> np.ndarray:
    """[N, k, H, W(, C)] -> [N, k * H, W(, C)]: the frames stacked top to bottom
    (the same values in the same order)."""
    n, k, h = clips.shape[:3]
    return clips.reshape(n, k * h, *clips.shape[3:])


def write_clips_npz(path: str, clips: VideoClips, split: np.ndarray | str) -> str:
    """Writes clips as an NPZ that `Ingest` reads (module docstring); returns `path`.

    Arrays: `clips` [N, k * H, W(, C)] (filmstrips, the images' dtype),
    `label`, `weak_label` int64 [N], `video_id`, `clip_id`, `split` str [N],
    and for analysis (not read by Ingest unless named) `frame_actions` int64
    [N, k], `straddles` bool [N]. Written to a temporary file and renamed, so
    a killed write leaves no half-written source.

    Args:
      path: the `.npz` file to write (its folder is made).
      clips: the clips.
      split: `train` / `eval` per clip (str [N], whole videos, e.g.
        `split_by_video`), or one split name for all.

    Raises:
      InputError: a split name other than train / eval, a split array of
        another length, or a video in two splits.
    """
    split = np.asarray(split).astype(str)
    if split.ndim == 0:
        split = np.full(len(clips), str(split))
    if split.shape != (len(clips),):
        raise InputError(
            f"{split.shape} split names for {len(clips)} clips",
            parameter="split",
            expected="one split name per clip, or one for all",
        )
    bad = sorted(set(split.tolist()) - {"train", "eval"})
    if bad:
        raise InputError(f"split name {bad[0]!r}", parameter="split", expected="train or eval")
    pairs = np.unique(np.stack([clips.video_id, split], axis=1), axis=0)
    videos, counts = np.unique(pairs[:, 0], return_counts=True)
    if np.any(counts > 1):
        raise InputError(
            f"video {videos[counts > 1][0]!r} has clips in train and eval",
            parameter="split",
            expected="every clip of a video in the same split",
        )
    clip_ids = np.char.add(
        np.char.add(clips.video_id.astype(str), "/clip-"),
        np.char.zfill(clips.clip_index.astype(str), 3),
    )
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez(
        tmp,
        **{
            CLIPS_ARRAY: filmstrip(clips.clips),
            "label": clips.label,
            "weak_label": clips.weak,
            "video_id": clips.video_id.astype(str),
            CLIP_ID_ARRAY: clip_ids,
            SPLIT_ARRAY: split,
            "frame_actions": clips.actions,
            "straddles": clips.straddles,
        },
    )
    os.replace(tmp, path)
    return path
