"""Custom artifact types of frontier.

Standard TFX types (`Examples`, `Model`, `ModelRun`, `ModelEvaluation`,
`ModelBlessing`, `PushedModel`) are used wherever they fit (ARCHITECTURE.md rule 3);
this module holds only what TFX has no type for.
"""

from tfx.types import artifact


class HtmlReport(artifact.Artifact):
    """A small self-contained HTML page that a component leaves to look at.

    Layout: `<uri>/index.html` (plots are inline PNG, so the page is one file
    that the Kubeflow / Vertex UI and the local run report can show as is).

    Custom properties:
      title: the page's title, shown as the link text in the run report.
    """

    TYPE_NAME = "frontier.HtmlReport"


HTML_FILE_NAME = "index.html"


class SplLabelMap(artifact.Artifact):
    """The SPL pre-training label space and how a weakly-labeled pool maps into it.

    Layout: `<uri>/label_map.json` (`frontier.components.spl.labels.SplLabelMap`
    as JSON: strategy, min_count, class names, the [W, W] confusion matrix of
    (weak label, teacher prediction), the classes as id -> kind, weak class,
    teacher class (or agree / disagree), count and name, and the [W, W]
    lookup table from (w, t) to class id, -1 where an example is dropped).

    Custom properties:
      strategy: `weak`, `teacher`, `agreement`, `spl` or `spl_b`.
      num_classes: size of the pre-training label space.
      dropped: pool examples left out (only `agreement` drops any).
    """

    TYPE_NAME = "frontier.SplLabelMap"


SPL_LABEL_MAP_FILE = "label_map.json"


class PrivacyLedger(artifact.Artifact):
    """What a differentially private training run spent, for audits and budgets.

    Layout: `<uri>/privacy_ledger.json`: mechanism (`dp_ftrl_tree_aggregation`
    or `dp_fedavg_gaussian`), privacy unit (one user: all examples of one
    `client_id`), parameters (noise multiplier, clip, rounds, clients per
    round, max participations, min separation, restarts, estimator), rho
    (zCDP), epsilon and delta, the rounds actually run, and epsilon after
    every round. A non-private run (FedAvg) records epsilon as null.

    Custom properties (also set on the trained `Model`):
      mechanism, rho, epsilon, delta, rounds_run, noise_multiplier.
    """

    TYPE_NAME = "frontier.PrivacyLedger"


PRIVACY_LEDGER_FILE = "privacy_ledger.json"


class ClientStore(artifact.Artifact):
    """A federated population grouped by user, for reading one round's clients at a time.

    Layout: the client store format of `frontier.components.dp_ftrl.client_store`
    (`index.json`, written last, `index.npy`, `ids.npy` and
    `shard-SSSSS-of-NNNNN.{x,y}.npy`: each client's examples one contiguous
    run of rows). Written by `GroupClients` from one split of an `Examples`
    artifact; read by `DpFtrlTrainer(client_store=...)`, whose memory then does
    not grow with the population.

    Custom properties:
      split: the `Examples` split it holds.
      clients: number of users (distinct `client_id`s).
      examples: number of examples.
    """

    TYPE_NAME = "frontier.ClientStore"
