"""The baseline classifier as plain functions: build a Keras model, train it.

No TFX here: `train(x, y, ...)` works on NumPy arrays and is what a researcher
imports. The TFX `Trainer` component (`component.py`) is a thin wrapper.

The model takes the concatenated float features (`DatasetInfo.input_dim`
columns) and returns class probabilities (softmax, [N, num_classes]). Its
first layer standardises each input column with statistics of the training
data, so raw inputs such as digit pixels 0..16 train well without a separate
transform step.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from frontier.components.common.checks import check_int, check_labels, check_positive
from frontier.components.common.errors import InputError
from frontier.schemas.dataset import DatasetInfo

if TYPE_CHECKING:
    import keras

MODEL_TYPES = ("mlp", "convnet")
DEFAULT_CONV_FILTERS = (16, 32)
HEAD_LAYER = "probabilities"  # the softmax output layer; replaced by `with_new_head`


class ModelDims(NamedTuple):
    """Input and output sizes of a classifier when no `DatasetInfo` is at hand.

    Attributes:
      input_dim: length D of one input row.
      num_classes: number of classes C.
      image_shape: (height, width, channels) with H*W*C == D for the ConvNet,
        or None.
    """

    input_dim: int
    num_classes: int
    image_shape: tuple[int, int, int] | None = None


def as_dims(info_or_dims: DatasetInfo | ModelDims | Sequence[int]) -> ModelDims:
    """Normalises a `DatasetInfo`, `ModelDims` or `(input_dim, num_classes)` pair."""
    if isinstance(info_or_dims, DatasetInfo):
        shape = tuple(info_or_dims.image_shape) if info_or_dims.image_shape else None
        return ModelDims(info_or_dims.input_dim, info_or_dims.num_classes, shape)
    if isinstance(info_or_dims, ModelDims):
        return info_or_dims
    return ModelDims(*info_or_dims)


def parse_hidden_units(value: str | Sequence[int]) -> tuple[int, ...]:
    """Hidden layer sizes from a JSON list string (`"[128, 64]"`) or a sequence.

    Raises:
      InputError: when the value is not a list of positive integers.
    """
    units: Any = value
    if isinstance(value, str):
        try:
            units = json.loads(value)
        except json.JSONDecodeError as e:
            raise InputError(
                f"hidden_units {value!r} is not valid JSON ({e.msg})",
                parameter="hidden_units",
                expected="a JSON list of positive integers, e.g. '[128, 64]'",
            ) from None
    if isinstance(units, int):
        units = [units]
    if not isinstance(units, list | tuple) or not all(
        isinstance(u, numbers.Integral) and not isinstance(u, bool) and u > 0 for u in units
    ):
        raise InputError(
            f"hidden_units {value!r} is not a list of positive integers",
            parameter="hidden_units",
            expected="a JSON list of positive integers, e.g. '[128, 64]'",
        )
    return tuple(int(u) for u in units)


def feature_stats(
    x: np.ndarray,
    image_shape: tuple[int, int, int] | None = None,
    min_variance: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance for the input standardisation layer, per input column.

    Images are standardised per channel (statistics over every pixel of a
    channel, repeated for each pixel): the usual practice, and the only one
    that stays sound on a tiny training set such as a distilled one, where
    per-pixel statistics of a few images would scale rare pixels by huge
    factors (measured on digits at 1 image per class: an MLP on the KIP
    support reaches 0.93 test accuracy per channel, 0.59 per pixel).
    Tabular data are standardised per column.

    A column (or channel) that is (nearly) constant on the training data gets
    variance 1 instead of ~0, so a value unseen in training is shifted, not
    blown up by 1/epsilon.

    Args:
      x: float [N, D] training inputs.
      image_shape: (H, W, C) when the D = H*W*C inputs are an image (HWC order).
      min_variance: variances below this count as constant.

    Returns:
      (mean, variance), both float32 [D].
    """
    x = np.asarray(x, np.float64)
    if image_shape is not None and len(x):
        channels = x.reshape(-1, image_shape[-1])  # [N*H*W, C]
        mean, var = channels.mean(axis=0), channels.var(axis=0)
        var = np.where(var < min_variance, 1.0, var)
        reps = x.shape[1] // image_shape[-1]
        return np.tile(mean, reps).astype(np.float32), np.tile(var, reps).astype(np.float32)
    mean = x.mean(axis=0) if len(x) else np.zeros(x.shape[1])
    var = x.var(axis=0) if len(x) else np.ones(x.shape[1])
    var = np.where(var < min_variance, 1.0, var)
    return mean.astype(np.float32), var.astype(np.float32)


