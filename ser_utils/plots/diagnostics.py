"""Figures of notebook 06's diagnostics: scores with bootstrap intervals, reliability diagrams, fairness by
group, confusions of the top models side by side, errors by arousal/valence and scores by recording condition."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

__all__ = [
    "plot_scores_with_intervals",
    "plot_reliability",
    "plot_fairness",
    "plot_confusions_side_by_side",
    "plot_dimension_errors",
    "plot_scores_by_condition",
]

_COLOURS = {"wa": "tab:blue", "uar": "tab:orange", "before": "tab:red", "after": "tab:green"}


def plot_scores_with_intervals(table: pd.DataFrame, *, title: str | None = None) -> plt.Figure:
    """Models on y (row order kept, first on top), WA and UAR as points with their bootstrap intervals; the UAR
    interval of the best model with adaptation "none" is shaded, so a model whose UAR interval overlaps the band
    is not clearly worse.

    ``table`` comes from ``evaluation.bootstrap.comparison_with_intervals`` (scores in [0, 1]).
    """
    labels = _model_labels(table)
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(table) + 1.8))
    reference = table[table["adaptation"].eq("none")] if table["adaptation"].eq("none").any() else table
    best = reference.loc[reference["uar"].idxmax()]
    ax.axvspan(
        best["uar_ci_low"],
        best["uar_ci_high"],
        color=_COLOURS["uar"],
        alpha=0.15,
        label="UAR interval of the best deployable model",
    )
    position = np.arange(len(table))
    for offset, metric in ((-0.15, "wa"), (0.15, "uar")):
        errors = [table[metric] - table[f"{metric}_ci_low"], table[f"{metric}_ci_high"] - table[metric]]
        ax.errorbar(
            table[metric],
            position + offset,
            xerr=np.clip(errors, 0, None),
            fmt="o",
            color=_COLOURS[metric],
            markersize=4,
            capsize=2,
            label=metric.upper(),
        )
    ax.set_yticks(position, labels)
    ax.invert_yaxis()
    ax.set(xlabel="score (point: all clips; bar: speaker-bootstrap interval)", xlim=(0, 1))
    ax.set_title(title or "Unseen speakers: scores with\nspeaker-bootstrap intervals", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_reliability(
    tables_by_model: dict[str, pd.DataFrame],
    *,
    calibrated_by_model: dict[str, pd.DataFrame] | None = None,
    n_columns: int = 3,
) -> plt.Figure:
    """One reliability diagram per model: accuracy against mean confidence per bin (``calibration.
    reliability_table``), before and, with ``calibrated_by_model``, after temperature scaling, with the
    diagonal of perfect calibration; each curve's ECE (from its table) in the legend."""
    if not tables_by_model:
        raise ValueError("tables_by_model is empty; pass {model: calibration.reliability_table(...)}")
    n_rows = -(-len(tables_by_model) // n_columns)
    columns = min(n_columns, len(tables_by_model))
    fig, axes = plt.subplots(n_rows, columns, figsize=(3.4 * columns, 3.3 * n_rows), squeeze=False)
    for ax, (name, before) in zip(axes.flat, tables_by_model.items(), strict=False):
        ax.plot([0, 1], [0, 1], color="gray", linestyle=":", linewidth=1)
        curves = [("before", before)]
        if calibrated_by_model is not None:
            curves.append(("after", calibrated_by_model[name]))
        for stage, reliability in curves:
            filled = reliability[reliability["count"] > 0]
            ece = float((filled["accuracy"] - filled["confidence"]).abs() @ filled["count"] / filled["count"].sum())
            ax.plot(
                filled["confidence"],
                filled["accuracy"],
                marker="o",
                markersize=3,
                color=_COLOURS[stage],
                label=f"{stage if calibrated_by_model is not None else 'model'} (ECE {ece:.3f})",
            )
        ax.set(xlim=(0, 1), ylim=(0, 1), title=name, xlabel="mean confidence", ylabel="accuracy")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7, loc="upper left")
    for ax in list(axes.flat)[len(tables_by_model) :]:
        ax.remove()
    fig.tight_layout()
    fig.suptitle("Reliability: accuracy against confidence (diagonal = calibrated)", fontsize=10, y=1.01)
    return fig


