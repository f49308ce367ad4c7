"""SPL's plain functions: confusion matrix, label spaces, relabelling, bag pools."""

from __future__ import annotations

import numpy as np
import pytest

from frontier.components.common.errors import InputError
from frontier.components.spl import (
    AGREEMENT,
    DROPPED,
    SPL,
    SPL_B,
    STRATEGIES,
    TEACHER,
    WEAK,
    SplLabelMap,
    build_label_map,
    confusion_matrix,
    relabel,
)
from frontier.components.spl.bags import make_bags

# Weak label w (rows) x teacher class t (columns), 3 classes.
CONFUSION = np.array(
    [
        [50, 8, 1],  # w=0: (0,2) is below min_count 5
        [0, 40, 12],  # w=1: (1,0) is empty
        [3, 0, 2],  # w=2: even the agreement cell is below 5
    ]
)
NAMES = ("cat", "dog", "fox")


def test_confusion_matrix_counts_pairs_and_names_a_bad_row():
    weak = np.array([0, 0, 1, 2, 2, 2])
    teacher = np.array([0, 1, 1, 2, 0, 2])
    np.testing.assert_array_equal(
        confusion_matrix(weak, teacher, 3), [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    )
    with pytest.raises(InputError, match="row 2, column 'teacher_label'.*in \\[0, 3\\)"):
        confusion_matrix(weak, np.array([0, 3, 1, 2, 0, 2]), 3)
    with pytest.raises(InputError, match="one weak label and one prediction per example"):
        confusion_matrix(weak, teacher[:3], 3)


def test_spl_gives_each_large_cell_a_class_and_merges_small_ones_into_the_rows_other():
    m = build_label_map(CONFUSION, SPL, min_count=5, class_names=NAMES)
    assert [(c.kind, c.weak, c.teacher, c.count) for c in m.classes] == [
        ("cell", 0, 0, 50),
        ("cell", 0, 1, 8),
        ("disagree", 0, None, 1),  # (0,2)
        ("cell", 1, 1, 40),
        ("cell", 1, 2, 12),
        ("disagree", 1, None, 0),  # (1,0), never seen: kept for pairs that eval may show
        ("disagree", 2, None, 5),  # (2,0) + (2,1) + (2,2): w=2 has no large cell
    ]
    assert m.names[:3] == ("cat|t=cat", "cat|t=dog", "cat|t=other")
    np.testing.assert_array_equal(m.lookup, [[0, 1, 2], [5, 3, 4], [6, 6, 6]])
    assert m.dropped == 0 and np.all(m.lookup != DROPPED)
    assert sum(c.count for c in m.classes) == CONFUSION.sum()


def test_spl_b_has_an_agree_and_a_disagree_class_per_weak_label():
    m = build_label_map(CONFUSION, SPL_B, min_count=5, class_names=NAMES)
    assert [(c.name, c.count) for c in m.classes] == [
        ("cat|agree", 50),
        ("cat|disagree", 9),
        ("dog|agree", 40),
        ("dog|disagree", 12),
        ("fox|disagree", 5),  # its agreement cell (2) is below min_count: merged
    ]
    np.testing.assert_array_equal(m.lookup, [[0, 1, 1], [3, 2, 3], [4, 4, 4]])
    # min_count 1 keeps fox's agreement cell: the full 2W space minus empty classes.
    assert build_label_map(CONFUSION, SPL_B, min_count=1).num_classes == 6


def test_baselines_keep_the_original_classes_and_ids():
    weak = build_label_map(CONFUSION, WEAK)
    teacher = build_label_map(CONFUSION, TEACHER)
    agreement = build_label_map(CONFUSION, AGREEMENT)
    w, t = np.meshgrid(np.arange(3), np.arange(3), indexing="ij")
    np.testing.assert_array_equal(weak.lookup, w)
    np.testing.assert_array_equal(teacher.lookup, t)
    np.testing.assert_array_equal(agreement.lookup, np.where(w == t, w, DROPPED))
    assert [c.count for c in teacher.classes] == [53, 48, 15]
    assert agreement.dropped == CONFUSION.sum() - np.trace(CONFUSION)
    assert weak.min_count == 0  # no pruning outside spl / spl_b


def test_label_map_round_trips_through_json():
    for strategy in STRATEGIES:
        m = build_label_map(CONFUSION, strategy, 5, NAMES)
        back = SplLabelMap.from_json(m.to_json())
        assert back.classes == m.classes and back.names == m.names
        np.testing.assert_array_equal(back.lookup, m.lookup)
        np.testing.assert_array_equal(back.confusion, m.confusion)


def test_relabel_assigns_every_example_its_cells_class():
    rng = np.random.default_rng(0)
    weak = rng.integers(0, 4, 500)
    teacher = np.where(rng.random(500) < 0.7, weak, rng.integers(0, 4, 500))
    labels, m = relabel(weak, teacher, SPL, min_count=10)
    assert labels.shape == (500,) and labels.min() >= 0
    np.testing.assert_array_equal(
        np.bincount(labels, minlength=m.num_classes), [c.count for c in m.classes]
    )
    for c in m.classes:
        members = labels == c.id
        assert np.all(weak[members] == c.weak)
        if c.kind == "cell":
            assert np.all(teacher[members] == c.teacher)
    again, _ = relabel(weak, teacher, SPL, min_count=10)
    np.testing.assert_array_equal(again, labels)


def test_bad_configurations_fail_clearly():
    with pytest.raises(InputError, match="^parameter 'strategy': strategy 'raw'"):
        build_label_map(CONFUSION, "raw")
    with pytest.raises(InputError, match="^parameter 'min_count': min_count = 0"):
        build_label_map(CONFUSION, SPL, min_count=0)
    with pytest.raises(InputError, match="pool is empty"):
        relabel(np.zeros(0, int), np.zeros(0, int), SPL, num_classes=3)
    with pytest.raises(InputError, match="square"):
        build_label_map(np.ones((2, 3)), SPL)
    # A teacher that never agrees leaves `agreement` nothing to pre-train on.
    with pytest.raises(InputError, match="^parameter 'strategy'.*leaves 0 class"):
        build_label_map(np.array([[0, 5], [5, 0]]), AGREEMENT)


@pytest.mark.parametrize("noise", [0.0, 0.3, 0.5])
def test_bags_have_the_requested_share_of_off_topic_examples_from_related_classes(noise):
    labels = np.repeat(np.arange(10), 100)
    pool = make_bags(labels, noise, 10, num_related=2, bag_size=20, seed=3)
    for q in range(10):
        members = pool.weak == q
        off = labels[members] != q
        assert abs(off.mean() - noise) < 0.02
        assert set(labels[members][off]) <= set(pool.related[q])
    sizes = np.bincount(pool.bag)
    assert sizes.max() == 20
    # Bags never mix queries.
    for b in np.unique(pool.bag):
        assert len(set(pool.weak[pool.bag == b])) == 1
    again = make_bags(labels, noise, 10, num_related=2, bag_size=20, seed=3)
    np.testing.assert_array_equal(again.weak, pool.weak)


def test_bags_reject_bad_parameters():
    with pytest.raises(InputError, match="^parameter 'noise': noise = 1.0"):
        make_bags(np.arange(10) % 5, 1.0)
    with pytest.raises(
        InputError, match="^parameter 'num_related': num_related = 5.*in \\[1, 4\\]"
    ):
        make_bags(np.arange(10) % 5, 0.3, num_related=5)
