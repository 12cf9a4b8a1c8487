"""Is "confidence 0.9" worth 90 %? Expected calibration error, NLL, reliability tables and temperature scaling
fitted so that no clip of a fold informs that fold's temperature (on the fold's validation speakers, or
cross-fitted on the other folds' held-out speakers).

Probabilities are arrays of shape (n_clips, n_classes) whose rows sum to 1; ``y_true_index`` is an int array
of shape (n_clips,) indexing their columns. Temperature scaling rescales log-probabilities:
``softmax(log p / T)``; T > 1 softens over-confident predictions, T < 1 sharpens, T = 1 changes nothing, and the
argmax (y_pred) never changes. The temperature minimises a proper scoring rule: the Brier score (mean squared
error of the probability vector, bounded per clip, so a few confidently wrong clips with saturated probabilities
cannot dominate the fit) or the NLL (classic temperature scaling, unbounded per clip).
"""

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

__all__ = [
    "OBJECTIVES",
    "TEMPERATURE_BOUNDS",
    "PROBABILITY_FLOOR",
    "prediction_arrays",
    "expected_calibration_error",
    "negative_log_likelihood",
    "reliability_table",
    "fit_temperature",
    "apply_temperature",
    "calibrate_per_fold",
    "calibrate_cross_fitted",
    "calibration_summary",
]

OBJECTIVES = ("brier", "nll")  # scoring rules fit_temperature can minimise
TEMPERATURE_BOUNDS = (0.05, 20.0)  # the search range of fit_temperature
PROBABILITY_FLOOR = 1e-12  # probabilities are clipped here before taking logs (a 0 would be log 0 = −inf)


def prediction_arrays(predictions: pd.DataFrame, *, classes) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities (n_clips, n_classes) from the ``prob_<class>`` columns, y_true_index (n_clips,)) of a
    predictions table; ``classes`` in the order of the probability columns (taxonomy order, those present)."""
    columns = [f"prob_{name}" for name in classes]
    missing = [column for column in columns if column not in predictions]
    if missing:
        raise ValueError(f"predictions lack {missing}; pass the classes the model was trained on, in its order")
    index = {name: position for position, name in enumerate(classes)}
    unknown = sorted(set(predictions["y_true"]) - set(index))
    if unknown:
        raise ValueError(f"y_true holds {unknown}, which are not among classes={list(classes)}")
    return predictions[columns].to_numpy(dtype=float), predictions["y_true"].map(index).to_numpy(dtype=int)


def expected_calibration_error(probabilities, y_true_index, *, n_bins: int) -> float:
    """ECE in [0, 1]: |accuracy − mean confidence| per equal-width confidence bin, weighted by the bin's share
    of clips (confidence = the top probability; bins (0, 1/n_bins], … (1 − 1/n_bins, 1]; 15 is the usual count)."""
    table = reliability_table(probabilities, y_true_index, n_bins=n_bins)
    filled = table[table["count"] > 0]
    gaps = (filled["accuracy"] - filled["confidence"]).abs()
    return float((gaps * filled["count"]).sum() / filled["count"].sum())


def negative_log_likelihood(probabilities, y_true_index) -> float:
    """Mean −log p(true class) in nats (probabilities clipped at ``PROBABILITY_FLOOR``)."""
    probabilities, y_true_index = _check(probabilities, y_true_index)
    picked = probabilities[np.arange(len(y_true_index)), y_true_index]
    return float(-np.mean(np.log(np.clip(picked, PROBABILITY_FLOOR, None))))


def reliability_table(probabilities, y_true_index, *, n_bins: int) -> pd.DataFrame:
    """One row per equal-width confidence bin: bin (0 … n_bins − 1), bin_low, bin_high, confidence (mean top
    probability of its clips), accuracy (share of them predicted right) and count; empty bins have count 0
    and NaN means."""
    probabilities, y_true_index = _check(probabilities, y_true_index)
    if n_bins < 1:
        raise ValueError(f"n_bins must be ≥ 1 (15 is the usual count), got {n_bins}")
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y_true_index
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(bins, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(bins, weights=correct, minlength=n_bins) / count
    edges = np.linspace(0, 1, n_bins + 1)
    return pd.DataFrame(
        {
            "bin": np.arange(n_bins),
            "bin_low": edges[:-1],
            "bin_high": edges[1:],
            "confidence": mean_confidence,
            "accuracy": accuracy,
            "count": count,
        }
    )


def fit_temperature(probabilities, y_true_index, *, objective: str) -> float:
    """The T in ``TEMPERATURE_BOUNDS`` minimising ``objective`` ("brier" or "nll", see ``OBJECTIVES``) of
    ``softmax(log p / T)`` (bounded scalar search)."""
    probabilities, y_true_index = _check(probabilities, y_true_index)
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    logits = np.log(np.clip(probabilities, PROBABILITY_FLOOR, None))
    rows = np.arange(len(y_true_index))
    one_hot = np.eye(probabilities.shape[1])[y_true_index]

    def loss(temperature: float) -> float:
        log_scaled = log_softmax(logits / temperature, axis=1)
        if objective == "nll":
            return float(-np.mean(log_scaled[rows, y_true_index]))
        return float(np.mean(np.sum((np.exp(log_scaled) - one_hot) ** 2, axis=1)))

    return float(minimize_scalar(loss, bounds=TEMPERATURE_BOUNDS, method="bounded").x)


def apply_temperature(probabilities, temperature: float) -> np.ndarray:
    """``softmax(log p / temperature)``: probabilities of the same shape, rows summing to 1, argmax unchanged."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must be (n_clips, n_classes), got shape {probabilities.shape}")
    logits = np.log(np.clip(probabilities, PROBABILITY_FLOOR, None))
    return np.exp(log_softmax(logits / temperature, axis=1))


