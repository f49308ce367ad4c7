"""Executor of `KipDistill`: read Examples, distil, write the support set, a KRR model, a page."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from frontier.components.common import html, progress
from frontier.components.common.checks import is_int
from frontier.components.common.errors import InputError
from frontier.components.common.examples_io import FEATURES, split_uri, write_examples
from frontier.components.common.executor import (
    ComponentExecutor,
    Job,
    LabelledSplits,
    load_labelled_splits,
    page_parameters,
    publish_model,
    set_properties,
    source_of,
)
from frontier.components.kip import export, spec
from frontier.components.kip.distill import KipResult
from frontier.components.kip.kernels import KernelSpec, check_image_shape
from frontier.components.kip.preprocess import NO_STANDARDIZATION
from frontier.components.kip.report import distillation_page
from frontier.components.kip.support import (
    METHOD_TITLES,
    distill_support,
    kernel_name,
    support_metrics,
)
from frontier.schemas.dataset import (
    DATASET_INFO_FILE,
    EVAL_SPLIT,
    EXAMPLE_ID_KEY,
    LABEL_KEY,
    TRAIN_SPLIT,
    DatasetInfo,
)

OWNER = "KipDistill"


def check_parameters(
    *,
    images_per_class: int,
    method: str,
    kernel: str,
    kernel_kind: str,
    depth: int | None,
    steps: int,
    learning_rate: float,
    target_batch_size: int,
    learn_labels: bool,
    standardize: bool,
    use_zca: bool,
    reg: float,
    seed: int,
) -> KernelSpec:
    """Checks the `KipDistill` parameters that need no data; returns the kernel.

    Raises:
      InputError: naming the first invalid parameter and what was expected.
    """
    for key, value in (
        (spec.IMAGES_PER_CLASS_KEY, images_per_class),
        (spec.STEPS_KEY, steps),
        (spec.TARGET_BATCH_SIZE_KEY, target_batch_size),
    ):
        if not is_int(value) or value < 1:
            raise InputError(f"{key} = {value!r}", parameter=key, expected="an integer >= 1")
    if not is_int(seed):
        raise InputError(f"seed = {seed!r}", parameter=spec.SEED_KEY, expected="an integer")
    for key, value in (
        (spec.LEARN_LABELS_KEY, learn_labels),
        (spec.STANDARDIZE_KEY, standardize),
        (spec.USE_ZCA_KEY, use_zca),
    ):
        if value not in (True, False, 0, 1):
            raise InputError(f"{key} = {value!r}", parameter=key, expected="a bool")
    if method not in spec.METHODS:
        raise InputError(
            f"unknown method {method!r}",
            parameter=spec.METHOD_KEY,
            expected=f"one of {list(spec.METHODS)}",
        )
    for key, value in ((spec.LEARNING_RATE_KEY, learning_rate), (spec.REG_KEY, reg)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise InputError(f"{key} = {value!r}", parameter=key, expected="a number > 0")
        if not math.isfinite(value):
            raise InputError(f"{key} = {value!r}", parameter=key, expected="a finite number > 0")
    if learn_labels and method != spec.KIP:
        raise InputError(
            f"learn_labels is set but method is {method!r}",
            parameter=spec.LEARN_LABELS_KEY,
            expected=f"learn_labels only with method {spec.KIP!r} "
            f"({spec.LABEL_SOLVE!r} solves the labels, {spec.RANDOM!r} keeps them one-hot)",
        )
    if depth is not None and not is_int(depth):
        raise InputError(f"depth = {depth!r}", parameter=spec.DEPTH_KEY, expected="an integer >= 1")
    return KernelSpec(architecture=kernel, kind=kernel_kind, depth=depth)


def _check_class_sizes(labels: np.ndarray, info: DatasetInfo, per_class: int, file: str) -> None:
    counts = np.bincount(labels, minlength=info.num_classes)
    c = int(np.argmin(counts))
    if counts[c] < per_class:
        raise InputError(
            f"images_per_class = {per_class} but class {c} ({info.class_names[c]!r}) has only "
            f"{counts[c]} training examples",
            file=file,
            parameter=spec.IMAGES_PER_CLASS_KEY,
            expected=f"images_per_class <= {counts[c]}, the smallest class's size",
        )


class Executor(ComponentExecutor):
    """Distils the train split to a few points per class and exports their KRR model.

    Inputs:
      examples: exactly one frontier `Examples` artifact with a non-empty
        `train` split and `dataset_info.json`; an `eval` split, when present
        and not empty, gives held-out curves and metrics and is copied into
        `distilled`. An empty `eval` split counts as absent.

    Outputs:
      distilled: `Examples` (same feature keys, classes and image shape as
        the input; role keys `label` and `example_id` only):
          * `train` split: the n_s = C * images_per_class support points;
            `label` is the arg-max of the support's (soft) labels, i.e. the
            class each point was drawn from unless labels were learned or
            solved; `example_id` is `<method>/<id of the initial example>`;
          * `eval` split (only when the input has one), so that a Trainer
            trained on `distilled` reports held-out curves;
          * `kip_result.npz`: the whole `KipResult` (support in the
            preprocessed space, soft labels `y`, initial indices, the
            preprocessing's mean, std and ZCA whitening, history;
            `export.load_kip_result`).
        Without ZCA the `train` features are the support mapped back to
        input space (`KipResult.support_in_input_space`, the standardisation
        inverted), so a trainer consumes them exactly like the source data,
        and the `eval` split is the input's as is. With ZCA (not invertible)
        the features of both splits are in the preprocessed space: the
        support as distilled and the eval split preprocessed with the train
        split's preprocessing, so the pair is consistent; `dataset_info.json`'s
        `source` says which. Custom properties: `method`, `kernel` (string),
        `images_per_class`, `standardize`, `use_zca` (int), `final_loss` (KRR
        loss of the support on the train split), `eval_loss`,
        `eval_accuracy` (float, with an eval split).
      model: `Model`, the support's kernel ridge regression classifier:
        SavedModel at `<uri>/Format-Serving` with signature
        `serving_default` (serialized `tf.Example` strings `examples` ->
        `scores` float32 [N, C], `probabilities` float32 [N, C], `classes`
        int64 [N]; see `export`) taking the *raw* features (the
        preprocessing is applied inside), with `dataset_info.json` (the
        input's) beside it; the arrays at `<uri>/krr/`
        (`export.load_krr_model`). Evaluate it on the input `Examples`, not
        on `distilled` (whose features are preprocessed already with ZCA).
        Custom properties `model_type` ("krr"), `train_accuracy`,
        `eval_accuracy`, `eval_loss` (float; the eval ones with an eval
        split), `method`, `kernel`.
      visualization: `HtmlReport`: parameters, metrics before and after,
        loss / accuracy curves, the support images per class (initial and
        final) for image data, the support labels as a heat map when they
        were learned or solved.

    Parameters:
      images_per_class: int >= 1, support points per class; at most the
        smallest class's size.
      method: `kip`, `label_solve` or `random` (see `distill_support`).
      kernel: `fc` or `conv` (the latter needs image data).
      kernel_kind: `ntk` or `nngp`.
      depth: optional int >= 1, layers (fc) or conv blocks (conv).
      steps, learning_rate, target_batch_size, learn_labels: KIP's Adam
        steps and step size, target examples per step, whether labels are
        learned too (`kip` only).
      standardize: int 0 / 1, standardise all inputs with the train split's
        mean and std, per channel for image data, per feature otherwise.
      use_zca: int 0 / 1, then ZCA-whiten all inputs (fitted on the train
        split). The three methods share this preprocessing.
      reg: float > 0, the KRR regulariser.
      seed: int, seeds the initial support and KIP's target batches.
      component_version: code hash, only for the cache key.
    """

    SPEC_CLASS = spec.KipDistillSpec

    def run(self, job: Job) -> None:
        params = _parameters(job.params)
        kernel_spec = check_parameters(**params)
        examples = job.input(spec.EXAMPLES_KEY)
        _check_kernel_fits(kernel_spec, examples.uri)  # before the data are loaded
        data = load_labelled_splits(examples, LABEL_KEY, OWNER)
        file = split_uri(data.uri, TRAIN_SPLIT)
        _check_class_sizes(
            data.train[LABEL_KEY], data.info, params[spec.IMAGES_PER_CLASS_KEY], file
        )
        info = data.info
        result = _distill(data, params, kernel_spec, job.node or OWNER)
        metrics = support_metrics(
            result,
            kernel_spec,
            info.image_shape,
            {split: data.xy(split) for split in data.splits},
            info.num_classes,
            params[spec.REG_KEY],
        )
        _log_metrics(metrics)
        distilled = job.output(spec.DISTILLED_KEY)
        self._write_distilled(distilled, examples, info, data.splits, result, params, kernel_spec)
        set_properties(distilled, {spec.FINAL_LOSS_PROPERTY: metrics[TRAIN_SPLIT]["loss"]})
        set_properties(distilled, _eval_properties(metrics))
        krr = export.fit_krr_model(result, kernel_spec, info.image_shape, params[spec.REG_KEY])
        save = functools.partial(export.save_model_artifact, krr, info)
        properties = _model_properties(params, kernel_spec)
        publish_model(job.output(spec.MODEL_KEY), save, metrics, properties, OWNER)
        title = f"{OWNER}: {METHOD_TITLES[params[spec.METHOD_KEY]]}"
        document = _page(result, data, metrics, params, kernel_spec)
        html.write_report(job.output(spec.VISUALIZATION_KEY), title, document)

    @staticmethod
    def _write_distilled(
        distilled,
        examples,
        info: DatasetInfo,
        data: Mapping[str, dict[str, np.ndarray]],
        result: KipResult,
        params: Mapping[str, object],
        kernel_spec: KernelSpec,
    ) -> None:
        """The support as the `train` split, the eval split, kip_result.npz.

        Without ZCA: the support in input space and the eval split as is; with
        ZCA: the support and the eval split in the preprocessed space.
        """
        method = str(params[spec.METHOD_KEY])
        prep = result.preprocessing
        in_input_space = prep.invertible
        train = data[TRAIN_SPLIT]
        source_ids = train.get(EXAMPLE_ID_KEY)
        ids = [
            f"{method}/{source_ids[i].decode() if source_ids is not None else f'train#{i}'}"
            for i in result.init_indices
        ]
        splits = {
            TRAIN_SPLIT: {
                FEATURES: result.support_in_input_space() if in_input_space else result.x,
                LABEL_KEY: np.argmax(result.y, axis=1).astype(np.int64),
                EXAMPLE_ID_KEY: np.array([s.encode() for s in ids], dtype=object),
            }
        }
        held_out = data.get(EVAL_SPLIT)
        if held_out is not None:
            x = held_out[FEATURES]
            n = len(x)
            eval_ids = held_out.get(EXAMPLE_ID_KEY)
            if eval_ids is None:
                eval_ids = np.array([f"eval#{i}".encode() for i in range(n)], dtype=object)
            splits[EVAL_SPLIT] = {
                FEATURES: x if in_input_space else prep.apply(x),
                LABEL_KEY: held_out[LABEL_KEY],
                EXAMPLE_ID_KEY: eval_ids,
            }
        zca = prep.zca is not None
        what = METHOD_TITLES[method] + (", ZCA-whitened" if zca else "")
        if in_input_space:
            space = "features in input space"
            if prep.standardization != NO_STANDARDIZATION:
                space += f" (distilled after {prep.describe()}, mapped back)"
        else:
            space = f"features in the preprocessed space ({prep.describe()})"
        eval_note = ""
        if held_out is not None:
            eval_note = "; eval split: the source's" + (
                ", preprocessed alike" if not in_input_space else ""
            )
        source = (
            f"{what}; {params[spec.IMAGES_PER_CLASS_KEY]} per class, kernel "
            f"{kernel_name(kernel_spec)}; {space}{eval_note}; of {info.source or examples.uri}"
        )
        out_info = DatasetInfo(
            feature_keys=info.feature_keys,
            feature_dims=info.feature_dims,
            class_names=info.class_names,
            image_shape=info.image_shape,
            role_keys=(LABEL_KEY, EXAMPLE_ID_KEY),
            split_counts={s: len(a[LABEL_KEY]) for s, a in splits.items()},
            class_counts={
                s: tuple(int(c) for c in np.bincount(a[LABEL_KEY], minlength=info.num_classes))
                for s, a in splits.items()
            },
            source=source,
        )
        write_examples(distilled, splits, out_info)
        export.save_kip_result(result, os.path.join(distilled.uri, spec.KIP_RESULT_FILE))
        distilled.set_string_custom_property(spec.METHOD_PROPERTY, method)
        distilled.set_string_custom_property(spec.KERNEL_PROPERTY, kernel_name(kernel_spec))
        distilled.set_int_custom_property(
            spec.IMAGES_PER_CLASS_PROPERTY, int(params[spec.IMAGES_PER_CLASS_KEY])
        )
        distilled.set_int_custom_property(
            spec.STANDARDIZE_PROPERTY, int(bool(params[spec.STANDARDIZE_KEY]))
        )
        distilled.set_int_custom_property(spec.USE_ZCA_PROPERTY, int(zca))


def _check_kernel_fits(kernel_spec: KernelSpec, examples_uri: str) -> None:
    """The kernel's architecture fits the data (a conv kernel needs images)."""
    try:
        check_image_shape(kernel_spec, DatasetInfo.read(examples_uri).image_shape)
    except InputError as e:
        raise InputError(str(e), file=os.path.join(examples_uri, DATASET_INFO_FILE)) from e


def _model_properties(params: Mapping[str, Any], kernel_spec: KernelSpec) -> dict[str, str]:
    """The KRR model's own properties: model type, method and kernel."""
    return {
        spec.MODEL_TYPE_PROPERTY: spec.MODEL_TYPE,
        spec.METHOD_PROPERTY: params[spec.METHOD_KEY],
        spec.KERNEL_PROPERTY: kernel_name(kernel_spec),
    }


def _parameters(params: Mapping[str, Any]) -> dict[str, Any]:
    """The job's parameters as `check_parameters` takes them (the 0 / 1 flags as bools)."""
    flags = (spec.LEARN_LABELS_KEY, spec.STANDARDIZE_KEY, spec.USE_ZCA_KEY)
    shown = page_parameters(params)
    return {k: bool(v) if k in flags else v for k, v in shown.items()}


def _distill(
    data: LabelledSplits, params: Mapping[str, Any], kernel_spec: KernelSpec, name: str
) -> KipResult:
    """`distill_support` on the train split, the eval split as KIP's held-out
    curve; its steps shown as progress under `name` (every `spec.LOG_EVERY`
    steps also as a detail line)."""
    steps = params[spec.STEPS_KEY]
    shown = progress.Progress(name, steps, "step")

    def on_step(step: int, loss: float, accuracy: float) -> None:
        shown.update(1, loss=float(loss), accuracy=float(accuracy))
        if step == 1 or step % spec.LOG_EVERY == 0 or step == steps:
            progress.detail(
                "%s: step %d/%d: target-batch loss %.5f, accuracy %.4f",
                name,
                step,
                steps,
                loss,
                accuracy,
            )

    progress.detail(
        "%s: %s, %d per class, kernel %s, standardize %s, ZCA %s, on %d training examples",
        name,
        params[spec.METHOD_KEY],
        params[spec.IMAGES_PER_CLASS_KEY],
        kernel_name(kernel_spec),
        params[spec.STANDARDIZE_KEY],
        params[spec.USE_ZCA_KEY],
        len(data.train[LABEL_KEY]),
    )
    kernel_keys = (spec.KERNEL_KEY, spec.KERNEL_KIND_KEY, spec.DEPTH_KEY)
    with shown:
        return distill_support(
            *data.xy(TRAIN_SPLIT),
            data.info.num_classes,
            kernel_spec=kernel_spec,
            image_shape=data.info.image_shape,
            eval_data=None if data.eval is None else data.xy(EVAL_SPLIT),
            on_step=on_step,
            **{k: v for k, v in params.items() if k not in kernel_keys},
        )


def _log_metrics(metrics: Mapping[str, Mapping[str, float]]) -> None:
    """One detail line per split: KRR loss and accuracy before and after."""
    for split, m in metrics.items():
        progress.detail(
            "%s: KRR on %s: loss %.5f -> %.5f, accuracy %.4f -> %.4f",
            OWNER,
            split,
            m["loss_before"],
            m["loss"],
            m["accuracy_before"],
            m["accuracy"],
        )


def _eval_properties(metrics: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """The distilled set's held-out properties (KRR on the eval split), when there is one."""
    if EVAL_SPLIT not in metrics:
        return {}
    return {
        spec.EVAL_LOSS_PROPERTY: metrics[EVAL_SPLIT]["loss"],
        spec.EVAL_ACCURACY_PROPERTY: metrics[EVAL_SPLIT]["accuracy"],
    }


def _page(
    result: KipResult,
    data: LabelledSplits,
    metrics: Mapping[str, Mapping[str, float]],
    params: Mapping[str, Any],
    kernel_spec: KernelSpec,
) -> str:
    """The KipDistill page: parameters, metrics, curves, the support."""
    info, method = data.info, params[spec.METHOD_KEY]
    return distillation_page(
        result=result,
        init_x=result.preprocessing.apply(data.train[FEATURES][result.init_indices]),
        metrics=metrics,
        params={
            **{k: ("default" if v is None else v) for k, v in params.items()},
            "kernel in effect": kernel_name(kernel_spec),
            "preprocessing": result.preprocessing.describe() + " (fitted on train)",
            "support size": len(result.labels),
            "classes": ", ".join(info.class_names),
            "input_dim": info.input_dim,
        },
        class_names=info.class_names,
        image_shape=info.image_shape,
        show_labels=method == spec.LABEL_SOLVE or params[spec.LEARN_LABELS_KEY],
        subtitle=source_of(info, data.uri),
    )
