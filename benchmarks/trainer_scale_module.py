"""The user model of `trainer_scale.py`'s speed figure, as both Trainers take it.

One Keras ConvNet (`image_classifier`), built identically for frontier's
Trainer (this file is its `module_file`: `build_model(spec, config)`, the
model-module contract of `frontier.components.trainer.modules`) and for the
stock TFX Trainer (`stock_tfx_trainer_module.run_fn` imports
`image_classifier` from here, as a TFX user's `run_fn` imports the model code
beside it).

The model: the flattened pixels (0..255, float32 [B, H*W*C]) scaled by 1/255,
reshaped to the image, Conv2D(filters, 3x3, same, relu), MaxPool(2x2),
flatten, Dense(hidden, relu), Dense(classes, softmax) named `probabilities`
(frontier's head name). Its input is named after the Examples' feature key,
so the stock side's dict of parsed features feeds it by name.

Both Trainers train it with the same objective and optimiser: the mean
cross-entropy of the batch, Adam. frontier's Trainer compiles it itself
(`trainer.model.fit_batches`); the stock `run_fn` compiles it as a TFX user
does (`compile_classifier`).

`custom_config`: `filters` (default 16), `hidden` (default 64).
"""

from __future__ import annotations

from typing import Any

DEFAULT_FILTERS = 16
DEFAULT_HIDDEN = 64


def image_classifier(
    feature_key: str,
    image_shape: tuple[int, int, int],
    num_classes: int,
    config: dict[str, Any],
):
    """The ConvNet of the module docstring, uncompiled; seed Keras before calling."""
    import keras

    height, width, channels = image_shape
    inputs = keras.Input(shape=(height * width * channels,), name=feature_key)
    h = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    h = keras.layers.Reshape((height, width, channels))(h)
    h = keras.layers.Conv2D(
        int(config.get("filters", DEFAULT_FILTERS)), 3, padding="same", activation="relu"
    )(h)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(int(config.get("hidden", DEFAULT_HIDDEN)), activation="relu")(h)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(h)
    return keras.Model(inputs, outputs)


def compile_classifier(model, learning_rate: float) -> None:
    """Adam, sparse categorical cross-entropy, accuracy: the stock `run_fn`'s compile."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def build_model(spec, config: dict[str, Any]):
    """frontier's contract: the ConvNet for `spec`'s single image feature."""
    (feature_key,) = spec.info.feature_keys
    return image_classifier(feature_key, spec.image_shape, spec.num_classes, config)
