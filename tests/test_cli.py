"""Tests for ser_utils.cli: every command maps errors to the documented exit codes with one line, no traceback."""

import dataclasses
import os
import subprocess
import sys

import pytest

from ser_utils import cli
from ser_utils.cli import ExitCode, main
from ser_utils.data.download import CORPUS_SOURCES


def _one_error_line(captured) -> str:
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


def test_exit_codes_are_documented_in_help(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    for code in ExitCode:
        assert f"  {int(code)} " in out, f"exit code {int(code)} is not documented"


def test_ok_manifest_exits_0(write_tone, tmp_path, capsys):
    write_tone("corpus/Actor_01/03-01-03-01-01-01-01.wav")
    assert main(["manifest", str(tmp_path / "corpus"), "--out", str(tmp_path / "m.csv"), "--jobs", "1"]) == 0
    assert (tmp_path / "m.csv").is_file() and capsys.readouterr().err == ""


def test_no_usable_clip_is_a_failed_run(write_tone, tmp_path, capsys):
    write_tone("corpus/unlabelled.wav")
    assert main(["manifest", str(tmp_path / "corpus"), "--out", str(tmp_path / "m.csv"), "--jobs", "1"]) == 1
    assert "no usable clip" in _one_error_line(capsys.readouterr())


def test_usage_error_exits_2():
    with pytest.raises(SystemExit) as caught:
        main(["download", "iemocap"])
    assert caught.value.code == 2


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    assert main(["manifest", str(tmp_path / "missing")]) == ExitCode.BAD_INPUT
    assert _one_error_line(capsys.readouterr()).startswith("error: ")


def test_registration_needs_the_users_action(tmp_path, capsys):
    assert main(["download", "savee", "--dest", str(tmp_path)]) == ExitCode.NEEDS_USER_ACTION
    line = _one_error_line(capsys.readouterr())
    assert "kahlan.eps.surrey.ac.uk/savee" in line and str(tmp_path / "savee" / "AudioData") in line


def test_offline_download_says_what_to_do(closed_port_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(CORPUS_SOURCES, "ravdess", dataclasses.replace(CORPUS_SOURCES["ravdess"], url=closed_port_url))
    assert main(["download", "ravdess", "--dest", str(tmp_path)]) == ExitCode.NEEDS_USER_ACTION
    captured = capsys.readouterr()
    line = _one_error_line(captured)
    assert closed_port_url in line and "zenodo.org/records/1188976" in line  # the manual alternative
    assert "CC BY-NC-SA 4.0" in captured.out and "10.1371/journal.pone.0196391" in captured.out


def test_unexpected_error_is_one_line_and_exit_1(monkeypatch, capsys):
    def broken(args):
        raise KeyError("surprise")

    monkeypatch.setitem(cli.COMMANDS, "manifest", broken)
    assert main(["manifest", "x"]) == ExitCode.RUN_FAILED
    assert _one_error_line(capsys.readouterr()) == "error: KeyError: 'surprise'"


def test_ctrl_c_exits_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "manifest", interrupted)
    assert main(["manifest", "x"]) == 130
    assert "interrupted" in _one_error_line(capsys.readouterr())


def test_predict_without_yamnet_weights_says_what_to_do(tmp_path, monkeypatch, capsys):
    from ser_utils.serving import predictor
    from ser_utils.yamnet import weights

    class NeedsWeights:  # a YAMNet-based model: its inputs need the TFLite file
        def predict_files(self, paths, *, n_jobs):
            weights.model_file("tflite", download=False)

    monkeypatch.delenv(weights.MODEL_DIR_ENV_VAR, raising=False)  # restored after the test
    monkeypatch.setattr(predictor, "load_predictor", lambda model_dir: NeedsWeights())
    empty = tmp_path / "no-weights"
    code = main(["predict", "clip.wav", "--model", str(tmp_path), "--yamnet-dir", str(empty), "--jobs", "3"])
    assert code == ExitCode.NEEDS_USER_ACTION
    line = _one_error_line(capsys.readouterr())
    assert str(empty / "yamnet_spectra_in.tflite") in line
    assert "python -m ser_utils download-yamnet" in line and "--yamnet-dir" in line and "SER_YAMNET_DIR" in line
    assert weights.MODEL_DIR_ENV_VAR not in os.environ, "the command leaked its --yamnet-dir into the process"


def test_run_passes_jobs_to_the_notebooks(monkeypatch, capsys, tmp_path):
    from ser_utils.pipeline import runner

    calls = []
    monkeypatch.setattr(runner, "run_pipeline", lambda **kwargs: calls.append(kwargs) or tmp_path / "index.html")
    assert main(["run", "--only", "02", "--jobs", "4"]) == 0
    assert calls == [{"profile": "quick", "data_dir": None, "only": ["02"], "n_jobs": 4}]


def test_a_real_process_exits_3_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ser_utils", "download", "savee", "--dest", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
