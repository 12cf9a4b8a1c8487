"""Tests for ser_utils.evaluation.comparison: one comparison table from results.csv rows, honest rows first."""

import numpy as np
import pandas as pd
import pytest

from ser_utils.evaluation.comparison import (
    confusion_rows,
    epoch_summary,
    leaky_vs_honest,
    model_comparison,
    per_class_table,
    training_histories,
    with_pooled_suffix,
)
from ser_utils.evaluation.experiment import Evaluation, ModelRun


def _results() -> pd.DataFrame:
    rows = []
    for protocol, model, features, folds, base in (
        ("speaker-2fold", "a", "f", ("fold1", "fold2"), 0.4),
        ("speaker-2fold", "b", "f", ("fold1", "fold2"), 0.6),
        ("random-leaky", "a", "f", ("random",), 0.9),
        ("speaker-2fold", "c", "g", ("fold1", "fold2"), 0.5),
    ):
        for fold in (*folds, "pooled", "mean", "std"):
            value = 0.0 if fold == "std" else base
            rows.append(
                {"corpora": "demo", "protocol": protocol, "model": model, "features": features, "fold": fold}
                | {"wa": value, "uar": value, "macro_f1": value}
            )
    return pd.DataFrame(rows)


@pytest.fixture
def outputs(tmp_path):
    _results().to_csv(tmp_path / "results.csv", index=False)
    return tmp_path


def test_comparison_puts_honest_rows_first_best_uar_first_and_labels_leaky_ones(outputs):
    comparison = model_comparison(outputs, corpora="demo", protocols=["speaker-2fold", "random-leaky"])
    assert list(comparison["model"]) == ["b", "c", "a", "a"]
    assert list(comparison["leaky"]) == [False, False, False, True]
    assert list(comparison["folds"]) == [2, 2, 2, 1]
    assert comparison.loc[3, "wa"] == pytest.approx(0.9) and comparison.loc[0, "uar_std"] == 0.0
    only = model_comparison(outputs, corpora="demo", protocols=["speaker-2fold"], models=["a", "c"])
    assert list(only["model"]) == ["c", "a"]
    with pytest.raises(ValueError, match="no rows"):
        model_comparison(outputs, corpora="ravdess", protocols=["speaker-2fold"])
    with pytest.raises(ValueError, match="record the models first"):
        model_comparison(outputs / "elsewhere", corpora="demo", protocols=["speaker-2fold"])


def test_pooled_suffix_gives_notebook_03_columns(outputs):
    table = with_pooled_suffix(model_comparison(outputs, corpora="demo", protocols=["speaker-2fold"]))
    assert table.columns[0] == "protocol"
    assert {"wa_pooled", "wa_std", "uar_pooled", "uar_std", "macro_f1_pooled", "macro_f1_std"} <= set(table.columns)


def test_leaky_vs_honest_measures_the_flattery_of_the_random_split(outputs):
    comparison = model_comparison(outputs, corpora="demo", protocols=["speaker-2fold", "random-leaky"])
    gap = leaky_vs_honest(comparison)
    assert list(gap["model"]) == ["a"] and gap.loc[0, "honest_protocol"] == "speaker-2fold"
    assert gap.loc[0, "wa_flattery"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="honest and random-leaky"):
        leaky_vs_honest(comparison[~comparison["leaky"]])


def test_per_class_and_confusion_tables_cover_every_run():
    predictions = pd.DataFrame({"fold": "fold1", "y_true": ["a", "a", "b", "b"], "y_pred": ["a", "b", "b", "b"]})
    evaluation = Evaluation(
        model="m", protocol="speaker-2fold", predictions=predictions, histories=pd.DataFrame(), fit_seconds=0.0
    )
    runs = [ModelRun(features=name, evaluation=evaluation, scores=pd.DataFrame()) for name in ("x", "y")]
    per_class = per_class_table(runs, classes=["a", "b"])
    assert list(per_class["features"]) == ["x", "x", "y", "y"]
    np.testing.assert_allclose(per_class["recall"][:2], [0.5, 1.0])
    confusions = confusion_rows(runs, classes=["a", "b"])
    assert len(confusions) == 8 and confusions["count"].sum() == 8
    first = confusions[confusions["features"] == "x"].set_index(["true", "predicted"])
    assert first.loc[("a", "b"), "rate"] == pytest.approx(0.5) and first.loc[("b", "b"), "count"] == 2


def test_epoch_summary_finds_the_best_epoch_of_every_run():
    history = pd.DataFrame(
        {"fold": ["f1"] * 3 + ["f2"] * 2, "epoch": [0, 1, 2, 0, 1], "val_loss": [1.0, 0.5, 0.7, 0.9, 0.8]}
        | {"loss": 1.0, "epoch_seconds": [1.0, 2.0, 3.0, 1.0, 1.0]}
    )
    evaluation = Evaluation(model="m", protocol="p", predictions=pd.DataFrame(), histories=history, fit_seconds=0.0)
    stacked = training_histories([ModelRun(features="x", evaluation=evaluation, scores=pd.DataFrame())])
    table = epoch_summary(stacked, by=["model", "fold"])
    assert list(table["epochs"]) == [3, 2] and list(table["best_epoch"]) == [2, 2]
    assert table.loc[0, "seconds_per_epoch"] == pytest.approx(2.0) and "best_val_accuracy" not in table
    with pytest.raises(ValueError, match="lack columns"):
        epoch_summary(stacked, by=["seed"])
