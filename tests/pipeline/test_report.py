"""Tests for ser_utils.pipeline.report: known headline rows from results.csv and from the bootstrap comparison,
the README rewrite between markers, and a front page with the table, the durations and the notebook links."""

import json
import math

import nbformat
import pandas as pd
import pytest

from ser_utils.evaluation.augmentation import span_features
from ser_utils.pipeline import report
from ser_utils.pipeline.speed_report import FEATURES_FILE, INFERENCE_FILE, SPEED_MARKERS, TRAINING_FILE, speed_markdown

HONEST = "speaker-2fold"


def _results_rows(model: str, features: str, *, protocol: str, wa: float, uar: float, std: float) -> list[dict]:
    base = {"corpora": "toy", "protocol": protocol, "model": model, "features": features, "n_test": 10}
    return [
        {**base, "fold": "fold1", "wa": wa, "uar": uar, "macro_f1": uar},
        {**base, "fold": "pooled", "wa": wa, "uar": uar, "macro_f1": uar - 0.01},
        {**base, "fold": "mean", "wa": wa, "uar": uar, "macro_f1": uar},
        {**base, "fold": "std", "wa": std, "uar": std, "macro_f1": std},
    ]


@pytest.fixture
def outputs(tmp_path):
    rows = (
        _results_rows("svm_seed", "seeds195", protocol=HONEST, wa=0.40, uar=0.38, std=0.06)
        + _results_rows("svm_seed", "seeds195", protocol="random-leaky", wa=0.51, uar=0.48, std=0.0)
        + _results_rows("logistic_regression", "egemaps", protocol=HONEST, wa=0.50, uar=0.49, std=0.05)
        + _results_rows("logistic_regression", "handcrafted+egemaps", protocol=HONEST, wa=0.5634, uar=0.5618, std=0.081)
        + _results_rows("logistic_regression", "speaker-normalised", protocol=HONEST, wa=0.66, uar=0.65, std=0.07)
        + _results_rows("new_model", "logmel", protocol=HONEST, wa=0.45, uar=0.44, std=0.04)
    )
    folder = tmp_path / "outputs" / "toy"
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    return folder


def test_headline_from_results_one_best_row_per_model_then_leaky(outputs):
    table, source = report.headline_table(outputs)
    assert source.name == "results.csv"
    assert table.drop(columns="leaky").values.tolist() == [
        ["logistic regression", "handcrafted + eGeMAPS", "56.3 ± 8.1", "56.2", "55.2"],
        ["new_model", "log-mel spectrogram", "45.0 ± 4.0", "44.0", "43.0"],
        ["seeds' RBF-SVM", "seeds' 195 values", "40.0 ± 6.0", "38.0", "37.0"],
        ["seeds' RBF-SVM", "seeds' 195 values", "51.0", "48.0", "47.0"],
    ]
    assert table["leaky"].tolist() == [False, False, False, True]


def test_headline_from_bootstrap_comparison(outputs):
    pd.DataFrame(
        {
            "model": ["logistic_regression", "svm", "svm"],
            "features": ["handcrafted+egemaps", "egemaps", "speaker-normalised"],
            "adaptation": ["none", "none", "none"],
            "n": [10, 10, 10],
            "wa": [0.56, 0.50, 0.7],
            "wa_ci_low": [0.51, 0.45, 0.6],
            "wa_ci_high": [0.61, 0.55, 0.8],
            "uar": [0.55, 0.49, 0.7],
            "uar_ci_low": [0.50, 0.44, 0.6],
            "uar_ci_high": [0.60, 0.54, 0.8],
            "macro_f1": [0.54, 0.48, 0.7],
            "delta_uar_vs_best": [0.0, -0.06, 0.15],
            "delta_uar_ci_low": [0.0, -0.1, 0.1],
            "delta_uar_ci_high": [0.0, -0.02, 0.2],
            "mcnemar_p_vs_best": [math.nan, 0.01, 0.01],
        }
    ).to_csv(outputs / report.COMPARISON_FILE, index=False)
    table, source = report.headline_table(outputs)
    assert source.name == report.COMPARISON_FILE
    assert table.drop(columns="leaky").values.tolist() == [
        ["logistic regression", "handcrafted + eGeMAPS", "56.0 [51.0, 61.0]", "55.0 [50.0, 60.0]", "54.0", "best"],
        ["RBF-SVM", "eGeMAPS", "50.0 [45.0, 55.0]", "49.0 [44.0, 54.0]", "48.0", "−6.0 [−10.0, −2.0]"],
        ["seeds' RBF-SVM", "seeds' 195 values", "51.0", "48.0", "47.0", ""],
    ]


def test_missing_outputs_raise(tmp_path):
    with pytest.raises(ValueError, match="run the notebooks"):
        report.headline_table(tmp_path)


