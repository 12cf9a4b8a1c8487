"""Figures of notebook 02: feature distributions by emotion, correlations, rankings, t-SNE maps, variants."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ser_utils.data.taxonomy import EMOTIONS

__all__ = [
    "plot_trimmed_durations",
    "plot_by_emotion",
    "plot_correlations",
    "plot_mutual_information",
    "plot_tsne",
    "plot_variant_scores",
]

_MAX_LEGEND_ENTRIES = 12


def plot_trimmed_durations(durations: pd.DataFrame, *, limit_s: float) -> plt.Figure:
    """Histogram of trimmed clip durations per corpus (columns corpus, duration) with the log-mel length."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    sns.histplot(
        durations, x="duration", hue="corpus", bins=40, element="step", stat="percent", common_norm=False, ax=ax
    )
    ax.axvline(limit_s, color="black", linestyle="--")
    ax.annotate(
        f"log-mel length {limit_s:.2f} s",
        xy=(limit_s, 0.95),
        xycoords=("data", "axes fraction"),
        xytext=(4, 0),
        textcoords="offset points",
        fontsize=8,
    )
    ax.set(
        xlabel="duration after trimming edge silence (s)",
        ylabel="% of the corpus's clips",
        title="How long is the speech in each clip?",
    )
    return fig


def plot_by_emotion(table: pd.DataFrame, *, columns, emotion_column: str = "emotion") -> plt.Figure:
    """One box plot per column of ``table``, clips grouped by emotion in the taxonomy's order."""
    order = [emotion for emotion in EMOTIONS if emotion in set(table[emotion_column])]
    n_cols = 3
    n_rows = int(np.ceil(len(columns) / n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4.2 * n_cols, 3.2 * n_rows), squeeze=False)
    for ax, column in zip(axes.flat, columns, strict=False):
        sns.boxplot(
            table,
            x=emotion_column,
            y=column,
            order=order,
            hue=emotion_column,
            hue_order=order,
            palette="tab10",
            legend=False,
            fliersize=1.5,
            ax=ax,
        )
        ax.set(xlabel="", title=column)
        ax.tick_params(axis="x", rotation=45)
    for ax in axes.flat[len(columns) :]:
        ax.set_visible(False)
    fig.suptitle("Pitch, energy, rate and MFCCs by emotion")
    fig.tight_layout()
    return fig


def plot_correlations(table: pd.DataFrame, *, columns) -> plt.Figure:
    """Heat map of Spearman correlations between ``columns`` of ``table``."""
    correlations = table[list(columns)].corr(method="spearman")
    size = max(6.0, 0.22 * len(columns) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    sns.heatmap(
        correlations,
        cmap="vlag",
        vmin=-1,
        vmax=1,
        square=True,
        xticklabels=True,
        yticklabels=True,
        cbar_kws={"label": "Spearman correlation", "shrink": 0.6},
        ax=ax,
    )
    ax.tick_params(labelsize=7)
    ax.set(title="Correlations between the readable handcrafted features")
    return fig


def plot_mutual_information(ranking: pd.DataFrame, *, top: int = 25) -> plt.Figure:
    """Horizontal bars of the ``top`` features of ``feature_analysis.mutual_information_ranking``."""
    head = ranking.head(top)
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(head) + 1.2))
    sns.barplot(head, y="feature", x="mutual_information", hue="family", dodge=False, ax=ax)
    ax.set(
        xlabel="mutual information with emotion (nats)",
        ylabel="",
        title=f"Top {len(head)} features by mutual information with emotion",
    )
    ax.legend(fontsize=7, title="family", title_fontsize=8, loc="lower right")
    return fig


def plot_tsne(embedding: np.ndarray, *, colour_by: dict) -> plt.Figure:
    """One t-SNE panel per labelling in ``colour_by`` (name -> (n,) labels), points coloured by label."""
    fig, axes = plt.subplots(1, len(colour_by), figsize=(5.2 * len(colour_by), 4.8), squeeze=False)
    for ax, (name, labels) in zip(axes.flat, colour_by.items(), strict=True):
        labels = pd.Series(np.asarray(labels), name=name)
        order = [e for e in EMOTIONS if e in set(labels)] if name == "emotion" else sorted(set(labels))
        palette = "tab10" if len(order) <= 10 else "husl"
        sns.scatterplot(
            x=embedding[:, 0],
            y=embedding[:, 1],
            hue=labels,
            hue_order=order,
            palette=palette,
            s=10,
            linewidth=0,
            legend=len(order) <= _MAX_LEGEND_ENTRIES,
            ax=ax,
        )
        ax.set(xticks=[], yticks=[], title=f"coloured by {name} ({len(order)})")
        if ax.get_legend():
            ax.legend(fontsize=7, markerscale=1.5, loc="best")
    fig.suptitle("t-SNE map of the handcrafted features")
    fig.tight_layout()
    return fig


def plot_variant_scores(scores: pd.DataFrame, *, chance: float | None = None) -> plt.Figure:
    """UAR (mean ± std over speaker-grouped folds) of each variant of ``compare_feature_variants``."""
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(scores) + 1.3))
    ax.barh(scores["variant"], scores["uar_mean"], xerr=scores["uar_std"], color="tab:blue", alpha=0.8)
    if chance is not None:
        ax.axvline(chance, color="gray", linestyle=":", label=f"chance {chance:.2f}")
        ax.legend(loc="lower right", fontsize=8)
    ax.invert_yaxis()
    ax.set(
        xlabel="UAR on unseen speakers (mean ± std over folds)",
        xlim=(0, 1),
        title="Do the computation shortcuts cost accuracy?",
    )
    return fig
