"""Where the errors are: do confusions stay within one arousal (or valence) level, and how do scores vary with
a recording condition of the manifest (RAVDESS intensity, statement)?"""

import numpy as np
import pandas as pd

from ser_utils.data.taxonomy import AROUSAL, AROUSAL_LEVELS, VALENCE, VALENCE_LEVELS
from ser_utils.evaluation.metrics import score

__all__ = ["DIMENSIONS", "confusions_by_dimension", "scores_by_condition"]

# dimension → (emotion → level, level order), from the taxonomy's circumplex placements
DIMENSIONS = {"arousal": (AROUSAL, AROUSAL_LEVELS), "valence": (VALENCE, VALENCE_LEVELS)}


def confusions_by_dimension(predictions: pd.DataFrame, *, dimension: str) -> tuple[dict, pd.DataFrame]:
    """Misclassified clips split by whether the predicted emotion has the true emotion's ``dimension`` level.

    Returns (summary, table). summary: dimension, n_errors, within_level (errors predicting another emotion of
    the same level, e.g. angry → happy for arousal), crossing_level, share_within (within / errors, NaN
    without errors) and share_within_if_uniform (the share expected if each error picked any other emotion
    present with equal chance: the baseline share_within is compared to). table: clip counts with rows the
    true level and columns the predicted level (all clips, right ones on the diagonal), in level order.
    """
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension must be one of {sorted(DIMENSIONS)}, got {dimension!r}")
    mapping, order = DIMENSIONS[dimension]
    unknown = sorted((set(predictions["y_true"]) | set(predictions["y_pred"])) - set(mapping))
    if unknown:
        raise ValueError(f"emotions {unknown} have no {dimension} level in data.taxonomy; add them there")
    true_level, predicted_level = predictions["y_true"].map(mapping), predictions["y_pred"].map(mapping)
    errors = (predictions["y_true"] != predictions["y_pred"]).to_numpy()
    within = int(np.sum(errors & (true_level == predicted_level).to_numpy()))
    n_errors = int(errors.sum())
    summary = {
        "dimension": dimension,
        "n_errors": n_errors,
        "within_level": within,
        "crossing_level": n_errors - within,
        "share_within": within / n_errors if n_errors else np.nan,
        "share_within_if_uniform": _uniform_share(predictions, mapping=mapping, errors=errors),
    }
    levels = [level for level in order if level in set(true_level) | set(predicted_level)]
    table = pd.crosstab(true_level.rename("true"), predicted_level.rename("predicted"))
    table = table.reindex(index=levels, columns=levels, fill_value=0)
    return summary, table


def scores_by_condition(predictions: pd.DataFrame, manifest: pd.DataFrame, *, column: str, labels) -> pd.DataFrame:
    """WA, UAR and macro-F1 (in [0, 1]) per value of a manifest ``column`` (e.g. intensity, statement).

    Predictions join the manifest on path; clips whose value is empty (NaN or "", e.g. TESS has no intensity)
    are left out. Returns one row per value, sorted: condition (the column's name), value, n, wa, uar, macro_f1.
    """
    if column not in manifest:
        raise ValueError(f"manifest has no column {column!r}; available: {sorted(manifest.columns)}")
    values = predictions["path"].map(manifest.drop_duplicates("path").set_index("path")[column])
    keep = values.notna() & (values.astype(str).str.strip() != "")
    if not keep.any():
        raise ValueError(f"no predicted clip has a {column!r} value; is this corpus annotated with it?")
    kept = predictions[keep.to_numpy()].assign(value=values[keep].to_numpy())
    rows = [
        {"condition": column, "value": value, "n": len(part), **score(part["y_true"], part["y_pred"], labels=labels)}
        for value, part in kept.groupby("value", sort=True)
    ]
    return pd.DataFrame(rows)


def _uniform_share(predictions: pd.DataFrame, *, mapping: dict, errors: np.ndarray) -> float:
    """Expected within-level share of the errors if each error of true emotion e picked one of the other
    emotions present (in y_true or y_pred) uniformly."""
    if not errors.any():
        return np.nan
    present = sorted(set(predictions["y_true"]) | set(predictions["y_pred"]))
    if len(present) < 2:
        return np.nan
    same = {
        emotion: sum(mapping[other] == mapping[emotion] for other in present if other != emotion) / (len(present) - 1)
        for emotion in present
    }
    return float(predictions.loc[errors, "y_true"].map(same).mean())
