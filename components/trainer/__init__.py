"""Baseline trainer: a plain Keras classifier (MLP or small ConvNet) and its TFX component.

Plain functions (no TFX import): `build_model`, `train`, `export_serving_model`,
`save_model_artifact`, `predict_examples`, ... The `Trainer` component is
imported lazily, so `from frontier.components.trainer import train` stays light.
"""

from frontier.components.common.lazy import lazy_exports
from frontier.components.trainer.export import (
    CLASSES,
    FEATURES_SIGNATURE,
    INPUT_NAME,
    PROBABILITIES,
    SERVING_DIR,
    SIGNATURE,
    export_serving_model,
    load_keras_model,
    load_serving_signature,
    model_info,
    predict_examples,
    predict_serialized,
    save_model_artifact,
    save_serving_module,
    serving_dir,
)
from frontier.components.trainer.model import (
    HEAD_LAYER,
    MODEL_TYPES,
    ModelDims,
    as_dims,
    build_model,
    check_model_type,
    feature_stats,
    parse_hidden_units,
    train,
)

__all__ = [
    "CLASSES",
    "FEATURES_SIGNATURE",
    "HEAD_LAYER",
    "INPUT_NAME",
    "MODEL_TYPES",
    "PROBABILITIES",
    "SERVING_DIR",
    "SIGNATURE",
    "ModelDims",
    "Trainer",
    "as_dims",
    "build_model",
    "check_model_type",
    "export_serving_model",
    "feature_stats",
    "load_keras_model",
    "load_serving_signature",
    "model_info",
    "parse_hidden_units",
    "predict_examples",
    "predict_serialized",
    "save_model_artifact",
    "save_serving_module",
    "serving_dir",
    "train",
]

# The component needs TFX (seconds to import); the plain functions do not.
__getattr__ = lazy_exports(__name__, {"Trainer": "frontier.components.trainer.component"})
