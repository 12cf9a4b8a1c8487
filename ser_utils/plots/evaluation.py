"""Figures of evaluated models, shared by every model notebook: the model comparison, confusion matrices,
F1 per emotion, scores per fold, and the seeds' leaky split beside the honest one."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ser_utils.evaluation.metrics import METRICS

__all__ = [
    "METRIC_LABELS",
    "plot_model_comparison",
    "plot_leaky_vs_honest",
    "plot_per_class_f1",
    "plot_confusion",
    "plot_scores_per_fold",
]

METRIC_LABELS = {"wa": "WA (accuracy)", "uar": "UAR", "macro_f1": "macro-F1"}
_COLOURS = {"model": "tab:blue", "highlight": "tab:orange", "leaky": "tab:red"}


def plot_model_comparison(
    comparison: pd.DataFrame, *, chance: float, highlight: str | None = None, title: str | None = None
) -> plt.Figure:
    """One panel per metric: each model's pooled score as a bar, its mean ± std over folds as an error bar.

    ``comparison`` comes from ``evaluation.comparison.model_comparison`` (scores in [0, 1]); its row order is
    kept. Leaky rows (random clip split) are labelled LEAKY and drawn in red; models whose name contains
    ``highlight`` get their own colour. ``chance`` (1 / number of classes) is drawn as a dotted line.
    """
    leaky = comparison["leaky"].to_numpy(dtype=bool)
    labels = comparison["model"] + " · " + comparison["features"] + np.where(leaky, " (LEAKY)", "")
    highlighted = comparison["model"].str.contains(highlight) if highlight else np.zeros(len(comparison), bool)
    colours = np.where(leaky, _COLOURS["leaky"], np.where(highlighted, _COLOURS["highlight"], _COLOURS["model"]))
    fig, axes = plt.subplots(
        1, len(METRICS), figsize=(4.2 * len(METRICS), 0.38 * len(comparison) + 1.6), sharey=True, squeeze=False
    )
    for ax, metric in zip(axes.flat, METRICS, strict=True):
        ax.barh(labels, comparison[metric], color=colours, alpha=0.85)
        ax.errorbar(
            comparison[f"{metric}_mean"],
            labels,
            xerr=comparison[f"{metric}_std"],
            fmt="o",
            color="black",
            markersize=3,
            capsize=2,
            linewidth=1,
        )
        ax.axvline(chance, color="gray", linestyle=":")
        ax.set(xlim=(0, 1), xlabel=METRIC_LABELS[metric], title=METRIC_LABELS[metric])
    axes.flat[0].invert_yaxis()
    suffix = "; LEAKY rows share speakers between train and test" if leaky.any() else ""
    fig.suptitle(
        title or f"Unseen speakers: pooled score (bar) and mean ± std over folds (dot); chance {chance:.2f}{suffix}"
    )
    fig.tight_layout()
    return fig


def plot_leaky_vs_honest(gap: pd.DataFrame, *, title: str) -> plt.Figure:
    """Pooled WA and UAR of each model on the leaky random clip split beside its honest speaker folds.

    ``gap`` comes from ``evaluation.comparison.leaky_vs_honest`` (scores in [0, 1]).
    """
    bars = pd.concat(
        [
            pd.DataFrame(
                {
                    "bar": gap["model"] + " " + metric.upper(),
                    "value": gap[f"{metric}_{split}"],
                    "split": "random clips (LEAKY)"
                    if split == "leaky"
                    else "unseen speakers (" + gap["honest_protocol"] + ")",
                }
            )
            for metric in ("wa", "uar")
            for split in ("leaky", "honest")
        ],
        ignore_index=True,
    )
    fig, ax = plt.subplots(figsize=(8, 3.5))
    sns.barplot(bars, x="bar", y="value", hue="split", ax=ax)
    ax.set(xlabel="", ylabel="pooled score", ylim=(0, 1), title=title)
    return fig


def plot_per_class_f1(per_class: pd.DataFrame, *, order, classes, title: str) -> plt.Figure:
    """Heat map of F1 per emotion (columns, ``classes`` order) and model (rows).

    ``per_class`` comes from ``evaluation.comparison.per_class_table`` (model, features, emotion, f1 in
    [0, 1]); ``order`` lists the (model, features) rows top to bottom.
    """
    labelled = per_class.assign(model=per_class["model"] + " · " + per_class["features"])
    rows = [f"{model} · {features}" for model, features in order]
    table = labelled.pivot(index="model", columns="emotion", values="f1").loc[rows, list(classes)]
    fig, ax = plt.subplots(figsize=(10, 0.4 * len(rows) + 2))
    sns.heatmap(table, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="viridis", ax=ax)
    ax.set(title=title, ylabel="", xlabel="")
    return fig


def plot_confusion(confusion: pd.DataFrame, *, title: str, counts: pd.DataFrame | None = None) -> plt.Figure:
    """Heat map of a row-normalised confusion table (``metrics.confusion_table(..., normalize=True)``: the
    share of each true emotion predicted as each emotion); with ``counts`` (the same table unnormalised),
    the clip counts are drawn in a panel on its left."""
    size = (0.7 * len(confusion.columns) + 2.5, 0.6 * len(confusion) + 1.8)
    fig, axes = plt.subplots(
        1, 1 if counts is None else 2, figsize=(size[0] * (1 if counts is None else 2), size[1]), squeeze=False
    )
    if counts is not None:
        sns.heatmap(counts, annot=True, fmt="d", cmap="Blues", square=True, cbar=False, ax=axes[0, 0])
        axes[0, 0].set(title="counts")
    rates = axes[0, -1]
    sns.heatmap(
        confusion,
        annot=True,
        fmt=".2f",
        cmap="Blues",
        vmin=0,
        vmax=1,
        square=True,
        cbar_kws={"label": "share of the true class", "shrink": 0.7},
        ax=rates,
    )
    if counts is None:
        rates.set(title=title)
    else:
        rates.set(title="row-normalised (recall on the diagonal)")
        fig.suptitle(title)
    return fig


def plot_scores_per_fold(scores: pd.DataFrame, *, chance: float, title: str) -> plt.Figure:
    """Bars of WA, UAR and macro-F1 on each test fold, from one model's ``results.record_results`` rows (the
    pooled, mean and std rows are left out); ``chance`` (1 / number of classes) as a dotted line."""
    per_fold = scores[~scores["fold"].astype(str).isin(("pooled", "mean", "std"))]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    per_fold.plot.bar(x="fold", y=list(METRICS), ax=ax, rot=0)
    ax.axhline(chance, color="gray", linestyle=":", label="chance")
    ax.set(title=title, ylabel="score", ylim=(0, 1))
    ax.legend(ncol=4, fontsize=8)
    return fig
