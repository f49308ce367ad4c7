"""The kernel-ridge predictor of a distilled support set, as arrays and as a SavedModel.

A support set (x_s, y_s) is a classifier by kernel ridge regression:
scores(x) = K(x, x_s) alpha with alpha = (K_ss + reg * tr(K_ss) / n_s * I)^-1 y_s
(`distill.krr_weights`). `KrrModel` holds what that needs; `krr_predict`
evaluates it with JAX, `export_krr_model` writes it as a SavedModel whose
kernel is the same JAX function converted by `jax2tf` (native
serialization), so the two agree to float32 round-off.

Layout of the `Model` artifact that `KipDistill` writes:

    <model uri>/
      Format-Serving/            SERVING_DIR: the SavedModel that stock Evaluator,
        saved_model.pb           Pusher and frontier's EvaluationReport use
        variables/ ...           (support, alpha and the preprocessing's mean,
                                 std and ZCA whitening are variables)
        dataset_info.json        the source data's DatasetInfo: the model takes
                                 the raw features, preprocessing them itself
      krr/model.npz              KRR_ARRAYS: support [n_s, D] (preprocessed),
                                 alpha [n_s, C], y [n_s, C], and the
                                 preprocessing: `input_mean` [D], `input_std`
                                 [D], `zca_whitening` [D, D] (if used)
      krr/config.json            KRR_CONFIG: kernel spec, image_shape, reg,
                                 `standardization` (per_channel / per_feature / none)

The served model applies the support's `preprocess.Preprocessing` to the raw
features first, with the same float64 operations as `Preprocessing.apply`:
(x - input_mean) / input_std, then (with ZCA) per-example standardisation
and whitening; then the kernel against the (preprocessed) support.

Serving contract: the Trainer's (`frontier.components.trainer.export`),
signature `serving_default`:
  input  `examples`: string [N], serialized `tf.Example`s carrying the float
         feature keys of `dataset_info.json` (other keys are ignored), or for
         image data the compact uint8 layout (`examples_io.serving_spec`);
  output `scores`: float32 [N, C], the raw KRR outputs, on the scale of the
         centred one-hot targets (1 - 1/C for the class, -1/C elsewhere);
         `probabilities`: float32 [N, C], `scores_to_probabilities(scores)`;
         `classes`: int64 [N], the arg-max of `scores`.
A second signature `serving_features` takes the concatenated raw input
`x` float32 [N, D] and returns the same outputs.

KRR outputs are regression scores, not probabilities. `probabilities` maps
them to a distribution honestly and simply: shifted by 1/C onto the one-hot
scale (where the targets are 1 and 0 and each row of scores sums to 1 when
the support labels' rows sum to 0, as centred one-hot and Label Solve labels
do), clipped at 0, plus `PROBABILITY_EPSILON`, normalised. Where the shifted
scores already form a distribution they are returned almost unchanged; their
arg-max is `classes` unless every shifted score is <= 0 (possible only with
learned labels), where the probabilities are uniform.

Also here: `save_kip_result` / `load_kip_result`, the `kip_result.npz` that
keeps a `KipResult` (soft labels included) beside the distilled `Examples`.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from frontier.components.kip.distill import KipHistory, KipResult, krr_weights
from frontier.components.kip.kernels import CONV, KernelSpec, kernel_matrix, make_kernel
from frontier.components.kip.preprocess import NO_STANDARDIZATION, Preprocessing, Zca
from frontier.components.trainer.export import (
    CLASSES,
    FEATURES_SIGNATURE,
    INPUT_NAME,
    PROBABILITIES,
    SERVING_DIR,
    SIGNATURE,
    save_serving_module,
    serving_dir,
)
from frontier.schemas.dataset import DatasetInfo

SCORES = "scores"
KIP_RESULT_FILE = "kip_result.npz"  # in the distilled Examples artifact, beside the splits
KRR_ARRAYS = os.path.join("krr", "model.npz")
KRR_CONFIG = os.path.join("krr", "config.json")
PROBABILITY_EPSILON = 1e-6
# Bytes of kernel intermediates that one block of served rows may take (see serving_block_rows).
SERVING_MEMORY_BUDGET = 256 * 2**20
MAX_SERVING_BLOCK_ROWS = 1024
# Where jax2tf's native serialization lowers the kernel: the SavedModel serves on any of them.
SERVING_PLATFORMS = ("cpu", "cuda", "tpu")

__all__ = [
    "CLASSES",
    "FEATURES_SIGNATURE",
    "INPUT_NAME",
    "KIP_RESULT_FILE",
    "PROBABILITIES",
    "SCORES",
    "SERVING_DIR",
    "SIGNATURE",
    "KrrModel",
    "export_krr_model",
    "fit_krr_model",
    "krr_predict",
    "load_kip_result",
    "load_krr_model",
    "save_kip_result",
    "save_model_artifact",
    "scores_to_probabilities",
    "serving_block_rows",
    "serving_dir",
]


class KrrModel(NamedTuple):
    """A kernel ridge regression classifier on a support set.

    Attributes:
      spec: the kernel.
      image_shape: (H, W, C) of the inputs, needed by the `conv` kernel.
      support: float32 [n_s, D] support inputs, in the preprocessed space.
      alpha: float32 [n_s, C] KRR weights: scores = K(x', support) @ alpha,
        x' = preprocessing.apply(x) for raw inputs x.
      y: float32 [n_s, C] the support labels alpha was solved for.
      preprocessing: the `Preprocessing` applied to raw inputs first.
      reg: the KRR regulariser alpha was solved with.
    """

    spec: KernelSpec
    image_shape: tuple[int, int, int] | None
    support: np.ndarray
    alpha: np.ndarray
    y: np.ndarray
    preprocessing: Preprocessing
    reg: float

    @property
    def num_classes(self) -> int:
        return int(self.alpha.shape[1])


def fit_krr_model(
    result: KipResult,
    spec: KernelSpec,
    image_shape: tuple[int, int, int] | None,
    reg: float,
    block: int = 256,
) -> KrrModel:
    """The KRR classifier of a distilled support (`result.x`, `result.y`).

    alpha is solved once here, in float32 as `kip` and `krr_evaluate` do.
    """
    import jax.numpy as jnp

    kernel = make_kernel(spec, image_shape)
    support = np.asarray(result.x, np.float32)
    y = np.asarray(result.y, np.float32)
    k_ss = kernel_matrix(kernel, support, support, block)
    alpha = np.asarray(krr_weights(jnp.asarray(k_ss), jnp.asarray(y), reg), np.float32)
    return KrrModel(spec, image_shape, support, alpha, y, result.preprocessing, float(reg))


def scores_to_probabilities(scores: np.ndarray) -> np.ndarray:
    """KRR scores [N, C] (centred one-hot scale) -> a distribution per row.

    (max(s + 1/C, 0) + eps) / sum over classes; see the module docstring.
    """
    scores = np.asarray(scores, np.float32)
    shifted = np.maximum(scores + np.float32(1.0 / scores.shape[1]), 0) + np.float32(
        PROBABILITY_EPSILON
    )
    return shifted / shifted.sum(axis=1, keepdims=True)


def krr_predict(model: KrrModel, x: np.ndarray, block: int = 256) -> dict[str, np.ndarray]:
    """Predictions of `model` on raw inputs, with JAX (the SavedModel's reference).

    Args:
      model: the KRR classifier.
      x: float [N, D] raw inputs (the model's preprocessing is applied here).
      block: rows per kernel block (see `kernel_matrix`).

    Returns:
      `scores` float32 [N, C], `probabilities` float32 [N, C], `classes` int64 [N].
    """
    x = model.preprocessing.apply(np.asarray(x, np.float32))
    kernel = make_kernel(model.spec, model.image_shape)
    scores = (kernel_matrix(kernel, x, model.support, block) @ model.alpha).astype(np.float32)
    return {
        SCORES: scores,
        PROBABILITIES: scores_to_probabilities(scores),
        CLASSES: np.argmax(scores, axis=1).astype(np.int64),
    }


def serving_block_rows(
    spec: KernelSpec,
    image_shape: tuple[int, int, int] | None,
    n_support: int,
    budget_bytes: int = SERVING_MEMORY_BUDGET,
) -> int:
    """Rows per kernel evaluation in the SavedModel, so that memory stays bounded.

    A (row, support point) pair takes a few float32 scalars per layer for
    `fc`, but the spatial covariance [H, H, W, W] (a few live copies) for
    `conv` (see `kernels.kernel_matrix`); requests are cut into blocks of the
    returned number of rows (1 to MAX_SERVING_BLOCK_ROWS).
    """
    per_pair = 4 * 16
    if spec.architecture == CONV and image_shape is not None:
        h, w, _ = image_shape
        per_pair = 4 * 4 * (h * w) ** 2
    rows = budget_bytes // (per_pair * max(1, n_support))
    return int(max(1, min(MAX_SERVING_BLOCK_ROWS, rows)))


def export_krr_model(model: KrrModel, info: DatasetInfo, export_dir: str) -> str:
    """Saves `model` as a SavedModel with the serving contract above.

    The raw features are preprocessed first as `model.preprocessing.apply`
    does (float64: standardisation, then per-example standardisation and
    ZCA whitening when used; then float32). The kernel is
    `make_kernel(model.spec, model.image_shape)` converted by `jax2tf` with
    native serialization for `SERVING_PLATFORMS`, polymorphic in the batch
    dimension; support and alpha are passed to it as variables. Requests
    are evaluated `serving_block_rows` rows at a time.

    Args:
      model: the KRR classifier.
      info: the source data's `DatasetInfo` (raw feature keys and sizes).
      export_dir: the SavedModel directory to create (usually
        `serving_dir(model_artifact.uri)`).

    Returns:
      `export_dir`.
    """
    dim = info.input_dim
    if model.support.shape[1] != dim or model.preprocessing.dim != dim:
        raise ValueError(
            f"support has {model.support.shape[1]} features, the preprocessing "
            f"{model.preprocessing.dim}, the data {dim}"
        )
    return save_serving_module(_serving_module(model, info), info, export_dir)


def _converted_kernel(model: KrrModel, dim: int) -> Callable:
    """`(x [b, dim], support, alpha) -> scores [b, C]`: the JAX kernel's scores
    converted by `jax2tf` (native serialization for `SERVING_PLATFORMS`,
    polymorphic in the batch size b, no gradient)."""
    from jax.experimental import jax2tf

    kernel = make_kernel(model.spec, model.image_shape)
    return jax2tf.convert(
        lambda x, support, alpha: kernel(x, support) @ alpha,
        polymorphic_shapes=[f"(b, {dim})", None, None],
        native_serialization_platforms=SERVING_PLATFORMS,
        with_gradient=False,
    )


def _tf_preprocess(x, mean, std, whitening):
    """`preprocess.Preprocessing.apply` in TF, in float64: standardisation, then
    (with ZCA) per-example standardisation (`preprocess.standardize`) and
    whitening. x: [N, D] raw features; returns float32 [N, D]."""
    import tensorflow as tf

    x = (tf.cast(x, tf.float64) - mean) / std
    if whitening is not None:
        x = x - tf.reduce_mean(x, axis=1, keepdims=True)
        norm = tf.norm(x, axis=1, keepdims=True)
        x = x / tf.where(norm > 0, norm, tf.ones_like(norm))
        x = tf.matmul(x, whitening)
    return tf.cast(x, tf.float32)


def _tf_blocked_scores(x, kernel_tf: Callable, support, alpha, block: int, num_classes: int):
    """KRR scores float32 [N, C] of preprocessed x [N, D], `block` rows per
    call of the converted kernel (so that memory stays bounded)."""
    import tensorflow as tf

    n = tf.shape(x)[0]
    blocks = (n + block - 1) // block
    out = tf.TensorArray(
        tf.float32, size=blocks, infer_shape=False, element_shape=[None, num_classes]
    )

    def body(i, out):
        rows = x[i * block : tf.minimum(n, (i + 1) * block)]
        return i + 1, out.write(i, kernel_tf(rows, support, alpha))

    _, out = tf.while_loop(
        lambda i, _: i < blocks, body, (tf.constant(0), out), parallel_iterations=1
    )
    # The converted kernel wants >= 1 row: an empty request skips it.
    return tf.cond(
        n > 0,
        lambda: tf.reshape(out.concat(), [-1, num_classes]),
        lambda: tf.zeros([0, num_classes], tf.float32),
    )


def _tf_outputs(scores, num_classes: int) -> dict:
    """The serving outputs of scores [N, C]: scores, probabilities
    (`scores_to_probabilities` in TF) and classes."""
    import tensorflow as tf

    shifted = tf.maximum(scores + 1.0 / num_classes, 0.0) + PROBABILITY_EPSILON
    return {
        SCORES: scores,
        PROBABILITIES: shifted / tf.reduce_sum(shifted, axis=1, keepdims=True),
        CLASSES: tf.argmax(scores, axis=-1, output_type=tf.int64),
    }


def _serving_module(model: KrrModel, info: DatasetInfo):
    """The `tf.Module` that `export_krr_model` saves: the support, alpha and
    the preprocessing as variables, and the two serving functions."""
    import tensorflow as tf

    from frontier.components.common.examples_io import parse_serving_features

    dim, num_classes = info.input_dim, model.num_classes
    kernel_tf = _converted_kernel(model, dim)
    block = serving_block_rows(model.spec, model.image_shape, len(model.support))

    class _KrrServing(tf.Module):
        def __init__(self):
            super().__init__(name="frontier_krr_serving")
            self.support = tf.Variable(model.support, trainable=False, name="support")
            self.alpha = tf.Variable(model.alpha, trainable=False, name="alpha")
            prep = model.preprocessing
            self.mean = tf.Variable(
                np.asarray(prep.mean, np.float64), trainable=False, name="input_mean"
            )
            self.std = tf.Variable(
                np.asarray(prep.std, np.float64), trainable=False, name="input_std"
            )
            self.whitening = None
            if prep.zca is not None:
                self.whitening = tf.Variable(
                    np.asarray(prep.zca.whitening, np.float64),
                    trainable=False,
                    name="zca_whitening",
                )

        def _outputs(self, x):
            x = _tf_preprocess(x, self.mean, self.std, self.whitening)
            scores = _tf_blocked_scores(x, kernel_tf, self.support, self.alpha, block, num_classes)
            return _tf_outputs(scores, num_classes)

        # TFMA matches the signature's arguments by name: the first must be `self`.
        @tf.function(
            input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_NAME)], autograph=False
        )
        def serve_examples(self, examples):
            return self._outputs(parse_serving_features(examples, info))

        @tf.function(
            input_signature=[tf.TensorSpec([None, dim], tf.float32, name="x")], autograph=False
        )
        def serve_features(self, x):
            return self._outputs(x)

    return _KrrServing()


def save_model_artifact(model: KrrModel, info: DatasetInfo, model_uri: str) -> str:
    """Writes the whole `Model` artifact layout; returns the SavedModel dir."""
    import tensorflow as tf

    path = export_krr_model(model, info, serving_dir(model_uri))
    arrays = {
        "support": model.support,
        "alpha": model.alpha,
        "y": model.y,
        **_preprocessing_arrays(model.preprocessing),
    }
    _write_npz(os.path.join(model_uri, KRR_ARRAYS), arrays)
    config = {
        "architecture": model.spec.architecture,
        "depth": model.spec.depth,
        "kind": model.spec.kind,
        "W_std": model.spec.W_std,
        "b_std": model.spec.b_std,
        "image_shape": list(model.image_shape) if model.image_shape else None,
        "reg": model.reg,
        "standardization": model.preprocessing.standardization,
    }
    with tf.io.gfile.GFile(os.path.join(model_uri, KRR_CONFIG), "w") as f:
        json.dump(config, f, indent=1, sort_keys=True)
    return path


def load_krr_model(model_uri: str) -> KrrModel:
    """The `KrrModel` of a `Model` artifact written by `save_model_artifact`."""
    import tensorflow as tf

    with tf.io.gfile.GFile(os.path.join(model_uri, KRR_CONFIG)) as f:
        config = json.load(f)
    arrays = _read_npz(os.path.join(model_uri, KRR_ARRAYS))
    spec = KernelSpec(
        architecture=config["architecture"],
        depth=config["depth"],
        kind=config["kind"],
        W_std=float(config["W_std"]),
        b_std=float(config["b_std"]),
    )
    preprocessing = _preprocessing_from_arrays(arrays, arrays["support"].shape[1])
    image_shape = tuple(config["image_shape"]) if config["image_shape"] else None
    return KrrModel(
        spec,
        image_shape,
        arrays["support"],
        arrays["alpha"],
        arrays["y"],
        preprocessing,
        config["reg"],
    )


# --- the KipResult beside the distilled Examples -----------------------------------------

_HISTORY_FIELDS = ("step", "loss", "accuracy", "eval_step", "eval_loss", "eval_accuracy")


def save_kip_result(result: KipResult, path: str) -> str:
    """Writes `result` as one `.npz` file (gfile path); returns `path`.

    Keys: `x` float32 [n_s, D] (the support in the preprocessed space, as
    the kernel sees it), `y` float32 [n_s, C] (the soft labels, which an
    `Examples` artifact cannot hold), `labels` int64 [n_s], `init_indices`
    int64 [n_s], the preprocessing: `input_mean` float32 [D], `input_std`
    float32 [D], `standardization` (a string scalar), `zca_whitening` float32
    [D, D] (only with ZCA), and `history_<field>` for each `KipHistory` field
    (1-D, possibly empty).
    """
    arrays = {
        "x": np.asarray(result.x, np.float32),
        "y": np.asarray(result.y, np.float32),
        "labels": np.asarray(result.labels, np.int64),
        "init_indices": np.asarray(result.init_indices, np.int64),
        **_preprocessing_arrays(result.preprocessing),
    }
    for field in _HISTORY_FIELDS:
        values = getattr(result.history, field)
        dtype = np.int64 if field.endswith("step") else np.float64
        arrays[f"history_{field}"] = np.asarray(values, dtype)
    _write_npz(path, arrays)
    return path


def load_kip_result(path_or_examples_uri: str) -> KipResult:
    """Reads a `KipResult` from its `.npz` file or from the distilled `Examples` uri."""
    import tensorflow as tf

    path = path_or_examples_uri
    if tf.io.gfile.isdir(path):
        path = os.path.join(path, KIP_RESULT_FILE)
    arrays = _read_npz(path)
    history = KipHistory(
        **{field: arrays[f"history_{field}"].tolist() for field in _HISTORY_FIELDS}
    )
    preprocessing = _preprocessing_from_arrays(arrays, arrays["x"].shape[1])
    return KipResult(
        arrays["x"], arrays["y"], arrays["labels"], arrays["init_indices"], preprocessing, history
    )


def _preprocessing_arrays(prep: Preprocessing) -> dict[str, np.ndarray]:
    """The arrays of a `Preprocessing`, for an `.npz` file."""
    arrays = {
        "input_mean": np.asarray(prep.mean, np.float32),
        "input_std": np.asarray(prep.std, np.float32),
        "standardization": np.asarray(prep.standardization),  # a unicode scalar: no pickle
    }
    if prep.zca is not None:
        arrays["zca_whitening"] = np.asarray(prep.zca.whitening, np.float32)
    return arrays


def _preprocessing_from_arrays(arrays: dict[str, np.ndarray], dim: int) -> Preprocessing:
    """The `Preprocessing` of `_preprocessing_arrays` (files from before it held
    mean and std: no standardisation, ZCA if stored)."""
    zca = Zca(arrays["zca_whitening"]) if "zca_whitening" in arrays else None
    if "input_mean" not in arrays:
        return Preprocessing.identity(dim)._replace(zca=zca)
    standardization = str(arrays.get("standardization", NO_STANDARDIZATION))
    return Preprocessing(arrays["input_mean"], arrays["input_std"], zca, standardization)


def _write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    import tensorflow as tf

    buf = io.BytesIO()
    np.savez(buf, **arrays)  # deterministic bytes: fixed zip timestamps
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buf.getvalue())


def _read_npz(path: str) -> dict[str, np.ndarray]:
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "rb") as f:
        data = f.read()
    with np.load(io.BytesIO(data)) as npz:
        return {k: npz[k] for k in npz.files}
