"""The one executor path of frontier's components (in the spirit of TFX's `BaseExampleGenExecutor`).

TFX calls `Do(input_dict, output_dict, exec_properties)`. Every frontier
executor subclasses `ComponentExecutor`, whose `Do` wraps the three dicts in a
`Job` (artifacts by key, execution properties typed by the component's spec,
with the spec's `DEFAULTS` for those left unset) and calls the subclass's
`run(job)`, which states the component's steps and calls its plain functions.

Model-producing components (Trainer, CiwTrainer, KipDistill, DpFtrlTrainer)
share two more steps:

- `load_labelled_splits`: `dataset_info.json`, the label column checked, the
  `train` split (required, non-empty) and the `eval` split (when not empty)
  loaded, every feature finite, every label an id of its label space;
- `publish_model`: the model saved (SavedModel at `<uri>/Format-Serving` with
  `dataset_info.json` beside it: the component's `save`), the accuracy
  properties that every frontier `Model` carries (`MODEL_PROPERTIES`) and the
  component's own properties set on the artifact.

The contract these steps keep is checked for every model-producing component
by `tests/test_model_contract.py`.
"""

from __future__ import annotations

import abc
import dataclasses
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from tfx.dsl.components.base import base_beam_executor, base_executor
from tfx.types import artifact_utils
from tfx.types.component_spec import ComponentSpec

from frontier.components.common import progress
from frontier.components.common.checks import check_labels
from frontier.components.common.errors import InputError
from frontier.components.common.examples_io import (
    FEATURES,
    check_label_column,
    load_train_and_eval,
    split_uri,
)
from frontier.components.common.scores import cross_entropy_and_accuracy
from frontier.components.common.versioning import COMPONENT_VERSION_KEY
from frontier.schemas.dataset import EVAL_SPLIT, TRAIN_SPLIT, DatasetInfo

# Custom properties every frontier `Model` carries (floats): accuracy on the
# train split and, with an eval split, accuracy and the component's loss on it
# (cross-entropy of the served probabilities for the Keras models, the KRR
# mean squared error for KipDistill).
TRAIN_ACCURACY_PROPERTY = "train_accuracy"
EVAL_ACCURACY_PROPERTY = "eval_accuracy"
EVAL_LOSS_PROPERTY = "eval_loss"
MODEL_PROPERTIES = (TRAIN_ACCURACY_PROPERTY, EVAL_ACCURACY_PROPERTY, EVAL_LOSS_PROPERTY)

PropertyValue = str | int | float | bool | None


def typed_parameters(
    spec_class: type[ComponentSpec], exec_properties: Mapping[str, Any]
) -> dict[str, Any]:
    """The execution properties, each as the type its spec declares.

    A property left unset (absent, None or "") takes the spec class's
    `DEFAULTS` entry when it has one, else None. TFX hands over what MLMD
    stored, which can be a float for an int parameter (a runtime parameter
    passed as a double by the KFP launcher), hence the conversion.
    """
    defaults = getattr(spec_class, "DEFAULTS", {})
    params = {}
    for key, parameter in spec_class.PARAMETERS.items():
        value = exec_properties.get(key)
        if value is None or value == "":
            value = defaults.get(key)
        kind = parameter.type
        params[key] = kind(value) if value is not None and kind in (int, float, str) else value
    return params


@dataclasses.dataclass(frozen=True)
class Job:
    """One execution: its artifacts by spec key and its typed parameters.

    Attributes:
      inputs, outputs: the dicts TFX passed to `Do` (key -> list of artifacts).
      params: the execution properties, typed (`typed_parameters`).
      node: the pipeline node's id (e.g. `TrainOnKip_10pc`), for progress
        lines; empty when the executor runs outside a pipeline.
    """

    inputs: Mapping[str, list[Any]]
    outputs: Mapping[str, list[Any]]
    params: Mapping[str, Any]
    node: str = ""

    def input(self, key: str) -> Any:
        """The one artifact of input `key`."""
        return artifact_utils.get_single_instance(list(self.inputs[key]))

    def optional_input(self, key: str) -> Any | None:
        """The one artifact of an optional input `key`, or None when it was not given."""
        artifacts = self.inputs.get(key) or []
        return artifact_utils.get_single_instance(list(artifacts)) if artifacts else None

    def output(self, key: str) -> Any:
        """The one artifact of output `key`."""
        return artifact_utils.get_single_instance(list(self.outputs[key]))