def build_model(
    info_or_dims: DatasetInfo | ModelDims | Sequence[int],
    model_type: str = "mlp",
    hidden_units: Sequence[int] = (128,),
    *,
    conv_filters: Sequence[int] = DEFAULT_CONV_FILTERS,
    train_x: np.ndarray | None = None,
    stats: tuple[np.ndarray, np.ndarray] | None = None,
):
    """Builds an (uncompiled) Keras 3 classifier.

    Architecture: standardise the inputs (statistics of `train_x`, per
    channel for images and per column otherwise, see `feature_stats`; identity
    when it is None) -> body -> Dense(num_classes, softmax).
      * `mlp`: Dense(u, relu) for each u in `hidden_units`.
      * `convnet`: reshape to `image_shape`, then per f in `conv_filters`
        Conv2D(f, 3x3, same, relu) + MaxPool(2x2) (pooling only while the
        map is at least 2x2), flatten, then the `hidden_units` Dense layers.

    Args:
      info_or_dims: a `DatasetInfo`, `ModelDims` or `(input_dim, num_classes)`.
      model_type: "mlp" or "convnet".
      hidden_units: sizes of the hidden Dense layers (may be empty).
      conv_filters: ConvNet only: the filters (output channels) of each conv
        block, i.e. the widths of the conv layers (may be empty).
      train_x: float [N, D] training inputs for the standardisation layer.
      stats: (mean, variance) float32 [D] for it instead (`feature_stats` of
        the training inputs, computed elsewhere); identity with neither.

    Returns:
      A `keras.Model` mapping float32 [B, D] to probabilities float32 [B, C].

    Raises:
      InputError: for an unknown `model_type`, or `convnet` without an image
        shape.
    """
    import keras

    dims = as_dims(info_or_dims)
    check_model_type(model_type)
    if dims.num_classes < 2:
        raise InputError(
            f"{dims.num_classes} class(es) declared",
            parameter="class_names",
            expected="at least 2 classes",
        )
    if stats is not None:
        mean, var = (np.asarray(s, np.float32) for s in stats)
    elif train_x is not None:
        mean, var = feature_stats(train_x, dims.image_shape)
    else:
        mean, var = np.zeros(dims.input_dim, np.float32), np.ones(dims.input_dim, np.float32)

    inputs = keras.Input(shape=(dims.input_dim,), dtype="float32", name="x")
    h = keras.layers.Normalization(mean=mean, variance=var, name="standardize")(inputs)
    if model_type == "convnet":
        if dims.image_shape is None:
            raise InputError(
                "model_type 'convnet' needs image data, but these examples have no image_shape",
                parameter="model_type",
                expected="'mlp' for non-image data, or examples whose dataset_info.json has image_shape",
            )
        height, width, channels = dims.image_shape
        h = keras.layers.Reshape((height, width, channels), name="image")(h)
        for i, filters in enumerate(conv_filters):
            h = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}")(
                h
            )
            if height >= 2 and width >= 2:
                h = keras.layers.MaxPooling2D(2, name=f"pool{i}")(h)
                height, width = height // 2, width // 2
        h = keras.layers.Flatten(name="flatten")(h)
    for i, units in enumerate(hidden_units):
        h = keras.layers.Dense(units, activation="relu", name=f"hidden{i}")(h)
    outputs = keras.layers.Dense(dims.num_classes, activation="softmax", name=HEAD_LAYER)(h)
    return keras.Model(inputs, outputs, name=f"frontier_{model_type}")


