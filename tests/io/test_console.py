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
