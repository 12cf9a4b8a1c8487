"""Tests for ser_utils.evaluation.fusion: ensembles chosen on other folds, clip by clip on the same folds."""

import numpy as np
import pandas as pd
import pytest

from ser_utils.evaluation.fusion import ALL_FOLDS, cross_fitted_ensemble, select_ensemble
from ser_utils.evaluation.results import predictions_table


def _predictions(probabilities, *, paths, folds):
    rows = pd.DataFrame({"path": paths, "corpus": "demo", "speaker": "s", "emotion": "a"})
    return pd.concat(
        [
            predictions_table(rows.iloc[[i]], fold=fold, probabilities=probabilities[[i]], classes=["a", "b"])
            for i, fold in enumerate(folds)
        ],
        ignore_index=True,
    )


def test_ensemble_refuses_other_folds_or_clips():
    first = _predictions(np.array([[0.9, 0.1], [0.4, 0.6]]), paths=["x", "y"], folds=["f1", "f2"])
    with pytest.raises(ValueError, match="different folds"):
        cross_fitted_ensemble({"a": first, "b": first.assign(fold="f1")}, classes=["a", "b"], rounds=[1])
    with pytest.raises(ValueError, match="different clips"):
        cross_fitted_ensemble({"a": first, "b": first.assign(path=["x", "z"])}, classes=["a", "b"], rounds=[1])


def test_ensemble_selection_picks_members_that_complete_each_other():
    says_a = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])  # right on class a only: UAR 0.5
    says_b = np.array([[0.4, 0.6], [0.4, 0.6], [0.1, 0.9], [0.1, 0.9]])  # right on class b only: UAR 0.5
    labels = np.array([0, 0, 1, 1])
    assert list(select_ensemble(np.stack([says_a, says_b]), labels, rounds=2)) == [1, 1]  # together: UAR 1.0


def test_cross_fitted_ensemble_never_lets_a_fold_choose_its_own_weights():
    # member "a" is right on fold f1 only, member "b" on f2 and f3 only; every fold has one clip of each class
    paths = [f"clip{i}" for i in range(6)]
    folds = ["f1", "f1", "f2", "f2", "f3", "f3"]
    truth = np.array([[1.0, 0.0], [0.0, 1.0]] * 3)
    wrong = truth[:, ::-1]
    right_on = {"a": ["f1"], "b": ["f2", "f3"]}
    tables = {}
    for name, good_folds in right_on.items():
        probabilities = np.where(np.isin(folds, good_folds)[:, None], truth, wrong) * 0.8 + 0.1
        table = _predictions(probabilities, paths=paths, folds=folds)
        tables[name] = table.assign(y_true=["a", "b"] * 3)
    fused, weights = cross_fitted_ensemble(tables, classes=["a", "b"], rounds=[1, 3])
    by_fold = weights.set_index("fold")
    assert by_fold.loc["f1", "b"] == 1.0  # chosen on f2 and f3, where only b is right ...
    assert list(fused.loc[fused["fold"] == "f1", "y_pred"]) == ["b", "a"]  # ... so f1 is scored with b: all wrong
    assert list(by_fold.index) == ["f1", "f2", "f3", ALL_FOLDS] and set(by_fold["rounds"]) <= {1, 3}
    np.testing.assert_allclose(by_fold[["a", "b"]].sum(axis=1), 1.0)


def test_with_two_folds_each_fold_takes_the_fewest_rounds_from_the_other():
    paths, folds = ["x", "y", "z", "w"], ["f1", "f1", "f2", "f2"]
    tables = {
        name: _predictions(probabilities, paths=paths, folds=folds).assign(y_true=["a", "b", "a", "b"])
        for name, probabilities in {
            "right": np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]]),
            "wrong": np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]),
        }.items()
    }
    fused, weights = cross_fitted_ensemble(tables, classes=["a", "b"], rounds=[4, 2])
    assert weights.set_index("fold")["rounds"].to_dict() == {"f1": 2, "f2": 2, ALL_FOLDS: 2}
    assert weights.set_index("fold")["right"].tolist() == [1.0, 1.0, 1.0] and list(fused["y_pred"]) == ["a", "b"] * 2
