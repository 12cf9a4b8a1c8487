"""Where a run reads its corpora and writes charts, tables and artifacts."""

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from ser_utils.audio.loading import AUDIO_SUFFIXES
from ser_utils.data import manifest as manifest_lib
from ser_utils.data.corpora import CORPORA, DEMO_MARKER

__all__ = ["DATA_ENV_VAR", "Workspace", "project_root", "resolve_data_dir", "open_workspace"]

DATA_ENV_VAR = "SER_DATA_DIR"
# Sub-folder name (lower case) → corpus: the corpus names themselves plus the spelling CREMA-D's publisher uses.
CORPUS_FOLDERS = {name: name for name in CORPORA if name != "demo"} | {"crema-d": "cremad"}
DEMO_LABEL = "synthetic demo data"


@dataclass(frozen=True)
class Workspace:
    """One run's data source and output folders; ``run_name`` keeps demo and real results apart."""

    root: Path
    run_name: str
    data_dir: Path
    corpus_dirs: tuple[Path, ...]
    is_demo: bool
    corpora: tuple[str, ...] | None = None  # a selection of corpora within the run; None: all

    @property
    def charts_dir(self) -> Path:
        return self.root / "charts" / self.run_name

    @property
    def outputs_dir(self) -> Path:
        return self.root / "outputs" / self.run_name

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts" / self.run_name

    @property
    def cache_dir(self) -> Path:
        """Content-keyed caches shared by every run (features, embeddings)."""
        return self.root / "artifacts" / "cache"

    @property
    def data_label(self) -> str:
        """What every chart and table says about its data."""
        if self.is_demo:
            return DEMO_LABEL
        return " + ".join(name.upper() for name in self.corpora or [p.name for p in self.corpus_dirs])

    def manifest(self, *, n_jobs: int, progress: bool = False) -> pd.DataFrame:
        """The run's manifest (only the selected corpora), built once (``n_jobs`` processes decoding) and cached
        as ``artifacts/<run>/manifest.csv``; rebuilt when a corpus folder's files change."""
        path = self.artifacts_dir / "manifest.csv"
        stamp = path.with_suffix(".fingerprint")
        fingerprint = _folder_fingerprint(self.corpus_dirs)
        if not (path.is_file() and stamp.is_file() and stamp.read_text() == fingerprint):
            table, skipped = manifest_lib.build_manifest(list(self.corpus_dirs), n_jobs=n_jobs, progress=progress)
            manifest_lib.write_manifest(table, skipped, out=path)
            stamp.write_text(fingerprint)
        table = manifest_lib.read_manifest(path)
        if self.corpora and not self.is_demo:
            table = table[table["corpus"].isin(self.corpora)].reset_index(drop=True)
        return table

    def skipped(self, *, n_jobs: int) -> pd.DataFrame:
        """Files the manifest could not use, with their reasons (builds the manifest first if needed)."""
        self.manifest(n_jobs=n_jobs)
        return pd.read_csv(self.artifacts_dir / "manifest_skipped.csv", dtype=str, keep_default_na=False)


def project_root(start: Path | str | None = None) -> Path:
    """The folder holding ``pyproject.toml`` and ``ser_utils/``, searched upwards from ``start``."""
    start = Path(start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "ser_utils").is_dir():
            return folder
    raise ValueError(f"no project root (pyproject.toml + ser_utils/) above {start}")


def resolve_data_dir(data_dir: Path | str | None, *, root: Path) -> Path | None:
    """The corpora folder: the argument, else $SER_DATA_DIR, else ``<root>/data`` if it holds audio.

    A relative path is found from the working directory, else from ``root`` (the runner passes executed
    notebooks, whose working directory is ``notebooks/``, their data folder relative to the project root).
    """
    for candidate in (data_dir, os.environ.get(DATA_ENV_VAR)):
        if candidate:
            path = Path(candidate).expanduser()
            if not path.is_absolute() and not path.is_dir() and (root / path).is_dir():
                path = root / path
            path = path.resolve()
            if not path.is_dir():
                raise ValueError(f"data folder {path} does not exist; pass an existing folder or unset {DATA_ENV_VAR}")
            return path
    default = root / "data"
    has_audio = default.is_dir() and any(p.suffix.lower() in AUDIO_SUFFIXES for p in default.rglob("*"))
    return default if has_audio else None


def open_workspace(
    data_dir: Path | str | None = None,
    *,
    corpora: list[str] | tuple[str, ...] | None = None,
    root: Path | str | None = None,
    demo_speakers: int = 8,
) -> Workspace:
    """Locate the corpora (see ``resolve_data_dir``) or, failing that, generate the demo corpus.

    A data folder whose sub-folders are named after corpora (``ravdess/``, ``tess/`` …, the
    ``download`` layout) is read corpus by corpus and other sub-folders are ignored; any other
    folder is read as one corpus tree. The run is named after the corpora, or ``demo``.
    ``corpora`` selects corpora within the run (e.g. ``["ravdess"]``): outputs stay in the run's folders,
    the manifest and every chart's data label cover the selection only. The demo corpus ignores it.
    """
    return replace(
        _locate(data_dir, root=root, demo_speakers=demo_speakers), corpora=tuple(corpora) if corpora else None
    )


def _locate(data_dir, *, root, demo_speakers: int) -> Workspace:
    root = Path(root).resolve() if root else project_root()
    data = resolve_data_dir(data_dir, root=root)
    if data is None:
        from ser_utils.data.demo_corpus import generate_demo_corpus

        demo_dir = generate_demo_corpus(root / "artifacts" / "demo_corpus", n_speakers=demo_speakers)
        return Workspace(root=root, run_name="demo", data_dir=demo_dir, corpus_dirs=(demo_dir,), is_demo=True)
    if (data / DEMO_MARKER).is_file():
        return Workspace(root=root, run_name="demo", data_dir=data, corpus_dirs=(data,), is_demo=True)
    corpus_dirs = tuple(sorted(p for p in data.iterdir() if p.is_dir() and p.name.lower() in CORPUS_FOLDERS))
    if not corpus_dirs:
        return Workspace(root=root, run_name=data.name.lower(), data_dir=data, corpus_dirs=(data,), is_demo=False)
    run_name = "-".join(CORPUS_FOLDERS[p.name.lower()] for p in corpus_dirs)
    return Workspace(root=root, run_name=run_name, data_dir=data, corpus_dirs=corpus_dirs, is_demo=False)


def _folder_fingerprint(folders: tuple[Path, ...]) -> str:
    """A hash of every file's path, size and modification time: changes when the corpus does."""
    digest = hashlib.sha1()
    for folder in folders:
        for directory, _, names in sorted(os.walk(folder)):
            for name in sorted(names):
                stat = os.stat(os.path.join(directory, name))
                digest.update(f"{directory}/{name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()
