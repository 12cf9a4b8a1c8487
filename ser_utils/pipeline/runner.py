"""Run the notebooks in order with papermill under a profile, then render the report (``pipeline.report``)."""

import os
import sys
import time
from pathlib import Path

import papermill
import yaml

from ser_utils.io.console import quiet_libraries
from ser_utils.pipeline.report import render_report
from ser_utils.pipeline.workspace import open_workspace

__all__ = ["PROFILES", "notebook_order", "profile_parameters", "data_dir_parameter", "run_pipeline"]

PROFILES = ("quick", "full")


def notebook_order(root: Path) -> list[Path]:
    """The numbered notebooks under ``<root>/notebooks``, in order."""
    return notebook_order_in(Path(root) / "notebooks")


def notebook_order_in(folder: Path) -> list[Path]:
    """The numbered notebooks directly in ``folder``, in order."""
    return sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))


def profile_parameters(notebook: Path, *, profile: str, root: Path) -> dict:
    """Parameters for ``notebook`` under ``profile`` from ``params/<stem>.yaml`` (empty when absent)."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    path = root / "params" / f"{notebook.stem}.yaml"
    if not path.is_file():
        return {}
    blocks = yaml.safe_load(path.read_text()) or {}
    return dict(blocks.get(profile) or {})


def data_dir_parameter(data_dir: Path, *, root: Path) -> str:
    """``DATA_DIR`` as the executed notebooks show it: relative to the project root (``../shared/data``,
    ``artifacts/demo_corpus``), so no machine's absolute path lands in them; the workspace resolves it
    against the root. Absolute only where no relative path exists (another drive)."""
    try:
        return Path(os.path.relpath(Path(data_dir).resolve(), Path(root).resolve())).as_posix()
    except ValueError:
        return str(data_dir)


def run_pipeline(
    *,
    profile: str = "quick",
    data_dir: Path | str | None = None,
    only: list[str] | None = None,
    n_jobs: int | None = None,
    root: Path | str | None = None,
) -> Path:
    """Execute every notebook (or those whose stem starts with one of ``only``) and render the report.

    ``n_jobs`` (the command line's ``--jobs``) sets ``N_JOBS`` in every notebook whose parameters cell has it;
    None keeps the profile's value.

    Executed copies go to ``outputs/<run>/notebooks/``; the HTML report and its index to
    ``outputs/<run>/report/``. Prints one line per notebook with its duration (on a terminal, papermill's
    cell progress bar too). The kernels start with ``io.console.quiet_environment()``, so TensorFlow's
    start-up log stays out of the executed notebooks. Stops at the first failing notebook with a message
    naming the notebook and cell. Returns the report's index page.
    """
    quiet_libraries()  # papermill's kernels inherit this process's environment
    ws = open_workspace(data_dir, root=root)
    if ws.is_demo:
        print(
            "=" * 72 + "\nNo corpora found (--data, $SER_DATA_DIR or data/): running on SYNTHETIC DEMO DATA.\n"
            "Every chart and table of this run says so. See README for downloading real corpora.\n" + "=" * 72
        )
    notebooks = [nb for nb in notebook_order(ws.root) if not only or nb.stem.startswith(tuple(only))]
    if not notebooks:
        raise ValueError(f"no notebook matches {only}")
    executed_dir = ws.outputs_dir / "notebooks"
    executed_dir.mkdir(parents=True, exist_ok=True)
    for notebook in notebooks:
        parameters = {
            **profile_parameters(notebook, profile=profile, root=ws.root),
            "DATA_DIR": data_dir_parameter(ws.data_dir, root=ws.root),
        }
        if n_jobs is not None and "N_JOBS" in papermill.inspect_notebook(notebook):
            parameters["N_JOBS"] = n_jobs
        target = executed_dir / notebook.name
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                notebook,
                target,
                parameters=parameters,
                cwd=notebook.parent,
                progress_bar=sys.stderr.isatty(),
                kernel_name="python3",
            )
        except papermill.PapermillExecutionError as error:
            first_line = error.source.strip().splitlines()[0] if error.source.strip() else ""
            raise RuntimeError(
                f"{notebook.name} failed at cell {error.exec_count} of the executed copy, `{first_line}` "
                f"({error.ename}: {error.evalue}); the traceback is in {target}"
            ) from None
        print(f"[{profile}] {notebook.name}: {time.perf_counter() - start:.0f} s", flush=True)
    # The report covers every notebook executed for this run so far, so `--only 06` keeps 01-05 in it.
    return render_report(notebook_order_in(executed_dir), ws=ws, profile=profile)
