"""Analyses of notebook 05: its config, the AudioSet classes emotional clips evoke, and every model side by side."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ser_utils.evaluation.metrics import METRICS
from ser_utils.yamnet.network import BLOCKS, yamnet_from_tflite
from ser_utils.yamnet.weights import load_class_names

__all__ = [
    "TransferConfig",
    "CLASS_RANKINGS",
    "audioset_scores",
    "class_profile",
    "top_classes_by_emotion",
    "model_comparison",
]

CLASS_RANKINGS = ("score", "lift")
SUMMARY_ROWS = ("pooled", "mean", "std")  # the rows record_results adds after the per-fold rows


@dataclass(frozen=True)
class TransferConfig:
    """The knobs of notebook 05 (filled from its parameters cell)."""

    data_dir: str | None
    corpora: tuple[str, ...] | None
    max_clips: int | None
    n_folds: int
    n_val_speakers: int
    mlp_epochs: int
    warmup_epochs: int
    finetune_epochs: int
    finetune_blocks: int
    n_patches: int
    learning_rate: float
    head_learning_rate: float
    batch_size: int
    patience: int
    top_classes: int
    min_class_score: float
    tsne_perplexity: float
    n_jobs: int
    seed: int

    def __post_init__(self):
        if self.n_folds < 2 or self.n_val_speakers < 0 or self.n_patches < 1 or self.top_classes < 1:
            raise ValueError(f"need n_folds >= 2, n_val_speakers >= 0, n_patches >= 1, top_classes >= 1; got {self}")
        if min(self.mlp_epochs, self.finetune_epochs, self.batch_size, self.patience) < 1 or self.warmup_epochs < 0:
            raise ValueError(
                f"need mlp_epochs, finetune_epochs, batch_size, patience >= 1 and warmup_epochs >= 0; got {self}"
            )
        if not 0 <= self.min_class_score < 1:
            raise ValueError(f"min_class_score is an AudioSet score in [0, 1); got {self.min_class_score}")
        if not 1 <= self.finetune_blocks < len(BLOCKS):
            raise ValueError(
                f"finetune_blocks must be 1..{len(BLOCKS) - 1} (YAMNet has {len(BLOCKS)} blocks; the "
                f"first stays frozen), got {self.finetune_blocks}"
            )
        if self.max_clips is not None and self.max_clips < 2 * self.n_folds:
            raise ValueError(f"max_clips={self.max_clips} is too few for {self.n_folds} folds; raise it or pass None")

    @property
    def frozen_blocks(self) -> int:
        """YAMNet blocks kept frozen below the fine-tuned ones (13 - finetune_blocks)."""
        return len(BLOCKS) - self.finetune_blocks


def audioset_scores(embeddings: np.ndarray, *, columns) -> pd.DataFrame:
    """AudioSet class scores (n_clips, 521) in [0, 1] of clips from their ``yamnet`` feature rows.

    ``embeddings`` (n_clips, n_columns) with ``columns`` named as ``features_yamnet.yamnet_columns``; the
    ``yamnet_mean_*`` columns are used. YAMNet's head is linear before its sigmoid, so ``sigmoid(head(mean
    embedding))`` is the sigmoid of the patch-averaged logits: the classes of the clip's average patch. It
    ranks classes like the mean of the patch scores (``yamnet_classify``) without a second pass over the
    audio. Columns of the result are the class names.
    """
    mean_columns = [index for index, name in enumerate(columns) if name.startswith("yamnet_mean_")]
    kernel, bias = yamnet_from_tflite(include_head=True).get_layer("logits").get_weights()
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if embeddings.ndim != 2 or embeddings.shape[1] != len(columns) or len(mean_columns) != kernel.shape[0]:
        raise ValueError(
            f"embeddings must be (n_clips, {len(columns)}) rows of the yamnet feature set holding "
            f"{kernel.shape[0]} yamnet_mean_* columns; got shape {embeddings.shape}"
        )
    logits = embeddings[:, mean_columns] @ kernel + bias
    return pd.DataFrame(1 / (1 + np.exp(-logits)), columns=load_class_names())


def class_profile(scores: pd.DataFrame, emotions, *, by: str = "score", order=None) -> pd.DataFrame:
    """(emotions, classes) table of each AudioSet class over each emotion's clips.

    ``scores`` (n_clips, classes) from ``audioset_scores``; ``emotions`` (n_clips,) labels; ``order`` the rows
    (default: sorted). ``by="score"``: the mean score; ``by="lift"``: the mean score divided by the mean over
    all clips (2.0: the class scores twice as high on this emotion as on the average clip).
    """
    if by not in CLASS_RANKINGS:
        raise ValueError(f"by must be one of {CLASS_RANKINGS}, got {by!r}")
    emotions = np.asarray(emotions)
    if len(emotions) != len(scores):
        raise ValueError(f"{len(scores)} score rows but {len(emotions)} emotions; pass one label per clip")
    means = scores.groupby(emotions).mean()
    means = means.reindex(list(order)) if order is not None else means
    return means if by == "score" else means / scores.mean().replace(0.0, np.nan)


def top_classes_by_emotion(
    scores: pd.DataFrame, emotions, *, top: int = 5, by: str = "score", min_score: float = 0.0, order=None
) -> pd.DataFrame:
    """The ``top`` AudioSet classes of each emotion, ranked by mean score or by lift (``class_profile``).

    Only classes whose mean score on the emotion reaches ``min_score`` compete (a lift of near-zero scores
    is noise). Returns emotion, rank (1 = highest), audioset_class, mean_score, lift.
    """
    means = class_profile(scores, emotions, by="score", order=order)
    lifts = class_profile(scores, emotions, by="lift", order=order)
    ranking = means if by == "score" else lifts
    rows = []
    for emotion in means.index:
        candidates = ranking.loc[emotion][means.loc[emotion] >= min_score].dropna()
        rows += [
            {
                "emotion": emotion,
                "rank": rank,
                "audioset_class": name,
                "mean_score": float(means.loc[emotion, name]),
                "lift": float(lifts.loc[emotion, name]),
            }
            for rank, name in enumerate(candidates.nlargest(top).index, start=1)
        ]
    return pd.DataFrame(rows, columns=["emotion", "rank", "audioset_class", "mean_score", "lift"])


def model_comparison(results: pd.DataFrame, *, corpora: str, protocol: str) -> pd.DataFrame:
    """One row per (model, features) of ``results.csv`` for ``corpora`` and ``protocol``: pooled WA, UAR and
    macro-F1, their mean and std over folds (``<metric>_mean``, ``<metric>_std``) and the fold count; best
    pooled UAR first."""
    subset = results[(results["corpora"].astype(str) == corpora) & (results["protocol"] == protocol)]
    if subset.empty:
        raise ValueError(f"results hold no rows for corpora {corpora!r} under {protocol!r}; run the models first")
    rows = []
    for (model, features), part in subset.groupby(["model", "features"], sort=False):
        by_fold = part.set_index(part["fold"].astype(str))
        row = {"model": model, "features": features, "folds": int((~by_fold.index.isin(SUMMARY_ROWS)).sum())}
        for metric in METRICS:
            row[metric] = float(by_fold.loc["pooled", metric])
            row[f"{metric}_mean"] = float(by_fold.loc["mean", metric])
            row[f"{metric}_std"] = float(by_fold.loc["std", metric])
        rows.append(row)
    return pd.DataFrame(rows).sort_values("uar", ascending=False, ignore_index=True)