def test_update_readme_rewrites_only_between_markers(outputs, tmp_path):
    readme = tmp_path / "README.md"
    start, end = report.README_MARKERS
    speed_start, speed_end = SPEED_MARKERS
    readme.write_text(
        f"# Title\nprose before\n{start}\nold table\n{end}\nmiddle\n"
        f"{speed_start}\nold speed\n{speed_end}\nprose after\n"
    )
    assert report.update_readme(readme, outputs_dir=outputs, run_name="toy") is True
    text = readme.read_text()
    assert text.startswith("# Title\nprose before\n") and text.endswith(f"{speed_end}\nprose after\n")
    assert "old table" not in text and "old speed" not in text and f"{end}\nmiddle\n" in text
    assert "Inference: not measured for this run" in text
    assert "| *seeds' RBF-SVM, **leaky random split*** | seeds' 195 values | *51.0* | *48.0* | *47.0* |" in text
    assert "from outputs/toy/results.csv" in text
    assert report.update_readme(readme, outputs_dir=outputs, run_name="toy") is False


def test_speed_section_reads_the_benchmark_files(tmp_path):
    bench = {
        "files": 240,
        "jobs": 2,
        "load_average_after": [1.0, 1.5, 2.0],
        "cold_over_seeds": 10.26,
        "cpu_seeds_over_project": 4.0,
        "warm_over_cold": 300.4,
        "cpu_seconds_per_clip_by_stage": {"decode": 0.0035},
    }
    (tmp_path / FEATURES_FILE).write_text(json.dumps(bench))
    pd.DataFrame({"model": ["svm"], "latency_ms": [12.345], "timeline_rtf": [0.01234]}).to_csv(
        tmp_path / INFERENCE_FILE, index=False
    )
    text = speed_markdown(tmp_path, run_name="toy", root=tmp_path.parent)
    assert "cold extraction 10.3× the seeds' per-file loop" in text and "warm re-run 300× faster" in text
    assert "| decode | 3.5 |" in text and "| svm | 12 | 0.0123 |" in text
    assert "Training: not measured for this run" in text
    training = {"family": ["cnn_lstm"], "setting": ["2 side by side"], "s_per_epoch": [1.234], "threads": [1]}
    pd.DataFrame({**training, "throughput_vs_1_thread": [1.456]}).to_csv(tmp_path / TRAINING_FILE, index=False)
    text = speed_markdown(tmp_path, run_name="toy", root=tmp_path.parent)
    assert "| family | setting | s per epoch | epochs per second vs 1 thread |" in text
    assert "| cnn_lstm | 2 side by side | 1.23 | 1.46 |" in text and "Training: not measured" not in text


def test_update_readme_without_markers_raises(outputs, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="results:start"):
        report.update_readme(readme, outputs_dir=outputs, run_name="toy")


def test_front_page_has_table_durations_and_links(outputs, tmp_path):
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# 03 · Baselines\nmore"), nbformat.v4.new_code_cell("x = 1")]
    )
    notebook.metadata["papermill"] = {"duration": 12.6}
    executed = outputs / "notebooks" / "03_baselines.ipynb"
    executed.parent.mkdir()
    nbformat.write(notebook, executed)
    (tmp_path / "charts" / "toy").mkdir(parents=True)
    (tmp_path / "charts" / "toy" / "06_01_scores.png").write_bytes(b"png")
    pd.DataFrame({"corpus": ["toy"], "clips": [40], "speakers": [2]}).to_csv(
        outputs / "dataset_distribution.csv", index=False
    )

    index = report.write_report([executed], root=tmp_path, run_name="toy", data_label="TOY", profile="quick")

    page = index.read_text()
    assert "<td>logistic regression</td><td>handcrafted + eGeMAPS</td><td>56.3 ± 8.1</td>" in page
    assert "seeds&#x27; RBF-SVM (LEAKY)" in page
    assert "<a href='03_baselines.html'>03 · Baselines</a> · 13 s" in page
    assert "src='../../../charts/toy/06_01_scores.png'" in page
    assert "<td>toy</td><td>40</td><td>2</td>" in page
    assert (index.parent / "03_baselines.html").is_file()
    durations = pd.read_csv(outputs / "durations.csv")
    assert durations.to_dict("records") == [{"notebook": "03_baselines", "seconds": 12.6, "profile": "quick"}]


def test_report_command_errors_are_one_line_bad_input(capsys):
    from ser_utils.cli import ExitCode, main

    assert main(["report", "--readme", "--run", "no-such-run"]) == ExitCode.BAD_INPUT
    assert capsys.readouterr().err.startswith("error: no run 'no-such-run'")
    assert main(["report", "--run", report.README_RUN]) == ExitCode.BAD_INPUT  # HTML needs the profile
    assert "--profile" in capsys.readouterr().err


