"""Keep libraries' start-up chatter off the console and out of executed notebooks.

TensorFlow's C++ runtime logs at import: which CPU instructions it was built for, that oneDNN is on, and
on a machine without an NVIDIA driver "Could not find cuda drivers" and an error-level "failed call to
cuInit". None of it is actionable for a run of this project, and in an executed notebook it shows as a red
block at the top of every page. The variables must be set before TensorFlow is imported: the command line
sets them first thing, and the notebook runner sets them before papermill starts the kernels, which
inherit them. A value the user set already is kept.

One library warning is silenced the same way (``PYTHONWARNINGS``, so every kernel and worker process
inherits it): joblib's process pool retires a worker whose memory grew by 300 MB since its first job (a
TensorFlow or openSMILE worker keeps its caches between jobs) and warns "A worker stopped while some jobs were
given to the executor". The worker stops only after returning its result and a fresh one takes the next job,
so nothing is lost or repeated; the warning is noise in a rendered notebook.
"""

import os
import warnings
from pathlib import Path

__all__ = ["quiet_environment", "quiet_libraries"]

NVIDIA_DRIVER = Path("/proc/driver/nvidia")  # present on Linux when an NVIDIA kernel driver is loaded
WORKER_RETIRED_MESSAGE = "A worker stopped while some jobs were given to the executor"  # joblib's (loky's) words


def quiet_environment() -> dict[str, str]:
    """The environment variables that silence TensorFlow's start-up log and joblib's retired-worker warning.

    ``TF_CPP_MIN_LOG_LEVEL``: 2 hides info and warnings; without an NVIDIA driver, 3, which also hides the
    expected CUDA initialisation error (errors that matter still reach Python as exceptions).
    ``PYTHONWARNINGS``: ignores joblib's warning that it replaced a worker (see the module docstring).
    """
    return {
        "TF_CPP_MIN_LOG_LEVEL": "2" if NVIDIA_DRIVER.exists() else "3",
        "PYTHONWARNINGS": f"ignore:{WORKER_RETIRED_MESSAGE}:UserWarning",
    }


def quiet_libraries() -> None:
    """Set ``quiet_environment()`` in this process (and so in the processes it starts), keeping user values,
    and ignore joblib's retired-worker warning here too."""
    for name, value in quiet_environment().items():
        os.environ.setdefault(name, value)
    warnings.filterwarnings("ignore", message=WORKER_RETIRED_MESSAGE, category=UserWarning)
