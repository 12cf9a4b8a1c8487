"""Tests for ser_utils.evaluation.results: scores merged into results.csv, provenance beside every table."""

import json

import numpy as np
import pandas as pd

from ser_utils.evaluation.results import predictions_table, read_predictions, record_results, write_predictions
from ser_utils.io.provenance import data_fingerprint, run_info

LABELS = ["happy", "sad"]
ROWS = pd.DataFrame(
    {
        "path": [f"/machine/data/ravdess/{index}.wav" for index in range(4)],
        "corpus": "ravdess",
        "speaker": ["ravdess_01", "ravdess_01", "ravdess_02", "ravdess_02"],
        "emotion": ["happy", "sad", "happy", "sad"],
    }
)
PROBABILITIES = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
INFO = run_info({"data_dir": "/machine/data", "seed": 0}, data_label="RAVDESS", manifest=ROWS)


def _predictions() -> pd.DataFrame:
    return predictions_table(ROWS, fold="fold1", probabilities=PROBABILITIES, classes=LABELS)


def _record(outputs_dir, model: str, info: dict = INFO) -> pd.DataFrame:
    return record_results(
        _predictions(),
        outputs_dir=outputs_dir,
        corpora="ravdess",
        protocol="speaker-2fold",
        model=model,
        features="toy",
        labels=LABELS,
        info=info,
    )


def _no_absolute_path(path) -> bool:
    return '"/' not in path.read_text()


def test_predictions_get_a_meta_json_and_read_back(tmp_path):
    path = write_predictions(
        _predictions(), outputs_dir=tmp_path, model="svm", protocol="speaker-2fold", features="toy", info=INFO
    )
    assert path == tmp_path / "predictions" / "speaker-2fold__svm__toy.csv"
    meta_file = path.with_name("speaker-2fold__svm__toy.meta.json")
    meta = json.loads(meta_file.read_text())
    assert meta["git_commit"] and meta["versions"] and meta["corpora"] == ["ravdess"]
    assert meta["data_fingerprint"] == data_fingerprint(ROWS)
    assert _no_absolute_path(meta_file)
    read = read_predictions(tmp_path, model="svm", protocol="speaker-2fold", features="toy")
    assert read["y_pred"].tolist() == ["happy", "sad", "happy", "happy"]


def test_results_keep_one_provenance_entry_per_model_and_replace_it_with_the_rows(tmp_path):
    _record(tmp_path, "svm")
    _record(tmp_path, "mlp")
    scores = _record(tmp_path, "svm", info={**INFO, "config": {"seed": 1}})
    results = pd.read_csv(tmp_path / "results.csv", dtype={"fold": str})
    assert sorted(set(results["model"])) == ["mlp", "svm"]
    assert len(results) == 2 * len(scores)
    assert scores.set_index("fold").loc["fold1", "wa"] == 0.75
    meta_file = tmp_path / "results.meta.json"
    meta = json.loads(meta_file.read_text())
    assert meta["keys"] == ["corpora", "protocol", "model", "features"]
    runs = {run["model"]: run for run in meta["runs"]}
    assert sorted(runs) == ["mlp", "svm"] and runs["svm"]["config"] == {"seed": 1}
    assert runs["mlp"]["config"]["data_dir"] == "data" and runs["mlp"]["data_fingerprint"] == data_fingerprint(ROWS)
    assert _no_absolute_path(meta_file)
