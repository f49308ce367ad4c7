"""Teacher inference as a Beam transform (runs on Dataflow as is).

The teacher runs through Apache Beam's `RunInference` (one model per worker
process, metrics), with `SavedModelHandler` as its TensorFlow model
handler. We wrote that handler (a few lines) because neither stock one loads
frontier's SavedModels in this stack: Beam's `TFModelHandlerNumpy/Tensor`
import `tensorflow_hub`, which fails on TensorFlow 2.16 (it needs the removed
`tf.compat.v1.estimator`), and tfx_bsl's handler loads the SavedModel into a
TF1 session, which cannot restore the variables of a Keras 3 model ("Could
not find variable probabilities/kernel"). Ours loads it with TF2's
`tf.saved_model.load` and calls the `serving_default` signature (serialized
`tf.Example` -> `probabilities`), the same contract the stock Evaluator uses.
The weak label and the label are parsed by the reader (in `tf.data`'s
threads, ahead of the teacher), not here.

Its elements are batches of serialized examples, not examples: Beam's
per-element costs (tens of microseconds per example through a read,
`RunInference` and a parse on the DirectRunner) were ten times a small
teacher's own cost per example (`benchmarks/spl_labeler.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference

from frontier.components.common import progress
from frontier.components.common.record_batches import RecordBatch
from frontier.components.trainer.export import INPUT_NAME, PROBABILITIES, SIGNATURE
from frontier.schemas.dataset import LABEL_KEY, WEAK_LABEL_KEY

SCORED_COLUMNS = (WEAK_LABEL_KEY, LABEL_KEY)  # int columns read beside each batch


class SavedModelHandler(ModelHandler[RecordBatch, PredictionResult, Any]):
    """RunInference handler over batches: a `RecordBatch` of serialized
    `tf.Example`s [B] -> class probabilities float32 [B, C].

    Each element is already a batch (`record_batches.ReadRecordBatches`), so
    Beam's per-element costs are paid once per batch, and RunInference's own
    batching (`BatchElements`, about half a millisecond per element) is
    skipped: the handler gets one element per call.

    Args:
      saved_model_dir: a SavedModel with frontier's serving contract (a
        `serving_default` signature from string `examples` [N] to
        `probabilities` float32 [N, C]), e.g. `serving_dir(model.uri)`.
      progress_desc: what the worker's progress (`common.progress`, in
        examples) is shown as; `progress_total` the examples it expects
        (None: unknown).
    """

    def __init__(
        self,
        saved_model_dir: str,
        progress_desc: str = "teacher",
        progress_total: int | None = None,
    ) -> None:
        self._dir = saved_model_dir
        self._progress_desc, self._progress_total = progress_desc, progress_total
        self._progress = None

    def load_model(self) -> Any:
        import tensorflow as tf

        # Made on the worker (the handler is pickled to it before this runs).
        self._progress = progress.Progress(self._progress_desc, self._progress_total, "example")
        return tf.saved_model.load(self._dir)  # the object owns the signature's variables

    def run_inference(
        self,
        batch: RecordBatch,
        model: Any,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[PredictionResult]:
        probabilities = model.signatures[SIGNATURE](**{INPUT_NAME: batch.records})
        if self._progress is not None:
            self._progress.update(int(batch.records.shape[0]))
        return [PredictionResult(batch, probabilities[PROBABILITIES].numpy())]

    def get_num_bytes(self, batch: RecordBatch) -> int:
        return batch.num_bytes  # counted by the reader, off the pipeline's thread

    def should_skip_batching(self) -> bool:
        return True  # each element is a batch already

    def get_metrics_namespace(self) -> str:
        return "frontier_spl_teacher"


class Scored(NamedTuple):
    """One scored batch: serialized examples (string tensor [B]) and their
    int64 [B] weak label, teacher class (argmax) and label."""

    records: Any
    weak: np.ndarray
    teacher: np.ndarray
    label: np.ndarray


def scored_batch(result: PredictionResult) -> Scored:
    """The `Scored` batch of one batch's prediction."""
    batch = result.example
    teacher = np.argmax(result.inference, axis=-1).astype(np.int64)
    return Scored(batch.records, batch.columns[WEAK_LABEL_KEY], teacher, batch.columns[LABEL_KEY])


@beam.ptransform_fn
def TeacherLabels(  # noqa: N802 - Beam's PTransform naming
    batches: beam.PCollection,
    saved_model_dir: str,
    progress_desc: str = "teacher",
    progress_total: int | None = None,
) -> beam.PCollection:
    """`RecordBatch`es of serialized `tf.Example`s read with `SCORED_COLUMNS`
    (`ReadRecordBatches(..., int_columns=SCORED_COLUMNS)`) -> `Scored`
    batches; progress shown per worker as `SavedModelHandler` says."""
    handler = SavedModelHandler(saved_model_dir, progress_desc, progress_total)
    return batches | "RunInference" >> RunInference(handler) | "Scored" >> beam.Map(scored_batch)
