"""The cross-corpus transfer figure: a heat map of UAR from training corpora (rows) to test corpus (columns)."""

from collections.abc import Mapping

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

__all__ = ["transfer_matrix", "plot_cross_corpus"]


def transfer_matrix(
    table: pd.DataFrame, *, metric: str = "uar", within: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """``table`` (``cross_corpus.cross_corpus_runs`` rows) pivoted to training corpora × test corpus.

    Rows: single training corpora first, then combinations ("a+b"), each alphabetical; columns: test
    corpora. ``within`` (corpus → the within-corpus, speaker-independent score) fills the diagonal; cells
    never run are NaN. Scores stay in [0, 1].
    """
    missing = [column for column in ("train_corpora", "test_corpus", metric) if column not in table]
    if missing:
        raise ValueError(f"the transfer table lacks columns {missing}; pass cross_corpus.cross_corpus_runs rows")
    matrix = table.pivot_table(index="train_corpora", columns="test_corpus", values=metric, aggfunc="first")
    corpora = sorted(set(matrix.columns) | {c for name in matrix.index for c in name.split("+")} | set(within or {}))
    rows = corpora + sorted(name for name in matrix.index if "+" in name)
    matrix = matrix.reindex(index=rows, columns=corpora)
    for corpus, value in (within or {}).items():
        matrix.loc[corpus, corpus] = value
    return matrix.rename_axis(index="trained on", columns="tested on").astype(float)


def plot_cross_corpus(
    table: pd.DataFrame, *, chance: float, within: Mapping[str, float] | None = None, title: str | None = None
) -> plt.Figure:
    """Heat map of UAR from training corpora to test corpus (``transfer_matrix``), annotated in percent.

    The diagonal, when ``within`` gives it, is the within-corpus score on unseen speakers of the same
    corpus, outlined so it is not read as a transfer. ``chance`` (1 / number of shared classes, in [0, 1])
    centres the colour scale: cells below chance are red.
    """
    matrix = transfer_matrix(table, metric="uar", within=within)
    fig, ax = plt.subplots(figsize=(1.3 * len(matrix.columns) + 3, 0.7 * len(matrix) + 1.8))
    sns.heatmap(
        matrix * 100,
        annot=True,
        fmt=".1f",
        cmap="RdYlGn",
        center=chance * 100,
        vmin=0,
        vmax=100,
        cbar_kws={"label": "UAR (%)"},
        ax=ax,
    )
    for index, corpus in enumerate(matrix.columns):
        if within and corpus in within:
            ax.add_patch(plt.Rectangle((index, index), 1, 1, fill=False, edgecolor="black", linewidth=2))
    diagonal = "; outlined diagonal: within-corpus, unseen speakers" if within else ""
    ax.set(title=title or f"Cross-corpus transfer, UAR over shared emotions (chance ≈ {chance:.0%}){diagonal}")
    fig.tight_layout()
    return fig
