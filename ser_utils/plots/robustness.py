"""Robustness figures: UAR against SNR, a model x condition map of delta UAR, unchanged labels against ser-tests."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

__all__ = ["model_labels", "plot_uar_vs_snr", "plot_delta_uar_heatmap", "plot_unchanged_vs_thresholds"]

NOISE_CONDITIONS = ("white_noise", "pink_noise", "babble")


def model_labels(table: pd.DataFrame) -> pd.Series:
    """``model (features)`` for every row of a robustness table."""
    return table["model"] + " (" + table["features"] + ")"


def plot_uar_vs_snr(table: pd.DataFrame, *, title: str, clean_snr_db: float = 40.0) -> plt.Figure:
    """One panel per noise condition in ``table`` (``evaluation.robustness.robustness_table``): each model's UAR
    against the SNR in dB, its clean UAR drawn at ``clean_snr_db`` (labelled "clean")."""
    conditions = [condition for condition in NOISE_CONDITIONS if condition in set(table["condition"])]
    if not conditions:
        raise ValueError(f"the table holds none of the noise conditions {NOISE_CONDITIONS}")
    labelled = table.assign(label=model_labels(table))
    fig, axes = plt.subplots(1, len(conditions), figsize=(5.5 * len(conditions), 4.2), sharey=True, squeeze=False)
    for ax, condition in zip(axes[0], conditions, strict=True):
        for label, rows in labelled.groupby("label", sort=True):
            noisy = rows[rows["condition"].eq(condition)]
            clean = rows[rows["condition"].eq("clean")]
            snr = np.concatenate([noisy["severity"].astype(float), np.full(len(clean), clean_snr_db)])
            order = np.argsort(snr)
            uar = np.concatenate([noisy["uar"], clean["uar"]])[order]
            ax.plot(snr[order], uar, marker="o", label=label)
        ax.set(title=condition.replace("_", " "), xlabel="SNR (dB)")
        ax.set_xticks([*ax.get_xticks()[ax.get_xticks() < clean_snr_db], clean_snr_db])
        ax.set_xticklabels([*(f"{tick:g}" for tick in ax.get_xticks()[:-1]), "clean"])
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("UAR")
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_delta_uar_heatmap(table: pd.DataFrame, *, title: str) -> plt.Figure:
    """Model x (condition, severity) heat map of delta UAR (corrupted minus clean), 0 white, losses red."""
    corrupted = table[table["condition"].ne("clean")].assign(label=model_labels(table))
    corrupted = corrupted.assign(column=corrupted["condition"] + " " + corrupted["severity"].astype(str))
    grid = corrupted.pivot_table(index="label", columns="column", values="delta_uar", sort=False)
    fig, ax = plt.subplots(figsize=(0.55 * grid.shape[1] + 4, 0.45 * grid.shape[0] + 2))
    limit = max(float(np.nanmax(np.abs(grid.to_numpy()))), 0.05)
    sns.heatmap(
        grid, ax=ax, cmap="RdBu", center=0, vmin=-limit, vmax=limit, annot=True, fmt=".2f", annot_kws={"size": 6}
    )
    ax.set(title=title, xlabel="condition and severity", ylabel="")
    fig.tight_layout()
    return fig


def plot_unchanged_vs_thresholds(verdicts: pd.DataFrame, *, title: str) -> plt.Figure:
    """Share of unchanged labels per model (points) for every ser-tests condition of ``verdicts``
    (``robustness.threshold_verdicts``), with the test's minimum as a black bar; hollow points fail the test."""
    verdicts = verdicts.assign(label=model_labels(verdicts), column=verdicts["condition"] + " " + verdicts["severity"])
    columns = list(dict.fromkeys(verdicts["column"]))
    labels = sorted(verdicts["label"].unique())
    fig, ax = plt.subplots(figsize=(0.9 * len(columns) + 4, 4.5))
    offsets = np.linspace(-0.3, 0.3, len(labels)) if len(labels) > 1 else [0.0]
    for offset, label, color in zip(offsets, labels, sns.color_palette("tab20", len(labels)), strict=True):
        rows = verdicts[verdicts["label"].eq(label)]
        x = np.array([columns.index(column) for column in rows["column"]]) + offset
        passed = rows["passes"].to_numpy()
        ax.scatter(x[passed], rows["unchanged"][passed], color=color, label=label, s=22)
        ax.scatter(x[~passed], rows["unchanged"][~passed], facecolors="none", edgecolors=color, s=22)
    minima = verdicts.drop_duplicates("column").set_index("column")["min_unchanged"]
    ax.hlines([minima[column] for column in columns], np.arange(len(columns)) - 0.4, np.arange(len(columns)) + 0.4)
    ax.set_xticks(range(len(columns)), columns, rotation=35, ha="right")
    ax.set(title=title, ylabel="share of unchanged labels", ylim=(0, 1.02))
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return fig
