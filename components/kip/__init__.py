"""KIP dataset distillation: Kernel Inducing Points and Label Solve on NTK/NNGP kernels.

Plain functions on NumPy arrays (no TFX import):

    from frontier.components.kip import KernelSpec, evaluate_support, kip, make_kernel
    result = kip(x, labels, num_classes=10, images_per_class=1, steps=300)
    loss, acc = evaluate_support(result, make_kernel(KernelSpec()), x_test, y_test)

`kip` standardises its inputs first (`standardize=True`: per channel when
given `image_shape`, else per feature; then ZCA with `use_zca`), fitted on
`x` and returned as `result.preprocessing`. `result.x` lives in that
preprocessed space: evaluate on raw inputs with `evaluate_support` (which
applies the preprocessing), or call `krr_evaluate` on
`result.preprocessing.apply(x_test)`; `result.support_in_input_space()` maps
the support back to raw inputs (without ZCA).

The KRR predictor of a support set and its SavedModel export (`fit_krr_model`,
`krr_predict`, `save_model_artifact`, `load_krr_model`, `load_kip_result`, ...)
live in `frontier.components.kip.export`, also free of TFX. The `KipDistill`
component is imported lazily, so `from frontier.components.kip import kip`
stays light.
"""

from frontier.components.common.lazy import lazy_exports
from frontier.components.kip.distill import (
    KipHistory,
    KipResult,
    centered_one_hot,
    class_balanced_indices,
    evaluate_support,
    kip,
    krr_evaluate,
    krr_weights,
    label_solve,
    regularize,
)
from frontier.components.kip.kernels import (
    ARCHITECTURES,
    KERNEL_KINDS,
    KernelSpec,
    kernel_matrix,
    make_kernel,
    stax_network,
)
from frontier.components.kip.preprocess import (
    Preprocessing,
    Zca,
    apply_zca,
    fit_preprocessing,
    fit_zca,
    standardize,
)

__all__ = [
    "ARCHITECTURES",
    "KipDistill",
    "KERNEL_KINDS",
    "KernelSpec",
    "KipHistory",
    "KipResult",
    "Preprocessing",
    "Zca",
    "apply_zca",
    "centered_one_hot",
    "class_balanced_indices",
    "evaluate_support",
    "fit_preprocessing",
    "fit_zca",
    "kernel_matrix",
    "kip",
    "krr_evaluate",
    "krr_weights",
    "label_solve",
    "make_kernel",
    "regularize",
    "stax_network",
    "standardize",
]

# The component needs TFX (seconds to import); the plain functions do not.
__getattr__ = lazy_exports(__name__, {"KipDistill": "frontier.components.kip.component"})
