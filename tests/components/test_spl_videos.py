"""SPL on untrimmed videos: the clip generator (spl.videos) and the temporal student."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from frontier.components.common.errors import InputError
from frontier.components.spl import (
    VideoConfig,
    make_clip_sets,
    make_videos,
    related_classes,
    split_by_video,
    trimmed_clips,
    write_clips_npz,
)
from frontier.components.spl.videos import _shifted

C = 10


def toy_images(per_class: int = 6, size: int = 6, seed: int = 0):
    """[C * per_class, size, size] random images (distinct) with balanced labels."""
    rng = np.random.default_rng(seed)
    images = rng.integers(1, 17, size=(C * per_class, size, size)).astype(np.float32)
    return images, np.repeat(np.arange(C), per_class)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images, d.target


@pytest.mark.parametrize(
    "config",
    [VideoConfig(), VideoConfig(frames=2, segment_frames=5, num_segments=6, off_topic=0.5)],
    ids=["defaults", "short-segments"],
)
def test_clips_straddle_segments_and_mix_actions_at_the_configured_rates(config):
    images, labels = toy_images()
    clips = make_videos(images, labels, num_videos=400, clips_per_video=12, config=config, seed=3)
    n = len(clips)
    # Binomial tolerance (4 sigma; clips of one video are not independent, so generous).
    for measured, expected in (
        (clips.straddles.mean(), config.straddle_rate),
        (clips.mixed.mean(), config.mixed_rate),
    ):
        assert abs(measured - expected) < 4 * np.sqrt(expected * (1 - expected) / n) + 0.01
    # A clip carries two actions only across a boundary; one that crosses none shows one.
    assert not np.any(clips.mixed & ~clips.straddles)
    s, k = config.segment_frames, config.frames
    np.testing.assert_array_equal(clips.straddles, clips.start // s != (clips.start + k - 1) // s)
    # The off-topic share of frames is round(off_topic * n) / n.
    share = config.off_topic_segments / config.num_segments
    assert abs(np.mean(clips.actions != clips.weak[:, None]) - share) < 0.02


def test_a_clip_of_one_frame_never_straddles():
    images, labels = toy_images()
    config = VideoConfig(frames=1)
    clips = make_videos(images, labels, num_videos=20, clips_per_video=10, config=config)
    assert config.straddle_rate == 0.0 and not clips.straddles.any() and not clips.mixed.any()


def test_frames_are_their_source_images_moving_smoothly():
    images, labels = toy_images()
    config = VideoConfig(max_shift=1)
    clips = make_videos(images, labels, num_videos=10, clips_per_video=5, config=config, seed=1)
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    for clip, sources, actions in zip(clips.clips, clips.source, clips.actions, strict=True):
        np.testing.assert_array_equal(labels[sources], actions)
        for frame, source in zip(clip, sources, strict=True):
            assert any(np.array_equal(frame, _shifted(images[source], *o)) for o in offsets)
    # Related actions come from the query's related classes.
    related = related_classes(C, config.num_related, seed=1)
    off = clips.actions != clips.weak[:, None]
    weak = np.broadcast_to(clips.weak[:, None], clips.actions.shape)
    assert all(a in related[w] for a, w in zip(clips.actions[off], weak[off], strict=True))


def test_related_classes_relate_every_class_to_as_many_queries_never_itself():
    related = related_classes(C, 3, seed=7)
    assert related.shape == (C, 3)
    assert not np.any(related == np.arange(C)[:, None])
    np.testing.assert_array_equal(np.bincount(related.ravel(), minlength=C), np.full(C, 3))


def test_the_label_is_the_majority_action_first_frame_on_a_tie():
    images, labels = toy_images()
    clips = make_videos(images, labels, num_videos=100, clips_per_video=8, seed=2)
    for actions, label in zip(clips.actions, clips.label, strict=True):
        values, counts = np.unique(actions, return_counts=True)
        top = values[counts == counts.max()]
        assert label == (actions[0] if len(top) > 1 else top[0])


def test_clip_sets_keep_test_frames_out_of_training_and_are_deterministic(digits):
    images, labels = digits
    kwargs = dict(num_videos=30, clips_per_video=6, test_size=200, target_per_class=5)
    a = make_clip_sets(images, labels, seed=4, **kwargs)
    train_sources = set(a.pool.source.ravel()) | set(a.target.source.ravel())
    assert not set(a.test.source.ravel()) & train_sources
    assert not set(a.target.source.ravel()) & set(a.pool.source.ravel())
    # Trimmed clips: one action, no straddle; weak label is the action.
    for trimmed in (a.target, a.test):
        assert not trimmed.mixed.any() and not trimmed.straddles.any()
        np.testing.assert_array_equal(trimmed.weak, trimmed.label)
    assert np.bincount(a.target.label, minlength=C).tolist() == [5] * C
    # The sweep's pools are nested: the first c clips of every video.
    assert len(a.pool.first(2)) == 60 and set(a.pool.first(2).video_id) == set(a.pool.video_id)
    b = make_clip_sets(images, labels, seed=4, **kwargs)
    for part in ("pool", "target", "test"):
        for field in dataclasses.fields(a.pool):
            np.testing.assert_array_equal(
                getattr(getattr(a, part), field.name), getattr(getattr(b, part), field.name)
            )
    c = make_clip_sets(images, labels, seed=5, **kwargs)
    assert not np.array_equal(a.pool.clips, c.pool.clips)


def test_no_video_is_in_two_splits_and_the_npz_is_what_ingest_reads(tmp_path):
    images, labels = toy_images()
    clips = make_videos(images, labels, num_videos=30, clips_per_video=4, seed=0)
    split = split_by_video(clips.video_id, 0.2, seed=0)
    assert set(split) == {"train", "eval"}
    for video in np.unique(clips.video_id):
        assert len(set(split[clips.video_id == video])) == 1
    assert len(np.unique(clips.video_id[split == "eval"])) == 6
    path = write_clips_npz(str(tmp_path / "pool.npz"), clips, split)
    with np.load(path) as z:
        assert z["clips"].shape == (120, 4 * 6, 6)  # frames stacked: a (k*H, W) image
        np.testing.assert_array_equal(z["clips"].reshape(120, 4, 6, 6), clips.clips)
        np.testing.assert_array_equal(z["weak_label"], clips.weak)
        assert len(set(z["clip_id"])) == 120
        assert all(c.startswith(v + "/") for c, v in zip(z["clip_id"], z["video_id"], strict=True))
    bad = split.copy()
    bad[0] = "eval" if bad[0] == "train" else "train"
    with pytest.raises(InputError, match="parameter 'split'.*has clips in train and eval"):
        write_clips_npz(str(tmp_path / "bad.npz"), clips, bad)
    with pytest.raises(InputError, match="parameter 'split'"):
        write_clips_npz(str(tmp_path / "bad.npz"), clips, "test")
    assert not (tmp_path / "bad.npz").exists()


@pytest.mark.parametrize(
    "change, parameter",
    [
        ({"frames": 0}, "frames"),
        ({"frames": 9}, "frames"),  # longer than a segment of 8
        ({"segment_frames": 0}, "segment_frames"),
        ({"num_segments": 0}, "num_segments"),
        ({"off_topic": 1.0}, "off_topic"),
        ({"off_topic": -0.1}, "off_topic"),
        ({"num_related": 0}, "num_related"),
        ({"num_related": C}, "num_related"),
        ({"max_shift": -1}, "max_shift"),
        ({"max_shift": 6}, "max_shift"),  # the images are 6 x 6
        ({"frames": 2.5}, "frames"),
    ],
)
def test_bad_video_parameters_name_the_parameter(change, parameter):
    images, labels = toy_images()
    config = dataclasses.replace(VideoConfig(), **change)
    with pytest.raises(InputError, match=f"parameter '{parameter}'"):
        make_videos(images, labels, num_videos=2, clips_per_video=1, config=config)


@pytest.mark.parametrize(
    "call, parameter",
    [
        (lambda x, y: make_videos(x, y, num_videos=0, clips_per_video=1), "num_videos"),
        (lambda x, y: make_videos(x, y, num_videos=2, clips_per_video=78), "clips_per_video"),
        (lambda x, y: make_videos(x[:, 0], y, 2, 1), "images"),
        (lambda x, y: make_videos(x, y[:-1], 2, 1), "labels"),
        (lambda x, y: make_videos(x, y, 2, 1, use=np.flatnonzero(y != 3)), "use"),
        (lambda x, y: make_videos(x, y, 2, 1, related=np.zeros((3, 2))), "related"),
        (lambda x, y: trimmed_clips(x, y, clips_per_image=6), "clips_per_image"),
        (lambda x, y: split_by_video(np.array(["a", "b"]), 1.0), "eval_fraction"),
        (lambda x, y: split_by_video(np.array(["a", "a"]), 0.5), "video_id"),
        (
            lambda x, y: make_clip_sets(
                x, y, num_videos=2, clips_per_video=1, test_size=60, target_per_class=1
            ),
            "test_size",
        ),
        (
            lambda x, y: make_clip_sets(
                x, y, num_videos=2, clips_per_video=1, test_size=5, target_per_class=6
            ),
            "target_per_class",
        ),
    ],
)
def test_bad_arguments_name_the_parameter(call, parameter):
    images, labels = toy_images()
    with pytest.raises(InputError, match=f"parameter '{parameter}'"):
        call(images, labels)


# -- the temporal student -------------------------------------------------------------


def clip_spec(frames: int = 4, size: int = 6, num_classes: int = C):
    from frontier.components.trainer import ModelSpec
    from frontier.schemas.dataset import DatasetInfo

    shape = (frames * size, size, 1)
    info = DatasetInfo(
        feature_keys=("clips",),
        feature_dims=(int(np.prod(shape)),),
        class_names=tuple(map(str, range(num_classes))),
        image_shape=shape,
    )
    dim = info.input_dim
    return ModelSpec(info, np.zeros(dim, np.float32), np.ones(dim, np.float32))


def test_temporal_student_maps_clips_to_classes_and_takes_a_new_head():
    from frontier.components.spl import temporal_module
    from frontier.components.trainer.model import with_new_head

    spec = clip_spec()
    model = temporal_module.build_model(spec, {"frames": 4, "conv_filters": [4], "frame_units": 8})
    assert model.input_shape == (None, 4 * 36) and model.output_shape == (None, C)
    assert model.get_layer(temporal_module.HEAD_LAYER).units == C
    tuned = with_new_head(model, 3, head_layer=temporal_module.HEAD_LAYER)
    assert tuned.output_shape == (None, 3)
    assert tuned.get_layer("frame_conv0") is model.get_layer("frame_conv0")  # the body is kept
    # Square frames: `frames` is inferred from the filmstrip's height.
    assert temporal_module.clip_shape(spec, {}) == (4, 6, 6, 1)


def test_without_the_temporal_conv_the_student_ignores_frame_order():
    from frontier.components.spl import temporal_module

    model = temporal_module.build_model(clip_spec(), {"temporal": "pool", "conv_filters": [4]})
    x = np.random.default_rng(0).normal(size=(3, 4, 6, 6)).astype(np.float32)
    reversed_frames = x[:, ::-1]
    np.testing.assert_allclose(
        model.predict(x.reshape(3, -1), verbose=0),
        model.predict(reversed_frames.reshape(3, -1), verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "config, parameter",
    [
        ({"frames": 5}, "frames"),  # 24 rows are not 5 frames
        ({"frames": 0}, "frames"),
        ({"conv_filters": [0]}, "conv_filters"),
        ({"frame_units": "64"}, "frame_units"),
        ({"temporal": "lstm"}, "temporal"),
        ({"temporal_kernel": 0}, "temporal_kernel"),
    ],
)
def test_temporal_student_names_a_bad_config_key(config, parameter):
    from frontier.components.spl import temporal_module

    with pytest.raises(InputError, match=f"parameter '{parameter}'"):
        temporal_module.build_model(clip_spec(), config)


def test_temporal_student_needs_images():
    import dataclasses as dc

    from frontier.components.spl import temporal_module

    spec = clip_spec()
    flat = dc.replace(spec, info=dc.replace(spec.info, image_shape=None))
    with pytest.raises(InputError, match="no image_shape"):
        temporal_module.build_model(flat, {})
