"""Executor of `KipDistill`: read Examples, distil, write the support set, a KRR model, a page."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from frontier.components.common import html
from frontier.components.common.errors import InputError
from frontier.components.common.examples_io import (
    FEATURES,
    load_train_and_eval,
    split_uri,
    write_examples,
)
from frontier.components.kip import export, spec
from frontier.components.kip.distill import (
    KipHistory,
    KipResult,
    centered_one_hot,
    class_balanced_indices,
    kip,
    krr_evaluate,
    label_solve,
)
from frontier.components.kip.kernels import (
    DEFAULT_KERNEL,
    KernelSpec,
    check_image_shape,
    make_kernel,
)
from frontier.components.kip.preprocess import NO_STANDARDIZATION, fit_preprocessing
from frontier.components.kip.report import distillation_page
from frontier.schemas.dataset import (
    DATASET_INFO_FILE,
    EVAL_SPLIT,
    EXAMPLE_ID_KEY,
    LABEL_KEY,
    TRAIN_SPLIT,
    DatasetInfo,
)

METHOD_TITLES = {
    spec.KIP: "KIP support",
    spec.LABEL_SOLVE: "Label Solve support",
    spec.RANDOM: "random class-balanced subset",
}


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


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
        if not _is_int(value) or value < 1:
            raise InputError(f"{key} = {value!r}", column=key, expected="an integer >= 1")
    if not _is_int(seed):
        raise InputError(f"seed = {seed!r}", column=spec.SEED_KEY, expected="an integer")
    for key, value in (
        (spec.LEARN_LABELS_KEY, learn_labels),
        (spec.STANDARDIZE_KEY, standardize),
        (spec.USE_ZCA_KEY, use_zca),
    ):
        if value not in (True, False, 0, 1):
            raise InputError(f"{key} = {value!r}", column=key, expected="a bool")
    if method not in spec.METHODS:
        raise InputError(
            f"unknown method {method!r}",
            column=spec.METHOD_KEY,
            expected=f"one of {list(spec.METHODS)}",
        )
    for key, value in ((spec.LEARNING_RATE_KEY, learning_rate), (spec.REG_KEY, reg)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise InputError(f"{key} = {value!r}", column=key, expected="a number > 0")
        if not math.isfinite(value):
            raise InputError(f"{key} = {value!r}", column=key, expected="a finite number > 0")
    if learn_labels and method != spec.KIP:
        raise InputError(
            f"learn_labels is set but method is {method!r}",
            column=spec.LEARN_LABELS_KEY,
            expected=f"learn_labels only with method {spec.KIP!r} "
            f"({spec.LABEL_SOLVE!r} solves the labels, {spec.RANDOM!r} keeps them one-hot)",
        )
    if depth is not None and not _is_int(depth):
        raise InputError(f"depth = {depth!r}", column=spec.DEPTH_KEY, expected="an integer >= 1")
    return KernelSpec(architecture=kernel, kind=kernel_kind, depth=depth)


def kernel_name(kernel_spec: KernelSpec) -> str:
    """E.g. `fc-ntk-1`: architecture, kind and depth in effect."""
    return f"{kernel_spec.architecture}-{kernel_spec.kind}-{kernel_spec.layers}"


def distill_support(
    x: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    method: str = spec.DEFAULT_METHOD,
    images_per_class: int = spec.DEFAULT_IMAGES_PER_CLASS,
    kernel_spec: KernelSpec = DEFAULT_KERNEL,
    image_shape: tuple[int, int, int] | None = None,
    steps: int = spec.DEFAULT_STEPS,
    learning_rate: float = spec.DEFAULT_LEARNING_RATE,
    target_batch_size: int = spec.DEFAULT_TARGET_BATCH_SIZE,
    learn_labels: bool = False,
    standardize: bool = spec.DEFAULT_STANDARDIZE,
    use_zca: bool = False,
    reg: float = spec.DEFAULT_REG,
    seed: int = spec.DEFAULT_SEED,
    eval_data: tuple[np.ndarray, np.ndarray] | None = None,
    on_step: Callable[[int, float, float], None] | None = None,
) -> KipResult:
    """Runs one method on arrays; every method returns a `KipResult`.

    The three methods preprocess alike: `preprocess.fit_preprocessing(x,
    image_shape, standardize, use_zca)` (standardisation per channel for
    images, per feature otherwise, then optional ZCA), fitted on `x`, applied
    to every input, returned in `KipResult.preprocessing`; the support `x`
    lives in that preprocessed space. The initial support is the same for
    the three methods at a given seed (`kip`'s seeded class-balanced
    sample), so they compare like for like:
      kip: `distill.kip` from that support (history: a step per Adam step,
        held-out points every `spec.EVAL_EVERY` steps with `eval_data`);
      label_solve: that support, labels by `distill.label_solve` on the whole
        of (x, labels) as target (history empty);
      random: that support with its centred one-hot labels (history empty).

    Args:
      x: float32 [N, D] raw training inputs; labels: int64 [N] in [0, num_classes).
      eval_data: raw held-out (x [M, D], labels [M]) (not preprocessed);
        used by `kip` for its held-out curve only.
      on_step: `kip`'s progress callback (step, loss, accuracy).
      Other arguments: see `KipDistill`.
    """
    if method == spec.KIP:
        return kip(
            x,
            labels,
            num_classes,
            images_per_class=images_per_class,
            spec=kernel_spec,
            image_shape=image_shape,
            steps=steps,
            learning_rate=learning_rate,
            target_batch_size=target_batch_size,
            learn_labels=learn_labels,
            standardize=standardize,
            use_zca=use_zca,
            reg=reg,
            seed=seed,
            eval_data=eval_data,
            eval_every=spec.EVAL_EVERY,
            on_step=on_step,
        )
    if method not in spec.METHODS:
        raise InputError(
            f"unknown method {method!r}", column=spec.METHOD_KEY, expected=str(spec.METHODS)
        )
    # The same as `kip`: a fresh generator, the same preprocessing fit (no draws), then
    # the support.
    rng = np.random.default_rng(seed)
    preprocessing = fit_preprocessing(x, image_shape, standardize, use_zca)
    x = preprocessing.apply(np.asarray(x, np.float32))
    init = class_balanced_indices(labels, images_per_class, num_classes, rng)
    y = centered_one_hot(labels[init], num_classes)
    if method == spec.LABEL_SOLVE:
        kernel = make_kernel(kernel_spec, image_shape)
        y = label_solve(kernel, x[init], x, centered_one_hot(labels, num_classes), reg)
    return KipResult(
        x[init].copy(), y, labels[init].astype(np.int64), init, preprocessing, KipHistory()
    )


def support_metrics(
    result: KipResult,
    kernel_spec: KernelSpec,
    image_shape: tuple[int, int, int] | None,
    data: Mapping[str, tuple[np.ndarray, np.ndarray]],
    num_classes: int,
    reg: float,
) -> dict[str, dict[str, float]]:
    """KRR loss and accuracy per split, of the initial and of the final support.

    Args:
      result: the distilled support (and its preprocessing, applied to
        `data` here).
      data: split name -> (raw x [N, D], labels [N]); `data["train"]` is the
        split the support was drawn from.

    Returns:
      split -> {"examples", "loss_before", "accuracy_before", "loss",
      "accuracy"}; "before" is the initial support with one-hot labels.
    """
    kernel = make_kernel(kernel_spec, image_shape)
    prep = result.preprocessing
    init_x = prep.apply(data[TRAIN_SPLIT][0][result.init_indices])
    init_y = centered_one_hot(result.labels, num_classes)
    out = {}
    for split, (x, labels) in data.items():
        x = prep.apply(x)
        before = krr_evaluate(kernel, init_x, init_y, x, labels, num_classes, reg)
        after = krr_evaluate(kernel, result.x, result.y, x, labels, num_classes, reg)
        out[split] = {
            "examples": len(labels),
            "loss_before": before[0],
            "accuracy_before": before[1],
            "loss": after[0],
            "accuracy": after[1],
        }
    return out


def _check_split(arrays: dict[str, np.ndarray], info: DatasetInfo, file: str) -> None:
    """Finite features and labels in range, or an error naming the row."""
    x, labels = arrays[FEATURES], arrays[LABEL_KEY]
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise InputError(
            f"{bad.size} examples hold NaN or infinite feature values",
            file=file,
            row=int(bad[0]) + 1,
            column=", ".join(info.feature_keys),
            expected="finite features",
        )
    bad = np.flatnonzero((labels < 0) | (labels >= info.num_classes))
    if bad.size:
        raise InputError(
            f"class id {int(labels[bad[0]])} out of range ({bad.size} such rows)",
            file=file,
            row=int(bad[0]) + 1,
            column=LABEL_KEY,
            expected=f"an id in [0, {info.num_classes})",
        )


def _check_class_sizes(labels: np.ndarray, info: DatasetInfo, per_class: int, file: str) -> None:
    counts = np.bincount(labels, minlength=info.num_classes)
    c = int(np.argmin(counts))
    if counts[c] < per_class:
        raise InputError(
            f"images_per_class = {per_class} but class {c} ({info.class_names[c]!r}) has only "
            f"{counts[c]} training examples",
            file=file,
            column=spec.IMAGES_PER_CLASS_KEY,
            expected=f"images_per_class <= {counts[c]}, the smallest class's size",
        )


class Executor(base_executor.BaseExecutor):
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

    def Do(
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],
        exec_properties: dict[str, Any],
    ) -> None:
        examples = artifact_utils.get_single_instance(input_dict[spec.EXAMPLES_KEY])
        distilled = artifact_utils.get_single_instance(output_dict[spec.DISTILLED_KEY])
        model_artifact = artifact_utils.get_single_instance(output_dict[spec.MODEL_KEY])
        report = artifact_utils.get_single_instance(output_dict[spec.VISUALIZATION_KEY])

        depth = exec_properties.get(spec.DEPTH_KEY)
        params = {
            spec.IMAGES_PER_CLASS_KEY: int(exec_properties[spec.IMAGES_PER_CLASS_KEY]),
            spec.METHOD_KEY: str(exec_properties[spec.METHOD_KEY]),
            spec.KERNEL_KEY: str(exec_properties[spec.KERNEL_KEY]),
            spec.KERNEL_KIND_KEY: str(exec_properties[spec.KERNEL_KIND_KEY]),
            spec.DEPTH_KEY: None if depth is None else int(depth),
            spec.STEPS_KEY: int(exec_properties[spec.STEPS_KEY]),
            spec.LEARNING_RATE_KEY: float(exec_properties[spec.LEARNING_RATE_KEY]),
            spec.TARGET_BATCH_SIZE_KEY: int(exec_properties[spec.TARGET_BATCH_SIZE_KEY]),
            spec.LEARN_LABELS_KEY: bool(int(exec_properties[spec.LEARN_LABELS_KEY])),
            spec.STANDARDIZE_KEY: bool(int(exec_properties[spec.STANDARDIZE_KEY])),
            spec.USE_ZCA_KEY: bool(int(exec_properties[spec.USE_ZCA_KEY])),
            spec.REG_KEY: float(exec_properties[spec.REG_KEY]),
            spec.SEED_KEY: int(exec_properties[spec.SEED_KEY]),
        }
        kernel_spec = check_parameters(**params)
        use_zca = params[spec.USE_ZCA_KEY]
        method = params[spec.METHOD_KEY]
        per_class = params[spec.IMAGES_PER_CLASS_KEY]

        info = DatasetInfo.read(examples.uri)
        try:
            check_image_shape(kernel_spec, info.image_shape)
        except InputError as e:
            raise InputError(str(e), file=os.path.join(examples.uri, DATASET_INFO_FILE)) from e
        data = self._load(examples, info)
        train, held_out = data[TRAIN_SPLIT], data.get(EVAL_SPLIT)
        _check_class_sizes(train[LABEL_KEY], info, per_class, split_uri(examples.uri, TRAIN_SPLIT))

        steps = params[spec.STEPS_KEY]

        def on_step(step: int, loss: float, accuracy: float) -> None:
            if step == 1 or step % spec.LOG_EVERY == 0 or step == steps:
                logging.info(
                    "KipDistill: step %d/%d: target-batch loss %.5f, accuracy %.4f",
                    step,
                    steps,
                    loss,
                    accuracy,
                )

        logging.info(
            "KipDistill: %s, %d per class, kernel %s, standardize %s, ZCA %s, "
            "on %d training examples",
            method,
            per_class,
            kernel_name(kernel_spec),
            params[spec.STANDARDIZE_KEY],
            use_zca,
            len(train[LABEL_KEY]),
        )
        result = distill_support(
            train[FEATURES],
            train[LABEL_KEY],
            info.num_classes,
            method=method,
            images_per_class=per_class,
            kernel_spec=kernel_spec,
            image_shape=info.image_shape,
            steps=steps,
            learning_rate=params[spec.LEARNING_RATE_KEY],
            target_batch_size=params[spec.TARGET_BATCH_SIZE_KEY],
            learn_labels=params[spec.LEARN_LABELS_KEY],
            standardize=params[spec.STANDARDIZE_KEY],
            use_zca=use_zca,
            reg=params[spec.REG_KEY],
            seed=params[spec.SEED_KEY],
            eval_data=None if held_out is None else (held_out[FEATURES], held_out[LABEL_KEY]),
            on_step=on_step,
        )
        metrics = support_metrics(
            result,
            kernel_spec,
            info.image_shape,
            {split: (a[FEATURES], a[LABEL_KEY]) for split, a in data.items()},
            info.num_classes,
            params[spec.REG_KEY],
        )
        for split, m in metrics.items():
            logging.info(
                "KipDistill: KRR on %s: loss %.5f -> %.5f, accuracy %.4f -> %.4f",
                split,
                m["loss_before"],
                m["loss"],
                m["accuracy_before"],
                m["accuracy"],
            )

        self._write_distilled(distilled, examples, info, data, result, params, kernel_spec)
        properties = {spec.FINAL_LOSS_PROPERTY: metrics[TRAIN_SPLIT]["loss"]}
        if EVAL_SPLIT in metrics:
            properties[spec.EVAL_LOSS_PROPERTY] = metrics[EVAL_SPLIT]["loss"]
            properties[spec.EVAL_ACCURACY_PROPERTY] = metrics[EVAL_SPLIT]["accuracy"]
        for key, value in properties.items():
            distilled.set_float_custom_property(key, float(value))

        krr = export.fit_krr_model(result, kernel_spec, info.image_shape, params[spec.REG_KEY])
        path = export.save_model_artifact(krr, info, model_artifact.uri)
        logging.info("KipDistill: SavedModel written to %s", path)
        model_artifact.set_string_custom_property(spec.MODEL_TYPE_PROPERTY, spec.MODEL_TYPE)
        model_artifact.set_string_custom_property(spec.METHOD_PROPERTY, method)
        model_artifact.set_string_custom_property(spec.KERNEL_PROPERTY, kernel_name(kernel_spec))
        model_artifact.set_float_custom_property(
            spec.TRAIN_ACCURACY_PROPERTY, float(metrics[TRAIN_SPLIT]["accuracy"])
        )
        if EVAL_SPLIT in metrics:
            for key in (spec.EVAL_LOSS_PROPERTY, spec.EVAL_ACCURACY_PROPERTY):
                model_artifact.set_float_custom_property(key, float(properties[key]))

        document = distillation_page(
            result=result,
            init_x=result.preprocessing.apply(train[FEATURES][result.init_indices]),
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
            subtitle=f"data: {info.source or examples.uri}",
        )
        html.write_report(report, f"KipDistill: {METHOD_TITLES[method]}", document)

    @staticmethod
    def _load(examples, info: DatasetInfo) -> dict[str, dict[str, np.ndarray]]:
        """The train split (required, non-empty) and the eval split (if not empty)."""
        data = load_train_and_eval(examples, info, "KipDistill")
        for split, arrays in data.items():
            _check_split(arrays, info, split_uri(examples.uri, split))
        return data

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
