"""Assemble model inputs from feature sets: align them to the manifest's clips and select named columns."""

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["column_positions", "select_columns", "align_inputs"]


def column_positions(names: Sequence[str], columns: Sequence[str]) -> list[int]:
    """Index in ``names`` of every entry of ``columns``, in ``columns``' order.

    Raises ValueError listing (up to five of) the ``columns`` that ``names`` lacks.
    """
    position = {name: index for index, name in enumerate(names)}
    unknown = [name for name in columns if name not in position]
    if unknown:
        raise ValueError(
            f"columns {unknown[:5]} are not among the {len(position)} feature columns "
            f"({', '.join(list(position)[:3])}, …); pick columns the feature sets produce"
        )
    return [position[name] for name in columns]


def select_columns(
    values: np.ndarray, *, names: Sequence[str], columns: Sequence[str] | None
) -> tuple[np.ndarray, list[str]]:
    """(values, columns): ``values`` (..., len(names)) reduced to ``columns`` on the last axis, in that order.

    ``columns=None`` keeps every column. Raises ValueError (``column_positions``) for unknown columns.
    """
    if values.shape[-1] != len(names):
        raise ValueError(f"values have {values.shape[-1]} columns on the last axis but {len(names)} names")
    if columns is None:
        return values, list(names)
    return values[..., column_positions(names, columns)], list(columns)


def align_inputs(
    manifest: pd.DataFrame, feature_sets: list, *, columns: Sequence[str] | None = None
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """(rows, inputs, columns): the manifest rows that have every ``extraction.FeatureSet`` in
    ``feature_sets``, in manifest order, and their values concatenated on the last axis, (n, d) for tabular
    sets, optionally reduced to ``columns`` (in that order; ``select_columns``)."""
    if not feature_sets:
        raise ValueError("pass at least one FeatureSet from features.extraction.extract_features")
    have_all = set.intersection(*(set(features.paths) for features in feature_sets))
    rows = manifest[manifest["path"].isin(have_all)].reset_index(drop=True)
    inputs = np.concatenate([features.aligned(rows)[1] for features in feature_sets], axis=-1)
    names = [column for features in feature_sets for column in features.columns]
    inputs, columns = select_columns(inputs, names=names, columns=columns)
    return rows, inputs, columns
