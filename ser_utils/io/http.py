"""Fetch files over HTTP(S): resumable, verified downloads, JSON look-ups and safe zip extraction.

Every file is fetched into ``<name>.part`` (resumed with an HTTP Range request when a previous run
stopped part-way), checked against the expected size and checksum, and only then renamed to its final
name, so a file without ``.part`` is always complete. A checksum or size mismatch deletes the ``.part``
file (resuming a corrupt file cannot repair it) and raises ``DownloadError``; re-running starts that file
afresh. Zip archives are extracted with a path-traversal check. Nothing here knows about corpora.
"""

import hashlib
import json
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from http.client import HTTPException
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from ser_utils.io.errors import NeedsUserAction

__all__ = ["USER_AGENT", "DownloadError", "download_file", "extract_zip", "get_json", "safe_target"]

USER_AGENT = "ser_utils-download/0.1 (python urllib; speech emotion recognition research)"
TIMEOUT_S = 60  # per socket operation, not per file
CHUNK_BYTES = 1 << 20


class DownloadError(NeedsUserAction):
    """A file could not be fetched, verified or extracted; ``url`` names the source, the message what to do."""

    def __init__(self, message: str, *, url: str = ""):
        super().__init__(message)
        self.url = url


def download_file(
    url: str,
    *,
    dest: Path,
    expected_size: int | None = None,
    md5: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
) -> Path:
    """Fetch ``url`` to ``dest`` through ``dest.part``, resuming a partial ``.part`` file.

    Returns ``dest``. An existing ``dest`` is returned untouched (it was renamed from ``.part`` only
    after verification) unless its size differs from ``expected_size``. A transfer cut short keeps
    ``.part`` for the next run; a size or checksum mismatch deletes it. Raises DownloadError.
    """
    dest = Path(dest)
    if dest.is_file() and (expected_size is None or dest.stat().st_size == expected_size):
        return dest
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    if expected_size is not None and offset > expected_size:
        part.unlink()
        offset = 0
    if expected_size is None or offset < expected_size:
        _fetch_into(url, part=part, offset=offset, progress=progress, label=dest.name)
    _verify(part, url=url, expected_size=expected_size, md5=md5, sha256=sha256)
    os.replace(part, dest)
    return dest


def extract_zip(archive: Path, *, dest: Path) -> list[Path]:
    """Extract every member of ``archive`` under ``dest`` and return the files written.

    Refuses the whole archive, writing nothing, when any member would land outside ``dest``
    (absolute paths, ``..`` components). macOS ``__MACOSX/`` resource forks are skipped.
    """
    dest = Path(dest)
    try:
        with zipfile.ZipFile(archive) as zip_file:
            members = [info for info in zip_file.infolist() if not info.filename.startswith("__MACOSX/")]
            targets = [safe_target(dest, info.filename, source=str(archive)) for info in members]
            written = []
            for info, target in zip(members, targets, strict=True):
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zip_file.open(info) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink, CHUNK_BYTES)
                written.append(target)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as error:
        raise DownloadError(f"{archive} is not a readable zip archive ({error})") from error
    return written


def safe_target(root: Path, member: str, *, source: str) -> Path:
    """``root / member``, refusing names that are absolute or climb out of ``root``."""
    parts = PurePosixPath(member.replace("\\", "/")).parts
    if not parts or member.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts:
        raise DownloadError(f"refusing unsafe path '{member}' from {source}", url=source)
    return Path(root).joinpath(*parts)


def get_json(url: str) -> dict:
    """The JSON body of ``url`` (an API listing); raises DownloadError when unreachable or not JSON."""
    with _open(url, {"Accept": "application/json"}) as response:
        body = response.read()
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        raise DownloadError(f"{url} did not return JSON ({error})", url=url) from error


def _fetch_into(url: str, *, part: Path, offset: int, progress: bool, label: str) -> None:
    """Append the bytes of ``url`` from ``offset`` to ``part`` (restarting if Range is ignored)."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        response = _open(url, headers)
    except DownloadError as error:
        if offset and getattr(error.__cause__, "code", None) == 416:
            return  # nothing left past ``offset``: the partial file is already whole
        raise
    part.parent.mkdir(parents=True, exist_ok=True)  # only now, so a failed first try leaves no folder
    with response:
        resumed = response.status == 206
        if offset and not resumed:
            offset = 0  # the server sent the whole file
        length = response.headers.get("Content-Length")
        remaining = int(length) if length is not None else None
        received = 0
        with (
            open(part, "ab" if resumed else "wb") as sink,
            tqdm(
                total=None if remaining is None else offset + remaining,
                initial=offset,
                desc=label,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                disable=not progress,
            ) as bar,
        ):
            try:
                while chunk := response.read(CHUNK_BYTES):
                    sink.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            except (OSError, HTTPException) as error:
                raise DownloadError(
                    f"transfer from {url} broke off after {offset + received} bytes ({error}); "
                    f"the partial file {part} is kept, run again to resume",
                    url=url,
                ) from error
    if remaining is not None and received != remaining:
        raise DownloadError(
            f"transfer from {url} ended after {received} of {remaining} bytes; "
            f"the partial file {part} is kept, run again to resume",
            url=url,
        )


def _verify(part: Path, *, url: str, expected_size: int | None, md5: str | None, sha256: str | None) -> None:
    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        part.unlink()
        raise DownloadError(
            f"{url} gave {size} bytes, expected {expected_size}; the bad file was deleted, run again",
            url=url,
        )
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected is None:
            continue
        with open(part, "rb") as handle:
            actual = hashlib.file_digest(handle, algorithm).hexdigest()
        if actual != expected.lower():
            part.unlink()
            raise DownloadError(
                f"{algorithm} of the file from {url} is {actual}, expected {expected}; "
                "the bad file was deleted, run again",
                url=url,
            )


def _open(url: str, headers: dict[str, str]):
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{url} answered HTTP {error.code} {error.reason}", url=url) from error
    except urllib.error.URLError as error:
        raise DownloadError(f"cannot reach {url} ({error.reason})", url=url) from error
    except (OSError, HTTPException) as error:
        raise DownloadError(f"cannot reach {url} ({error})", url=url) from error
