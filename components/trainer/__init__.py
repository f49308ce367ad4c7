"""Trainer: a Keras classifier (the user's model module, or the built-in MLP / ConvNet).

The model-module contract (`modules`): a file or module with
`build_model(spec: ModelSpec, config: dict) -> keras.Model`; the built-in
models are modules of it (`BUILTIN_MODULES`).

The train step every streaming Keras trainer shares (`step`): an objective
over the global batch (`objective_model`; cross-entropy here, CIW's in
`ciw`) on every local accelerator (`local_strategy`).

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
    serving_module,
)
from frontier.components.trainer.model import (
    HEAD_LAYER,
    MODEL_TYPES,
    ModelDims,
    as_dims,
    build_model,
    check_model_dims,
    check_model_type,
    feature_stats,
    parse_hidden_units,
    stop_after,
    train,
)
from frontier.components.trainer.modules import (
    BUILTIN_MODULES,
    MODULE_FILE_KEY,
    MODULE_PATH_KEY,
    ModelFunctions,
    ModelModule,
    ModelSpec,
    check_module_choice,
    describe_model,
    load_model_module,
    model_builder,
    model_functions,
    model_spec,
    module_function,
    module_parameters,
    package_module_file,
    parse_custom_config,
    with_module_version,
)
from frontier.components.trainer.step import (
    CLEAN,
    FLIPPED,
    HISTOGRAM_EDGES,
    cross_entropy,
    gather_global,
    histogram_callback,
    jit_setting,
    local_strategy,
    objective_model,
    preprocessed,
    replica_total,
)

__all__ = [
    "BUILTIN_MODULES",
    "CLASSES",
    "CLEAN",
    "FLIPPED",
    "HISTOGRAM_EDGES",
    "FEATURES_SIGNATURE",
    "HEAD_LAYER",
    "INPUT_NAME",
    "MODEL_TYPES",
    "ModelFunctions",
    "ModelModule",
    "MODULE_FILE_KEY",
    "MODULE_PATH_KEY",
    "ModelSpec",
    "check_module_choice",
    "PROBABILITIES",
    "SERVING_DIR",
    "SIGNATURE",
    "ModelDims",
    "Trainer",
    "as_dims",
    "build_model",
    "check_model_dims",
    "check_model_type",
    "cross_entropy",
    "describe_model",
    "export_serving_model",
    "feature_stats",
    "gather_global",
    "histogram_callback",
    "jit_setting",
    "local_strategy",
    "load_keras_model",
    "load_model_module",
    "model_builder",
    "model_functions",
    "load_serving_signature",
    "model_info",
    "model_spec",
    "module_function",
    "module_parameters",
    "objective_model",
    "package_module_file",
    "parse_custom_config",
    "parse_hidden_units",
    "predict_examples",
    "predict_serialized",
    "preprocessed",
    "replica_total",
    "save_model_artifact",
    "save_serving_module",
    "serving_dir",
    "serving_module",
    "stop_after",
    "train",
    "with_module_version",
]

# The component needs TFX (seconds to import); the plain functions do not.
__getattr__ = lazy_exports(__name__, {"Trainer": "frontier.components.trainer.component"})
