"""Write result tables and JSON with the resolved config, data source and library versions."""

import json
import platform
import subprocess
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pandas as pd

__all__ = ["TRACKED_PACKAGES", "run_info", "write_table", "write_json", "git_commit"]

TRACKED_PACKAGES = (
    "numpy",
    "pandas",
    "scikit-learn",
    "librosa",
    "soundfile",
    "tensorflow",
    "keras",
    "opensmile",
    "praat-parselmouth",
)


def git_commit(root: Path | None = None) -> str:
    """The current git commit of the project, or "unknown" outside a checkout."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return result.stdout.strip()


def run_info(config=None, *, data_label: str = "", root: Path | None = None) -> dict:
    """What produced a result: config, data source, time, git commit, Python and library versions."""
    versions = {}
    for package in TRACKED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {
        "config": _plain(config),
        "data": data_label,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(root),
        "python": platform.python_version(),
        "versions": versions,
    }


def write_table(table: pd.DataFrame, name: str, *, outputs_dir: Path, info: dict) -> Path:
    """Write ``<outputs_dir>/<name>.csv`` and its provenance ``<name>.meta.json`` atomically."""
    outputs_dir.mkdir(parents=True, exist_ok=True)
    path = outputs_dir / f"{name}.csv"
    _atomic_write(path, table.to_csv(index=False))
    _atomic_write(path.with_suffix(".meta.json"), json.dumps(info, indent=2, default=str))
    return path


def write_json(payload: dict, name: str, *, outputs_dir: Path, info: dict) -> Path:
    """Write ``<outputs_dir>/<name>.json`` holding ``payload`` plus a ``run`` provenance block."""
    outputs_dir.mkdir(parents=True, exist_ok=True)
    path = outputs_dir / f"{name}.json"
    _atomic_write(path, json.dumps({**payload, "run": info}, indent=2, default=str))
    return path


def _plain(config):
    if config is None:
        return {}
    if is_dataclass(config):
        return {key: str(value) if isinstance(value, Path) else value for key, value in asdict(config).items()}
    return dict(config)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
