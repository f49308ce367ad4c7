"""DP-FTRL federated simulation: user-level DP with tree-aggregated noise, zCDP accounting.

Plain functions (no TFX import):

    from frontier.components.dp_ftrl import tree_account, calibrate_noise_multiplier
    account = tree_account(7.0, rounds=2000, max_participations=6, min_separation=313,
                           delta=1e-10)
    account.rho, account.epsilon        # 0.8061 (= 79/98), 8.90

The accountant lives in `frontier.components.dp_ftrl.accounting`; its module docstring
states the mechanism, which tree nodes count, and the separation convention.

The simulation: `participation` (client partitioning, the participation schedule and its
checker), `tree` (tree aggregation with the plain and the efficient (Honaker) prefix-sum
estimators and their noise variances), `federated` (client updates vectorised with JAX,
DP-FTRL with momentum, DP-FedAvg and FedAvg baselines, `train_federated`)::

    from frontier.components.dp_ftrl import FederatedConfig, train_federated
    result = train_federated(x, y, client_ids, FederatedConfig(rounds=200), "dp_ftrl")
"""

from frontier.components.common.lazy import lazy_exports
from frontier.components.dp_ftrl.accounting import (
    MECHANISM_GAUSSIAN,
    MECHANISM_TREE,
    PrivacyAccount,
    TreeAccountingConfig,
    calibrate_noise_multiplier,
    epsilon_after,
    epsilon_over_rounds,
    gaussian_account,
    gaussian_noise_multiplier_for_rho,
    gaussian_rho,
    rho_over_rounds,
    tree_account,
    tree_rho,
    tree_sensitivity_squared,
    zcdp_to_epsilon,
)
from frontier.components.dp_ftrl.federated import (
    MECHANISMS,
    ClientData,
    FederatedConfig,
    FederatedResult,
    FtrlState,
    MomentumState,
    NoiseInfo,
    client_deltas,
    clip_deltas,
    evaluate,
    flatten_params,
    ftrl_init,
    ftrl_update,
    init_params,
    local_sgd,
    model_logits,
    momentum_init,
    momentum_update,
    pack_clients,
    round_delta_sum,
    round_delta_sum_loop,
    to_keras_model,
    to_keras_weights,
    train_federated,
    unflatten_params,
)
from frontier.components.dp_ftrl.participation import (
    PARTITION_SCHEMES,
    check_schedule,
    partition_clients,
    schedule_participation,
    short_rounds,
)
from frontier.components.dp_ftrl.tree import (
    ESTIMATORS,
    PrefixSums,
    TreeState,
    efficient_node_variance,
    efficient_weight,
    prefix_noise_variance,
    tree_add,
    tree_init,
    tree_prefix_sum,
    tree_prefix_sums,
)

__all__ = [
    "DpFtrlTrainer",
    "MECHANISM_GAUSSIAN",
    "MECHANISM_TREE",
    "PrivacyAccount",
    "TreeAccountingConfig",
    "calibrate_noise_multiplier",
    "epsilon_after",
    "epsilon_over_rounds",
    "gaussian_account",
    "gaussian_noise_multiplier_for_rho",
    "gaussian_rho",
    "rho_over_rounds",
    "tree_account",
    "tree_rho",
    "tree_sensitivity_squared",
    "zcdp_to_epsilon",
    # simulation
    "ESTIMATORS",
    "MECHANISMS",
    "PARTITION_SCHEMES",
    "ClientData",
    "FederatedConfig",
    "FederatedResult",
    "FtrlState",
    "MomentumState",
    "NoiseInfo",
    "PrefixSums",
    "TreeState",
    "check_schedule",
    "clip_deltas",
    "client_deltas",
    "efficient_node_variance",
    "efficient_weight",
    "evaluate",
    "flatten_params",
    "ftrl_init",
    "ftrl_update",
    "init_params",
    "local_sgd",
    "model_logits",
    "momentum_init",
    "momentum_update",
    "pack_clients",
    "partition_clients",
    "prefix_noise_variance",
    "round_delta_sum",
    "round_delta_sum_loop",
    "schedule_participation",
    "short_rounds",
    "to_keras_model",
    "to_keras_weights",
    "train_federated",
    "tree_add",
    "tree_init",
    "tree_prefix_sum",
    "tree_prefix_sums",
    "unflatten_params",
]

# The component needs TFX (seconds to import); the plain functions do not.
__getattr__ = lazy_exports(__name__, {"DpFtrlTrainer": "frontier.components.dp_ftrl.component"})
