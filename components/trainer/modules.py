"""The model-module contract: how a user's Keras model enters frontier's trainers.

A model module is a Python file (`module_file`) or an importable module
(`module_path`, `package.module`), as the stock TFX Trainer takes them, with
one function::

    def build_model(spec: frontier.components.trainer.ModelSpec, config: dict) -> keras.Model

`spec` says what the Examples hold (feature keys and sizes, image shape,
class names, the train split's per-column statistics) and `config` is the
component's `custom_config` (a JSON object of the user's hyperparameters).
The model takes the concatenated float32 features, [B, spec.input_dim], and
returns class probabilities, [B, spec.num_classes] (a softmax head): the
serving signature that the stock Evaluator and the Pusher read is built
around it (`trainer.export`).

Optionally, the module preprocesses the inputs in the graph::

    def preprocess_inputs(x: tf.Tensor, spec: ModelSpec, config: dict) -> tf.Tensor

from the features x float32 [B, spec.input_dim] to what the model takes
(any shape [B, ...], e.g. images [B, H, W, C] scaled to [0, 1]). It runs in
the input pipeline while training (in parallel with the steps, as TFX
Transform's output would be read) and is saved into the serving signatures
ahead of the model, so a served request is preprocessed exactly as the
training batches were; `build_model` then builds a model from that shape. The head is the layer named by the module's
optional `HEAD_LAYER` constant (default "probabilities", the built-in
models' name): fine-tuning a pre-trained model (`Trainer(base_model=...)`)
keeps everything below it and puts a fresh head of the new label space on
top. A module whose model has custom layers registers them
(`keras.saving.register_keras_serializable`), so that the saved model loads
when the fine-tuning step imports the module.

frontier's own models are modules of the same contract, chosen by name
(`BUILTIN_MODULES`: `model_type="mlp"` is `frontier.components.trainer.mlp_module`),
so a pipeline that names a `model_type` and one that names a module take the
same path.

Loading reuses TFX's `udf_utils.get_fn`, so a `module_file` that a TFX runner
packaged into a wheel under the pipeline root (`udf_utils.add_user_module_dependency`,
the stock Trainer's mechanism, which is what lets a Vertex AI or Kubeflow
worker that never saw the user's machine import it) loads the same way as a
local file. The module's source enters the component's cache key
(`module_version`), so editing it re-runs the step.

Every failure names the module and the function: a missing file, an import
error inside it, no `build_model`, a result that is not a `keras.Model`, a
model whose input or output size does not match the data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from frontier.components.common import progress
from frontier.components.common.errors import InputError
from frontier.schemas.dataset import DatasetInfo

BUILD_FN = "build_model"
PREPROCESS_FN = "preprocess_inputs"  # optional: in-graph input preprocessing
HEAD_ATTR = "HEAD_LAYER"  # optional module constant: the name of the model's softmax head
DEFAULT_HEAD_LAYER = "probabilities"  # the built-in models' (model.HEAD_LAYER)
MODULE_FILE_KEY = "module_file"  # TFX's names: udf_utils reads these keys
MODULE_PATH_KEY = "module_path"
CUSTOM_CONFIG_KEY = "custom_config"

# model_type -> the built-in module that builds it.
BUILTIN_MODULES = {
    "mlp": "frontier.components.trainer.mlp_module",
    "convnet": "frontier.components.trainer.convnet_module",
}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What a model module builds its model from.

    Attributes:
      info: the `DatasetInfo` the model is trained on, as seen by its label:
        `feature_keys`, `feature_dims`, `image_shape` (H, W, C) or None,
        `class_names` (what the outputs mean).
      feature_mean, feature_variance: float32 [input_dim], the train split's
        statistics per column (per channel, repeated, for images; see
        `model.feature_stats`), for a standardisation layer.
    """

    info: DatasetInfo
    feature_mean: np.ndarray
    feature_variance: np.ndarray

    @property
    def input_dim(self) -> int:
        return self.info.input_dim

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        return self.info.image_shape


def model_spec(info: DatasetInfo, train_x: np.ndarray) -> ModelSpec:
    """The `ModelSpec` of a train split: `info` and the statistics of x [N, D]."""
    from frontier.components.trainer.model import feature_stats

    mean, variance = feature_stats(train_x, info.image_shape)
    return ModelSpec(info, mean, variance)


