"""Scores of a classifier's probabilities, shared by the trainers (no TFX import)."""

from __future__ import annotations

import numpy as np

# Probabilities are floored here before the log, as Keras' cross-entropy on
# probabilities clips them (so TFMA's SparseCategoricalCrossentropy of a served
# model and these scores agree) and as CIW's training objective does.
PROB_FLOOR = 1e-7


def cross_entropy_and_accuracy(
    probabilities: np.ndarray, labels: np.ndarray
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of float [N, C] `probabilities` against int [N] labels.

    The true class's probability is floored at `PROB_FLOOR`, so one confidently
    wrong example adds at most -log(1e-7) ~ 16.1 to the sum.
    """
    p = probabilities[np.arange(len(labels)), labels]
    loss = float(-np.mean(np.log(np.clip(p, PROB_FLOOR, 1.0))))
    return loss, float(np.mean(np.argmax(probabilities, axis=1) == labels))
