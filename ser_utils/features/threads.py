"""One BLAS / OpenMP thread for a block of work, without re-scanning the process's native libraries each time.

``threadpoolctl.threadpool_limits`` finds the loaded BLAS / OpenMP libraries on every call (about 2 ms, reading
``/proc``), which per clip is a large share of a 3-s clip's extraction. The controller here is built once per
process, on first use, by which time numpy, scipy, librosa and scikit-learn have loaded theirs.
"""

from functools import lru_cache

from threadpoolctl import ThreadpoolController

__all__ = ["one_thread"]


def one_thread():
    """A context manager limiting every BLAS / OpenMP library the process had loaded at its first call to one
    thread (a matrix product's rounding depends on the thread count, so values stay the same for any n_jobs)."""
    return _controller().limit(limits=1)


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    return ThreadpoolController()
