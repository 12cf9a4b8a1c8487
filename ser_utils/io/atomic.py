"""Write files atomically: a unique temporary file in the target's folder, then ``os.replace`` onto it.

A reader never sees a partial file under the real name: the bytes go to ``.<name>.<random>.tmp<suffix>``
beside the target (``tempfile.mkstemp``, so two writers of the same target never share a temporary file),
and only a complete file is renamed onto the target. When the writer raises, the temporary file is
removed and the target is left as it was. The temporary name keeps the target's suffix, so writers that
pick a format from the file name (``fig.savefig``, ``soundfile.write``) still do.
"""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]

FILE_MODE = 0o644  # mkstemp makes files private; outputs and caches are shared with other users


@contextmanager
def atomic_path(path: Path | str, *, fsync: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path`` for a writer that needs a file name; on a clean exit
    rename it onto ``path``, on an exception remove it and re-raise.

    ``fsync`` flushes the file (and the folder entry) to disk before returning, for files whose loss on a
    power cut would matter; plain outputs skip it. The parent folder is created when missing.

        with atomic_path(outputs_dir / "results.csv") as tmp:
            table.to_csv(tmp, index=False)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not tmp.is_file():
            raise FileNotFoundError(f"the writer removed {tmp}; {path} was left as it was")
        os.chmod(tmp, FILE_MODE)
        if fsync:
            _fsync(tmp)
        os.replace(tmp, path)
        if fsync:
            _fsync_folder(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path | str, payload: bytes, *, fsync: bool = False) -> Path:
    """Write ``payload`` to ``path`` atomically (see ``atomic_path``) and return ``path``."""
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_bytes(payload)
    return Path(path)


def atomic_write_text(path: Path | str, text: str, *, fsync: bool = False, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see ``atomic_path``) and return ``path``."""
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # some platforms cannot open a folder; the rename itself is still atomic
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
