"""DP-FTRL federated simulation: user-level DP with tree-aggregated noise, zCDP accounting.

Plain functions (no TFX import). The accountant (`accounting`; its module docstring states the
mechanism, which tree nodes count, and the separation convention) gives every rho and epsilon
of the project, for DP-FTRL with tree aggregation and for DP-FedAvg with fresh Gaussian noise::

    from frontier.components.dp_ftrl import MECHANISM_TREE, account, calibrate_noise_multiplier
    result = account(MECHANISM_TREE, 7.0, rounds=2000, max_participations=6,
                     min_separation=313, delta=1e-10)
    result.rho, result.epsilon        # 0.8061 (= 79/98), 8.90

The simulation trains a JAX model module (`model_module`: ``init(rng, input_shape,
num_classes, config) -> params``, ``apply(params, x) -> logits``; by default the built-in
MLP, `mlp_module`) with DP-FTRL (momentum; tree aggregation, or BLT-DP-FTRL's buffered-linear
Toeplitz noise: mechanism "blt_dp_ftrl"), DP-FedAvg or FedAvg and reports the privacy spent;
`export_model` writes the trained model as a SavedModel with the Trainer's serving contract
(jax2tf), and `to_keras_model` turns the built-in MLP's parameters into the Trainer's Keras
model::

    from frontier.components.dp_ftrl import FederatedConfig, load_model, train_federated
    model = load_model(module_file="my_model.py", custom_config={"hidden": 64})
    result = train_federated(x, y, client_ids, FederatedConfig(rounds=200), "dp_ftrl",
                             model=model)
    result.noise.epsilon, result.history[-1]["eval_accuracy"]

Exported here: the accountant (all of `accounting.__all__`), the run's configuration and
result, the participation schedule (`partition_clients`, `schedule_participation`,
`check_schedule`), the synthetic population generator (`synthetic_population`: many
label-skewed users from a small image set), the server optimisers (optax-style ``init`` / ``update`` pairs, all of
`server.__all__`) and the `DpFtrlTrainer` component (imported lazily: it needs TFX). Populations
of any size train through `train_federated_source` from a client source (`ClientStore` on
disk, `SyntheticClientSource` made on the fly, `InMemoryClientSource`). The
private mechanisms share one interface (`NoiseMechanism`: `TreeMechanism`, `BltMechanism`,
`GaussianMechanism`; `mechanism_for`). The building blocks live in their modules: `config`,
`clients` (client packing), `blt` (BLT noise, sensitivity and optimisation), `noise`, `model`
(parameters as flat vectors, the loss, the MLP as plain parameters), `model_module` (the JAX
model-module contract and its loader), `mlp_module` (the built-in module), `export` (jax2tf
export, checked against JAX), `rounds` (vectorised local SGD and clipping), `tree` (tree aggregation
and its estimators), `participation`, `federated` (the training loop), `host_devices` (a CPU
host's cores as one single-threaded XLA device each: `use_cpu_cores`, `cpu_device_environment`).
"""

from frontier.components.common.lazy import lazy_exports
from frontier.components.dp_ftrl import accounting, server
from frontier.components.dp_ftrl.accounting import *  # noqa: F403 - the accountant is public
from frontier.components.dp_ftrl.client_store import (
    ClientSource,
    ClientStore,
    InMemoryClientSource,
    SyntheticClientSource,
    write_client_store,
    write_client_store_from_examples,
)
from frontier.components.dp_ftrl.config import MECHANISMS, FederatedConfig
from frontier.components.dp_ftrl.federated import (
    FederatedResult,
    NoiseInfo,
    train_federated,
    train_federated_source,
)
from frontier.components.dp_ftrl.host_devices import cpu_device_environment, use_cpu_cores
from frontier.components.dp_ftrl.model import to_keras_model
from frontier.components.dp_ftrl.model_module import JaxModel, builtin_model, load_model
from frontier.components.dp_ftrl.noise import (
    BltMechanism,
    GaussianMechanism,
    NoiseMechanism,
    TreeMechanism,
    mechanism_for,
)
from frontier.components.dp_ftrl.participation import (
    PARTITION_SCHEMES,
    check_schedule,
    partition_clients,
    schedule_participation,
)
from frontier.components.dp_ftrl.population import synthetic_population
from frontier.components.dp_ftrl.server import *  # noqa: F403 - the server optimisers are public

__all__ = [
    *accounting.__all__,
    *server.__all__,
    "BltMechanism",
    "ClientSource",
    "ClientStore",
    "DpFtrlTrainer",  # noqa: F405 - imported on first use, by `__getattr__` below
    "FederatedConfig",
    "FederatedResult",
    "GaussianMechanism",
    "InMemoryClientSource",
    "JaxModel",
    "MECHANISMS",
    "NoiseInfo",
    "NoiseMechanism",
    "PARTITION_SCHEMES",
    "SyntheticClientSource",
    "TreeMechanism",
    "builtin_model",
    "check_schedule",
    "cpu_device_environment",
    "export_model",  # noqa: F405 - imported on first use, by `__getattr__` below
    "load_model",
    "mechanism_for",
    "partition_clients",
    "schedule_participation",
    "synthetic_population",
    "to_keras_model",
    "train_federated",
    "train_federated_source",
    "use_cpu_cores",
    "write_client_store",
    "write_client_store_from_examples",
]

# The component and the export need TFX / TensorFlow (seconds to import); the plain
# functions do not.
__getattr__ = lazy_exports(
    __name__,
    {
        "DpFtrlTrainer": "frontier.components.dp_ftrl.component",
        "export_model": "frontier.components.dp_ftrl.export",
    },
)
