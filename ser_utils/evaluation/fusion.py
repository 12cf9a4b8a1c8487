"""Late fusion: average several models' per-clip class probabilities, scored on the same speaker folds."""

import numpy as np
import pandas as pd

__all__ = ["fuse_predictions"]


def fuse_predictions(tables: list[pd.DataFrame], *, classes) -> pd.DataFrame:
    """Late fusion: the mean of several models' ``evaluation.results.predictions_table`` probabilities, clip by clip.

    Every table must hold the same clips (``path``) on the same folds, each with ``prob_<class>`` columns for
    ``classes``; the first table's row order is kept. Equal weights, so nothing is tuned on any fold.
    Returns a predictions table (y_pred and confidence recomputed) ready for ``evaluation.results.record_results``.
    """
    if len(tables) < 2:
        raise ValueError(f"fusion needs at least two predictions tables; got {len(tables)}")
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
    mean = np.mean(probabilities, axis=0)
    fused = first.copy()
    fused[columns] = mean
    fused["y_pred"] = np.asarray(classes)[mean.argmax(axis=1)]
    fused["confidence"] = mean.max(axis=1)
    return fused
