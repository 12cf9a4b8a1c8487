"""Tests for ser_utils.plots.diagnostics: each figure has the panels and data it promises."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from ser_utils.evaluation.calibration import reliability_table  # noqa: E402
from ser_utils.plots.diagnostics import (  # noqa: E402
    plot_confusions_side_by_side,
    plot_dimension_errors,
    plot_fairness,
    plot_reliability,
    plot_scores_by_condition,
    plot_scores_with_intervals,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


SHIFTS = (("", 0.0), ("_ci_low", -0.05), ("_ci_high", 0.05))  # point, interval ends


def test_scores_with_intervals_labels_models_and_shades_the_best_uar_interval():
    table = pd.DataFrame(
        {
            "model": ["a", "b"],
            "features": ["f", "g"],
            "adaptation": ["none", "speaker"],
            **{f"{metric}{suffix}": [0.6 + shift, 0.5 + shift] for metric in ("wa", "uar") for suffix, shift in SHIFTS},
        }
    )
    fig = plot_scores_with_intervals(table)
    ax = fig.axes[0]
    assert [tick.get_text() for tick in ax.get_yticklabels()] == ["a · f", "b · g · speaker"]
    band = ax.patches[0].get_extents().transformed(ax.transData.inverted())
    assert (band.x0, band.x1) == pytest.approx((0.55, 0.65))  # model a's UAR interval
    assert len(ax.containers) == 2  # WA and UAR error bars


def test_reliability_draws_one_panel_per_model_with_before_and_after():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet([1, 1, 1], size=200)
    labels = rng.integers(0, 3, size=200)
    table = reliability_table(probabilities, labels, n_bins=10)
    fig = plot_reliability({"m1": table, "m2": table}, calibrated_by_model={"m1": table, "m2": table})
    assert len(fig.axes) == 2
    assert len(fig.axes[0].lines) == 3  # diagonal, before, after
    assert "ECE" in fig.axes[0].get_legend().get_texts()[0].get_text()
    assert len(plot_reliability({f"m{i}": table for i in range(4)}, n_columns=3).axes) == 4


def test_fairness_plots_a_point_per_model_and_group_and_rings_the_unfair():
    fairness = pd.DataFrame(
        {
            "model": ["a", "a", "b", "b"],
            "group": ["female", "male", "female", "male"],
            "delta_uar": [0.01, -0.01, 0.1, -0.1],
            "within_threshold": [True, True, False, False],
        }
    )
    ax = plot_fairness(fairness, threshold=0.075).axes[0]
    offsets = [collection.get_offsets() for collection in ax.collections]
    assert [len(o) for o in offsets] == [2, 1, 2, 1]  # female points, its ring (b), male points, its ring (b)
    assert offsets[1][0][0] == pytest.approx(0.1)
    assert [tick.get_text() for tick in ax.get_yticklabels()] == ["a", "b"]


def test_confusions_dimension_errors_and_conditions_have_one_panel_each():
    confusion = pd.DataFrame(np.eye(3), index=list("xyz"), columns=list("xyz"))
    assert len(plot_confusions_side_by_side({"a": confusion, "b": confusion, "c": confusion}).axes) == 3
    summary = pd.DataFrame(
        {
            "model": ["a", "b", "a", "b"],
            "dimension": ["arousal", "arousal", "valence", "valence"],
            "share_within": [0.7, 0.6, 0.4, 0.5],
            "share_within_if_uniform": [0.4, 0.4, 0.3, 0.3],
        }
    )
    fig = plot_dimension_errors(summary)
    assert len(fig.axes) == 2 and [bar.get_width() for bar in fig.axes[0].patches] == pytest.approx([0.7, 0.6])
    conditions = pd.DataFrame(
        {
            "model": ["a", "a", "a", "a"],
            "condition": ["intensity", "intensity", "statement", "statement"],
            "value": ["normal", "strong", "dogs", "kids"],
            "uar": [0.5, 0.7, 0.6, 0.6],
        }
    )
    fig = plot_scores_by_condition(conditions)
    assert len(fig.axes) == 2 and [bar.get_width() for bar in fig.axes[0].patches] == pytest.approx([0.5, 0.7])
