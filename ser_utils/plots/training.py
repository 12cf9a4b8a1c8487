"""Figures of model training: training curves per fold and training-time augmentation of a log-mel input."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["CURVES", "plot_training_curves", "plot_augmentation_examples"]

# Panel kinds of plot_training_curves: the history columns each draws (solid: validation, dashed: training).
CURVES = {
    "loss": {"validation": "val_loss", "training": "loss", "ylabel": "cross-entropy"},
    "accuracy": {"validation": "val_accuracy", "training": None, "ylabel": "accuracy on the validation speakers"},
}


def plot_training_curves(
    histories: pd.DataFrame, *, title: str, curves=("loss",), panel: str | None = None
) -> plt.Figure:
    """Loss (and optionally accuracy) per epoch of every training run, one line colour per run.

    ``histories`` holds Keras history rows (``Evaluation.histories``: fold, epoch counted from 0, loss,
    val_loss, val_accuracy …; a seed column, when present, splits a fold's runs). ``curves`` picks the
    panels, from ``CURVES``: "loss" draws the validation loss solid and the training loss dashed. With
    ``panel`` (a column such as "model"), each of its values gets its own row of panels.
    """
    unknown = [curve for curve in curves if curve not in CURVES]
    if unknown or not curves:
        raise ValueError(f"curves must be a non-empty choice from {list(CURVES)}; got {list(curves)}")
    groups = list(histories.groupby(panel, sort=False)) if panel else [("", histories)]
    fig, axes = plt.subplots(len(groups), len(curves), figsize=(5.5 * len(curves), 3.2 * len(groups)), squeeze=False)
    run_keys = ["fold", "seed"] if "seed" in histories else ["fold"]
    for row, (group, part) in enumerate(groups):
        for key, run in part.groupby(run_keys, sort=False):
            label = " seed ".join(map(str, np.atleast_1d(key)))
            colour = None
            for ax, curve in zip(axes[row], curves, strict=True):
                spec = CURVES[curve]
                (line,) = ax.plot(run["epoch"] + 1, run[spec["validation"]], color=colour, label=label)
                colour = line.get_color()
                if spec["training"]:
                    ax.plot(run["epoch"] + 1, run[spec["training"]], color=colour, alpha=0.35, linestyle="--")
        for ax, curve in zip(axes[row], curves, strict=True):
            dashed = " (dashed: training clips)" if CURVES[curve]["training"] else ""
            ax.set(
                title=f"{group}{' · ' if group else ''}{curve}{dashed}", xlabel="epoch", ylabel=CURVES[curve]["ylabel"]
            )
        axes[row, 0].legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_augmentation_examples(original: np.ndarray, augmented: list, *, title: str) -> plt.Figure:
    """The (frames, n_mels) dB log-mel ``original`` beside its ``augmented`` copies (same shape each)."""
    images = [np.asarray(image) for image in (original, *augmented)]
    if any(image.shape != images[0].shape or image.ndim != 2 for image in images):
        raise ValueError(f"need (frames, n_mels) spectrograms of one shape; got {[i.shape for i in images]}")
    fig, axes = plt.subplots(1, len(images), figsize=(3.5 * len(images), 3), sharey=True, squeeze=False)
    titles = ["original"] + [f"augmented {k + 1}" for k in range(len(augmented))]
    for ax, name, image in zip(axes.flat, titles, images, strict=True):
        ax.imshow(image.T, origin="lower", aspect="auto", cmap="magma")
        ax.set(title=name, xlabel="frame (20 ms)")
    axes[0, 0].set_ylabel("mel band")
    fig.suptitle(title)
    return fig
