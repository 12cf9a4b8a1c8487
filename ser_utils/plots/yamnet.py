"""Figures of what YAMNet hears: AudioSet class profiles per emotion."""

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

__all__ = ["plot_audioset_classes"]


def plot_audioset_classes(profile: pd.DataFrame, *, by: str, title: str) -> plt.Figure:
    """Heat map of an (emotions, classes) ``yamnet.audioset.class_profile`` table made ``by`` "score" or "lift"."""
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
