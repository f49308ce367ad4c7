"""The KIP pipeline: KIP and random subsets compared by the stock Evaluator."""

from __future__ import annotations

import re

from frontier.pipelines import kip, runner

TINY = kip.KipConfig(images_per_class=(1,), steps=30, target_batch_size=200, trainer_epochs=5)


def test_kip_pipeline_compares_kip_with_a_random_subset(tmp_path):
    root = str(tmp_path)
    run, report, _ = runner.run_and_report(kip.create_pipeline(root, TINY), root)
    states = {n.node_id: n.state for n in run.components}
    assert set(states) == {
        "Ingest", "KipSubset_1pc", "RandomSubset_1pc", "TrainOnKip_1pc", "TrainOnRandom_1pc",
        "EvaluateKrr_1pc", "ReportKrr_1pc", "EvaluateMlp_1pc", "ReportMlp_1pc",
    }  # fmt: skip
    assert set(states.values()) == {"COMPLETE"}
    *lines, meaning = kip.outcome(run)
    assert len(lines) == 2
    assert meaning.startswith("KIP: KIP's distilled images against random real images")
    accuracies = {}
    for line in lines:
        m = re.fullmatch(r"(KRR|MLP) on 1/class: KIP (\d\.\d+) vs random subset (\d\.\d+)", line)
        assert m, line
        accuracies[m[1]] = (float(m[2]), float(m[3]))
    # Even 30 steps of KIP beat a random single image per class as a kernel-ridge model.
    kip_krr, random_krr = accuracies["KRR"]
    assert kip_krr > random_krr
    assert "ReportKrr_1pc" in open(report).read()
