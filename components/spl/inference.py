"""Teacher inference and relabelling as Beam transforms (runs on Dataflow as is).

The teacher runs through Apache Beam's `RunInference` (batching, one model
per worker process, metrics), with `SavedModelHandler` as its TensorFlow model
handler. We wrote that handler (a few lines) because neither stock one loads
frontier's SavedModels in this stack: Beam's `TFModelHandlerNumpy/Tensor`
import `tensorflow_hub`, which fails on TensorFlow 2.16 (it needs the removed
`tf.compat.v1.estimator`), and tfx_bsl's handler loads the SavedModel into a
TF1 session, which cannot restore the variables of a Keras 3 model ("Could
not find variable probabilities/kernel"). Ours loads it with TF2's
`tf.saved_model.load` and calls the `serving_default` signature (serialized
`tf.Example` -> `probabilities`), the same contract the stock Evaluator uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference

from frontier.components.common import progress
from frontier.components.trainer.export import INPUT_NAME, PROBABILITIES, SIGNATURE
from frontier.schemas.dataset import LABEL_KEY, SPL_LABEL_KEY, TEACHER_LABEL_KEY, WEAK_LABEL_KEY

DEFAULT_BATCH_SIZE = 256  # examples per teacher call (the upper bound Beam batches to)


class SavedModelHandler(ModelHandler[bytes, PredictionResult, Any]):
    """RunInference handler: serialized `tf.Example` -> class probabilities.

    Args:
      saved_model_dir: a SavedModel with frontier's serving contract (a
        `serving_default` signature from string `examples` [N] to
        `probabilities` float32 [N, C]), e.g. `serving_dir(model.uri)`.
      max_batch_size: largest batch Beam hands to one call.
      progress_desc: what the worker's progress (`common.progress`, in
        examples) is shown as; `progress_total` the examples it expects
        (None: unknown).
    """

    def __init__(
        self,
        saved_model_dir: str,
        max_batch_size: int = DEFAULT_BATCH_SIZE,
        progress_desc: str = "teacher",
        progress_total: int | None = None,
    ) -> None:
        self._dir = saved_model_dir
        self._max_batch_size = int(max_batch_size)
        self._progress_desc, self._progress_total = progress_desc, progress_total
        self._progress = None

    def load_model(self) -> Any:
        import tensorflow as tf

        # Made on the worker (the handler is pickled to it before this runs).
        self._progress = progress.Progress(self._progress_desc, self._progress_total, "example")
        return tf.saved_model.load(self._dir).signatures[SIGNATURE]

    def run_inference(
        self,
        batch: Sequence[bytes],
        model: Any,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[PredictionResult]:
        import tensorflow as tf

        probabilities = model(**{INPUT_NAME: tf.constant(list(batch))})[PROBABILITIES].numpy()
        if self._progress is not None:
            self._progress.update(len(batch))
        return [PredictionResult(x, p) for x, p in zip(batch, probabilities, strict=True)]

    def get_num_bytes(self, batch: Sequence[bytes]) -> int:
        return sum(len(x) for x in batch)

    def batch_elements_kwargs(self) -> dict[str, int]:
        return {"min_batch_size": 1, "max_batch_size": self._max_batch_size}

    def get_metrics_namespace(self) -> str:
        return "frontier_spl_teacher"


def _int_feature(example, key: str) -> int:
    return int(example.features.feature[key].int64_list.value[0])


def weak_and_teacher(result: PredictionResult) -> tuple[bytes, int, int, int]:
    """(serialized example, weak label, teacher class, label) of one prediction."""
    import tensorflow as tf

    example = tf.train.Example.FromString(result.example)
    weak, label = _int_feature(example, WEAK_LABEL_KEY), _int_feature(example, LABEL_KEY)
    return result.example, weak, int(np.argmax(result.inference)), label


@beam.ptransform_fn
def TeacherLabels(  # noqa: N802 - Beam's PTransform naming
    serialized: beam.PCollection,
    saved_model_dir: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress_desc: str = "teacher",
    progress_total: int | None = None,
) -> beam.PCollection:
    """serialized `tf.Example`s -> (serialized, weak label, teacher class, label);
    progress shown per worker as `SavedModelHandler` says."""
    handler = SavedModelHandler(saved_model_dir, batch_size, progress_desc, progress_total)
    return (
        serialized
        | "RunInference" >> RunInference(handler)
        | "WeakAndTeacher" >> beam.Map(weak_and_teacher)
    )


def with_labels(serialized: bytes, teacher: int, spl: int) -> bytes:
    """The example with int64 `teacher_label` and `spl_label` added (others kept)."""
    import tensorflow as tf

    example = tf.train.Example.FromString(serialized)
    example.features.feature[TEACHER_LABEL_KEY].int64_list.value[:] = [int(teacher)]
    example.features.feature[SPL_LABEL_KEY].int64_list.value[:] = [int(spl)]
    # Deterministic: the same pool and teacher give the same bytes (ARCHITECTURE.md rule 6).
    return example.SerializeToString(deterministic=True)


def with_teacher(serialized: bytes, teacher: int) -> bytes:
    """The example with int64 `teacher_label` added (others kept)."""
    import tensorflow as tf

    example = tf.train.Example.FromString(serialized)
    example.features.feature[TEACHER_LABEL_KEY].int64_list.value[:] = [int(teacher)]
    return example.SerializeToString(deterministic=True)
