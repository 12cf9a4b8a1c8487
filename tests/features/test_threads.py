"""Tests for ser_utils.features.threads: one BLAS thread inside, the process's setting restored after."""

import numpy as np
from threadpoolctl import threadpool_info

from ser_utils.features.threads import one_thread


def blas_threads() -> list[int]:
    return [library["num_threads"] for library in threadpool_info() if library["user_api"] == "blas"]


def test_one_thread_limits_blas_inside_and_restores_it_after():
    np.ones((4, 4)) @ np.ones((4, 4))  # numpy's BLAS is loaded
    before = blas_threads()
    assert before, "numpy's BLAS library was not found"
    for _ in range(2):  # the controller is reused across calls
        with one_thread():
            assert blas_threads() == [1] * len(before)
        assert blas_threads() == before
