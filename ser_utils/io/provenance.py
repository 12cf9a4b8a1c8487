"""Record what produced a result: the resolved config, the data, git commit and library versions.

Every table goes through ``write_table`` (``<name>.csv`` plus ``<name>.meta.json`` beside it) or
``write_json`` (a ``run`` block inside). The provenance never holds an absolute path of the machine:
paths in the config are recorded relative to the project root when inside it, else by their last
folder name, and the data is identified by corpus names and a content fingerprint.
"""

import hashlib
import json
import os
import platform
import subprocess
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path, PurePath

import pandas as pd

from ser_utils.io.atomic import atomic_path, atomic_write_text

__all__ = [
    "TRACKED_PACKAGES",
    "PROJECT_ROOT",
    "git_commit",
    "data_fingerprint",
    "run_info",
    "portable",
    "meta_path",
    "write_meta",
    "write_table",
    "write_json",
]

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
PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding ser_utils/
FINGERPRINT_COLUMNS = ("corpus", "speaker", "emotion", "path")


def git_commit(root: Path | None = None) -> str:
    """The current git commit of the project at ``root`` (default: this checkout), or "unknown"."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root or PROJECT_ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return result.stdout.strip()


def data_fingerprint(manifest: pd.DataFrame) -> str:
    """SHA-1 (40 hex digits) of the clips used: sorted (corpus, speaker, emotion, file name) rows.

    Portable: the same clips give the same fingerprint on any machine and in any folder or row order.
    """
    missing = [column for column in FINGERPRINT_COLUMNS if column not in manifest.columns]
    if missing:
        raise ValueError(f"the manifest lacks columns {missing}; pass rows of ws.manifest()")
    names = manifest["path"].map(lambda path: PurePath(str(path)).name)
    rows = sorted(zip(manifest["corpus"], manifest["speaker"], manifest["emotion"], names, strict=True))
    return hashlib.sha1("\n".join("/".join(map(str, row)) for row in rows).encode()).hexdigest()


def run_info(
    config=None, *, data_label: str = "", manifest: pd.DataFrame | None = None, root: Path | None = None
) -> dict:
    """What produced a result: config (``portable``), data label, time, git commit, Python and library versions.

    With ``manifest`` (the clips the result was computed from) it adds ``corpora`` (sorted names),
    ``n_clips`` and ``data_fingerprint``. ``root`` is the project root (default: this checkout).
    """
    root = Path(root) if root else PROJECT_ROOT
    versions = {}
    for package in TRACKED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    info = {"config": portable(_plain(config), root=root), "data": data_label}
    if manifest is not None:
        info["corpora"] = sorted(set(manifest["corpus"]))
        info["n_clips"] = len(manifest)
        info["data_fingerprint"] = data_fingerprint(manifest)
    return {
        **info,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(root),
        "python": platform.python_version(),
        "versions": versions,
    }


def portable(value, *, root: Path | None = None):
    """``value`` with every absolute path (a ``Path``, or a str starting with ``/``) made machine-independent:
    relative to ``root`` (default: this checkout) when inside it, else its last folder name
    (``/home/me/corpora/data`` -> ``"data"``). Dicts, lists and tuples are walked; other values are kept."""
    root = Path(root).resolve() if root else PROJECT_ROOT
    if isinstance(value, dict):
        return {key: portable(item, root=root) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [portable(item, root=root) for item in value]
    if isinstance(value, PurePath) or (isinstance(value, str) and os.path.isabs(value)):
        path = Path(value)
        if not path.is_absolute():
            return str(path)
        resolved = Path(os.path.normpath(path))
        if resolved.is_relative_to(root):
            return str(resolved.relative_to(root)) or "."
        return resolved.name or str(resolved)
    return value


def meta_path(path: Path | str) -> Path:
    """The provenance file beside a table: ``results.csv`` -> ``results.meta.json``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.meta.json")


def write_meta(path: Path | str, info: dict) -> Path:
    """Write ``info`` (``run_info``) atomically as the ``.meta.json`` beside ``path``; returns its path."""
    return atomic_write_text(meta_path(path), json.dumps(info, indent=2, default=str))


def write_table(table: pd.DataFrame, name: str, *, outputs_dir: Path, info: dict) -> Path:
    """Write ``<outputs_dir>/<name>.csv`` and its provenance ``<name>.meta.json`` atomically."""
    path = Path(outputs_dir) / f"{name}.csv"
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    write_meta(path, info)
    return path


def write_json(payload: dict, name: str, *, outputs_dir: Path, info: dict) -> Path:
    """Write ``<outputs_dir>/<name>.json`` holding ``payload`` plus a ``run`` provenance block."""
    path = Path(outputs_dir) / f"{name}.json"
    atomic_write_text(path, json.dumps({**payload, "run": info}, indent=2, default=str))
    return path


def _plain(config):
    if config is None:
        return {}
    if is_dataclass(config):
        return asdict(config)
    return dict(config)
