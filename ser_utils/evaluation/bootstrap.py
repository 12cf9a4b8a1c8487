"""Uncertainty of scores: the speaker-clustered bootstrap, paired model differences and McNemar's exact test.

Clips of one speaker are correlated, so a resample draws whole speakers with replacement (within each corpus,
so every resample keeps the design's number of speakers per corpus). Everything is vectorised over resamples:
each resample is a multiset of speakers, given as a weight per speaker (how often it was drawn), and its
confusion matrix is ``weights @ per-speaker confusion counts``. WA, UAR and macro-F1 then come from those
matrices exactly as ``metrics.score`` computes them (UAR and macro-F1 over the classes present in y_true).
"""

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from ser_utils.evaluation.metrics import METRICS

__all__ = [
    "bootstrap_scores",
    "paired_uar_difference",
    "mcnemar_exact",
    "comparison_with_intervals",
]

_REQUIRED = ("path", "corpus", "speaker", "y_true", "y_pred")


def bootstrap_scores(
    predictions: pd.DataFrame, *, labels, n_resamples: int, seed: int, confidence: float = 0.95
) -> dict[str, float]:
    """Point scores on all clips and speaker-clustered percentile intervals.

    ``predictions``: one row per clip with path, corpus, speaker, y_true, y_pred (the predictions format).
    ``labels``: the class order (e.g. ``taxonomy.EMOTIONS``); every y_true / y_pred must be one of them.
    Returns n (clips), n_speakers, n_resamples, confidence and, for each of wa, uar, macro_f1 (in [0, 1]),
    the point estimate and ``<metric>_ci_low`` / ``<metric>_ci_high``.
    """
    table = _check_predictions(predictions, labels=labels)
    speakers = _speaker_strata(table)
    weights = _resample_weights(speakers, n_resamples=n_resamples, seed=seed)
    counts = _speaker_confusions(table, speakers=speakers, labels=labels)
    point = _scores_from_confusions(counts.sum(axis=0)[None])
    resampled = _scores_from_confusions(np.einsum("rs,sij->rij", weights, counts))
    result = {"n": len(table), "n_speakers": len(speakers), "n_resamples": n_resamples, "confidence": confidence}
    for metric in METRICS:
        low, high = _interval(resampled[metric], confidence=confidence)
        result.update({metric: float(point[metric][0]), f"{metric}_ci_low": low, f"{metric}_ci_high": high})
    return result


def paired_uar_difference(
    predictions_a: pd.DataFrame,
    predictions_b: pd.DataFrame,
    *,
    labels,
    n_resamples: int,
    seed: int,
    confidence: float = 0.95,
) -> dict[str, float]:
    """UAR of model a minus UAR of model b on the same clips, with an interval from the SAME speaker resamples.

    Both tables must hold the same clips (matched on ``path``) with the same speaker and y_true. Returns
    delta_uar (a − b on all clips, in UAR points of [−1, 1]), delta_uar_ci_low, delta_uar_ci_high and
    delta_uar_excludes_zero (True when the whole interval lies above or below 0: a real difference).
    """
    a = _check_predictions(predictions_a, labels=labels)
    b = _align(a, _check_predictions(predictions_b, labels=labels))
    speakers = _speaker_strata(a)
    weights = _resample_weights(speakers, n_resamples=n_resamples, seed=seed)
    uar = {}
    for name, table in (("a", a), ("b", b)):
        counts = _speaker_confusions(table, speakers=speakers, labels=labels)
        point = _scores_from_confusions(counts.sum(axis=0)[None])["uar"][0]
        uar[name] = (point, _scores_from_confusions(np.einsum("rs,sij->rij", weights, counts))["uar"])
    return _delta(uar["a"], uar["b"], confidence=confidence)


def mcnemar_exact(correct_a, correct_b) -> float:
    """Two-sided exact McNemar p-value: a binomial test (p = 0.5) on the discordant clips.

    ``correct_a``, ``correct_b``: boolean arrays of shape (n_clips,), whether each model got each clip right.
    Returns 1.0 when the models never disagree.
    """
    correct_a, correct_b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if correct_a.shape != correct_b.shape or correct_a.ndim != 1:
        raise ValueError(f"need two 1-D arrays of the same length; got {correct_a.shape} and {correct_b.shape}")
    only_a = int(np.sum(correct_a & ~correct_b))
    only_b = int(np.sum(~correct_a & correct_b))
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(only_a, only_a + only_b, p=0.5, alternative="two-sided").pvalue)