def train(
    x: np.ndarray,
    y: np.ndarray,
    info_or_dims: DatasetInfo | ModelDims | Sequence[int] | None = None,
    *,
    model_type: str = "mlp",
    hidden_units: Sequence[int] = (128,),
    conv_filters: Sequence[int] = DEFAULT_CONV_FILTERS,
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    sample_weight: np.ndarray | None = None,
    initial_model: keras.Model | None = None,
    build: Callable[[], keras.Model] | None = None,
    callbacks: Sequence[Any] = (),
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
    verbose: int = 0,
):
    """Trains the baseline classifier with cross-entropy and Adam.

    Deterministic for a given `seed` on CPU: `keras.utils.set_random_seed`
    seeds Python, NumPy and TensorFlow (weights init) and the
    per-epoch shuffle is seeded by it. Note this sets the process-global seeds.

    Args:
      x: float [N, D] inputs (the concatenated features).
      y: int [N] class ids in [0, C).
      info_or_dims: sizes (see `build_model`); default: D from `x`,
        C = max(y) + 1, no image shape.
      model_type, hidden_units, conv_filters: see `build_model` (ignored with
        `initial_model`).
      epochs: passes over the data (>= 1).
      batch_size: examples per gradient step (>= 1).
      learning_rate: Adam step size (> 0).
      seed: seed of every random choice.
      validation_data: optional (x_eval [M, D], y_eval [M]) evaluated after
        each epoch (history keys `val_loss`, `val_accuracy`).
      sample_weight: optional float [N] per-example loss weights (finite,
        >= 0): the loss of a batch is sum(w_i * loss_i) / batch size, so all
        ones is plain training and a weight of 0 drops an example.
      initial_model: optional Keras model to continue from (warm start)
        instead of building a fresh one, e.g. `export.load_keras_model(uri)`.
        It is trained in place and returned; it is (re)compiled, so the
        optimizer state starts afresh. Its input and output sizes must match
        the data.
      build: optional `() -> keras.Model` that builds the model to train
        instead of `build_model` (a model module's, `modules.ModelModule`),
        called after seeding, where `build_model` would be; its model must
        fit the data's sizes.
      callbacks: extra Keras callbacks (e.g. TensorBoard).
      on_epoch_end: optional `fn(epoch, logs)` called after each epoch
        (epoch is 0-based); used for progress logging.
      verbose: Keras `fit` verbosity (0 silent, 2 one line per epoch).

    Returns:
      (model, history): the trained `keras.Model` and a dict metric name ->
      list of per-epoch floats (`loss`, `accuracy`, and `val_*`).

    Raises:
      InputError: for bad shapes, labels or hyper-parameters.
    """
    import keras

    check_hyperparameters(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, model_type=model_type
    )
    x, y, dims = _training_arrays(x, y, info_or_dims)
    if sample_weight is not None:
        sample_weight = check_sample_weight(sample_weight, len(x))
    if initial_model is not None:
        check_model_dims(initial_model, dims)

    keras.utils.set_random_seed(int(seed))
    model = initial_model
    if model is None and build is not None:
        model = build()
        check_model_dims(model, dims)
    if model is None:
        model = build_model(dims, model_type, hidden_units, conv_filters=conv_filters, train_x=x)
    all_callbacks = _compiled(model, learning_rate, callbacks, on_epoch_end)
    if validation_data is not None:
        vx = np.asarray(validation_data[0], np.float32)
        vy = check_labels(validation_data[1], dims.num_classes)
        validation_data = (vx, vy) if len(vx) else None
    fit = model.fit(
        x,
        y,
        sample_weight=sample_weight,
        epochs=int(epochs),
        batch_size=int(batch_size),
        shuffle=True,
        validation_data=validation_data,
        callbacks=all_callbacks,
        verbose=verbose,
    )
    history = {k: [float(v) for v in vs] for k, vs in fit.history.items()}
    return model, history


