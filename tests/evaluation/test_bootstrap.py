"""Tests for ser_utils.evaluation.bootstrap with known answers."""

import numpy as np
import pandas as pd
import pytest

from ser_utils.evaluation.bootstrap import (
    bootstrap_scores,
    comparison_with_intervals,
    mcnemar_exact,
    paired_uar_difference,
)
from ser_utils.evaluation.metrics import score

LABELS = ("neutral", "happy", "sad", "angry")
KNOBS = {"labels": LABELS, "n_resamples": 500, "seed": 0}


def clips(*, n_speakers=8, per_class=5, error_rate=0.0, seed=1, corpus="c") -> pd.DataFrame:
    """``per_class`` clips of every class for each speaker; a share ``error_rate`` of them predicted wrongly
    (the true class shifted by one), different speakers getting different numbers of errors."""
    rng = np.random.default_rng(seed)
    rows = []
    for speaker in range(n_speakers):
        for label_index, label in enumerate(LABELS):
            for take in range(per_class):
                wrong = rng.random() < error_rate * (0.5 + speaker / n_speakers)
                predicted = LABELS[(label_index + 1) % len(LABELS)] if wrong else label
                path = f"{corpus}/s{speaker}/{label}_{take}.wav"
                rows.append((path, corpus, f"{corpus}_s{speaker}", label, predicted))
    return pd.DataFrame(rows, columns=["path", "corpus", "speaker", "y_true", "y_pred"])


def test_perfect_predictions_give_the_interval_one_to_one():
    result = bootstrap_scores(clips(), **KNOBS)
    for metric in ("wa", "uar", "macro_f1"):
        assert result[metric] == result[f"{metric}_ci_low"] == result[f"{metric}_ci_high"] == 1.0


def test_a_single_speaker_gives_a_zero_width_interval():
    result = bootstrap_scores(clips(n_speakers=1, error_rate=0.4), **KNOBS)
    assert 0 < result["uar"] < 1
    assert result["uar_ci_low"] == pytest.approx(result["uar"]) == pytest.approx(result["uar_ci_high"])


def test_point_estimates_match_metrics_and_lie_inside_the_intervals():
    predictions = clips(error_rate=0.4)
    result = bootstrap_scores(predictions, **KNOBS)
    expected = score(predictions["y_true"], predictions["y_pred"], labels=LABELS)
    for metric, value in expected.items():
        assert result[metric] == pytest.approx(value)
        assert result[f"{metric}_ci_low"] <= value <= result[f"{metric}_ci_high"]
        assert result[f"{metric}_ci_high"] - result[f"{metric}_ci_low"] > 0.01
    assert (result["n"], result["n_speakers"]) == (len(predictions), 8)


def test_the_same_seed_gives_the_same_interval_and_wider_confidence_a_wider_one():
    predictions = clips(error_rate=0.4)
    first, again = bootstrap_scores(predictions, **KNOBS), bootstrap_scores(predictions, **KNOBS)
    assert first == again
    wide = bootstrap_scores(predictions, **KNOBS, confidence=0.99)
    assert wide["uar_ci_high"] - wide["uar_ci_low"] >= first["uar_ci_high"] - first["uar_ci_low"]


def test_resamples_stay_within_each_corpus():
    # Corpus "a" is always right, corpus "b" always wrong; drawing speakers within each corpus keeps the
    # 50/50 clip mix in every resample, so WA is exactly 0.5 every time.
    mixed = pd.concat([clips(n_speakers=3, corpus="a"), clips(n_speakers=3, error_rate=10, corpus="b")])
    result = bootstrap_scores(mixed, **KNOBS)
    assert result["wa_ci_low"] == result["wa_ci_high"] == pytest.approx(0.5)


def test_identical_models_differ_by_zero_and_not_significantly():
    predictions = clips(error_rate=0.4)
    result = paired_uar_difference(predictions, predictions.sample(frac=1, random_state=0), **KNOBS)
    assert result["delta_uar"] == result["delta_uar_ci_low"] == result["delta_uar_ci_high"] == 0
    assert result["delta_uar_excludes_zero"] is False


def test_a_model_better_on_every_speaker_has_a_delta_interval_above_zero():
    result = paired_uar_difference(clips(), clips(error_rate=0.4), **KNOBS)
    assert result["delta_uar"] > 0 and result["delta_uar_ci_low"] > 0
    assert result["delta_uar_excludes_zero"] is True


def test_paired_difference_refuses_different_clips():
    with pytest.raises(ValueError, match="different clips"):
        paired_uar_difference(clips(), clips().iloc[1:], **KNOBS)


def test_mcnemar_known_answers():
    correct = np.array([True, False, True, True])
    assert mcnemar_exact(correct, correct) == 1.0
    only_a = np.r_[np.ones(10, bool), np.ones(5, bool)]
    only_b = np.r_[np.zeros(10, bool), np.ones(5, bool)]
    assert mcnemar_exact(only_a, only_b) == pytest.approx(2 * 0.5**10)
    assert mcnemar_exact(only_b, only_a) == pytest.approx(2 * 0.5**10)


def test_comparison_ranks_models_and_pairs_them_with_the_best():
    perfect, noisy = clips(), clips(error_rate=0.4)
    table = comparison_with_intervals(
        {("noisy", "f", "none"): noisy, ("perfect", "f", "none"): perfect, ("twin", "f", "none"): noisy},
        **KNOBS,
    )
    assert table["model"].tolist()[0] == "perfect"
    best = table.iloc[0]
    assert best["delta_uar_vs_best"] == 0 and np.isnan(best["mcnemar_p_vs_best"])
    assert best["delta_uar_excludes_zero"] == False  # noqa: E712 (numpy bool)
    noisy_row = table.set_index("model").loc["noisy"]
    assert noisy_row["delta_uar_vs_best"] == pytest.approx(noisy_row["uar"] - 1.0)
    assert noisy_row["delta_uar_ci_high"] < 0 and noisy_row["delta_uar_excludes_zero"]
    assert noisy_row["mcnemar_p_vs_best"] < 0.05
    # Each row's intervals are bootstrap_scores' with the same seed; its delta is paired_uar_difference's.
    alone = bootstrap_scores(noisy, **KNOBS)
    assert noisy_row["uar_ci_low"] == pytest.approx(alone["uar_ci_low"])
    paired = paired_uar_difference(noisy, perfect, **KNOBS)
    assert noisy_row["delta_uar_ci_low"] == pytest.approx(paired["delta_uar_ci_low"])


def test_the_reference_is_the_best_model_that_needs_no_clip_of_the_test_speaker():
    noisy, perfect = clips(error_rate=0.3), clips()
    table = comparison_with_intervals(
        {("noisy", "f", "none"): noisy, ("adapted", "f", "transductive"): perfect}, **KNOBS
    ).set_index("model")
    assert table.loc["noisy", "delta_uar_vs_best"] == 0 and np.isnan(table.loc["noisy", "mcnemar_p_vs_best"])
    assert table.loc["adapted", "delta_uar_vs_best"] > 0 and table.loc["adapted", "delta_uar_excludes_zero"]


def test_bad_input_raises_actionable_errors():
    with pytest.raises(ValueError, match="not in labels"):
        bootstrap_scores(clips().assign(y_pred="calm"), **KNOBS)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_scores(clips(), labels=LABELS, n_resamples=0, seed=0)
    with pytest.raises(ValueError, match="lack columns"):
        bootstrap_scores(clips().drop(columns="speaker"), **KNOBS)
