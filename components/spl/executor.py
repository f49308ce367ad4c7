"""Executor of `SplLabeler`: teacher inference in Beam, label space, relabelled pool."""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import Mapping
from typing import Any

import apache_beam as beam
import numpy as np
import tensorflow as tf
from absl import logging
from tfx.components.example_gen import write_split
from tfx.types import artifact_utils

from frontier.components.common.errors import InputError, raise_unwrapped
from frontier.components.common.examples_io import (
    check_label_column,
    remove_split_outputs,
    set_examples_properties,
    split_files,
    split_uri,
)
from frontier.components.common.executor import BeamComponentExecutor, Job, set_properties
from frontier.components.common.html import write_report
from frontier.components.common.record_batches import (
    ReadRecordBatches,
    RecordBatch,
    WriteRecordBatches,
    append_int_features,
)
from frontier.components.spl import spec
from frontier.components.spl.inference import SCORED_COLUMNS, Scored, TeacherLabels
from frontier.components.spl.labels import (
    DROPPED,
    SplLabelMap,
    build_label_map,
    check_min_count,
    check_strategy,
)
from frontier.components.spl.report import spl_page
from frontier.components.trainer.export import model_info, serving_dir
from frontier.schemas.artifacts import SPL_LABEL_MAP_FILE
from frontier.schemas.dataset import (
    LABEL_KEY,
    ROLE_KEYS,
    SPL_LABEL_KEY,
    TEACHER_LABEL_KEY,
    TRAIN_SPLIT,
    WEAK_LABEL_KEY,
    DatasetInfo,
)

OWNER = "SplLabeler"
RELABEL_COLUMNS = (WEAK_LABEL_KEY, TEACHER_LABEL_KEY, LABEL_KEY)  # read from scored records
_CONFUSION_FILE = "confusion.json"
_COUNTS_FILE = "counts.json"


def check_parameters(strategy: str, min_count: int, batch_size: int) -> None:
    """Raises `InputError` naming the first invalid parameter."""
    check_strategy(strategy)
    check_min_count(min_count)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(
            f"batch_size = {batch_size!r}", parameter="batch_size", expected="an integer >= 1"
        )


def check_teacher(info: DatasetInfo, teacher: DatasetInfo, teacher_uri: str) -> None:
    """The teacher must read the pool's features and predict the weak label space."""
    if teacher.class_names != info.class_names:
        raise InputError(
            f"the teacher predicts {teacher.num_classes} classes {list(teacher.class_names)}, "
            f"but the weak labels have {info.num_classes} classes {list(info.class_names)}",
            file=teacher_uri,
            parameter="teacher",
            expected="a teacher trained on the weak label space (same class names, same order)",
        )
    ours = dict(zip(info.feature_keys, info.feature_dims, strict=True))
    for key, dim in zip(teacher.feature_keys, teacher.feature_dims, strict=True):
        if ours.get(key) != dim:
            raise InputError(
                f"the teacher reads feature {key!r} of length {dim}, "
                f"which the pool has as {ours.get(key)}",
                file=teacher_uri,
                column=key,
                expected=f"the pool's features {ours}",
            )


def _relabel_batch(batch: RecordBatch, lookup: np.ndarray, replace: bool) -> tuple[Any, np.ndarray]:
    """(relabelled kept records, a string tensor; their labels int64 [kept]) of
    one batch of scored examples (ones with `teacher_label`, read with
    `RELABEL_COLUMNS`): `spl_label` = lookup[weak, teacher]; examples whose
    class is `DROPPED` are left out."""
    columns = batch.columns
    spl = lookup[columns[WEAK_LABEL_KEY], columns[TEACHER_LABEL_KEY]]
    kept = spl != DROPPED
    records = append_int_features(
        tf.boolean_mask(batch.records, kept), {SPL_LABEL_KEY: spl[kept]}, replace
    )
    return records, columns[LABEL_KEY][kept]


def _confusion_of(batch: Scored, num_classes: int) -> np.ndarray:
    """The (weak, teacher) counts of one scored batch, int64 [C, C]."""
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (batch.weak, batch.teacher), 1)
    return confusion


def _label_counts(labels: np.ndarray, split: str) -> list[tuple[tuple[str, int], int]]:
    values, counts = np.unique(labels, return_counts=True)
    return [((split, int(v)), int(n)) for v, n in zip(values, counts, strict=True)]


