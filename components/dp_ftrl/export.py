"""A trained JAX model module as the Trainer's SavedModel (jax2tf), checked against JAX.

What DP-FTRL trains is ``apply(params, x) -> logits`` of a JAX model module (`model_module`).
Served, the model takes the raw features x float32 [N, D] and computes, in one JAX function
(`serving_probabilities`)::

    probabilities = softmax(apply(params, (x / feature_scale - mean) * inv_std))

(`feature_scale` the public constant the executor divided the inputs by for training; mean and
inv_std the run's public standardisation, none by default), converted by `jax2tf` (native
serialization for `SERVING_PLATFORMS`, polymorphic in the batch size, no gradient), with the
parameters as variables (one per pytree leaf, in pytree order). `export_model` saves it with
the Trainer's serving contract (`frontier.components.trainer.export`): signature
`serving_default` from serialized `tf.Example`s `examples` to `probabilities` float32 [N, C]
and `classes` int64 [N] (their arg-max), `serving_features` from `x` [N, D]; and
`dataset_info.json` beside `saved_model.pb`; so the stock Evaluator and Pusher take it.

Layout of the `Model` artifact (`save_model_artifact`)::

    <model uri>/
      Format-Serving/            the SavedModel (trainer.export.SERVING_DIR)
        saved_model.pb, variables/ ..., dataset_info.json

(No `keras/` model: a module's model need not be a Keras one; the built-in MLP's parameters
still convert with `model.to_keras_model`.)

`save_model_artifact` checks the export before it returns: the SavedModel's
`serving_features` probabilities on the given inputs (the eval split) agree with JAX's to
`EXPORT_TOLERANCE` (max absolute difference); otherwise the SavedModel is removed and an
`InputError` names the module's `apply`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from frontier.components.common.errors import InputError
from frontier.components.dp_ftrl.model import Params, inverse_std
from frontier.components.trainer.export import (
    FEATURES_SIGNATURE,
    PROBABILITIES,
    load_serving_signature,
    save_serving_module,
    serving_dir,
    serving_module,
)
from frontier.schemas.dataset import DatasetInfo

__all__ = [
    "EXPORT_TOLERANCE",
    "SERVING_PLATFORMS",
    "export_model",
    "jax_probabilities",
    "save_model_artifact",
    "saved_model_probabilities",
    "serving_probabilities",
]

EXPORT_TOLERANCE = 1e-5  # max |SavedModel - JAX| of a probability that the export may differ by
# Where jax2tf's native serialization lowers the model: the SavedModel serves on any of them.
SERVING_PLATFORMS = ("cpu", "cuda", "tpu")
BATCH = 1024  # rows per call when predicting for the check and the metrics

Apply = Callable[[Params, jax.Array], jax.Array]


def serving_probabilities(
    apply: Apply,
    params: Params,
    input_dim: int,
    *,
    feature_scale: float = 1.0,
    input_mean: np.ndarray | None = None,
    input_var: np.ndarray | None = None,
) -> tuple[Callable[[list[jax.Array], jax.Array], jax.Array], list[np.ndarray]]:
    """The served model as one JAX function of (parameter leaves, raw inputs).

    Args:
      apply: the module's ``apply(params, x_standardised) -> logits``.
      params: the trained parameters (a pytree).
      input_dim: D.
      feature_scale: the constant the training inputs were divided by.
      input_mean, input_var: the run's standardisation statistics [D] (None: none).

    Returns:
      (``fn(leaves, x float32 [N, D]) -> probabilities float32 [N, C]``, the parameters'
      leaves as float32 NumPy arrays in pytree order).
    """
    leaves, treedef = jax.tree_util.tree_flatten(params)
    mean = np.zeros(input_dim, np.float32) if input_mean is None else input_mean
    inv_std = np.ones(input_dim, np.float32) if input_var is None else inverse_std(input_var)
    mean = np.asarray(mean, np.float32)
    inv_std = np.asarray(inv_std, np.float32)
    scale = float(feature_scale)

    def probabilities(leaves, x):
        h = (x / scale - mean) * inv_std
        logits = apply(jax.tree_util.tree_unflatten(treedef, leaves), h)
        return jax.nn.softmax(jnp.asarray(logits, jnp.float32), axis=-1)

    return probabilities, [np.asarray(leaf, np.float32) for leaf in leaves]


def jax_probabilities(apply: Apply, params: Params, x: np.ndarray, **serving: Any) -> np.ndarray:
    """float32 [N, C]: the served model's probabilities on raw x [N, D], computed by JAX
    (`serving_probabilities`, jitted, `BATCH` rows at a time); `serving`: its keywords."""
    x = np.asarray(x, np.float32)
    fn, leaves = serving_probabilities(apply, params, x.shape[1], **serving)
    fn = jax.jit(fn)
    parts = [np.asarray(fn(leaves, x[i : i + BATCH])) for i in range(0, len(x), BATCH)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def export_model(
    apply: Apply,
    params: Params,
    info: DatasetInfo,
    export_dir: str,
    *,
    name: str = "apply",
    **serving: Any,
) -> str:
    """Saves the served model as a SavedModel with the Trainer's serving contract.

    Args:
      apply, params: the trained module (see `serving_probabilities`).
      info: the training data's `DatasetInfo` (feature keys and sizes, classes).
      export_dir: the SavedModel directory to create.
      name: the module, for errors.
      **serving: `serving_probabilities`' keywords (feature_scale, input_mean, input_var).

    Returns:
      `export_dir`.

    Raises:
      InputError: naming the module's `apply` when jax2tf cannot convert it.
    """
    import tensorflow as tf
    from jax.experimental import jax2tf

    dim, num_classes = info.input_dim, info.num_classes
    fn, leaves = serving_probabilities(apply, params, dim, **serving)
    converted = jax2tf.convert(
        fn,
        polymorphic_shapes=[None, f"(b, {dim})"],
        native_serialization_platforms=SERVING_PLATFORMS,
        with_gradient=False,
    )
    # Called as is in the serving tf.functions: AutoGraph would try (for tens of seconds, in
    # vain) to rewrite jax2tf's and JAX's own Python.
    converted = tf.autograph.experimental.do_not_convert(converted)

    variables = [
        tf.Variable(leaf, trainable=False, name=f"param_{i}") for i, leaf in enumerate(leaves)
    ]

    def probabilities(x):
        # The converted function wants >= 1 row: an empty request skips it.
        return tf.cond(
            tf.shape(x)[0] > 0,
            lambda: tf.reshape(converted(list(variables), x), [-1, num_classes]),
            lambda: tf.zeros([0, num_classes], tf.float32),
        )

    try:
        module = serving_module(info, probabilities, "frontier_jax_serving", params=variables)
        module.serve_features.get_concrete_function()  # converts (and lowers) apply
    except InputError:
        raise
    except Exception as e:  # the user's apply: say whose it was
        raise InputError(
            f"{name}: apply cannot be exported with jax2tf: {type(e).__name__}: {e}",
            function="apply",
            expected="a pure JAX apply that jax2tf converts with a symbolic batch size",
        ) from e
    return save_serving_module(module, info, export_dir)


def saved_model_probabilities(export_dir: str, x: np.ndarray) -> np.ndarray:
    """float32 [N, C]: the SavedModel's `serving_features` probabilities on x [N, D]."""
    import tensorflow as tf

    fn = load_serving_signature(export_dir, FEATURES_SIGNATURE)
    x = np.asarray(x, np.float32)
    parts = [
        fn(x=tf.constant(x[i : i + BATCH]))[PROBABILITIES].numpy() for i in range(0, len(x), BATCH)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def save_model_artifact(
    apply: Apply,
    params: Params,
    info: DatasetInfo,
    model_uri: str,
    check_x: np.ndarray,
    *,
    name: str = "apply",
    check_split: str = "eval",
    **serving: Any,
) -> str:
    """Writes the `Model` artifact layout (`export_model`) and checks it against JAX.

    Args:
      apply, params, info, name, **serving: as `export_model`.
      model_uri: the `Model` artifact's URI.
      check_x: float32 [N, D] raw inputs the SavedModel and JAX must agree on (the eval
        split; N >= 1).
      check_split: the split `check_x` comes from, for the error message.

    Returns:
      The SavedModel directory.

    Raises:
      InputError: naming the module's `apply` when the SavedModel's probabilities differ
        from JAX's by more than `EXPORT_TOLERANCE` (the SavedModel is removed first), or
        when jax2tf cannot convert it.
    """
    import tensorflow as tf

    path = export_model(apply, params, info, serving_dir(model_uri), name=name, **serving)
    want = jax_probabilities(apply, params, check_x, **serving)
    got = saved_model_probabilities(path, check_x)
    diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
    if not diff <= EXPORT_TOLERANCE:
        tf.io.gfile.rmtree(path)  # nothing half-checked stays in the artifact
        raise InputError(
            f"{name}: the exported SavedModel's probabilities on the {check_split} split "
            f"differ from JAX's apply by {diff:.3g} (shapes {got.shape} and {want.shape})",
            function="apply",
            expected=f"an apply that jax2tf exports exactly (max abs difference "
            f"<= {EXPORT_TOLERANCE:g})",
        )
    return path
