"""Tests for ser_utils.plots: every figure function returns a figure with the panels it promises."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from ser_utils.plots.adaptation import plot_adaptation_curve  # noqa: E402
from ser_utils.plots.charts import save_chart  # noqa: E402
from ser_utils.plots.evaluation import (  # noqa: E402
    plot_confusion,
    plot_leaky_vs_honest,
    plot_model_comparison,
    plot_per_class_f1,
    plot_scores_per_fold,
)
from ser_utils.plots.training import plot_augmentation_examples, plot_training_curves  # noqa: E402

COMPARISON = pd.DataFrame(
    {
        "model": ["b", "a", "a"],
        "features": ["f", "f", "f"],
        "protocol": ["speaker-2fold", "speaker-2fold", "random-leaky"],
        "leaky": [False, False, True],
        **{f"{m}{s}": [0.6, 0.4, 0.9] for m in ("wa", "uar", "macro_f1") for s in ("", "_mean")},
        **{f"{m}_std": [0.05, 0.05, 0.0] for m in ("wa", "uar", "macro_f1")},
    }
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_model_comparison_has_one_panel_per_metric_and_marks_leaky_rows(tmp_path):
    fig = plot_model_comparison(COMPARISON, chance=0.25, highlight="b")
    assert len(fig.axes) == 3
    labels = [tick.get_text() for tick in fig.axes[0].get_yticklabels()]
    assert "a · f (LEAKY)" in labels and "b · f" in labels
    path = save_chart(fig, "99_01_test", charts_dir=tmp_path, data_label="test")
    assert path.is_file() and path.stat().st_size > 0


def test_leaky_vs_honest_per_class_and_scores_per_fold():
    gap = pd.DataFrame(
        {"model": ["a"], "features": ["f"], "honest_protocol": ["speaker-2fold"]}
        | {f"{m}_{s}": [v] for m in ("wa", "uar") for s, v in (("leaky", 0.9), ("honest", 0.4))}
    )
    assert len(plot_leaky_vs_honest(gap, title="t").axes[0].patches) >= 4
    per_class = pd.DataFrame({"model": "a", "features": "f", "emotion": ["x", "y"], "f1": [0.5, 1.0]})
    fig = plot_per_class_f1(per_class, order=[("a", "f")], classes=["y", "x"], title="t")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["y", "x"]
    scores = pd.DataFrame({"fold": ["fold1", "fold2", "pooled", "mean", "std"], "wa": 0.5, "uar": 0.5, "macro_f1": 0.5})
    assert len(plot_scores_per_fold(scores, chance=0.25, title="t").axes[0].patches) == 6


def test_confusion_draws_counts_beside_rates_when_given():
    rates = pd.DataFrame([[0.75, 0.25], [0.0, 1.0]], index=["a", "b"], columns=["a", "b"])
    assert len(plot_confusion(rates, title="t").axes) == 2  # the heat map and its colour bar
    counts = pd.DataFrame([[3, 1], [0, 4]], index=["a", "b"], columns=["a", "b"])
    assert len(plot_confusion(rates, title="t", counts=counts).axes) == 3


def test_training_curves_one_row_per_panel_value_and_augmentation_examples():
    histories = pd.DataFrame(
        {"model": np.repeat(["m1", "m2"], 4), "fold": np.tile(np.repeat(["fold1", "fold2"], 2), 2)}
        | {"epoch": np.tile([0, 1], 4), "loss": 1.0, "val_loss": 0.9, "val_accuracy": 0.5}
    )
    assert (
        plot_training_curves(histories, title="t", panel="model").axes[0].get_title()
        == "m1 · loss (dashed: training clips)"
    )
    assert len(plot_training_curves(histories, title="t", panel="model").axes) == 2
    assert len(plot_training_curves(histories, title="t", curves=("loss", "accuracy")).axes) == 2
    with pytest.raises(ValueError, match="curves"):
        plot_training_curves(histories, title="t", curves=("speed",))
    image = np.zeros((10, 4))
    assert len(plot_augmentation_examples(image, [image, image], title="t").axes) == 3
    with pytest.raises(ValueError, match="one shape"):
        plot_augmentation_examples(image, [np.zeros((9, 4))], title="t")


def test_adaptation_curve_draws_uar_and_wa_per_model_with_all_as_the_last_tick():
    curve = pd.DataFrame(
        {
            "model": ["lr"] * 3 + ["mlp"] * 3,
            "n_clips": [0.0, 4.0, np.nan] * 2,
            "wa": [0.5, 0.6, 0.65, 0.45, 0.55, 0.6],
            "uar": [0.5, 0.6, 0.64, 0.44, 0.55, 0.6],
        }
    )
    fig = plot_adaptation_curve(curve, references={"zero-shot": 0.56})
    ax = fig.axes[0]
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["0", "4", "all"]
    assert len(ax.get_lines()) == 5  # UAR + WA per model, one reference line
    plt.close(fig)
    with pytest.raises(ValueError, match="empty"):
        plot_adaptation_curve(curve.iloc[:0])