def fit_batches(
    model: keras.Model,
    train_batches: Any,
    *,
    epochs: int,
    learning_rate: float,
    train_steps: int | None = None,
    steps_per_epoch: int | None = None,
    validation_batches: Any | None = None,
    callbacks: Sequence[Any] = (),
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
    verbose: int = 0,
    seed: int = 0,
    strategy: Any | None = None,
) -> dict[str, list[float]]:
    """Trains `model` with cross-entropy and Adam on a stream of batches.

    The streaming counterpart of `train`: the data are a `tf.data.Dataset` of
    (x float32 [B, D], y int [B]) batches (`common.streaming.batches`, its
    shuffling seeded there), never arrays, so memory does not grow with the
    split. Seed Keras (`keras.utils.set_random_seed`) before building the
    model for a deterministic run.

    Args:
      model: the Keras model to train (compiled here; trained in place).
      train_batches: the training batches; one pass is one epoch.
      epochs: passes over the data (>= 1).
      learning_rate: Adam step size (> 0).
      train_steps: optional bound on the gradient steps (>= 1): training
        stops after that many steps, inside an epoch if need be, even when
        epochs are left.
      steps_per_epoch: the batches of one epoch, for `train_batches` that
        repeat without end (`streaming.batches(repeat=True)`): Keras then
        keeps one iterator for the whole run instead of one per epoch.
      validation_batches: optional held-out batches, evaluated after each
        epoch (history keys `val_loss`, `val_accuracy`).
      callbacks: extra Keras callbacks (e.g. TensorBoard).
      on_epoch_end: optional `fn(epoch, logs)` after each epoch (0-based).
      verbose: Keras `fit` verbosity.
      seed: seeds the step's stateless draws (none for cross-entropy).
      strategy: the `tf.distribute` strategy `model` was built under
        (`trainer.step.local_strategy`); default the current one. The step
        is `trainer.step`'s: the global batch's mean cross-entropy, whatever
        the number of replicas.

    Returns:
      metric name -> per-epoch floats (`loss`, `accuracy`, and `val_*`).
    """

    import keras
    import tensorflow as tf

    from frontier.components.trainer.step import cross_entropy, jit_setting, objective_model

    check_int(epochs, "epochs", 1)
    check_positive(learning_rate, "learning_rate")
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        wrapper = objective_model(model, cross_entropy, seed=seed)
        wrapper.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
            jit_compile=jit_setting(strategy),
        )
    all_callbacks = list(callbacks)
    if on_epoch_end is not None:
        all_callbacks.append(epoch_callback(on_epoch_end))
    if train_steps is not None:
        all_callbacks.append(stop_after(check_int(train_steps, "train_steps", 1)))
    fit = wrapper.fit(
        train_batches,
        epochs=int(epochs),
        steps_per_epoch=steps_per_epoch,
        validation_data=validation_batches,
        callbacks=all_callbacks,
        verbose=verbose,
    )
    return {k: [float(v) for v in vs] for k, vs in fit.history.items()}


