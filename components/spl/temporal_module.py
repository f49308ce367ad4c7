"""A temporal student for clips as a model module (the Trainer's model-module contract).

Use it as `Trainer(module_path="frontier.components.spl.temporal_module",
custom_config={"frames": 4})` (or `module_file=` this file) on clips written
by `spl.videos.write_clips_npz`: each example is one image of
(frames * H) x W x C, the clip's frames stacked top to bottom, so the
concatenated features [B, frames * H * W * C] are the frames in order, each
in HWC order (`trainer.modules` for the contract).

Architecture (every layer a stock Keras layer, so the saved model loads
without registering anything):
  1. standardise the inputs with the train split's statistics (`spec`);
  2. per-frame encoder, shared across frames: reshape to [B, k, H, W, C];
     per entry f of `conv_filters` a Conv3D(f, kernel 1 x 3 x 3, relu), i.e.
     a 3 x 3 Conv2D applied to each frame with the same weights, then
     MaxPool3D(1 x 2 x 2) while the frame is at least 2 x 2; flatten each
     frame and Dense(`frame_units`, relu) -> frame embeddings [B, k, frame_units];
  3. temporal model: `temporal="conv"` (default): Conv1D(`temporal_filters`,
     `temporal_kernel`, same, relu) over the frame axis, so a feature can
     respond to one action followed by another; `"pool"`: none; then
     average pooling over frames -> [B, features];
  4. head: Dense(num_classes, softmax) named `HEAD_LAYER`, which fine-tuning
     (`Trainer(base_model=...)`) replaces by a fresh head of the target's
     classes, keeping 1-3 with their weights.

`custom_config` keys (all optional):
  frames: k, frames per clip (default: the image's height over its width,
    i.e. square frames); the image height must be a multiple of it.
  conv_filters: list of ints (default [16, 32]).
  frame_units: int (default 64).
  temporal: "conv" or "pool" (default "conv").
  temporal_filters: int (default 64); temporal_kernel: int (default 3).
"""

from __future__ import annotations

from typing import Any

from frontier.components.common.errors import InputError
from frontier.components.trainer.modules import ModelSpec

HEAD_LAYER = "clip_probabilities"  # the softmax head that fine-tuning replaces
TEMPORAL_CHOICES = ("conv", "pool")
DEFAULTS = {
    "conv_filters": [16, 32],
    "frame_units": 64,
    "temporal": "conv",
    "temporal_filters": 64,
    "temporal_kernel": 3,
}


def _positive_int(config: dict[str, Any], key: str) -> int:
    value = config.get(key, DEFAULTS.get(key))
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{key} = {value!r}", parameter=key, expected="an integer >= 1")
    return value


def clip_shape(spec: ModelSpec, config: dict[str, Any]) -> tuple[int, int, int, int]:
    """(k, H, W, C) of one clip from the examples' filmstrip image shape and `frames`.

    Raises:
      InputError: examples without an image shape, or a `frames` that does
        not divide the image's height.
    """
    if spec.image_shape is None:
        raise InputError(
            "the examples have no image_shape",
            parameter="module_path",
            expected="clips written as filmstrip images (spl.videos.write_clips_npz, then Ingest)",
        )
    height, width, channels = spec.image_shape
    if "frames" in config:
        frames = _positive_int(config, "frames")
    else:
        frames = height // width if height % width == 0 else 0
    if frames < 1 or height % frames:
        raise InputError(
            f"frames = {config.get('frames', 'inferred ' + str(frames))} for images of height "
            f"{height}",
            parameter="frames",
            expected=f"a divisor of {height} (custom_config 'frames': frames per clip)",
        )
    return frames, height // frames, width, channels


def build_model(spec: ModelSpec, config: dict[str, Any]):
    """The temporal student of `spec`'s sizes; see the module docstring for `config`.

    Returns:
      A `keras.Model` from float32 [B, k * H * W * C] to probabilities
      [B, spec.num_classes].
    """
    import keras

    frames, height, width, channels = clip_shape(spec, config)
    filters = config.get("conv_filters", DEFAULTS["conv_filters"])
    if not isinstance(filters, list | tuple) or not all(
        isinstance(f, int) and not isinstance(f, bool) and f > 0 for f in filters
    ):
        raise InputError(
            f"conv_filters = {filters!r}",
            parameter="conv_filters",
            expected="a list of positive integers",
        )
    frame_units = _positive_int(config, "frame_units")
    temporal = config.get("temporal", DEFAULTS["temporal"])
    if temporal not in TEMPORAL_CHOICES:
        raise InputError(
            f"temporal = {temporal!r}", parameter="temporal", expected=" or ".join(TEMPORAL_CHOICES)
        )

    inputs = keras.Input(shape=(spec.input_dim,), dtype="float32", name="x")
    h = keras.layers.Normalization(
        mean=spec.feature_mean, variance=spec.feature_variance, name="standardize"
    )(inputs)
    h = keras.layers.Reshape((frames, height, width, channels), name="frames")(h)
    for i, f in enumerate(filters):
        h = keras.layers.Conv3D(
            int(f), (1, 3, 3), padding="same", activation="relu", name=f"frame_conv{i}"
        )(h)
        if height >= 2 and width >= 2:
            h = keras.layers.MaxPooling3D((1, 2, 2), name=f"frame_pool{i}")(h)
            height, width = height // 2, width // 2
    per_frame = height * width * (int(filters[-1]) if filters else channels)
    h = keras.layers.Reshape((frames, per_frame), name="frame_features")(h)
    h = keras.layers.Dense(frame_units, activation="relu", name="frame_embedding")(h)
    if temporal == "conv":
        h = keras.layers.Conv1D(
            _positive_int(config, "temporal_filters"),
            _positive_int(config, "temporal_kernel"),
            padding="same",
            activation="relu",
            name="temporal_conv",
        )(h)
    h = keras.layers.GlobalAveragePooling1D(name="temporal_pool")(h)
    outputs = keras.layers.Dense(spec.num_classes, activation="softmax", name=HEAD_LAYER)(h)
    return keras.Model(inputs, outputs, name="frontier_temporal_student")
