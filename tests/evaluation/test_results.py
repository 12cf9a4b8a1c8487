"""Tests for ser_utils.evaluation.results: scores merged into results.csv, provenance beside every table."""

import json

import numpy as np
import pandas as pd
import pytest

from ser_utils.evaluation.results import (
    check_adaptation,
    enrolment_adaptation,
    pooled_scores,
    predictions_table,
    read_predictions,
    read_results,
    record_results,
    write_predictions,
)
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


def _record(outputs_dir, model: str, info: dict = INFO, adaptation: str = "none") -> pd.DataFrame:
    return record_results(
        _predictions(),
        outputs_dir=outputs_dir,
        corpora="ravdess",
        protocol="speaker-2fold",
        model=model,
        features="toy",
        labels=LABELS,
        info=info,
        adaptation=adaptation,
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
    assert meta["keys"] == ["corpora", "protocol", "model", "features", "adaptation"]
    runs = {run["model"]: run for run in meta["runs"]}
    assert sorted(runs) == ["mlp", "svm"] and runs["svm"]["config"] == {"seed": 1}
    assert runs["mlp"]["config"]["data_dir"] == "data" and runs["mlp"]["data_fingerprint"] == data_fingerprint(ROWS)
    assert _no_absolute_path(meta_file)


def test_adaptation_is_a_result_key_and_old_tables_read_as_none(tmp_path):
    old = pd.DataFrame({"corpora": ["ravdess"], "protocol": ["speaker-2fold"], "model": ["svm"], "features": ["toy"]})
    old.assign(fold="pooled", n_test=4, wa=0.5, uar=0.5, macro_f1=0.5).to_csv(tmp_path / "results.csv", index=False)
    assert read_results(tmp_path / "results.csv")["adaptation"].tolist() == ["none"]
    _record(tmp_path, "svm", adaptation="enrol-4")
    results = read_results(tmp_path / "results.csv")
    assert list(results.columns[:5]) == ["corpora", "protocol", "model", "features", "adaptation"]
    # the old "none" row survives beside the new enrol-4 rows: adaptation tells them apart
    assert (results["adaptation"] == "none").sum() == 1 and (results["adaptation"] == "enrol-4").sum() == 4
    # re-recording the group as transductive (a speaker-normalised view) replaces the unlabelled old row
    _record(tmp_path, "svm", adaptation="transductive")
    results = read_results(tmp_path / "results.csv")
    assert sorted(results["adaptation"].unique()) == ["enrol-4", "transductive"] and len(results) == 8


def test_pooled_scores_keep_one_unadapted_pooled_row_per_model_of_the_protocol_and_corpora():
    rows = [  # (corpora, protocol, model, adaptation, fold)
        ("ravdess", "speaker-6fold", "svm", "none", "pooled"),
        ("ravdess", "speaker-6fold", "svm", "none", "fold1"),
        ("ravdess", "speaker-6fold", "svm", "enrol-4", "pooled"),
        ("ravdess", "leaky-5fold", "svm", "none", "pooled"),
        ("ravdess+tess", "speaker-6fold", "svm", "none", "pooled"),
        ("ravdess", "speaker-6fold", "mlp", "none", "pooled"),
    ]
    results = pd.DataFrame(rows, columns=["corpora", "protocol", "model", "adaptation", "fold"]).assign(uar=0.5)
    kept = pooled_scores(results, protocol="speaker-6fold", corpora="ravdess")
    assert kept.index.tolist() == [0, 5]


def test_enrolment_predictions_get_their_own_file_and_old_files_read_as_none(tmp_path):
    table = predictions_table(ROWS, fold="fold1", probabilities=PROBABILITIES, classes=LABELS, adaptation="enrol-2")
    path = write_predictions(
        table, outputs_dir=tmp_path, model="lr", protocol="p", features="toy", info=INFO, adaptation="enrol-2"
    )
    assert path.name == "p__lr__toy__enrol-2.csv"
    assert (
        read_predictions(tmp_path, model="lr", protocol="p", features="toy", adaptation="enrol-2")["adaptation"]
        .eq("enrol-2")
        .all()
    )
    plain = predictions_table(ROWS, fold="fold1", probabilities=PROBABILITIES, classes=LABELS).drop(
        columns="adaptation"
    )
    write_predictions(plain, outputs_dir=tmp_path, model="lr", protocol="p", features="toy", info=INFO)
    assert read_predictions(tmp_path, model="lr", protocol="p", features="toy")["adaptation"].eq("none").all()


def test_unadapted_and_transductive_predictions_of_one_model_keep_separate_files(tmp_path):
    for adaptation, probabilities in (("none", PROBABILITIES), ("transductive", PROBABILITIES[:, ::-1])):
        table = predictions_table(
            ROWS, fold="fold1", probabilities=probabilities, classes=LABELS, adaptation=adaptation
        )
        write_predictions(
            table, outputs_dir=tmp_path, model="lr", protocol="p", features="toy", info=INFO, adaptation=adaptation
        )
    plain = read_predictions(tmp_path, model="lr", protocol="p", features="toy")
    adapted = read_predictions(tmp_path, model="lr", protocol="p", features="toy", adaptation="transductive")
    assert plain["adaptation"].eq("none").all() and adapted["adaptation"].eq("transductive").all()
    assert (plain["y_pred"] != adapted["y_pred"]).any()
    assert (tmp_path / "predictions" / "p__lr__toy__transductive.csv").is_file()


def test_adaptation_labels_are_checked():
    assert enrolment_adaptation(16) == "enrol-16" and check_adaptation("transductive") == "transductive"
    for bad in ("enrol-0", "enrol-", "speaker", "enrol-x"):
        with pytest.raises(ValueError, match="adaptation"):
            check_adaptation(bad)
    with pytest.raises(ValueError, match="at least one clip"):
        enrolment_adaptation(0)
