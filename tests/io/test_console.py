"""Tests for ser_utils.io.console: TensorFlow starts without printing to stderr."""

import os
import subprocess
import sys

from ser_utils.io.console import quiet_environment, quiet_libraries


def test_tensorflow_imports_and_runs_without_a_word_on_stderr():
    env = {key: value for key, value in os.environ.items() if key not in quiet_environment()}
    script = (
        "from ser_utils.io.console import quiet_libraries; quiet_libraries(); import tensorflow as tf; tf.ones(2) + 1"
    )
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == ""


def test_a_value_the_user_set_is_kept(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    quiet_libraries()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_processes_started_after_quieting_ignore_the_retired_worker_warning_and_no_other():
    quiet = {key: value for key, value in os.environ.items() if key not in quiet_environment()} | quiet_environment()
    script = (
        "import warnings\n"
        "warnings.warn('A worker stopped while some jobs were given to the executor. This can be caused by a too "
        "short worker timeout or by a memory leak.', UserWarning)\n"
        "warnings.warn('another library warning', UserWarning)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env=quiet, capture_output=True, text=True, timeout=60)
    assert "A worker stopped" not in result.stderr and "another library warning" in result.stderr


def test_quieting_ignores_the_retired_worker_warning_in_this_process_too():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_libraries()
        warnings.warn("A worker stopped while some jobs were given to the executor.", UserWarning, stacklevel=1)
        warnings.warn("another library warning", UserWarning, stacklevel=1)
    assert [str(warning.message) for warning in caught] == ["another library warning"]
