"""The figure of an emotion timeline: loudness with speech regions, stacked class probabilities, segment labels."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ser_utils.serving.timeline import Timeline

__all__ = ["plot_timeline"]


def plot_timeline(timeline: Timeline, *, title: str, truth: pd.DataFrame | None = None) -> plt.Figure:
    """Three (four with ``truth``) rows sharing the time axis (seconds):

    1. frame loudness (dBFS) with the speech threshold and the speech regions shaded;
    2. the windows' smoothed class probabilities, stacked (white where no window is usable);
    3. the merged segments, coloured and labelled by emotion;
    4. ``truth`` (start, end, emotion rows), when given, drawn like the segments for comparison.
    """
    classes = list(timeline.classes)
    colours = dict(zip(classes, plt.get_cmap("tab10")(np.arange(len(classes)) % 10), strict=True))
    n_rows = 4 if truth is not None else 3
    fig, axes = plt.subplots(
        n_rows, 1, figsize=(12, 1.6 * n_rows + 1), sharex=True, height_ratios=[1.2, 1.5, 0.6, 0.6][:n_rows]
    )
    loudness, probabilities, segments = axes[0], axes[1], axes[2]

    times = np.arange(len(timeline.energy_db)) * timeline.config.vad_hop_s
    loudness.plot(times, np.maximum(timeline.energy_db, -90), color="dimgray", linewidth=0.6)
    loudness.axhline(timeline.threshold_db, color="black", linestyle="--", linewidth=0.8, label="speech threshold")
    for start, end in timeline.regions:
        loudness.axvspan(start, end, color="tab:green", alpha=0.15, linewidth=0)
    loudness.set_ylabel("dBFS")
    loudness.legend(loc="upper right", fontsize=7)

    windows = timeline.windows
    if len(windows):
        centres = ((windows["start"] + windows["end"]) / 2).to_numpy()
        stacked = np.nan_to_num(windows[[f"prob_{name}" for name in classes]].to_numpy(float)).T
        for region in np.unique(windows["region"]):  # one stack per region: nothing drawn across silences
            keep = windows["region"].to_numpy() == region
            x = centres[keep]
            if keep.sum() == 1:
                x = np.array([timeline.regions[int(region)][0], timeline.regions[int(region)][1]])
                layers = np.repeat(stacked[:, keep], 2, axis=1)
            else:
                layers = stacked[:, keep]
            probabilities.stackplot(x, layers, colors=[colours[name] for name in classes], linewidth=0)
    probabilities.set_ylim(0, 1)
    probabilities.set_ylabel("probability")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[name]) for name in classes]
    probabilities.legend(handles, classes, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)

    _draw_bands(segments, timeline.segments, colours=colours, label="predicted")
    if truth is not None:
        _draw_bands(axes[3], truth, colours=colours, label="truth")
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0, timeline.duration)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _draw_bands(axis: plt.Axes, rows: pd.DataFrame, *, colours: dict, label: str) -> None:
    """Coloured spans for (start, end, emotion) rows, each labelled with its emotion."""
    for row in rows.itertuples():
        axis.axvspan(row.start, row.end, color=colours.get(row.emotion, "lightgray"), alpha=0.8, linewidth=0)
        axis.text((row.start + row.end) / 2, 0.5, row.emotion, ha="center", va="center", fontsize=7, rotation=90)
    axis.set_yticks([])
    axis.set_ylabel(label, rotation=0, ha="right", va="center")