def parse_custom_config(value: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """`custom_config` as a dict: a JSON object (text or mapping), or {} when unset.

    Raises:
      InputError: naming `custom_config` when it is not a JSON object.
    """
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        config = dict(value)
    else:
        try:
            config = json.loads(value)
        except (TypeError, ValueError) as e:
            raise _bad_config(f"custom_config is not JSON: {e}") from None
    if not isinstance(config, dict):
        raise _bad_config(f"custom_config is {type(config).__name__} {config!r}")
    try:
        json.dumps(config)
    except (TypeError, ValueError) as e:
        raise _bad_config(f"custom_config cannot be written as JSON: {e}") from None
    return config


def _bad_config(what: str) -> InputError:
    return InputError(
        what, parameter=CUSTOM_CONFIG_KEY, expected="a JSON object of hyperparameters"
    )


def check_module_choice(module_file: str | None, module_path: str | None) -> None:
    """At most one of `module_file` and `module_path`; a given file must exist.

    Raises:
      InputError: naming the parameter.
    """
    if module_file and module_path:
        raise InputError(
            f"both module_file {module_file!r} and module_path {module_path!r} are set",
            parameter=MODULE_FILE_KEY,
            expected="one of module_file and module_path",
        )
    if module_file and not os.path.isfile(module_file) and "://" not in module_file:
        raise InputError(
            "no such module file", file=module_file, expected="a Python file with build_model"
        )


def module_version(module_file: str | None, module_path: str | None) -> str:
    """16 hex characters of the module's source, for the cache key ("" with neither).

    A `module_path` is hashed by the file Python would import it from
    (`importlib.util.find_spec`, which imports its parent packages).
    """
    source = module_file
    if module_path and not module_file:
        found = importlib.util.find_spec(module_path.split("@", 1)[0])
        source = found.origin if found is not None else None
        if source is None:
            raise InputError(
                f"module {module_path!r} cannot be found",
                parameter=MODULE_PATH_KEY,
                expected="an importable package.module with build_model",
            )
    if not source:
        return ""
    import tensorflow as tf  # gfile: the file may be on gs://

    with tf.io.gfile.GFile(source, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def module_parameters(
    module_file: str | None, module_path: str | None, custom_config: Any
) -> dict[str, str | None]:
    """The three execution properties of a component's model module, checked.

    A local `module_file` is made absolute (the runner packages it from
    there); `custom_config` becomes canonical JSON (None when empty).

    Raises:
      InputError: both module parameters, a missing file, or a `custom_config`
        that is not a JSON object.
    """
    check_module_choice(module_file, module_path)
    config = parse_custom_config(custom_config)
    if module_file and "://" not in module_file:
        module_file = os.path.abspath(module_file)
    return {
        MODULE_FILE_KEY: module_file or None,
        MODULE_PATH_KEY: module_path or None,
        CUSTOM_CONFIG_KEY: json.dumps(config, sort_keys=True) if config else None,
    }


def with_module_version(code_version: str, parameters: Mapping[str, str | None]) -> str:
    """A component's `component_version` with its user module's source hash
    appended (`module_version`), so that editing the module re-runs the step."""
    version = module_version(parameters[MODULE_FILE_KEY], parameters[MODULE_PATH_KEY])
    return f"{code_version}+{version}" if version else code_version


def package_module_file(component: Any) -> None:
    """Lets the TFX runner package the component's `module_file` as a wheel under
    the pipeline root (the stock Trainer's `udf_utils.add_user_module_dependency`),
    so a remote worker imports it; a no-op without a module file."""
    if component.exec_properties.get(MODULE_FILE_KEY):
        from tfx.components.util import udf_utils

        udf_utils.add_user_module_dependency(component, MODULE_FILE_KEY, MODULE_PATH_KEY)


def uses_module(params: Mapping[str, Any]) -> bool:
    """Whether a component's parameters name a user module (file or path)."""
    return bool(params.get(MODULE_FILE_KEY) or params.get(MODULE_PATH_KEY))


def describe_model(params: Mapping[str, Any]) -> str:
    """The model of a component's parameters in a word: the module, or `model_type`."""
    return params.get(MODULE_FILE_KEY) or params.get(MODULE_PATH_KEY) or params["model_type"]


@dataclasses.dataclass(frozen=True)
class ModelFunctions:
    """What a trainer takes from its model module, bound to the data's `ModelSpec`.

    Attributes:
      build: `() -> keras.Model`, checked (`ModelModule.build`).
      preprocess: the module's `preprocess_inputs` as `fn(x) -> tensor`
        (float32 [B, input_dim] -> the model's input), or None.
    """

    build: Callable[[], Any]
    preprocess: Callable[[Any], Any] | None


def model_functions(params: Mapping[str, Any], spec: ModelSpec) -> ModelFunctions:
    """The model module of a trainer component's parameters, bound to `spec`.

    The module is `module_file` or `module_path`, else the built-in
    `model_type` with `hidden_units` in its config; `custom_config` is its
    config.

    Raises:
      InputError: see `load_model_module` and `ModelModule.preprocessor`.
    """

    from frontier.components.trainer.model import parse_hidden_units

    module = load_model_module(
        params.get(MODULE_FILE_KEY), params.get(MODULE_PATH_KEY), params["model_type"]
    )
    config = parse_custom_config(params.get(CUSTOM_CONFIG_KEY))
    if not uses_module(params):
        config = {"hidden_units": list(parse_hidden_units(params["hidden_units"])), **config}
    progress.detail("model module %s, custom_config %s", module.name, config)
    preprocess = module.preprocessor(spec, config)
    return ModelFunctions(lambda: module.build(spec, config, preprocess), preprocess)


def model_builder(params: Mapping[str, Any], spec: ModelSpec) -> Callable[[], Any]:
    """`() -> keras.Model` from a trainer component's parameters (`model_functions`)."""
    return model_functions(params, spec).build


@dataclasses.dataclass(frozen=True)
class ModelModule:
    """A loaded model module.

    Attributes:
      name: the module as the user named it (file or path), for errors.
      build_fn: its `build_model(spec, config)`.
      head_layer: the name of its models' softmax head (the module's
        `HEAD_LAYER`, default "probabilities"): what fine-tuning replaces.
      preprocess_fn: its `preprocess_inputs(x, spec, config)`, or None.
    """

    name: str
    build_fn: Callable[[ModelSpec, dict[str, Any]], Any]
    head_layer: str = DEFAULT_HEAD_LAYER
    preprocess_fn: Callable[..., Any] | None = None

    def preprocessor(
        self, spec: ModelSpec, config: Mapping[str, Any]
    ) -> Callable[[Any], Any] | None:
        """`preprocess_inputs` bound to (spec, config) as `fn(x) -> tensor`, or
        None without one; tried once on a batch of zeros [2, input_dim].

        Raises:
          InputError: naming the module and `preprocess_inputs` when it
            raises, or returns something other than a float tensor [2, ...].
        """
        if self.preprocess_fn is None:
            return None
        import tensorflow as tf

        fn, config = self.preprocess_fn, dict(config)
        where = f"{self.name}: {PREPROCESS_FN}"
        expected = "a function from float32 features [B, spec.input_dim] to a float tensor [B, ...]"
        try:
            probe = fn(tf.zeros([2, spec.input_dim], tf.float32), spec, config)
        except InputError:
            raise
        except Exception as e:  # the user's code: say whose it was
            raise InputError(
                f"{where} raised {type(e).__name__}: {e}", function=PREPROCESS_FN, expected=expected
            ) from e
        if not (tf.is_tensor(probe) and probe.dtype.is_floating and probe.shape[:1] == [2]):
            raise InputError(
                f"{where} returned {type(probe).__name__} "
                f"{getattr(probe, 'shape', '')} for a batch of 2",
                function=PREPROCESS_FN,
                expected=expected,
            )
        return lambda x: fn(x, spec, config)

    def build(
        self,
        spec: ModelSpec,
        config: Mapping[str, Any],
        preprocess: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Calls `build_model(spec, config)` and checks what it returns.

        Raises:
          InputError: naming the module and `build_model` when it raises, or
            returns something other than a `keras.Model` from the inputs
            ([B, spec.input_dim], or what `preprocess` makes of them) to
            [B, spec.num_classes].
        """
        import keras

        where = f"{self.name}: {BUILD_FN}"
        try:
            model = self.build_fn(spec, dict(config))
        except InputError:
            raise
        except Exception as e:  # the user's code: say whose it was
            raise InputError(
                f"{where} raised {type(e).__name__}: {e}",
                function=BUILD_FN,
                expected="a function that builds a keras.Model from (spec, config)",
            ) from e
        if not isinstance(model, keras.Model):
            raise InputError(
                f"{where} returned {type(model).__name__}, not a keras.Model",
                function=BUILD_FN,
                expected="a keras.Model",
            )
        inputs = _input_shape(spec, preprocess)
        got = (tuple(model.input_shape[1:]), model.output_shape[-1])
        if got != (inputs, spec.num_classes):
            what = "the data's features" if preprocess is None else f"{PREPROCESS_FN}'s output"
            raise InputError(
                f"{where} returned a model from inputs {got[0]} to {got[1]} outputs",
                function=BUILD_FN,
                expected=f"a model from inputs {inputs} ({what}) to {spec.num_classes} "
                "class probabilities (the data's classes)",
            )
        return model


def _input_shape(spec: ModelSpec, preprocess: Callable[[Any], Any] | None) -> tuple[int, ...]:
    """The model's input shape without the batch axis: (input_dim,), or what
    `preprocess` makes of a batch of features."""
    if preprocess is None:
        return (spec.input_dim,)
    import tensorflow as tf

    return tuple(int(d) for d in preprocess(tf.zeros([2, spec.input_dim], tf.float32)).shape[1:])


def module_function(
    module_file: str | None, module_path: str | None, fn: str, signature: str
) -> Callable:
    """Function `fn` of the module named by `module_file` or `module_path`, through TFX's
    `udf_utils.get_fn` (which also installs a `module@wheel` a TFX runner packaged).

    Args:
      module_file, module_path: the module (one of the two).
      fn: the function's name.
      signature: how it is called, for the errors, e.g. "build_model(spec, config) ->
        keras.Model".

    Raises:
      InputError: naming the module: an error while importing it, no `fn` in it, or an
        `fn` that is not a function.
    """
    from tfx.components.util import udf_utils

    name = module_file or module_path
    properties = {MODULE_FILE_KEY: module_file, MODULE_PATH_KEY: module_path}
    try:
        found = udf_utils.get_fn(properties, fn)
    except AttributeError:
        raise InputError(
            f"{name} has no function {fn!r}",
            function=fn,
            expected=f"a module that defines {signature}",
        ) from None
    except Exception as e:  # an import error inside the user's module
        raise InputError(
            f"cannot import {name}: {type(e).__name__}: {e}",
            parameter=MODULE_FILE_KEY if module_file else MODULE_PATH_KEY,
            expected="a module that imports cleanly",
        ) from e
    if not callable(found):
        raise InputError(
            f"{name}: {fn} is {type(found).__name__}, not a function",
            function=fn,
            expected=signature,
        )
    return found


def load_model_module(
    module_file: str | None = None, module_path: str | None = None, model_type: str = "mlp"
) -> ModelModule:
    """The module named by `module_file` or `module_path`, else the built-in `model_type`.

    `module_path` may be TFX's packaged form `module@wheel` (a TFX runner
    packages a `module_file` that way); TFX's `udf_utils.get_fn` installs the
    wheel to a temporary directory and imports it.

    Raises:
      InputError: naming the module: not found, an error while importing it,
        or no `build_model` function in it.
    """
    check_module_choice(module_file, module_path)
    if not module_file and not module_path:
        from frontier.components.trainer.model import check_model_type

        check_model_type(model_type)
        module_path = BUILTIN_MODULES[model_type]
    name = module_file or module_path
    build_fn = module_function(
        module_file, module_path, BUILD_FN, f"{BUILD_FN}(spec, config) -> keras.Model"
    )
    # The module's own namespace: read once, so a custom Keras object it
    # registers is registered once per load.
    namespace = getattr(build_fn, "__globals__", {})
    head = namespace.get(HEAD_ATTR, DEFAULT_HEAD_LAYER)
    preprocess = namespace.get(PREPROCESS_FN)
    if preprocess is not None and not callable(preprocess):
        raise InputError(
            f"{name}: {PREPROCESS_FN} is {type(preprocess).__name__}, not a function",
            function=PREPROCESS_FN,
            expected=f"{PREPROCESS_FN}(x, spec, config) -> tf.Tensor",
        )
    if not isinstance(head, str) or not head:
        raise InputError(
            f"{name}: {HEAD_ATTR} is {head!r}",
            function=HEAD_ATTR,
            expected="the name of the model's softmax head layer",
        )
    return ModelModule(name, build_fn, head, preprocess)
