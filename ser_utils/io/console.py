"""Keep libraries' start-up chatter off the console and out of executed notebooks.

TensorFlow's C++ runtime logs at import: which CPU instructions it was built for, that oneDNN is on, and
on a machine without an NVIDIA driver "Could not find cuda drivers" and an error-level "failed call to
cuInit". None of it is actionable for a run of this project, and in an executed notebook it shows as a red
block at the top of every page. The variables must be set before TensorFlow is imported: the command line
sets them first thing, and the notebook runner sets them before papermill starts the kernels, which
inherit them. A value the user set already is kept.
"""

import os
from pathlib import Path

__all__ = ["quiet_environment", "quiet_libraries"]

NVIDIA_DRIVER = Path("/proc/driver/nvidia")  # present on Linux when an NVIDIA kernel driver is loaded


def quiet_environment() -> dict[str, str]:
    """The environment variables that silence TensorFlow's start-up log.

    ``TF_CPP_MIN_LOG_LEVEL``: 2 hides info and warnings; without an NVIDIA driver, 3, which also hides the
    expected CUDA initialisation error (errors that matter still reach Python as exceptions).
    """
    return {"TF_CPP_MIN_LOG_LEVEL": "2" if NVIDIA_DRIVER.exists() else "3"}


def quiet_libraries() -> None:
    """Set ``quiet_environment()`` in this process (and so in the processes it starts), keeping user values."""
    for name, value in quiet_environment().items():
        os.environ.setdefault(name, value)
