"""Figures of notebook 05: AudioSet classes per emotion, every model's scores with their fold spread, confusions."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ser_utils.evaluation.metrics import METRICS

__all__ = ["plot_audioset_classes", "plot_model_comparison", "plot_confusion"]

METRIC_LABELS = {"wa": "WA (accuracy)", "uar": "UAR", "macro_f1": "macro-F1"}


def plot_audioset_classes(profile: pd.DataFrame, *, by: str, title: str) -> plt.Figure:
    """Heat map of an (emotions, classes) ``yamnet_study.class_profile`` table made ``by`` "score" or "lift"."""
    fig, ax = plt.subplots(figsize=(0.5 * len(profile.columns) + 3, 0.45 * len(profile) + 2.4))
    colour = {"score": {"cmap": "mako_r"}, "lift": {"cmap": "vlag", "center": 1.0}}[by]
    label = {"score": "mean AudioSet score", "lift": "mean score / mean over all clips"}[by]
    sns.heatmap(
        profile,
        annot=len(profile.columns) <= 30,
        fmt=".2f",
        annot_kws={"fontsize": 7},
        cbar_kws={"label": label, "shrink": 0.7},
        ax=ax,
        **colour,
    )
    ax.set(xlabel="", ylabel="", title=title)
    ax.tick_params(axis="x", rotation=60, labelsize=8)
    ax.tick_params(axis="y", rotation=0)
    plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
    return fig


def plot_model_comparison(comparison: pd.DataFrame, *, highlight: str = "yamnet", chance: float | None = None):
    """One panel per metric: each model's pooled score as a bar, its mean ± std over folds as an error bar.

    ``comparison`` comes from ``yamnet_study.model_comparison``; models whose name contains ``highlight``
    get their own colour. Returns the figure.
    """
    labels = comparison["model"] + " · " + comparison["features"]
    colours = np.where(comparison["model"].str.contains(highlight), "tab:orange", "tab:blue")
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
        if chance is not None:
            ax.axvline(chance, color="gray", linestyle=":")
        ax.set(xlim=(0, 1), xlabel=METRIC_LABELS[metric], title=METRIC_LABELS[metric])
    axes.flat[0].invert_yaxis()
    fig.suptitle(
        "Unseen speakers: pooled score (bar) and mean ± std over folds (dot)"
        + (f"; chance {chance:.2f} (dotted)" if chance is not None else "")
    )
    fig.tight_layout()
    return fig


def plot_confusion(confusion: pd.DataFrame, *, title: str) -> plt.Figure:
    """Heat map of a row-normalised confusion table (``metrics.confusion_table(..., normalize=True)``)."""
    fig, ax = plt.subplots(figsize=(0.7 * len(confusion.columns) + 2.5, 0.6 * len(confusion) + 1.8))
    sns.heatmap(
        confusion,
        annot=True,
        fmt=".2f",
        cmap="Blues",
        vmin=0,
        vmax=1,
        square=True,
        cbar_kws={"label": "share of the true class", "shrink": 0.7},
        ax=ax,
    )
    ax.set(title=title)
    return fig