def comparison_with_intervals(
    predictions_by_model: dict[tuple[str, str, str], pd.DataFrame],
    *,
    labels,
    n_resamples: int,
    seed: int,
    confidence: float = 0.95,
    reference: tuple[str, str, str] | None = None,
) -> pd.DataFrame:
    """The headline comparison: every model's scores with intervals and its paired UAR difference to a
    reference model: ``reference`` when given (e.g. the best model that is deployed), else the best model with
    adaptation ``"none"`` (the best overall when no model has that adaptation).

    ``predictions_by_model``: (model, features, adaptation) → predictions on the SAME clips (one protocol).
    All models share one set of speaker resamples, so each row's intervals equal ``bootstrap_scores`` with the
    same seed and its delta interval equals ``paired_uar_difference`` against the best model.
    Returns one row per model, best UAR first: model, features, adaptation, n, wa, uar, macro_f1 with their
    ``_ci_low`` / ``_ci_high``, delta_uar_vs_best (≤ 0 for adaptation none), delta_uar_ci_low, delta_uar_ci_high,
    delta_uar_excludes_zero and mcnemar_p_vs_best (NaN on the best model's own row, whose delta is 0).
    """
    if not predictions_by_model:
        raise ValueError("predictions_by_model is empty; pass {(model, features, adaptation): predictions}")
    keys = list(predictions_by_model)
    tables = [_check_predictions(predictions_by_model[key], labels=labels) for key in keys]
    tables = [tables[0]] + [
        _align(tables[0], table, name=" · ".join(key)) for key, table in zip(keys[1:], tables[1:], strict=True)
    ]
    speakers = _speaker_strata(tables[0])
    weights = _resample_weights(speakers, n_resamples=n_resamples, seed=seed)
    points, resampled = [], []
    for table in tables:
        counts = _speaker_confusions(table, speakers=speakers, labels=labels)
        points.append({m: float(v[0]) for m, v in _scores_from_confusions(counts.sum(axis=0)[None]).items()})
        resampled.append(_scores_from_confusions(np.einsum("rs,sij->rij", weights, counts)))
    # The reference is the best model that needs no clip of a test speaker before predicting; models that
    # adapt to the speaker (transductive, enrolment) are compared against it, never chosen as it.
    candidates = [index for index, key in enumerate(keys) if key[2] == "none"] or list(range(len(keys)))
    if reference is not None and reference not in keys:
        raise ValueError(f"reference {reference} is not among the models {keys}")
    best = keys.index(reference) if reference else max(candidates, key=lambda index: points[index]["uar"])
    best_correct = (tables[best]["y_true"] == tables[best]["y_pred"]).to_numpy()
    rows = []
    for index, (key, table) in enumerate(zip(keys, tables, strict=True)):
        row = {"model": key[0], "features": key[1], "adaptation": key[2], "n": len(table)}
        for metric in METRICS:
            low, high = _interval(resampled[index][metric], confidence=confidence)
            row.update({metric: points[index][metric], f"{metric}_ci_low": low, f"{metric}_ci_high": high})
        this = (points[index]["uar"], resampled[index]["uar"])
        row.update(_delta(this, (points[best]["uar"], resampled[best]["uar"]), confidence=confidence))
        correct = (table["y_true"] == table["y_pred"]).to_numpy()
        row["mcnemar_p_vs_best"] = np.nan if index == best else mcnemar_exact(correct, best_correct)
        rows.append(row)
    table = pd.DataFrame(rows).rename(columns={"delta_uar": "delta_uar_vs_best"})
    return table.sort_values("uar", ascending=False, kind="stable", ignore_index=True)


def _check_predictions(predictions: pd.DataFrame, *, labels) -> pd.DataFrame:
    missing = [column for column in _REQUIRED if column not in predictions]
    if missing:
        raise ValueError(f"predictions lack columns {missing}; read them with results.read_predictions")
    if predictions.empty:
        raise ValueError("predictions are empty; nothing to bootstrap")
    if predictions["path"].duplicated().any():
        raise ValueError("predictions repeat a path; pass one row per clip (one protocol, one model)")
    unknown = sorted((set(predictions["y_true"]) | set(predictions["y_pred"])) - set(labels))
    if unknown:
        raise ValueError(f"labels {unknown} are not in labels={list(labels)}; pass the full class order")
    return predictions.reset_index(drop=True)


