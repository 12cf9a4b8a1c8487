"""Save every chart the same way: one stable numbered name, labelled with its data source."""

from pathlib import Path

import matplotlib.pyplot as plt

from ser_utils.io.atomic import atomic_path

__all__ = ["save_chart"]


def save_chart(fig: plt.Figure, name: str, *, charts_dir: Path, data_label: str, dpi: int = 110) -> Path:
    """Write ``fig`` to ``<charts_dir>/<name>.png`` with the data source in its bottom-right corner.

    ``name`` is the chart's stable numbered name, e.g. ``"04_02_confusion_matrix"``.
    """
    if not name or "/" in name or name.endswith(".png"):
        raise ValueError(f"chart name {name!r} must be a bare stem like '01_02_durations'")
    charts_dir.mkdir(parents=True, exist_ok=True)
    fig.text(0.995, 0.005, f"data: {data_label}", ha="right", va="bottom", fontsize=7, color="dimgray")
    path = charts_dir / f"{name}.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    return path