def test_readme_notes_name_the_best_model_adapted_from_at_most_16_clips(outputs):
    results = pd.read_csv(outputs / "results.csv").assign(adaptation="none")
    enrolled = [
        pd.DataFrame(_results_rows("ensemble", "families", protocol=HONEST, wa=wa, uar=uar, std=0.0)).assign(
            adaptation=adaptation
        )
        for adaptation, wa, uar in [("enrol-4", 0.60, 0.61), ("enrol-16", 0.68, 0.69), ("enrol-32", 0.72, 0.73)]
    ]
    pd.concat([results, *enrolled]).to_csv(outputs / "results.csv", index=False)
    notes = " ".join(report._results_notes(outputs))
    assert "reaches 68.0 WA / 69.0 UAR with 16 clips" in notes  # enrol-32 is past the 16-clip budget
    assert "06_enrolment_draws.csv" not in notes, "no spread claimed without the draws table"
    draws = pd.DataFrame({"seed": [0, 1, 2, 0], "n_clips": [16, 16, 16, 4], "uar": [0.69, 0.67, 0.71, 0.5]})
    draws.to_csv(outputs / "06_enrolment_draws.csv", index=False)
    notes = " ".join(report._results_notes(outputs))
    assert "over 3 draws, the members' pool alone (no speaker-adaptive model) scores 69.0 UAR on average" in notes
    assert "(67.0 to 71.0" in notes
    table, _ = report.headline_table(outputs)
    assert "ensemble" not in set(table["model"]), "enrolment rows stay out of the zero-shot table"


def test_readme_notes_give_the_unchanged_labels_of_the_ensemble_and_span_pool(outputs):
    assert not any("GSM" in note for note in report._results_notes(outputs)), "no claim without notebook 07's table"
    check = pd.DataFrame(
        {
            "model": ["ensemble", "span_pool", "svm"],
            "features": ["families", "speech-spans", "egemaps"],
            "clean_uar": [0.633, 0.561, 0.5],
            "white_noise_20.0_unchanged": [0.458, 0.82, 0.3],
            "babble_20.0_unchanged": [0.625, 0.91, 0.3],
            "telephone_gsm_unchanged": [0.299, 0.67, 0.3],
            "meets": [False, False, False],
        }
    )
    check.to_csv(outputs / report.ROBUSTNESS_FILE, index=False)
    notes = " ".join(report._results_notes(outputs))
    assert (
        "log-linear pool of the families (weights fitted on other folds' speakers) keeps 45.8 / 62.5 / 29.9 %" in notes
    )
    assert "on the speech span over a noise floor (notebook 07) keeps 82.0 / 91.0 / 67.0 %" in notes
    assert "(clean UAR 56.1)" in notes and "RBF-SVM keeps" not in notes
    assert "asks for 90% / 90% / 70%" in notes and "no model meets it yet" in notes
    check.assign(meets=[False, True, False]).to_csv(outputs / report.ROBUSTNESS_FILE, index=False)
    assert "on the speech span over a noise floor (notebook 07) meets it." in " ".join(report._results_notes(outputs))
    holdout = check.assign(n=144, meets=[False, True, False], **{"white_noise_20.0_unchanged": [0.5, 0.93, 0.3]})
    holdout.to_csv(outputs / report.HOLDOUT_FILE, index=False)
    notes = " ".join(report._results_notes(outputs))
    assert "On 144 other held-out clips, outside those the span pool's recipe was chosen on" in notes
    assert notes.index("meets it.") < notes.index("On 144 other held-out clips"), "the bar first, then the holdout"
    assert "(notebook 07) keeps 93.0 / 91.0 / 67.0 % (meets the bar)" in notes and "29.9 % (misses the bar)" in notes
    holdout.assign(clean_uar=0.7).to_csv(outputs / report.HOLDOUT_FILE, index=False)
    assert "other held-out clips" not in " ".join(report._results_notes(outputs)), "a holdout of other models"


def test_span_views_are_named_after_their_feature_view():
    name = report._feature_name
    assert (
        name("handcrafted+egemaps-trim20") == "handcrafted + eGeMAPS, speech span (edges 20 dB below the peak trimmed)"
    )
    assert name("logmel-trim12.5") == "log-mel spectrogram, speech span (edges 12.5 dB below the peak trimmed)"
    assert name(span_features("logmel", 20.0, 17.5)) == (
        "log-mel spectrogram, speech span (edges 20 dB below the peak trimmed, white noise floor 17.5 dB below it)"
    )
    assert name(span_features("logmel", 20.0, 20.0, "gsm")) == (
        "log-mel spectrogram, speech span of the clip through the GSM phone chain (edges 20 dB below the peak "
        "trimmed, white noise floor 20 dB below it)"
    )
    assert name("speech-spans") == "each member's own, over the speech span"
    assert name("logmel-trimmed") == "logmel-trimmed"
    assert name("logmel-trim20-floorx") == "logmel-trim20-floorx"
    assert name("yamnet-waveform") == "waveform"
    assert name("speaker-normalised") == "speaker-normalised"
