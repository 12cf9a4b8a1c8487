"""Tests for ser_utils.evaluation.fairness with known answers."""

import pandas as pd
import pytest

from ser_utils.evaluation.fairness import (
    RECALL_GAP_THRESHOLD,
    UAR_DELTA_THRESHOLD,
    class_recall_gaps,
    fairness_by_group,
)

LABELS = ("neutral", "happy", "sad")


def predictions(correct_by_group: dict[str, dict[str, int]], *, per_class: int = 10) -> tuple[pd.DataFrame, pd.Series]:
    """``per_class`` clips per (group, class); the first ``correct_by_group[group][class]`` predicted right,
    the rest predicted as the next class."""
    rows = []
    for group, correct in correct_by_group.items():
        for index, label in enumerate(LABELS):
            for take in range(per_class):
                wrong = LABELS[(index + 1) % len(LABELS)]
                rows.append((f"{group}/{label}_{take}.wav", group, label, label if take < correct[label] else wrong))
    table = pd.DataFrame(rows, columns=["path", "group", "y_true", "y_pred"])
    return table.drop(columns="group"), table.set_index("path")["group"]


def test_equal_groups_have_zero_delta_and_pass():
    table, groups = predictions({"female": dict.fromkeys(LABELS, 8), "male": dict.fromkeys(LABELS, 8)})
    fairness = fairness_by_group(table, groups=groups, labels=LABELS, model="m")
    assert fairness["group"].tolist() == ["female", "male"] and fairness["n"].tolist() == [30, 30]
    assert fairness["uar"].tolist() == pytest.approx([0.8, 0.8])
    assert fairness["delta_uar"].tolist() == pytest.approx([0.0, 0.0]) and fairness["within_threshold"].all()
    gaps = class_recall_gaps(table, groups=groups, labels=LABELS, model="m")
    assert gaps["gap"].tolist() == pytest.approx([0, 0, 0]) and gaps["within_threshold"].all()


def test_a_worse_group_is_flagged_by_uar_and_by_class_recall():
    # female recall 1.0 everywhere; male 1.0, 1.0, 0.4 → male UAR 0.8, whole set UAR 0.9, sad gap 0.6.
    table, groups = predictions({"female": dict.fromkeys(LABELS, 10), "male": {"neutral": 10, "happy": 10, "sad": 4}})
    fairness = fairness_by_group(table, groups=groups, labels=LABELS, model="m").set_index("group")
    assert fairness.loc["male", "uar"] == pytest.approx(0.8)
    assert fairness.loc["male", "delta_uar"] == pytest.approx(-0.1)
    assert fairness.loc["female", "delta_uar"] == pytest.approx(0.1)
    assert not fairness["within_threshold"].any()  # 0.1 > 0.075 either way
    assert fairness_by_group(table, groups=groups, labels=LABELS, model="m", threshold=0.11)["within_threshold"].all()
    gaps = class_recall_gaps(table, groups=groups, labels=LABELS, model="m").set_index("emotion")
    assert gaps.loc["sad", ["recall_female", "recall_male"]].tolist() == pytest.approx([1.0, 0.4])
    assert gaps.loc["sad", "gap"] == pytest.approx(0.6) and not gaps.loc["sad", "within_threshold"]
    assert gaps.loc[["neutral", "happy"], "within_threshold"].all()


def test_thresholds_are_audeerings_and_bad_groups_raise():
    assert (UAR_DELTA_THRESHOLD, RECALL_GAP_THRESHOLD) == (0.075, 0.175)
    table, groups = predictions({"female": dict.fromkeys(LABELS, 8), "male": dict.fromkeys(LABELS, 8)})
    with pytest.raises(ValueError, match="no group"):
        fairness_by_group(table, groups=groups.iloc[1:], labels=LABELS, model="m")
    with pytest.raises(ValueError, match="two groups"):
        fairness_by_group(table, groups=groups.map(lambda _: "female"), labels=LABELS, model="m")
