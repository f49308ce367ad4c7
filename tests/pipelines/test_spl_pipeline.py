"""The SPL pipeline: two Ingests, teacher, SplLabeler / pre-train / fine-tune per strategy."""

from __future__ import annotations

import re

from frontier.pipelines import runner, spl

TINY = spl.SplPipelineConfig(
    target_size=300,
    target_eval_fraction=0.5,
    strategies=("agreement", "spl"),
    hidden_units=(32,),
    epochs=3,
    pretrain_epochs=2,
)


def test_spl_pipeline_fine_tunes_a_student_per_strategy(tmp_path):
    root = str(tmp_path)
    run, report, _ = runner.run_and_report(spl.create_pipeline(root, TINY), root)
    states = {n.node_id: n.state for n in run.components}
    expected = {"IngestTarget", "IngestPool", "SplTeacher"}
    for s in TINY.strategies:
        expected |= {
            p + s
            for p in ("SplLabeler_", "SplPretrain_", "SplStudent_", "SplEvaluate_", "SplReport_")
        }
    assert states == dict.fromkeys(expected, "COMPLETE")
    *lines, meaning = spl.outcome(run)
    assert len(lines) == 2, lines
    assert meaning.startswith("SPL: Pre-training on a weakly-labeled pool, then fine-tuning: SPL ")
    pattern = (
        r"SPL (agreement|spl): student eval accuracy (\d\.\d+) \(no pre-training (\d\.\d+)\); "
        r"(\d+) pre-training classes, teacher agrees (\d\.\d+)"
    )
    found = {m[1]: m for m in (re.fullmatch(pattern, line) for line in lines) if m}
    assert set(found) == {"agreement", "spl"}, lines
    # Both students are compared with the same teacher; agreement keeps the 10 digits,
    # spl splits them by the teacher's prediction.
    assert found["agreement"][3] == found["spl"][3]
    assert int(found["agreement"][4]) == 10 and int(found["spl"][4]) > 10
    assert "SplReport_spl" in open(report).read()


def test_spl_sources_are_deterministic_and_split_the_digits(tmp_path):
    import numpy as np

    a = spl.write_sources(str(tmp_path / "a"), TINY)
    b = spl.write_sources(str(tmp_path / "b"), TINY)
    for key in ("target", "pool"):
        with np.load(a[key]) as x, np.load(b[key]) as y:
            assert x.files == y.files
            for name in x.files:
                np.testing.assert_array_equal(x[name], y[name])
    with np.load(a["target"]) as t, np.load(a["pool"]) as p:
        assert len(t["label"]) == 300 and len(p["label"]) == 1797 - 300
        assert "weak_label" in p.files and "weak_label" not in t.files