def plot_fairness(fairness_table: pd.DataFrame, *, threshold: float) -> plt.Figure:
    """Each model's UAR difference to the whole set per group (``evaluation.fairness.fairness_by_group`` rows
    of several models, with a features column when one model has several), against the ±``threshold`` band
    (audEERING: 0.075); points outside it are ringed."""
    if "features" in fairness_table:
        fairness_table = fairness_table.assign(model=fairness_table["model"] + " · " + fairness_table["features"])
    models = list(dict.fromkeys(fairness_table["model"]))
    groups = sorted(fairness_table["group"].unique())
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(models) + 1.8))
    ax.axvspan(-threshold, threshold, color="tab:green", alpha=0.12, label=f"±{threshold} (fair)")
    ax.axvline(0, color="gray", linewidth=1)
    palette = dict(zip(groups, sns.color_palette("colorblind", len(groups)), strict=True))
    for offset, group in zip(np.linspace(-0.15, 0.15, len(groups)), groups, strict=True):
        rows = fairness_table[fairness_table["group"] == group].set_index("model").reindex(models)
        position = np.arange(len(models)) + offset
        ax.scatter(rows["delta_uar"], position, color=palette[group], label=group, zorder=3)
        outside = ~rows["within_threshold"].fillna(True).astype(bool).to_numpy()
        ax.scatter(rows["delta_uar"][outside], position[outside], s=120, facecolors="none", edgecolors="tab:red")
    ax.set_yticks(np.arange(len(models)), models)
    ax.invert_yaxis()
    limit = max(2 * threshold, float(fairness_table["delta_uar"].abs().max()) * 1.2)
    ax.set(xlim=(-limit, limit), xlabel="UAR of the group − UAR of the whole set")
    ax.set_title("Fairness by group: UAR difference to the whole set", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_confusions_side_by_side(confusions: dict[str, pd.DataFrame]) -> plt.Figure:
    """Row-normalised confusion tables (``metrics.confusion_table(..., normalize=True)``) of a few models
    (e.g. the top three) side by side on one colour scale; recall on each diagonal."""
    if not confusions:
        raise ValueError("confusions is empty; pass {model: normalised confusion table}")
    size = max(len(table) for table in confusions.values())
    fig, axes = plt.subplots(1, len(confusions), figsize=(0.6 * size * len(confusions) + 2, 0.6 * size + 1.5))
    for ax, (name, table) in zip(np.atleast_1d(axes), confusions.items(), strict=True):
        sns.heatmap(table, annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1, square=True, cbar=False, ax=ax)
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    fig.suptitle(
        "Confusions of the top models (row: true emotion; share predicted as each column)", fontsize=10, y=1.02
    )
    return fig


def plot_dimension_errors(summary: pd.DataFrame) -> plt.Figure:
    """One panel per dimension (arousal, valence): the share of each model's errors that stays within the true
    emotion's level, with the share expected if errors fell on any other emotion at random as a tick.

    ``summary``: ``error_analysis.confusions_by_dimension`` summaries with a model column added.
    """
    dimensions = list(dict.fromkeys(summary["dimension"]))
    models = list(dict.fromkeys(summary["model"]))
    fig, axes = plt.subplots(
        1, len(dimensions), figsize=(4.5 * len(dimensions), 0.4 * len(models) + 1.8), sharey=True, squeeze=False
    )
    for ax, dimension in zip(axes.flat, dimensions, strict=True):
        rows = summary[summary["dimension"] == dimension].set_index("model").reindex(models)
        ax.barh(models, rows["share_within"], color="tab:purple", alpha=0.8, label="errors within the level")
        ax.scatter(rows["share_within_if_uniform"], models, marker="|", s=300, color="black", label="if random")
        ax.set(xlim=(0, 1), title=dimension, xlabel="share of errors within the true level")
    axes.flat[0].invert_yaxis()
    axes.flat[0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_scores_by_condition(table: pd.DataFrame, *, metric: str = "uar") -> plt.Figure:
    """One panel per condition (e.g. intensity, statement): ``metric`` per model (rows) and value (bars).

    ``table``: ``error_analysis.scores_by_condition`` rows with a model column added.
    """
    conditions = list(dict.fromkeys(table["condition"]))
    models = list(dict.fromkeys(table["model"]))
    fig, axes = plt.subplots(
        1, len(conditions), figsize=(4.5 * len(conditions), 0.45 * len(models) + 1.8), sharey=True, squeeze=False
    )
    for ax, condition in zip(axes.flat, conditions, strict=True):
        wide = table[table["condition"] == condition].pivot(index="model", columns="value", values=metric)
        wide.reindex(models).plot.barh(ax=ax, width=0.8)
        ax.set(xlim=(0, 1), title=condition, xlabel=metric.upper(), ylabel="")
        ax.legend(fontsize=8, title=condition, title_fontsize=8, loc="lower right")
    axes.flat[0].invert_yaxis()
    fig.tight_layout()
    return fig


def _model_labels(table: pd.DataFrame) -> list[str]:
    parts = [table["model"], table["features"]]
    if "adaptation" in table:
        parts.append(table["adaptation"].fillna("").astype(str))
    return [" · ".join(str(part) for part in row if str(part) not in ("", "none")) for row in zip(*parts, strict=True)]
