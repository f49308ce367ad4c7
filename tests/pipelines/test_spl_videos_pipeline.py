"""SPL on clips of untrimmed videos in a LocalDagRunner pipeline: Ingest writes the
clips, the temporal student is the teacher (Trainer with a model module),
SplLabeler relabels the pool with it, and the student is pre-trained on the
SPL labels and fine-tuned on the target clips under a fresh head."""

from __future__ import annotations

import os

import numpy as np

DIGITS = [str(i) for i in range(10)]
# A small student: the pipeline's plumbing is under test, not its accuracy.
STUDENT = {"frames": 4, "conv_filters": [4], "frame_units": 8, "temporal_filters": 8}


def write_sources(data_dir: str) -> dict:
    """target.npz (target clips in train, test clips in eval) and pool.npz
    (untrimmed-video clips, split by video) from a few digits."""
    from sklearn.datasets import load_digits

    from frontier.components.spl import (
        concat_clips,
        make_clip_sets,
        split_by_video,
        write_clips_npz,
    )

    digits = load_digits()
    sets = make_clip_sets(
        digits.images,
        digits.target,
        num_videos=20,
        clips_per_video=4,
        test_size=40,
        target_per_class=3,
        seed=0,
    )
    target = concat_clips([sets.target, sets.test])
    split = np.where(np.arange(len(target)) < len(sets.target), "train", "eval")
    return {
        "target": write_clips_npz(os.path.join(data_dir, "target.npz"), target, split),
        "pool": write_clips_npz(
            os.path.join(data_dir, "pool.npz"),
            sets.pool,
            split_by_video(sets.pool.video_id, 0.25, seed=0),
        ),
    }


def test_temporal_student_through_spl_labeler_and_trainer(tmp_path):
    from frontier.components.common.examples_io import load_split
    from frontier.components.ingest import Ingest
    from frontier.components.spl import TEMPORAL_MODULE, SplLabeler, temporal_module
    from frontier.components.trainer import Trainer
    from frontier.components.trainer.export import load_keras_model
    from frontier.pipelines import runner, runs
    from frontier.schemas.dataset import DatasetInfo

    root = str(tmp_path)
    paths = write_sources(str(tmp_path / "data"))
    clips = dict(feature_columns=["clips"], classes=DIGITS, example_id_column="clip_id")
    target = Ingest(source=paths["target"], split_column="split", **clips).with_id("Target")
    pool = Ingest(
        source=paths["pool"],
        split_column="split",
        weak_label_column="weak_label",
        video_id_column="video_id",
        **clips,
    ).with_id("Pool")
    student = dict(
        module_path=TEMPORAL_MODULE, custom_config=STUDENT, batch_size=32, learning_rate=0.01
    )
    teacher = Trainer(examples=target.outputs["examples"], epochs=3, **student).with_id("Teacher")
    labeler = SplLabeler(
        examples=pool.outputs["examples"], teacher=teacher.outputs["model"], min_count=1
    )
    pretrain = Trainer(
        examples=labeler.outputs["relabeled_examples"], label_key="spl_label", epochs=1, **student
    ).with_id("Pretrain")
    finetune = Trainer(
        examples=target.outputs["examples"],
        base_model=pretrain.outputs["model"],
        epochs=1,
        **student,
    ).with_id("Student")
    nodes = [target, pool, teacher, labeler, pretrain, finetune]
    runner.run_pipeline(runner.make_pipeline("spl-videos", nodes, root, enable_cache=False))

    run = runs.latest_run(root, "spl-videos")
    states = {n.node_id: n.state for n in run.components}
    assert states == dict.fromkeys(
        ["Target", "Pool", "Teacher", "SplLabeler", "Pretrain", "Student"], "COMPLETE"
    )
    uri = {n.node_id: {a.key: a.uri for a in n.outputs} for n in run.components}

    # Ingest wrote each clip as a (frames * 8) x 8 image, and no video is in two splits.
    info = DatasetInfo.read(uri["Pool"]["examples"])
    assert info.image_shape == (32, 8, 1) and "weak_label" in info.role_keys
    videos = {}
    for split in ("train", "eval"):
        arrays = load_split(uri["Pool"]["examples"], split, info)
        videos[split] = {v.decode() for v in arrays["video_id"]}
        assert all(  # the clip id's prefix is its video
            c.decode().split("/")[0] == v.decode()
            for c, v in zip(arrays["example_id"], arrays["video_id"], strict=True)
        )
    assert videos["train"] and videos["eval"] and not videos["train"] & videos["eval"]

    # The labeler's label space came from the temporal teacher; the student
    # kept the pre-trained body under a fresh 10-class head.
    relabeled = DatasetInfo.read(uri["SplLabeler"]["relabeled_examples"])
    spl_classes = len(relabeled.label_spaces["spl_label"])
    pretrained = load_keras_model(uri["Pretrain"]["model"])
    tuned = load_keras_model(uri["Student"]["model"])
    assert pretrained.get_layer(temporal_module.HEAD_LAYER).units == spl_classes
    assert tuned.get_layer(temporal_module.HEAD_LAYER).units == 10
    assert tuned.get_layer("temporal_conv") is not None