def _compiled(
    model: keras.Model,
    learning_rate: float,
    callbacks: Sequence[Any],
    on_epoch_end: Callable[[int, dict[str, float]], None] | None,
) -> list[Any]:
    """Compiles `model` for cross-entropy with Adam; returns the fit callbacks
    (`callbacks`, then `on_epoch_end` as a Keras callback when given)."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    all_callbacks = list(callbacks)
    if on_epoch_end is not None:
        all_callbacks.append(epoch_callback(on_epoch_end))
    return all_callbacks


def epoch_callback(on_epoch_end: Callable[[int, dict[str, float]], None]):
    """A Keras callback calling `on_epoch_end(epoch, logs)` with the logs as floats."""
    import keras

    return keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: on_epoch_end(
            epoch, {k: float(v) for k, v in (logs or {}).items()}
        )
    )


def stop_after(steps: int):
    """A Keras callback that stops training after `steps` gradient steps (Keras
    checks `stop_training` after every step, so the bound is exact)."""
    import keras

    class StopAfter(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations.numpy()) >= steps:
                self.model.stop_training = True

    return StopAfter()


def _training_arrays(
    x: np.ndarray, y: np.ndarray, info_or_dims: DatasetInfo | ModelDims | Sequence[int] | None
) -> tuple[np.ndarray, np.ndarray, ModelDims]:
    """`train`'s inputs checked: (x float32 [N, D], y int64 [N], the model's sizes).

    Raises:
      InputError: x not [N, D] with N >= 1 and D the model's input size, a
        label outside [0, C), or not one label per row.
    """
    x = np.asarray(x, np.float32)
    if x.ndim != 2:
        raise InputError(f"inputs have shape {x.shape}", column="x", expected="shape [N, D]")
    if len(x) == 0:
        raise InputError("no training examples", expected="at least one example in the train split")
    if info_or_dims is None:
        info_or_dims = ModelDims(x.shape[1], int(np.max(y)) + 1)
    dims = as_dims(info_or_dims)
    if x.shape[1] != dims.input_dim:
        raise InputError(
            f"inputs have {x.shape[1]} columns", column="x", expected=f"{dims.input_dim}"
        )
    y = check_labels(y, dims.num_classes)
    if len(y) != len(x):
        raise InputError(
            f"{len(y)} labels for {len(x)} inputs", column="label", expected="one label per row"
        )
    return x, y, dims


def check_hyperparameters(
    *, epochs: int, batch_size: int, learning_rate: float, model_type: str
) -> None:
    """Raises `InputError` naming the first invalid training parameter."""
    check_int(epochs, "epochs", 1)
    check_int(batch_size, "batch_size", 1)
    check_positive(learning_rate, "learning_rate")
    check_model_type(model_type)


def check_model_type(model_type: str) -> None:
    """Raises `InputError` unless `model_type` is one of `MODEL_TYPES`."""
    if model_type not in MODEL_TYPES:
        raise InputError(
            f"unknown model_type {model_type!r}",
            parameter="model_type",
            expected=" or ".join(MODEL_TYPES),
        )


def check_sample_weight(sample_weight: np.ndarray, num_examples: int) -> np.ndarray:
    """Returns the weights as float32 [N] after checking shape and values.

    Raises:
      InputError: unless the weights are [num_examples], finite and >= 0,
        naming the first bad row (1-based).
    """
    w = np.asarray(sample_weight, np.float32)
    if w.shape != (num_examples,):
        raise InputError(
            f"sample_weight has shape {w.shape}",
            column="sample_weight",
            expected=f"shape [{num_examples}], one weight per example",
        )
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"weight {w[i]} ({bad.size} such rows)",
            row=i + 1,
            column="sample_weight",
            expected="a finite weight >= 0",
        )
    return w


def check_model_dims(model: keras.Model, dims: ModelDims) -> None:
    """Raises `InputError` unless a Keras model maps [B, input_dim] to [B, num_classes]."""
    got = (model.input_shape[-1], model.output_shape[-1])
    if got != (dims.input_dim, dims.num_classes):
        raise InputError(
            f"initial_model maps {got[0]} inputs to {got[1]} classes",
            parameter="initial_model",
            expected=f"a model from {dims.input_dim} inputs to {dims.num_classes} classes",
        )


def with_new_head(
    base: keras.Model, num_classes: int, seed: int = 0, head_layer: str = HEAD_LAYER
) -> keras.Model:
    """`base`'s body under a freshly initialised softmax head of `num_classes`.

    The fine-tuning half of pre-train-then-fine-tune (SPL): everything up to
    the input of `base`'s `probabilities` layer is reused, with its current
    weights (including the input standardisation learnt on the pre-training
    data), and trained further; the head is new because the pre-training
    label space (e.g. SPL classes) differs from the target's.

    Args:
      base: a frontier classifier (`build_model`'s architecture), e.g.
        `export.load_keras_model(uri)`.
      num_classes: C, the target label space's size (>= 2).
      seed: seed of the head's initialisation.
      head_layer: the name of `base`'s head layer (a model module's
        `HEAD_LAYER`); the new head takes the same name.

    Returns:
      A new `keras.Model` float32 [B, D] -> probabilities [B, C] sharing
      `base`'s body layers (and so their weights).

    Raises:
      InputError: `base` has no `probabilities` layer, or C < 2.
    """
    import keras

    if num_classes < 2:
        raise InputError(
            f"{num_classes} class(es)", parameter="class_names", expected="at least 2 classes"
        )
    try:
        old_head = base.get_layer(head_layer)
    except ValueError:
        raise InputError(
            f"base model {base.name!r} has no {head_layer!r} layer",
            parameter="base_model",
            expected="a model whose softmax head is that layer (frontier's built-in models' "
            f"is {HEAD_LAYER!r}; a model module names its own in HEAD_LAYER)",
        ) from None
    head = keras.layers.Dense(
        num_classes,
        activation="softmax",
        name=head_layer,
        kernel_initializer=keras.initializers.GlorotUniform(seed=int(seed)),
    )
    # `base.input`, not `base.inputs` (always a list): the new model then takes
    # the tensor the base took, and Keras does not warn on every call that
    # the structure of `inputs` differs.
    return keras.Model(base.input, head(old_head.input), name=base.name)