def _write_label_map(uri: str, label_map: SplLabelMap) -> None:
    """`label_map.json` in the label map artifact's folder."""
    tf.io.gfile.makedirs(uri)
    with tf.io.gfile.GFile(os.path.join(uri, SPL_LABEL_MAP_FILE), "w") as f:
        f.write(label_map.to_json())


def _properties(label_map: SplLabelMap, agreement: float) -> dict[str, Any]:
    """The custom properties both outputs carry."""
    return {
        spec.STRATEGY_PROPERTY: label_map.strategy,
        spec.NUM_CLASSES_PROPERTY: label_map.num_classes,
        spec.DROPPED_PROPERTY: label_map.dropped,
        spec.AGREEMENT_PROPERTY: agreement,
    }


def _check_inputs(pool: Any, teacher: Any, info: DatasetInfo) -> list[str]:
    """Checks the pool and the teacher before Beam starts; returns the pool's splits.

    Raises:
      InputError: no `weak_label`, an empty pool, a teacher of another label
        space or other features, a split with no files.
    """
    check_label_column(info, WEAK_LABEL_KEY, pool.uri)
    if info.split_counts.get(TRAIN_SPLIT, 0) == 0:
        raise InputError(
            "the weakly-labeled pool is empty",
            file=split_uri(pool.uri, TRAIN_SPLIT),
            expected="at least one example in the train split",
        )
    check_teacher(info, model_info(teacher.uri), teacher.uri)
    splits = list(artifact_utils.decode_split_names(pool.split_names))
    for split in splits:
        split_files(pool.uri, split)  # a clear error for a split with no files
    return splits


