"""Tests for ser_utils.plots.transfer: the train → test matrix puts each score in its cell, the diagonal
holds the within-corpus scores when given, and the heat map draws one cell per pair."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from ser_utils.plots.transfer import plot_cross_corpus, transfer_matrix  # noqa: E402

TABLE = pd.DataFrame(
    {
        "model": "lr",
        "train_corpora": ["ravdess", "tess", "cremad+tess"],
        "test_corpus": ["tess", "ravdess", "ravdess"],
        "uar": [0.3, 0.4, 0.5],
    }
)


def test_matrix_cells_and_diagonal():
    matrix = transfer_matrix(TABLE, within={"ravdess": 0.56})
    assert list(matrix.index) == ["cremad", "ravdess", "tess", "cremad+tess"]
    assert list(matrix.columns) == ["cremad", "ravdess", "tess"]
    assert matrix.loc["ravdess", "tess"] == 0.3
    assert matrix.loc["tess", "ravdess"] == 0.4
    assert matrix.loc["cremad+tess", "ravdess"] == 0.5
    assert matrix.loc["ravdess", "ravdess"] == 0.56
    assert np.isnan(matrix.loc["tess", "tess"]) and np.isnan(matrix.loc["cremad", "tess"])


def test_missing_column_raises():
    with pytest.raises(ValueError, match="uar"):
        transfer_matrix(TABLE.drop(columns="uar"))


def test_heat_map_annotates_every_filled_cell():
    fig = plot_cross_corpus(TABLE, chance=1 / 4, within={"ravdess": 0.56})
    texts = {text.get_text() for text in fig.axes[0].texts}
    assert {"30.0", "40.0", "50.0", "56.0"} <= texts
    plt.close(fig)
