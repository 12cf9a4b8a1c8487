"""The ``manifest`` and ``features`` commands on a Dask cluster (``--backend dask``) write byte-identical files."""

import numpy as np
import pytest
import soundfile as sf
from distributed import Client, LocalCluster
from threadpoolctl import threadpool_limits

from ser_utils.cli import ExitCode, main

SR = 16_000


@pytest.fixture
def corpus(tmp_path):
    """Three RAVDESS-named clips (harmonic tones in noise, one of them short) and one corrupt file."""
    folder = tmp_path / "corpus" / "Actor_01"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for emotion, (freq, seconds) in enumerate(((180.0, 1.5), (260.0, 1.0), (310.0, 0.3)), start=1):
        t = np.arange(int(SR * seconds)) / SR
        tone = sum(0.2 / k * np.sin(2 * np.pi * k * freq * t) for k in (1, 2, 3)) + 0.01 * rng.standard_normal(t.size)
        sf.write(folder / f"03-01-0{emotion}-01-01-01-01.wav", tone, SR)
    (folder / "03-01-05-01-01-01-01.wav").write_bytes(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    return tmp_path / "corpus"


@pytest.fixture(scope="module")
def scheduler():
    """A small in-process Dask cluster with two worker threads (joblib runs a one-thread cluster's tasks inline).

    Extraction limits BLAS to one thread per clip, a process-wide setting; two threads of one process would
    undo each other's limit, so the whole process starts at one (real clusters run ``--nthreads 1`` workers).
    """
    with (
        threadpool_limits(limits=1),
        LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster,
    ):
        yield cluster.scheduler_address


def test_features_and_manifest_on_dask_equal_the_local_backend_byte_for_byte(corpus, tmp_path, scheduler):
    outputs = {}
    for backend in ("local", "dask"):
        options = ["--backend", "dask", "--scheduler", scheduler] if backend == "dask" else ["--jobs", "2"]
        manifest = tmp_path / backend / "manifest.csv"
        assert main(["manifest", str(corpus), "--out", str(manifest), *options]) == ExitCode.OK
        out = tmp_path / backend / "features"
        cache = tmp_path / backend / "cache"  # separate caches: each backend computes every clip itself
        code = main(
            ["features", str(manifest), "--set", "handcrafted", "--out", str(out), "--cache", str(cache)] + options
        )
        assert code == ExitCode.OK
        outputs[backend] = [manifest.read_bytes(), (out / "handcrafted.csv").read_bytes()]
    assert outputs["dask"] == outputs["local"]
    with Client(scheduler) as client:  # the clips really went through the scheduler
        assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter) > 0
    assert outputs["local"][1].count(b"\n") == 1 + 3  # header and the three clips; the corrupt file is skipped


def test_backend_options_must_go_together(corpus, tmp_path, capsys):
    out = str(tmp_path / "manifest.csv")
    assert main(["manifest", str(corpus), "--out", out, "--backend", "dask"]) == ExitCode.BAD_INPUT
    assert "--scheduler" in capsys.readouterr().err
    assert main(["manifest", str(corpus), "--out", out, "--scheduler", "tcp://127.0.0.1:1"]) == ExitCode.BAD_INPUT
