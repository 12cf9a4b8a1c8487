"""What AudioSet classes YAMNet hears in clips: class scores from clip embeddings, per-emotion profiles, rankings."""

import numpy as np
import pandas as pd

from ser_utils.yamnet.network import yamnet_from_tflite
from ser_utils.yamnet.weights import load_class_names

__all__ = ["CLASS_RANKINGS", "audioset_scores", "class_profile", "top_classes_by_emotion"]

CLASS_RANKINGS = ("score", "lift")


def audioset_scores(embeddings: np.ndarray, *, columns) -> pd.DataFrame:
    """AudioSet class scores (n_clips, 521) in [0, 1] of clips from their ``yamnet`` feature rows.

    ``embeddings`` (n_clips, n_columns) with ``columns`` named as ``features.yamnet.yamnet_columns``; the
    ``yamnet_mean_*`` columns are used. YAMNet's head is linear before its sigmoid, so ``sigmoid(head(mean
    embedding))`` is the sigmoid of the patch-averaged logits: the classes of the clip's average patch. It
    ranks classes like the mean of the patch scores (``yamnet.classify``) without a second pass over the
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
    scores: pd.DataFrame, emotions, *, top: int, by: str = "score", min_score: float = 0.0, order=None
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
