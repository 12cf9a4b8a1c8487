"""Score predictions the way the project reports them: WA, UAR and macro-F1, per fold and pooled."""

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    recall_score,
)

__all__ = ["METRICS", "score", "score_predictions", "per_class_report", "confusion_table"]

METRICS = ("wa", "uar", "macro_f1")  # weighted accuracy, unweighted average recall, macro-F1


def score(y_true, y_pred, *, labels) -> dict[str, float]:
    """WA (accuracy), UAR (balanced accuracy over the classes present) and macro-F1 over ``labels``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"need equal, non-empty label arrays; got {y_true.shape} and {y_pred.shape}")
    # UAR averages recall over the classes present in y_true (balanced accuracy): a subset (one fold, speaker
    # group or condition) may lack a class, or hold only one, and predictions of absent classes still count.
    present = [label for label in labels if label in set(y_true)]
    return {
        "wa": float(accuracy_score(y_true, y_pred)),
        "uar": float(recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
    }


def score_predictions(predictions: pd.DataFrame, *, labels) -> pd.DataFrame:
    """Per-fold rows plus a ``pooled`` row (all folds' predictions scored together), a ``mean`` and
    a ``std`` row (spread over folds), from a predictions table with fold, y_true, y_pred columns."""
    rows = [
        {"fold": fold, "n_test": len(part), **score(part["y_true"], part["y_pred"], labels=labels)}
        for fold, part in predictions.groupby("fold", sort=False)
    ]
    per_fold = pd.DataFrame(rows)
    pooled = {
        "fold": "pooled",
        "n_test": len(predictions),
        **score(predictions["y_true"], predictions["y_pred"], labels=labels),
    }
    mean = {"fold": "mean", "n_test": len(predictions), **per_fold[list(METRICS)].mean().to_dict()}
    std = {"fold": "std", "n_test": len(predictions), **per_fold[list(METRICS)].std(ddof=0).to_dict()}
    return pd.concat([per_fold, pd.DataFrame([pooled, mean, std])], ignore_index=True)


def per_class_report(y_true, y_pred, *, labels) -> pd.DataFrame:
    """Precision, recall, F1 and support per class, in ``labels`` order (classes absent from y_true dropped)."""
    present = [label for label in labels if label in set(np.asarray(y_true))]
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=present, zero_division=0)
    return pd.DataFrame({"emotion": present, "precision": precision, "recall": recall, "f1": f1, "support": support})


def confusion_table(y_true, y_pred, *, labels, normalize: bool = False) -> pd.DataFrame:
    """Confusion matrix (rows: true, columns: predicted) as counts or row-normalised recalls."""
    present = [label for label in labels if label in set(np.asarray(y_true)) | set(np.asarray(y_pred))]
    matrix = confusion_matrix(y_true, y_pred, labels=present, normalize="true" if normalize else None)
    return pd.DataFrame(matrix, index=pd.Index(present, name="true"), columns=pd.Index(present, name="predicted"))
