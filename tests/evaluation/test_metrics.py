"""Tests for ser_utils.evaluation.metrics with known answers."""

import numpy as np
import pandas as pd
import pytest

from ser_utils.evaluation.metrics import confusion_table, per_class_report, score, score_predictions

LABELS = ("neutral", "happy", "sad")


def test_perfect_predictions_score_one():
    y = ["neutral", "happy", "sad", "sad"]
    assert score(y, y, labels=LABELS) == {"wa": 1.0, "uar": 1.0, "macro_f1": 1.0}


def test_majority_guess_separates_wa_from_uar():
    y_true = ["sad", "sad", "sad", "happy"]
    y_pred = ["sad"] * 4
    result = score(y_true, y_pred, labels=LABELS)
    assert result["wa"] == pytest.approx(0.75)
    assert result["uar"] == pytest.approx(0.5)  # recall 1 on sad, 0 on happy


def test_known_confusion_counts_and_rates():
    y_true = ["neutral", "neutral", "happy", "happy", "happy", "sad"]
    y_pred = ["neutral", "happy", "happy", "happy", "sad", "sad"]
    counts = confusion_table(y_true, y_pred, labels=LABELS)
    assert counts.loc["neutral"].tolist() == [1, 1, 0]
    assert counts.loc["happy"].tolist() == [0, 2, 1]
    assert counts.loc["sad"].tolist() == [0, 0, 1]
    rates = confusion_table(y_true, y_pred, labels=LABELS, normalize=True)
    assert np.allclose(rates.sum(axis=1), 1.0)
    assert rates.loc["happy", "happy"] == pytest.approx(2 / 3)
    report = per_class_report(y_true, y_pred, labels=LABELS).set_index("emotion")
    assert report.loc["happy", "precision"] == pytest.approx(2 / 3)
    assert report.loc["happy", "recall"] == pytest.approx(2 / 3)
    assert report.loc["sad", "precision"] == pytest.approx(0.5)
    assert report["support"].tolist() == [2, 3, 1]


def test_pooled_differs_from_mean_over_unequal_folds():
    predictions = pd.DataFrame(
        {
            "fold": ["a"] * 4 + ["b"],
            "y_true": ["sad", "sad", "sad", "sad", "happy"],
            "y_pred": ["sad", "sad", "sad", "sad", "sad"],
        }
    )
    table = score_predictions(predictions, labels=LABELS).set_index("fold")
    assert table.loc["a", "wa"] == 1.0 and table.loc["b", "wa"] == 0.0
    assert table.loc["pooled", "wa"] == pytest.approx(0.8)
    assert table.loc["mean", "wa"] == pytest.approx(0.5)
    assert table.loc["std", "wa"] == pytest.approx(0.5)


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError):
        score(["sad"], ["sad", "happy"], labels=LABELS)
