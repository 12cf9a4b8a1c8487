"""Late fusion: a log-linear pool of several models' per-clip class probabilities, scored on the same speaker folds.

The pool multiplies the members' probabilities, each raised to a non-negative weight, and renormalises:
``p(c) ∝ Π_m p_m(c) ** w_m`` (a log-linear opinion pool, or product of experts). A member that is confidently
wrong is outvoted in log space rather than averaged in, and the weights need not sum to 1, so their sum also sets
how sharp the pool is. ``fit_pool_weights`` chooses them by minimising the pool's log-loss on held-out predictions
(plus a small L2 penalty); ``cross_fitted_ensemble`` fits them for each fold on the other folds' out-of-fold
predictions only, so no clip of a fold informs the ensemble scored on it.
"""

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import log_softmax

__all__ = [
    "log_linear_pool",
    "fit_pool_weights",
    "cross_fitted_ensemble",
    "ALL_FOLDS",
    "ENSEMBLE",
    "ENSEMBLE_FEATURES",
    "PROBABILITY_FLOOR",
    "aligned_probabilities",
    "with_probabilities",
]

ALL_FOLDS = "all"  # the weights row fitted on every fold: the recipe of a deployable ensemble
ENSEMBLE, ENSEMBLE_FEATURES = "ensemble", "families"  # its results.csv key: each member reads its own features
PROBABILITY_FLOOR = 1e-4  # members' probabilities are clipped here before the log: one 0 cannot veto a class


def log_linear_pool(probabilities: np.ndarray, weights) -> np.ndarray:
    """(clips, classes) pooled probabilities ∝ Π_m probabilities[m] ** weights[m], rows summing to 1.

    ``probabilities`` (members, clips, classes), each clipped at ``PROBABILITY_FLOOR``; ``weights`` (members,) ≥ 0.
    A NaN in a member's row (it could not use the clip) gives a NaN row.
    """
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (len(probabilities),) or (weights < 0).any():
        raise ValueError(f"need one weight >= 0 per member ({len(probabilities)}); got {weights}")
    logits = np.tensordot(weights, _log_probabilities(probabilities), axes=1)
    return np.exp(log_softmax(logits, axis=-1))


def fit_pool_weights(probabilities: np.ndarray, labels: np.ndarray, *, l2: float) -> np.ndarray:
    """The (members,) weights ≥ 0 that minimise the mean log-loss of ``log_linear_pool`` on ``labels`` plus
    ``l2`` · Σ w²; ``probabilities`` (members, clips, classes), ``labels`` (clips,) integer classes."""
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    log_p = _log_probabilities(probabilities)
    n_members, n_clips = log_p.shape[:2]
    at_truth = log_p[:, np.arange(n_clips), labels]  # (members, clips)

    def loss_and_gradient(weights):
        log_q = log_softmax(np.tensordot(weights, log_p, axes=1), axis=-1)
        expected = np.einsum("mck,ck->mc", log_p, np.exp(log_q))  # each member's log-probability under the pool
        loss = -log_q[np.arange(n_clips), labels].mean() + l2 * weights @ weights
        return loss, (expected - at_truth).mean(axis=1) + 2 * l2 * weights

    start = np.full(n_members, 1 / n_members)
    fitted = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B", bounds=[(0, None)] * n_members)
    return fitted.x


def cross_fitted_ensemble(
    tables: Mapping[str, pd.DataFrame], *, classes, l2: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A log-linear pool of the models in ``tables`` (name -> out-of-fold predictions table on the same clips and
    folds), scored without any fold fitting its own weights.

    Each fold is pooled with weights fitted (``fit_pool_weights``) on all the other folds' predictions; the row
    ``ALL_FOLDS`` fits them on every fold (a deployable ensemble). Returns (fused predictions table ordered like
    the first table, weights: one row per fold and ``ALL_FOLDS`` with one column per member).
    """
    names = list(tables)
    if len(names) < 2:
        raise ValueError(f"an ensemble needs at least two models' predictions; got {names}")
    probabilities = aligned_probabilities([tables[name] for name in names], classes=classes)
    first = tables[names[0]]
    folds = first["fold"].to_numpy()
    labels = pd.Categorical(first["y_true"], categories=list(classes)).codes
    if (labels < 0).any():
        raise ValueError("a y_true value is not among classes")
    rows, fused = [], np.zeros(probabilities.shape[1:])
    for fold in [*sorted(set(folds)), ALL_FOLDS]:
        train = folds != fold
        weights = fit_pool_weights(probabilities[:, train], labels[train], l2=l2)
        rows.append({"fold": fold, **dict(zip(names, weights, strict=True))})
        if fold != ALL_FOLDS:
            fused[~train] = log_linear_pool(probabilities[:, ~train], weights)
    return with_probabilities(first, fused, classes=classes), pd.DataFrame(rows)


def _log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probabilities, dtype=float), PROBABILITY_FLOOR, None))


def with_probabilities(table: pd.DataFrame, probabilities: np.ndarray, *, classes) -> pd.DataFrame:
    """A copy of predictions ``table`` carrying ``probabilities`` (clips, classes), y_pred and confidence recomputed."""
    table = table.copy()
    table[[f"prob_{name}" for name in classes]] = probabilities
    table["y_pred"] = np.asarray(classes)[probabilities.argmax(axis=1)]
    table["confidence"] = probabilities.max(axis=1)
    return table


def aligned_probabilities(tables: list[pd.DataFrame], *, classes) -> np.ndarray:
    """(tables, clips, classes) probabilities, each table's rows in the first table's clip order."""
    first = tables[0]
    columns = [f"prob_{name}" for name in classes]
    probabilities = []
    for table in tables:
        missing = [column for column in ("path", "fold", *columns) if column not in table.columns]
        if missing:
            raise ValueError(f"a predictions table lacks columns {missing}; pass results.predictions_table rows")
        aligned = table.drop_duplicates("path").set_index("path").reindex(first["path"])
        if len(table) != len(first) or aligned["fold"].isna().any():
            raise ValueError("the predictions tables cover different clips; score both models on the same manifest")
        if not np.array_equal(aligned["fold"].to_numpy(), first["fold"].to_numpy()):
            raise ValueError("the models were tested on different folds; re-run them on the same folds file")
        probabilities.append(aligned[columns].to_numpy(dtype=float))
    return np.stack(probabilities)
