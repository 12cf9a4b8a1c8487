"""Does the model work equally well for every group of speakers (e.g. female and male voices)?

The thresholds are audEERING's ser-tests (fairness by sex): a group's UAR may differ from the whole set's by
at most 0.075, and a class's recall may differ between groups by at most 0.175.
"""

import numpy as np
import pandas as pd

from ser_utils.evaluation.metrics import score

__all__ = ["UAR_DELTA_THRESHOLD", "RECALL_GAP_THRESHOLD", "fairness_by_group", "class_recall_gaps"]

UAR_DELTA_THRESHOLD = 0.075  # |UAR(group) − UAR(whole set)| allowed (audEERING ser-tests, fairness by sex)
RECALL_GAP_THRESHOLD = 0.175  # max − min recall of one class over the groups (audEERING ser-tests)


def fairness_by_group(
    predictions: pd.DataFrame,
    *,
    groups: pd.Series,
    labels,
    model: str,
    threshold: float = UAR_DELTA_THRESHOLD,
) -> pd.DataFrame:
    """One row per group: model, group, n (clips), uar, delta_uar (group UAR − whole-set UAR, in [−1, 1]) and
    within_threshold (|delta_uar| ≤ ``threshold``).

    ``groups``: a Series indexed by clip path giving each clip's group, e.g.
    ``manifest.set_index("path")["gender"]``; every predicted path must have one.
    """
    grouped = _with_groups(predictions, groups=groups)
    whole = score(grouped["y_true"], grouped["y_pred"], labels=labels)["uar"]
    rows = []
    for group, part in grouped.groupby("group", sort=True):
        uar = score(part["y_true"], part["y_pred"], labels=labels)["uar"]
        rows.append(
            {
                "model": model,
                "group": group,
                "n": len(part),
                "uar": uar,
                "delta_uar": uar - whole,
                "within_threshold": bool(abs(uar - whole) <= threshold),
            }
        )
    return pd.DataFrame(rows)


def class_recall_gaps(
    predictions: pd.DataFrame,
    *,
    groups: pd.Series,
    labels,
    model: str,
    threshold: float = RECALL_GAP_THRESHOLD,
) -> pd.DataFrame:
    """One row per emotion present in every group: model, emotion, ``recall_<group>`` for each group, gap
    (largest minus smallest recall) and within_threshold (gap ≤ ``threshold``); ``labels`` order kept.

    ``groups`` as in ``fairness_by_group``. Emotions missing from some group (e.g. a corpus with one sex only)
    are left out, since their gap is undefined.
    """
    grouped = _with_groups(predictions, groups=groups)
    names = sorted(grouped["group"].unique())
    recall = {}
    for group, part in grouped.groupby("group", sort=True):
        truth = part["y_true"].to_numpy()
        hits = truth == part["y_pred"].to_numpy()
        recall[group] = {label: hits[truth == label].mean() for label in labels if (truth == label).any()}
    shared = [label for label in labels if all(label in recall[group] for group in names)]
    rows = []
    for label in shared:
        values = np.array([recall[group][label] for group in names])
        gap = float(values.max() - values.min())
        rows.append(
            {
                "model": model,
                "emotion": label,
                **{f"recall_{group}": float(value) for group, value in zip(names, values, strict=True)},
                "gap": gap,
                "within_threshold": gap <= threshold,
            }
        )
    return pd.DataFrame(rows)


def _with_groups(predictions: pd.DataFrame, *, groups: pd.Series) -> pd.DataFrame:
    if not groups.index.is_unique:
        raise ValueError("groups must be indexed by unique clip paths, e.g. manifest.set_index('path')['gender']")
    mapped = predictions["path"].map(groups)
    if mapped.isna().any():
        example = predictions.loc[mapped.isna(), "path"].iloc[0]
        raise ValueError(
            f"{int(mapped.isna().sum())} predicted clips have no group (e.g. {example}); pass the manifest's "
            "column indexed by path, covering every clip"
        )
    if mapped.nunique() < 2:
        raise ValueError(f"need at least two groups to compare, got {sorted(mapped.unique())}")
    return predictions.assign(group=mapped.to_numpy())
