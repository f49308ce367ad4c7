"""DP-FTRL federated simulation: user-level DP with tree-aggregated noise, zCDP accounting.

Plain functions (no TFX import):

    from frontier.components.dp_ftrl import tree_account, calibrate_noise_multiplier
    account = tree_account(7.0, rounds=2000, max_participations=6, min_separation=313,
                           delta=1e-10)
    account.rho, account.epsilon        # 0.8061 (= 79/98), 8.90

The accountant lives in `frontier.components.dp_ftrl.accounting`; its module docstring
states the mechanism, which tree nodes count, and the separation convention.
"""

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

__all__ = [
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
]
