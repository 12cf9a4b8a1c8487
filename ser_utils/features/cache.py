"""An on-disk cache of per-clip feature arrays, keyed by the audio file's content and the feature config.

Layout under the cache root (``Workspace.cache_dir / "features"``)::

    file_hashes.json                      path -> [size, mtime_ns, sha256]: skips re-hashing unchanged files
    <set>-<config key>/config.json        the config and library versions the key was made from
    <set>-<config key>/<ab>/<sha256>.npy  one clip's array, <ab> = first two hex digits of the hash

Every file is written with ``io.atomic`` (a unique temporary name in its final folder, renamed with
``os.replace``), so an interrupted run never leaves a partial entry under a real name, and two runs
writing the same entry at once both leave a valid file. A renamed or copied clip hits the same entry;
an edited clip (new bytes) or a changed config or library version gets a new one.
"""

import hashlib
import io
import json
import os
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from ser_utils.io.atomic import atomic_write_bytes

__all__ = ["HASH_MEMO_NAME", "FeatureCache", "HashMemo", "config_key", "file_sha256"]

HASH_MEMO_NAME = "file_hashes.json"
_CHUNK_BYTES = 1 << 20


def config_key(name: str, config, *, libraries: tuple[str, ...] = ()) -> tuple[str, dict]:
    """A short stable key for feature set ``name`` computed with ``config`` (a dataclass) and ``libraries``.

    Returns (key, description): the key is ``<name>-<12 hex digits>`` of a hash over the config
    fields and the installed versions of ``libraries``; the description is what was hashed.
    """
    description = {
        "feature_set": name,
        "config": asdict(config),
        "libraries": {package: _version(package) for package in libraries},
    }
    digest = hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()
    return f"{name}-{digest[:12]}", description


def file_sha256(path: Path | str) -> str:
    """The SHA-256 hex digest of the bytes of ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


class HashMemo:
    """Content hashes of files, remembered by (absolute path, size, mtime) in one JSON file.

    ``sha256(path)`` re-hashes a file only when its size or modification time changed since it was
    last hashed; ``save()`` writes the memo atomically (a concurrent run's entries may be lost, which
    only costs a re-hash later).
    """

    def __init__(self, memo_path: Path | str | None):
        self.memo_path = Path(memo_path) if memo_path is not None else None
        self._entries = self._read()
        self._dirty = False

    def sha256(self, path: Path | str) -> str:
        """The content hash of ``path``; raises OSError (e.g. FileNotFoundError) if it cannot be read."""
        key = os.path.abspath(path)
        stat = os.stat(key)
        remembered = self._entries.get(key)
        if remembered and remembered[0] == stat.st_size and remembered[1] == stat.st_mtime_ns:
            return remembered[2]
        digest = file_sha256(key)
        self._entries[key] = [stat.st_size, stat.st_mtime_ns, digest]
        self._dirty = True
        return digest

    def save(self) -> None:
        """Write the memo if anything was hashed since it was read."""
        if self.memo_path is None or not self._dirty:
            return
        self.memo_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.memo_path, json.dumps(self._entries).encode())
        self._dirty = False

    def _read(self) -> dict:
        if self.memo_path is None or not self.memo_path.is_file():
            return {}
        try:
            entries = json.loads(self.memo_path.read_text())
        except (OSError, ValueError):
            return {}  # unreadable memo: start again, it is only a shortcut
        return entries if isinstance(entries, dict) else {}


@dataclass(frozen=True)
class FeatureCache:
    """The cache folder of one feature set and config: ``<root>/<key>/``.

    Picklable (two paths), so worker processes store their own results.
    """

    root: Path
    key: str

    @property
    def folder(self) -> Path:
        return self.root / self.key

    def entry_path(self, content_hash: str) -> Path:
        """Where the array of the clip whose bytes hash to ``content_hash`` lives."""
        return self.folder / content_hash[:2] / f"{content_hash}.npy"

    def load(self, content_hash: str) -> np.ndarray | None:
        """The cached array, or None when absent or unreadable (an unreadable entry is recomputed)."""
        try:
            return np.load(self.entry_path(content_hash), allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None

    def store(self, content_hash: str, array: np.ndarray) -> Path:
        """Write ``array`` atomically as the entry for ``content_hash`` and return its path."""
        path = self.entry_path(content_hash)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, _npy_bytes(array))
        return path

    def describe(self, description: dict) -> None:
        """Record what the key stands for in ``<key>/config.json`` (once)."""
        path = self.folder / "config.json"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, json.dumps(description, indent=2, default=str).encode())


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"