def calibrate_per_fold(
    test_predictions: pd.DataFrame, val_predictions: pd.DataFrame, *, classes, objective: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Temperature-scale each fold's test predictions with a temperature fitted on THAT fold's validation
    speakers only (``results.read_predictions(..., split="val")``), so no test speaker informs its calibration.

    Returns (the test predictions with ``prob_<class>`` and ``confidence`` recalibrated, y_pred unchanged;
    a table fold, temperature, n_val). Raises when a test fold has no validation predictions.
    """
    missing = sorted(set(test_predictions["fold"]) - set(val_predictions["fold"]))
    if missing:
        raise ValueError(
            f"folds {missing} have no validation predictions; re-run the model's notebook so it writes "
            "predictions/validation/ (split='val')"
        )
    temperatures = pd.DataFrame(
        [
            {
                "fold": fold,
                "temperature": fit_temperature(*prediction_arrays(part, classes=classes), objective=objective),
                "n_val": len(part),
            }
            for fold, part in val_predictions.groupby("fold", sort=True)
            if fold in set(test_predictions["fold"])
        ]
    )
    return _scale_folds(test_predictions, temperatures, classes=classes), temperatures


def calibrate_cross_fitted(
    test_predictions: pd.DataFrame, *, classes, objective: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Temperature-scale each fold's test predictions with a temperature fitted on the OTHER folds' test
    predictions (cross-fitting): every speaker there unseen by the model that predicted it, and many more of them
    than a fold's few validation speakers; also right for models whose validation predictions are in-sample.

    No clip of a fold informs that fold's temperature. Returns the same pair as ``calibrate_per_fold``
    (n_val there counts the other folds' clips).
    """
    folds = sorted(set(test_predictions["fold"]))
    if len(folds) < 2:
        raise ValueError(f"cross-fitting needs at least two folds, got {folds}")
    others = {fold: test_predictions[test_predictions["fold"] != fold] for fold in folds}
    temperatures = pd.DataFrame(
        [
            {
                "fold": fold,
                "temperature": fit_temperature(*prediction_arrays(part, classes=classes), objective=objective),
                "n_val": len(part),
            }
            for fold, part in others.items()
        ]
    )
    return _scale_folds(test_predictions, temperatures, classes=classes), temperatures


def calibration_summary(
    test_predictions: pd.DataFrame, calibrated_predictions: pd.DataFrame, *, classes, n_bins: int
) -> dict[str, float]:
    """n, ece_before, ece_after (``n_bins`` bins), nll_before and nll_after (nats) of a model's test
    predictions before and after calibration (``calibrate_per_fold`` or ``calibrate_cross_fitted``)."""
    before = prediction_arrays(test_predictions, classes=classes)
    after = prediction_arrays(calibrated_predictions, classes=classes)
    return {
        "n": len(test_predictions),
        "ece_before": expected_calibration_error(*before, n_bins=n_bins),
        "ece_after": expected_calibration_error(*after, n_bins=n_bins),
        "nll_before": negative_log_likelihood(*before),
        "nll_after": negative_log_likelihood(*after),
    }


def _scale_folds(test_predictions: pd.DataFrame, temperatures: pd.DataFrame, *, classes) -> pd.DataFrame:
    """``test_predictions`` with each fold's ``prob_<class>`` and ``confidence`` scaled by that fold's
    temperature (a table of fold, temperature); y_pred is unchanged (the argmax does not move)."""
    columns = [f"prob_{name}" for name in classes]
    calibrated = test_predictions.copy()
    for fold, temperature in zip(temperatures["fold"], temperatures["temperature"], strict=True):
        rows = (calibrated["fold"] == fold).to_numpy()
        scaled = apply_temperature(prediction_arrays(calibrated.loc[rows], classes=classes)[0], temperature)
        calibrated.loc[rows, columns] = scaled
        calibrated.loc[rows, "confidence"] = scaled.max(axis=1)
    return calibrated


def _check(probabilities, y_true_index) -> tuple[np.ndarray, np.ndarray]:
    probabilities, y_true_index = np.asarray(probabilities, dtype=float), np.asarray(y_true_index)
    if probabilities.ndim != 2 or y_true_index.shape != (len(probabilities),) or len(probabilities) == 0:
        raise ValueError(
            f"need probabilities (n_clips, n_classes) and y_true_index (n_clips,); got {probabilities.shape} and "
            f"{y_true_index.shape}"
        )
    if y_true_index.min() < 0 or y_true_index.max() >= probabilities.shape[1]:
        raise ValueError(f"y_true_index must index the {probabilities.shape[1]} probability columns")
    return probabilities, y_true_index.astype(int)
