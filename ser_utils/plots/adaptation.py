"""The speaker-adaptation figure: UAR (and WA) against the number of enrolment clips per test speaker."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["plot_adaptation_curve"]


def plot_adaptation_curve(
    curve: pd.DataFrame, *, references: dict[str, float] | None = None, title: str | None = None
) -> plt.Figure:
    """One line per model of UAR (solid) and WA (dashed) against enrolment clips k per test speaker.

    ``curve``: ``evaluation.adaptation.adaptation_curve`` rows of one or more models (n_clips 0 … k; NaN for
    transductive, drawn as the last tick "all"); scores in [0, 1]. ``references``: label → UAR drawn as dotted
    horizontal lines (e.g. the best zero-shot model, a target).
    """
    if curve.empty:
        raise ValueError("curve is empty; pass adaptation.adaptation_curve rows")
    finite = sorted(curve["n_clips"].dropna().unique())
    positions = {k: index for index, k in enumerate(finite)}
    ticks = [str(int(k)) for k in finite] + (["all"] if curve["n_clips"].isna().any() else [])
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for index, (model, rows) in enumerate(curve.groupby("model", sort=False)):
        x = np.array([positions.get(k, len(finite)) if not np.isnan(k) else len(finite) for k in rows["n_clips"]])
        colour = f"C{index}"
        ax.plot(x, rows["uar"], marker="o", color=colour, label=f"{model} UAR")
        ax.plot(x, rows["wa"], marker=".", linestyle="--", color=colour, alpha=0.6, label=f"{model} WA")
    for index, (label, value) in enumerate((references or {}).items()):
        ax.axhline(value, linestyle=":", color=f"C{index + 5}", label=label)
    ax.set_xticks(range(len(ticks)), ticks)
    ax.set_xlabel("unlabelled enrolment clips per test speaker (k; left out of scoring)")
    ax.set_ylabel("pooled score on unseen speakers")
    ax.set_title(title or "Speaker adaptation from k enrolment clips")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
