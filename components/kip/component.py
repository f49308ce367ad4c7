"""The `KipDistill` TFX component: a thin wrapper around `distill.kip` and `label_solve`."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts

from frontier.components.common.versioning import COMPONENT_VERSION_KEY, code_version
from frontier.components.kip import spec
from frontier.components.kip.executor import Executor, check_parameters
from frontier.schemas.artifacts import HtmlReport


class KipDistill(base_component.BaseComponent):
    """Distils the train split to a few points per class (KIP, Label Solve or random).

    Kernel Inducing Points (Nguyen et al., ICLR 2021; NeurIPS 2021) learn a
    small support set whose kernel ridge regression (KRR) on an
    infinite-width NTK / NNGP kernel fits the training data. `method`
    selects what is run, so that one pipeline compares all three on the
    same initial support (same seed, same class-balanced sample):
      * `kip` (default): learn the support images (and, with `learn_labels`,
        their labels) by Adam on the KRR loss;
      * `label_solve`: keep the random support images and solve their labels
        in closed form against the whole train split;
      * `random`: the random class-balanced subset with one-hot labels, the
        baseline.

    All three methods work on the same preprocessed inputs: standardised
    with the train split's mean and std (per channel for image data, per
    feature otherwise; `standardize`, default on), then optionally
    ZCA-whitened (`use_zca`), both fitted on the train split
    (`preprocess.fit_preprocessing`).

    Outputs:
      * `distilled` (`Examples`): the support as the `train` split (so that
        any trainer can consume it) and the input's `eval` split copied, so
        that a Trainer on `distilled` reports held-out curves. Without ZCA
        the support is mapped back to input space (the standardisation
        inverted), so it is consumed exactly like the source data and the
        eval split is the source's unchanged; with `use_zca` both splits
        hold preprocessed (ZCA-whitened) features (see the executor). The
        soft labels, which `Examples` cannot carry, and the preprocessing are
        in `kip_result.npz` beside the splits.
      * `model` (`Model`): the support's KRR classifier as a SavedModel at
        `<uri>/Format-Serving`, the Trainer's serving contract plus a
        `scores` output, taking raw features (the preprocessing is applied
        inside); the stock Evaluator and Pusher and `EvaluationReport` use
        it as is. Evaluate it on the input `Examples`.
      * `visualization` (`HtmlReport`): metrics before / after, loss and
        accuracy curves, the support images per class, the support labels.

    Progress is shown per KIP step (`common.progress`); with `--verbose`,
    a detail line every `spec.LOG_EVERY` steps.

    Example:
      kip = KipDistill(examples=ingest.outputs["examples"], images_per_class=10)
      subset = KipDistill(examples=..., images_per_class=10, method="random").with_id("Random")
      evaluator = make_evaluator(ingest.outputs["examples"], kip.outputs["model"],
                                 subset.outputs["model"], num_classes=10)
      trainer = Trainer(examples=kip.outputs["distilled"])
    """

    SPEC_CLASS = spec.KipDistillSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        *,
        images_per_class: int = spec.DEFAULT_IMAGES_PER_CLASS,
        method: str = spec.DEFAULT_METHOD,
        kernel: str = spec.DEFAULT_KERNEL,
        kernel_kind: str = spec.DEFAULT_KERNEL_KIND,
        depth: int | None = None,
        steps: int = spec.DEFAULT_STEPS,
        learning_rate: float = spec.DEFAULT_LEARNING_RATE,
        target_batch_size: int = spec.DEFAULT_TARGET_BATCH_SIZE,
        learn_labels: bool = False,
        standardize: bool = spec.DEFAULT_STANDARDIZE,
        use_zca: bool = False,
        reg: float = spec.DEFAULT_REG,
        seed: int = spec.DEFAULT_SEED,
    ) -> None:
        """Builds the component; invalid parameters fail here, not at run time.

        Args:
          examples: channel of frontier `Examples` with a non-empty `train`
            split (and optionally an `eval` split for held-out curves).
          images_per_class: support points per class (>= 1; at most the
            smallest class's size, checked at run time).
          method: `kip`, `label_solve` or `random`.
          kernel: the network architecture of the kernel, `fc` or `conv`
            (the latter for image data only, checked at run time).
          kernel_kind: `ntk` or `nngp`.
          depth: hidden layers (fc, default 1) or conv blocks (conv, default 3).
          steps: KIP's Adam steps (>= 1; `kip` only).
          learning_rate: KIP's Adam step size (> 0; `kip` only).
          target_batch_size: training examples per KIP step (>= 1; `kip` only).
          learn_labels: KIP also learns the support labels (`kip` only).
          standardize: standardise all inputs with the train split's mean
            and std, per channel for image data, per feature otherwise
            (the KIP papers' preprocessing; default on).
          use_zca: ZCA-whiten all inputs after the standardisation, with a
            whitening fitted on the train split and stored with the model.
          reg: the KRR regulariser (> 0, relative to the kernel's trace).
          seed: seeds the initial support and KIP's target batches.

        Raises:
          InputError: for an invalid parameter (unknown method, kernel or
            kernel kind, a count < 1, a rate <= 0, ...).
        """
        check_parameters(
            images_per_class=images_per_class,
            method=method,
            kernel=kernel,
            kernel_kind=kernel_kind,
            depth=depth,
            steps=steps,
            learning_rate=learning_rate,
            target_batch_size=target_batch_size,
            learn_labels=learn_labels,
            standardize=standardize,
            use_zca=use_zca,
            reg=reg,
            seed=seed,
        )
        component_spec = spec.KipDistillSpec(
            **{
                spec.EXAMPLES_KEY: examples,
                spec.IMAGES_PER_CLASS_KEY: int(images_per_class),
                spec.METHOD_KEY: method,
                spec.KERNEL_KEY: kernel,
                spec.KERNEL_KIND_KEY: kernel_kind,
                spec.DEPTH_KEY: None if depth is None else int(depth),
                spec.STEPS_KEY: int(steps),
                spec.LEARNING_RATE_KEY: float(learning_rate),
                spec.TARGET_BATCH_SIZE_KEY: int(target_batch_size),
                spec.LEARN_LABELS_KEY: int(bool(learn_labels)),
                spec.STANDARDIZE_KEY: int(bool(standardize)),
                spec.USE_ZCA_KEY: int(bool(use_zca)),
                spec.REG_KEY: float(reg),
                spec.SEED_KEY: int(seed),
                COMPONENT_VERSION_KEY: code_version(spec.COMPONENT_PACKAGE, *spec.DEPENDS_ON),
                spec.DISTILLED_KEY: types.Channel(type=standard_artifacts.Examples),
                spec.MODEL_KEY: types.Channel(type=standard_artifacts.Model),
                spec.VISUALIZATION_KEY: types.Channel(type=HtmlReport),
            }
        )
        super().__init__(spec=component_spec)