def _align(reference: pd.DataFrame, other: pd.DataFrame, *, name: str = "predictions_b") -> pd.DataFrame:
    """``other`` reordered to ``reference``'s clips; raises when the clip sets or their truth differ."""
    if set(reference["path"]) != set(other["path"]):
        only = len(set(reference["path"]) ^ set(other["path"]))
        raise ValueError(
            f"{name} covers different clips ({only} paths in one table only); compare models scored on the same "
            "clips (same protocol and folds)"
        )
    aligned = other.set_index("path").loc[reference["path"]].reset_index()
    for column in ("speaker", "y_true"):
        if not (aligned[column].to_numpy() == reference[column].to_numpy()).all():
            raise ValueError(f"{name} disagrees on {column} for the same paths; were they scored on one manifest?")
    return aligned


def _speaker_strata(table: pd.DataFrame) -> pd.DataFrame:
    """One row per speaker (sorted by corpus, speaker): corpus and speaker; the stratum is the corpus."""
    return table[["corpus", "speaker"]].drop_duplicates().sort_values(["corpus", "speaker"], ignore_index=True)


def _resample_weights(speakers: pd.DataFrame, *, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n_speakers) draw counts: each corpus's speakers drawn with replacement, as many as it has."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be ≥ 1 (use ≥ 1000 for reported intervals), got {n_resamples}")
    rng = np.random.default_rng(seed)
    weights = np.zeros((n_resamples, len(speakers)))
    for _, members in speakers.groupby("corpus", sort=True).groups.items():
        members = np.asarray(members)
        draws = rng.integers(0, len(members), size=(n_resamples, len(members)))
        flat = draws + len(members) * np.arange(n_resamples)[:, None]
        counts = np.bincount(flat.ravel(), minlength=n_resamples * len(members))
        weights[:, members] = counts.reshape(n_resamples, len(members))
    return weights


def _speaker_confusions(table: pd.DataFrame, *, speakers: pd.DataFrame, labels) -> np.ndarray:
    """(n_speakers, n_labels, n_labels) confusion counts (rows: true, columns: predicted), in ``speakers`` order."""
    index = {label: position for position, label in enumerate(labels)}
    speaker_index = pd.MultiIndex.from_frame(speakers).get_indexer(
        pd.MultiIndex.from_frame(table[["corpus", "speaker"]])
    )
    counts = np.zeros((len(speakers), len(index), len(index)))
    np.add.at(counts, (speaker_index, table["y_true"].map(index), table["y_pred"].map(index)), 1)
    return counts


def _scores_from_confusions(confusions: np.ndarray) -> dict[str, np.ndarray]:
    """WA, UAR and macro-F1 of (n, K, K) confusion matrices, each of shape (n,); classes absent from the truth
    (zero row) are left out of UAR and macro-F1, as in ``metrics.score``."""
    true_positive = np.diagonal(confusions, axis1=1, axis2=2)
    support, predicted = confusions.sum(axis=2), confusions.sum(axis=1)
    present = support > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(present, true_positive / support, np.nan)
        f1 = np.where(present, 2 * true_positive / (support + predicted), np.nan)
    return {
        "wa": true_positive.sum(axis=1) / confusions.sum(axis=(1, 2)),
        "uar": np.nanmean(recall, axis=1),
        "macro_f1": np.nanmean(f1, axis=1),
    }


def _interval(values: np.ndarray, *, confidence: float) -> tuple[float, float]:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95; got {confidence}")
    low, high = np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def _delta(a: tuple[float, np.ndarray], b: tuple[float, np.ndarray], *, confidence: float) -> dict[str, float]:
    """(point, resampled) UARs of two models on the same resamples → the paired difference a − b."""
    low, high = _interval(a[1] - b[1], confidence=confidence)
    return {
        "delta_uar": float(a[0] - b[0]),
        "delta_uar_ci_low": low,
        "delta_uar_ci_high": high,
        "delta_uar_excludes_zero": bool(low > 0 or high < 0),
    }