class Executor(BeamComponentExecutor):
    """Relabels a weakly-labeled pool for pre-training (SPL and its baselines).

    Inputs:
      examples: frontier `Examples`, the pool: a `weak_label` column in the
        data's label space and a non-empty `train` split; every split is
        relabelled, the confusion matrix (hence the label space) comes from
        `train` only.
      teacher: frontier `Model` trained on the clean target set; it must read
        the pool's features and predict the pool's classes (same names).

    Outputs:
      relabeled_examples: `Examples`: every split of the pool, each kept
        example with all its columns plus int64 `teacher_label` (the
        teacher's argmax class) and `spl_label` (the pre-training class);
        `agreement` drops examples whose teacher class differs from the weak
        label. `dataset_info.json` gains both role keys, the SPL class names
        under `label_spaces["spl_label"]` (so a Trainer with
        `label_key="spl_label"` sizes its head from them), and fresh counts.
        Custom properties `strategy`, `num_classes`, `dropped`,
        `teacher_agreement`.
      label_map: `SplLabelMap`: `label_map.json` (see the artifact type).
      visualization: `HtmlReport`: confusion matrix heat map, class sizes
        and the mapping table.

    Parameters:
      strategy: `weak`, `teacher`, `agreement`, `spl` or `spl_b` (see
        `labels` for the label spaces).
      min_count: `spl` / `spl_b`: cells with fewer train examples merge into
        their row's disagreement class.
      batch_size: largest batch of examples per teacher call in RunInference.
      component_version: code version (cache key only; not read).

    Teacher inference, the confusion matrix and relabelling run as two Beam
    pipelines (`beam_pipeline_args` choose the runner, e.g. Dataflow; on one
    machine, `--direct_num_workers=0 --direct_running_mode=multi_threading`
    reads a file per core and shares one teacher, whose calls release the
    GIL), and memory does not grow with the pool: the first scores every
    split once and writes the scored records (the pool plus `teacher_label`,
    uncompressed) to the component's temporary folder, and the train split's
    confusion matrix (a combine); the second reads them back and relabels
    them with the label map built from the matrix. The temporary folder
    needs about the pool's uncompressed size on disk. Bad inputs (no
    `weak_label`, an empty pool, a teacher of another label space or other
    features) fail before Beam starts; an error inside a pipeline, or a
    label space left with fewer than two classes, removes the partial
    outputs.
    """

    SPEC_CLASS = spec.SplLabelerSpec

    def run(self, job: Job) -> None:
        p = job.params
        strategy, min_count = p[spec.STRATEGY_KEY], p[spec.MIN_COUNT_KEY]
        check_parameters(strategy, min_count, p[spec.BATCH_SIZE_KEY])
        pool, teacher = job.input(spec.EXAMPLES_KEY), job.input(spec.TEACHER_KEY)
        out = job.output(spec.RELABELED_EXAMPLES_KEY)
        info = DatasetInfo.read(pool.uri)
        splits = _check_inputs(pool, teacher, info)
        confusion, counts = self._relabel(pool.uri, teacher.uri, out.uri, splits, info, p)
        # The same deterministic function the pipeline used on the same matrix.
        label_map = build_label_map(confusion, strategy, min_count, info.class_names)
        out_info = self._relabelled_info(info, label_map, splits, counts)
        out_info.write(out.uri)
        set_examples_properties(out, splits)
        map_artifact = job.output(spec.LABEL_MAP_KEY)
        _write_label_map(map_artifact.uri, label_map)
        agreement = float(np.trace(confusion) / confusion.sum())
        for artifact in (out, map_artifact):
            set_properties(artifact, _properties(label_map, agreement))
        logging.info(
            "%s: %s label space of %d classes from %d pool examples (teacher agrees on %.3f, "
            "%d dropped)",
            OWNER,
            strategy,
            label_map.num_classes,
            int(confusion.sum()),
            agreement,
            label_map.dropped,
        )
        write_report(
            job.output(spec.VISUALIZATION_KEY),
            f"{OWNER}: {strategy}, {label_map.num_classes} classes",
            spl_page(label_map, out_info, subtitle=f"pool: {info.source or pool.uri}"),
        )

    # -- pieces ------------------------------------------------------------------

    def _relabel(
        self,
        pool_uri: str,
        teacher_uri: str,
        out_uri: str,
        splits: list[str],
        info: DatasetInfo,
        p: Mapping[str, Any],
    ) -> tuple[np.ndarray, list]:
        """Runs the Beam pipeline; returns (the confusion matrix int64 [C, C], the
        (split, spl label, count) triples). A failure removes the partial splits."""
        tmp = self._tmp_dir(out_uri)
        try:
            self._run_pipeline(
                pool_uri,
                serving_dir(teacher_uri),
                out_uri,
                splits,
                info,
                p[spec.STRATEGY_KEY],
                p[spec.MIN_COUNT_KEY],
                p[spec.BATCH_SIZE_KEY],
                tmp,
            )
            confusion = np.asarray(self._read_json(os.path.join(tmp, _CONFUSION_FILE)), np.int64)
            return confusion, self._read_json(os.path.join(tmp, _COUNTS_FILE))
        except Exception as e:
            remove_split_outputs(out_uri, splits)
            raise_unwrapped(e)
        finally:
            if tf.io.gfile.exists(tmp):
                tf.io.gfile.rmtree(tmp)

    def _run_pipeline(
        self,
        pool_uri: str,
        teacher_dir: str,
        out_uri: str,
        splits: list[str],
        info: DatasetInfo,
        strategy: str,
        min_count: int,
        batch_size: int,
        tmp: str,
    ) -> None:
        """Two Beam passes, so that memory does not grow with the pool.

        Pass 1 scores every split once (the teacher), writes the scored
        records (each with `teacher_label`) to `tmp` and the train split's
        confusion matrix (a combine). Pass 2 reads them back and relabels
        with the label map built from the matrix. One pipeline with the map
        as a side input would make a local runner (the DirectRunner) hold
        the whole scored pool in memory until the matrix is done: the stage
        that consumes the side input cannot start before it; writing the
        scored pool to files is what a distributed runner's shuffle does.
        """
        num_classes = info.num_classes
        scored_dirs = {split: os.path.join(tmp, "scored", split) for split in splits}
        # A pool that already holds these columns (relabelled before) has them replaced.
        replace = bool({TEACHER_LABEL_KEY, SPL_LABEL_KEY} & set(info.role_keys))
        # pylint: disable=expression-not-assigned, no-value-for-parameter
        with self._make_beam_pipeline() as p:
            for split in splits:
                scored = (
                    p
                    | f"Read[{split}]"
                    >> ReadRecordBatches(
                        split_files(pool_uri, split), batch_size, int_columns=SCORED_COLUMNS
                    )
                    | f"Teacher[{split}]"
                    >> TeacherLabels(
                        teacher_dir,
                        f"{self._node_id() or OWNER} teacher on {split}",
                        info.split_counts.get(split),
                    )
                )
                (
                    scored
                    | f"WithTeacher[{split}]"
                    >> beam.Map(
                        lambda s: append_int_features(
                            s.records, {TEACHER_LABEL_KEY: s.teacher}, replace
                        )
                    )
                    | f"WriteScored[{split}]"
                    >> WriteRecordBatches(
                        os.path.join(scored_dirs[split], "scored"), compressed=False
                    )
                )
                if split == TRAIN_SPLIT:
                    (
                        scored
                        | "Confusion" >> beam.Map(_confusion_of, num_classes)
                        | "SumConfusion" >> beam.CombineGlobally(sum)
                        | "ConfusionJson" >> beam.Map(lambda c: json.dumps(c.tolist()))
                        | "WriteConfusion"
                        >> beam.io.WriteToText(
                            os.path.join(tmp, _CONFUSION_FILE), shard_name_template=""
                        )
                    )
        confusion = np.asarray(self._read_json(os.path.join(tmp, _CONFUSION_FILE)), np.int64)
        label_map = build_label_map(confusion, strategy, min_count, info.class_names)
        with self._make_beam_pipeline() as p:
            counts = []
            for split in splits:
                kept = (
                    p
                    | f"ReadScored[{split}]"
                    >> ReadRecordBatches(
                        sorted(tf.io.gfile.glob(os.path.join(scored_dirs[split], "*"))),
                        batch_size,
                        compressed=False,
                        int_columns=RELABEL_COLUMNS,
                    )
                    | f"Relabel[{split}]" >> beam.Map(_relabel_batch, label_map.lookup, replace)
                )
                (
                    kept
                    | f"Records[{split}]" >> beam.Map(lambda r: r[0])
                    # Not TFX's `WriteSplit`: its Reshuffle makes a local runner
                    # hold the whole split in memory.
                    | f"WriteSplit[{split}]"
                    >> WriteRecordBatches(
                        os.path.join(split_uri(out_uri, split), write_split.DEFAULT_FILE_NAME),
                        file_name_suffix=".gz",
                    )
                )
                # Counted per split, so that only the (split, label) sums reach the Flatten.
                counts.append(
                    kept
                    | f"SplitLabel[{split}]"
                    >> beam.FlatMap(lambda r, s: _label_counts(r[1], s), split)
                    | f"Count[{split}]" >> beam.CombinePerKey(sum)
                )
            (
                counts
                | "AllCounts" >> beam.Flatten()
                | "CountList" >> beam.combiners.ToList()
                | "CountJson"
                >> beam.Map(lambda kv: json.dumps(sorted([s, int(c), int(n)] for (s, c), n in kv)))
                | "WriteCounts"
                >> beam.io.WriteToText(os.path.join(tmp, _COUNTS_FILE), shard_name_template="")
            )

    @staticmethod
    def _relabelled_info(
        info: DatasetInfo, label_map: SplLabelMap, splits: list[str], counts: list
    ) -> DatasetInfo:
        split_counts = dict.fromkeys(splits, 0)
        class_counts = {s: [0] * info.num_classes for s in splits}
        for split, label, n in counts:
            split_counts[split] += n
            class_counts[split][label] += n
        present = set(info.role_keys) | {TEACHER_LABEL_KEY, SPL_LABEL_KEY}
        return dataclasses.replace(
            info,
            role_keys=tuple(k for k in ROLE_KEYS if k in present),
            split_counts=split_counts,
            class_counts={s: tuple(v) for s, v in class_counts.items()},
            label_spaces={**info.label_spaces, SPL_LABEL_KEY: label_map.names},
            source=f"{info.source or 'pool'}, relabelled for pre-training ({label_map.strategy})",
        )

    def _tmp_dir(self, out_uri: str) -> str:
        name = f".spl-tmp-{uuid.uuid4().hex}"
        if self._context is not None:
            return os.path.join(self._get_tmp_dir(), name)
        return os.path.join(out_uri, name)  # removed before returning

    @staticmethod
    def _read_json(path: str) -> Any:
        with tf.io.gfile.GFile(path) as f:
            return json.loads(f.read())
