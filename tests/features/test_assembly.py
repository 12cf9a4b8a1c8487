"""Tests for ser_utils.features.assembly and features.normalization: aligned inputs, one column selection,
per-speaker z-scores."""

import numpy as np
import pandas as pd
import pytest

from ser_utils.features.assembly import align_inputs, column_positions, select_columns
from ser_utils.features.extraction import FeatureSet
from ser_utils.features.normalization import standardize_per_speaker

MANIFEST = pd.DataFrame({"path": [f"clip{index}.wav" for index in range(6)]})


def feature_set(name: str, paths: list[str], width: int) -> FeatureSet:
    values = np.arange(len(paths) * width, dtype=np.float32).reshape(len(paths), width)
    return FeatureSet(
        name=name,
        paths=tuple(paths),
        values=values,
        columns=tuple(f"{name}_{i}" for i in range(width)),
        failures=pd.DataFrame(),
        config={},
        cache_key="",
        n_cached=0,
        n_computed=0,
    )


def test_select_columns_picks_named_columns_in_the_asked_order():
    values = np.arange(12.0).reshape(2, 2, 3)  # sequences: the last axis is selected
    picked, names = select_columns(values, names=["a", "b", "c"], columns=["c", "a"])
    assert names == ["c", "a"] and np.array_equal(picked, values[..., [2, 0]])
    kept, all_names = select_columns(values, names=["a", "b", "c"], columns=None)
    assert kept is values and all_names == ["a", "b", "c"]
    assert column_positions(["a", "b", "c"], ["b"]) == [1]
    with pytest.raises(ValueError, match=r"\['zzz'\]"):
        select_columns(values, names=["a", "b", "c"], columns=["a", "zzz"])
    with pytest.raises(ValueError, match="names"):
        select_columns(values, names=["a", "b"], columns=None)


def test_align_inputs_keeps_rows_with_every_set_in_manifest_order():
    paths = list(MANIFEST["path"])
    first = feature_set("a", paths[::-1], 2)
    second = feature_set("b", paths[1:], 3)
    rows, inputs, columns = align_inputs(MANIFEST, [first, second])
    assert list(rows["path"]) == paths[1:]
    assert inputs.shape == (len(paths) - 1, 5) and columns[:3] == ["a_0", "a_1", "b_0"]
    _, picked, names = align_inputs(MANIFEST, [first, second], columns=["b_2", "a_0"])
    assert names == ["b_2", "a_0"] and np.array_equal(picked[:, 1], inputs[:, 0])
    with pytest.raises(ValueError, match="zzz"):
        align_inputs(MANIFEST, [first], columns=["zzz"])
    with pytest.raises(ValueError, match="at least one"):
        align_inputs(MANIFEST, [])


def test_standardize_per_speaker_gives_zero_mean_unit_spread_within_each_speaker():
    speakers = np.repeat(["a", "b"], 5)
    inputs = np.column_stack([np.arange(10.0), np.r_[np.full(5, 3.0), np.arange(5.0) * 100]])
    standardized = standardize_per_speaker(inputs, speakers)
    for speaker in ("a", "b"):
        rows = standardized[speakers == speaker]
        assert np.isclose(rows[:, 0].mean(), 0, atol=1e-6) and np.isclose(rows[:, 0].std(), 1)
    assert np.allclose(standardized[:5, 1], 0.0)  # a constant feature of one speaker carries nothing
    assert np.allclose(standardized[5:, 0], standardized[:5, 0])  # the same ramp at another level: same values
    with pytest.raises(ValueError, match="speaker ids"):
        standardize_per_speaker(inputs, speakers[:3])