class _RunsJobs(abc.ABC):
    """`Do` builds the `Job` from the spec in `SPEC_CLASS` and calls `run`."""

    SPEC_CLASS: type[ComponentSpec]

    def Do(  # noqa: N802 - TFX's name
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],
        exec_properties: dict[str, Any],
    ) -> None:
        params = typed_parameters(self.SPEC_CLASS, exec_properties)
        self.run(Job(input_dict, output_dict, params, self._node_id()))

    def _node_id(self) -> str:
        """The node's id in its pipeline (TFX passes it in the executor's context)."""
        context = getattr(self, "_context", None)
        node = getattr(context, "pipeline_node", None)
        return node.node_info.id if node is not None else ""

    @abc.abstractmethod
    def run(self, job: Job) -> None:
        """Reads the inputs, runs the component's plain functions, writes the outputs."""


class ComponentExecutor(_RunsJobs, base_executor.BaseExecutor):
    """Base of frontier's executors: subclasses set `SPEC_CLASS` and implement `run`."""


class BeamComponentExecutor(_RunsJobs, base_beam_executor.BaseBeamExecutor):
    """`ComponentExecutor` for a component that runs a Beam pipeline
    (`self._make_beam_pipeline()` honours the pipeline's `beam_pipeline_args`)."""


@dataclasses.dataclass(frozen=True)
class LabelledSplits:
    """The labelled splits a model is trained and measured on.

    Attributes:
      uri: the `Examples` artifact's URI.
      info: its `DatasetInfo`.
      label_key: the int role column the model is trained on.
      label_info: `info.for_label(label_key)`: what the model's outputs mean
        (the label space's class names); what the model is exported with.
      splits: split name (`train`, and `eval` when present and not empty) ->
        arrays as `examples_io.load_split` returns them: `x` float32
        [N, input_dim] (finite), int64 [N] label columns (checked ids).
    """

    uri: str
    info: DatasetInfo
    label_key: str
    label_info: DatasetInfo
    splits: dict[str, dict[str, np.ndarray]]

    @property
    def train(self) -> dict[str, np.ndarray]:
        return self.splits[TRAIN_SPLIT]

    @property
    def eval(self) -> dict[str, np.ndarray] | None:
        return self.splits.get(EVAL_SPLIT)

    def xy(self, split: str, key: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(features [N, D], labels [N] of `key`, default the label key) of one split."""
        arrays = self.splits[split]
        return arrays[FEATURES], arrays[key or self.label_key]


def load_labelled_splits(
    examples: Any,
    label_key: str,
    owner: str,
    *,
    also_check: tuple[str, ...] = (),
    train: bool = True,
) -> LabelledSplits:
    """Loads and checks the `train` and `eval` splits of an `Examples` artifact.

    Args:
      examples: a frontier `Examples` artifact.
      label_key: the int role column to train on; its ids are checked against
        its label space (`DatasetInfo.classes_of`).
      owner: the calling component's name, for log lines.
      also_check: further int role columns whose ids are checked against
        their label spaces (e.g. `true_label`).
      train: False: only the `eval` split is loaded (`splits` has no `train`;
        the caller reads it otherwise, e.g. as a client store).

    Returns:
      The `LabelledSplits`.

    Raises:
      InputError: no such label column; no or an empty `train` split; a row
        with a NaN or infinite feature; a label id outside its label space;
        features that do not have `info.input_dim` columns. Each names the
        file, row and column.
    """
    info = DatasetInfo.read(examples.uri)
    check_label_column(info, label_key, examples.uri)
    data = load_train_and_eval(examples, info, owner, train=train)
    for split, arrays in data.items():
        file = split_uri(examples.uri, split)
        _check_features(arrays[FEATURES], info, file)
        for key in dict.fromkeys((label_key, *also_check)):
            classes = len(info.classes_of(key))
            arrays[key] = check_labels(arrays[key], classes, column=key, file=file)
    return LabelledSplits(examples.uri, info, label_key, info.for_label(label_key), data)


def _check_features(x: np.ndarray, info: DatasetInfo, file: str) -> None:
    """`info.input_dim` finite feature columns, or an error naming the first bad row."""
    if x.ndim != 2 or x.shape[1] != info.input_dim:
        raise InputError(
            f"features have shape {x.shape}",
            file=file,
            column=", ".join(info.feature_keys),
            expected=f"[N, {info.input_dim}] (dataset_info.json's feature_dims)",
        )
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise InputError(
            f"{bad.size} examples hold NaN or infinite feature values",
            file=file,
            row=int(bad[0]) + 1,
            column=", ".join(info.feature_keys),
            expected="finite features",
        )


def set_properties(artifact: Any, properties: Mapping[str, PropertyValue]) -> None:
    """Sets custom properties by their Python type (str, int / bool, float); skips None."""
    for key, value in properties.items():
        if value is None:
            continue
        if isinstance(value, str):
            artifact.set_string_custom_property(key, value)
        elif isinstance(value, (bool, numbers.Integral)):
            artifact.set_int_custom_property(key, int(value))
        else:
            artifact.set_float_custom_property(key, float(value))


def accuracy_properties(metrics: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """`MODEL_PROPERTIES` from per-split metrics (split -> {"accuracy", "loss"})."""
    properties = {TRAIN_ACCURACY_PROPERTY: float(metrics[TRAIN_SPLIT]["accuracy"])}
    if EVAL_SPLIT in metrics:
        properties[EVAL_ACCURACY_PROPERTY] = float(metrics[EVAL_SPLIT]["accuracy"])
        properties[EVAL_LOSS_PROPERTY] = float(metrics[EVAL_SPLIT]["loss"])
    return properties


def publish_model(
    artifact: Any,
    save: Callable[[str], str],
    metrics: Mapping[str, Mapping[str, float]],
    properties: Mapping[str, PropertyValue],
    owner: str,
) -> str:
    """Saves a model into its `Model` artifact and sets the artifact's properties.

    Args:
      artifact: the output `Model` artifact.
      save: writes the artifact's layout under the URI it is given (SavedModel
        at `<uri>/Format-Serving` with `dataset_info.json` beside it) and
        returns the SavedModel directory, e.g. `trainer.save_model_artifact`
        bound to the model and its `DatasetInfo`.
      metrics: split -> {"accuracy", "loss"} of the saved model; `train` is
        required. Gives the `MODEL_PROPERTIES`.
      properties: the component's own custom properties.
      owner: the component's name, for the log line.

    Returns:
      The SavedModel directory.
    """
    path = save(artifact.uri)
    progress.detail("%s: SavedModel written to %s", owner, path)
    set_properties(artifact, {**accuracy_properties(metrics), **properties})
    return path


def keras_split_metrics(
    model: Any,
    data: LabelledSplits,
    targets: Mapping[str, str] | None = None,
    also: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Loss and accuracy of a Keras classifier on each split.

    The loss is `scores.cross_entropy_and_accuracy`'s: the probabilities the
    model serves, floored at 1e-7 as Keras' and TFMA's cross-entropy on
    probabilities clip them (so a frontier model's `eval_loss` is what the
    stock Evaluator reports for it).

    Args:
      model: float32 [N, D] -> probabilities [N, C].
      data: the splits.
      targets: split -> the label column it is scored against (default: the
        label key for every split).
      also: metric name -> a further label column whose accuracy is reported
        under that name (e.g. `{"true_accuracy": "true_label"}`).

    Returns:
      split -> {"examples", "labels" (the target column), "loss", "accuracy",
      and one accuracy per `also` entry}.
    """
    metrics = {}
    for split, arrays in data.splits.items():
        target = (targets or {}).get(split, data.label_key)
        probabilities = model.predict(arrays[FEATURES], batch_size=1024, verbose=0)
        loss, accuracy = cross_entropy_and_accuracy(probabilities, arrays[target])
        metrics[split] = {
            "examples": len(arrays[target]),
            "labels": target,
            "loss": loss,
            "accuracy": accuracy,
        }
        for name, column in (also or {}).items():
            metrics[split][name] = cross_entropy_and_accuracy(probabilities, arrays[column])[1]
    return metrics


def page_parameters(params: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """The parameters a page shows: the job's, without the cache-key-only
    `component_version`, with `overrides` replacing or adding entries."""
    shown = {k: v for k, v in params.items() if k != COMPONENT_VERSION_KEY}
    return {**shown, **overrides}


def source_of(info: DatasetInfo, uri: str) -> str:
    """The subtitle line of a page: where the data came from."""
    return f"data: {info.source or uri}"
