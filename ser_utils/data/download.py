"""Download each public corpus from its publisher into the folder layout the corpus registry reads.

Every file is fetched into ``<name>.part`` (resumed with an HTTP Range request when a previous run
stopped part-way), checked against the published size and checksum, and only then renamed to its
final name, so a file without ``.part`` is always complete. A checksum or size mismatch deletes the
``.part`` file (resuming a corrupt file cannot repair it) and raises ``DownloadError``; re-running
starts that file afresh. Archives are extracted with a path-traversal check, a marker file makes
re-runs skip finished corpora, and per-file corpora skip every file already present.
"""

import hashlib
import json
import os
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from http.client import HTTPException
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

__all__ = [
    "CORPUS_SOURCES",
    "CorpusSource",
    "DownloadError",
    "RegistrationRequired",
    "EXIT_OK",
    "EXIT_FAILURE",
    "EXIT_NEEDS_REGISTRATION",
    "download_file",
    "extract_zip",
    "download_corpus",
    "run_download_command",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_NEEDS_REGISTRATION = 2

USER_AGENT = "ser_utils-download/0.1 (python urllib; speech emotion recognition research)"
TIMEOUT_S = 60  # per socket operation, not per file
CHUNK_BYTES = 1 << 20
PARALLEL_FILES = 4  # concurrent requests for per-file corpora (CREMA-D, TESS); polite to the hosts
EXTRACTED_MARKER = ".extracted"  # written into DEST/<corpus>/ once an archive is fully extracted


@dataclass(frozen=True)
class CorpusSource:
    """Where one corpus comes from, what it may be used for, and where its files must land.

    ``method`` is "zip" (one archive at ``url``), "github_lfs" (``url`` is the GitHub git-trees API
    for the repository root, ``folder`` the folder holding the audio, ``file_url`` a template with
    ``{path}``), "dataverse" (``url`` is the dataset's native-API JSON, ``file_url`` a template with
    ``{id}``) or "registration" (no download; ``instructions`` say how to get it).
    ``layout`` is the glob, relative to DEST/<corpus>, that the registry reads.
    ``manual_hint`` says what to do when the automatic route fails (``{root}`` is DEST/<corpus>).
    """

    title: str
    method: str
    url: str
    layout: str
    expected_files: int | None
    licence: str
    citation: str
    manual_hint: str
    size: int | None = None
    md5: str | None = None
    folder: str = ""
    file_url: str = ""
    extra_files: tuple[tuple[str, str], ...] = ()  # (path under DEST/<corpus>, url)
    instructions: str = ""


CORPUS_SOURCES: dict[str, CorpusSource] = {
    "ravdess": CorpusSource(
        title="RAVDESS, audio-only speech (Zenodo record 1188976, Audio_Speech_Actors_01-24.zip)",
        method="zip",
        url="https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip?download=1",
        size=208_468_073,
        md5="bc696df654c87fed845eb13823edef8a",
        layout="Actor_*/*.wav",
        expected_files=1440,
        licence="CC BY-NC-SA 4.0 (non-commercial, share-alike, attribution)",
        citation=(
            "Livingstone SR, Russo FA (2018). The Ryerson Audio-Visual Database of Emotional Speech and "
            "Song (RAVDESS). PLoS ONE 13(5): e0196391. doi:10.1371/journal.pone.0196391; "
            "data doi:10.5281/zenodo.1188976"
        ),
        manual_hint=(
            "download Audio_Speech_Actors_01-24.zip from https://zenodo.org/records/1188976 and unzip it "
            "so the files are at {root}/Actor_01/*.wav"
        ),
    ),
    "cremad": CorpusSource(
        title="CREMA-D (GitHub CheyneyComputerScience/CREMA-D, AudioWAV via Git LFS)",
        method="github_lfs",
        url="https://api.github.com/repos/CheyneyComputerScience/CREMA-D/git/trees/master",
        folder="AudioWAV",
        file_url="https://media.githubusercontent.com/media/CheyneyComputerScience/CREMA-D/master/{path}",
        extra_files=(
            (
                "VideoDemographics.csv",
                "https://raw.githubusercontent.com/CheyneyComputerScience/CREMA-D/master/VideoDemographics.csv",
            ),
        ),
        layout="AudioWAV/*.wav",
        expected_files=7442,
        licence="Open Database License (ODbL 1.0); contents under the Database Contents License (DbCL 1.0)",
        citation=(
            "Cao H, Cooper DG, Keutmann MK, Gur RC, Nenkova A, Verma R (2014). CREMA-D: Crowd-sourced "
            "Emotional Multimodal Actors Dataset. IEEE Trans. Affective Computing 5(4):377-390. "
            "doi:10.1109/TAFFC.2014.2336244"
        ),
        manual_hint=(
            "get the WAV files with `git lfs clone https://github.com/CheyneyComputerScience/CREMA-D.git`, "
            "from https://github.com/CheyneyComputerScience/CREMA-D/releases or from the mirror "
            "https://gitlab.com/cs-cooper-lab/crema-d-mirror, and put them at {root}/AudioWAV/*.wav "
            "with VideoDemographics.csv at {root}/VideoDemographics.csv"
        ),
    ),
    "tess": CorpusSource(
        title="TESS, Toronto emotional speech set (Borealis Dataverse doi:10.5683/SP2/E8H2MF)",
        method="dataverse",
        url="https://borealisdata.ca/api/datasets/:persistentId/?persistentId=doi:10.5683/SP2/E8H2MF",
        file_url="https://borealisdata.ca/api/access/datafile/{id}",
        layout="*/*.wav",
        expected_files=2800,
        licence="CC BY-NC-ND 4.0 (non-commercial, no derivatives, attribution)",
        citation=(
            "Dupuis K, Pichora-Fuller MK (2010). Toronto emotional speech set (TESS). University of "
            "Toronto, Psychology Department. doi:10.5683/SP2/E8H2MF"
        ),
        manual_hint=(
            "download the files from https://doi.org/10.5683/SP2/E8H2MF and put them at "
            "{root}/<speaker>_<emotion>/*.wav, e.g. {root}/OAF_angry/OAF_back_angry.wav"
        ),
    ),
    "savee": CorpusSource(
        title="SAVEE, Surrey Audio-Visual Expressed Emotion (University of Surrey)",
        method="registration",
        url="http://kahlan.eps.surrey.ac.uk/savee/",
        layout="**/*.wav",
        expected_files=480,
        licence="free for research use after registration with the University of Surrey",
        citation=(
            "Haq S, Jackson PJB (2009). Speaker-dependent audio-visual emotion recognition. Proc. "
            "AVSP 2009, 53-58; Haq S, Jackson PJB (2010). Multimodal Emotion Recognition. In Machine "
            "Audition, IGI Global, 398-423"
        ),
        manual_hint="register at http://kahlan.eps.surrey.ac.uk/savee/ and put the files at {root}",
        instructions=(
            "SAVEE cannot be downloaded automatically: the University of Surrey gives it out after "
            "registration.\n"
            "  1. Register and download the audio at http://kahlan.eps.surrey.ac.uk/savee/ "
            "(see its Download page).\n"
            "  2. Put the WAV files at either\n"
            "       {root}/AudioData/<DC|JE|JK|KL>/<a|d|f|h|n|sa|su><NN>.wav  (the AudioData archive), or\n"
            "       {root}/ALL/DC_a01.wav                                   (the flat ALL folder).\n"
            "  3. Run this command again to check that the files are found."
        ),
    ),
    "emodb": CorpusSource(
        title="EmoDB, Berlin Database of Emotional Speech (emodb.bilderbar.info)",
        method="zip",
        url="http://emodb.bilderbar.info/download/download.zip",
        layout="wav/*.wav",
        expected_files=535,
        licence=(
            "no licence is stated on the download site; cite the paper below. audEERING's audb "
            "release of EmoDB declares CC0 1.0"
        ),
        citation=(
            "Burkhardt F, Paeschke A, Rolfes M, Sendlmeier WF, Weiss B (2005). A database of German "
            "emotional speech. Proc. Interspeech 2005, 1517-1520. doi:10.21437/Interspeech.2005-446"
        ),
        manual_hint=(
            "download http://emodb.bilderbar.info/download/download.zip and unzip it so the files are "
            "at {root}/wav/*.wav"
        ),
    ),
}


class DownloadError(RuntimeError):
    """A corpus or file could not be fetched, verified or extracted; ``url`` names the source."""

    def __init__(self, message: str, *, url: str = ""):
        super().__init__(message)
        self.url = url


class RegistrationRequired(DownloadError):
    """The corpus is only given out after registration; the message says how to get it."""


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
            targets = [_safe_target(dest, info.filename, source=str(archive)) for info in members]
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


def download_corpus(name: str, *, dest: Path, progress: bool = True) -> Path:
    """Download corpus ``name`` into ``DEST/<name>`` in the registry's layout and return that folder.

    Raises ValueError for an unknown name, RegistrationRequired for corpora that need registration
    (unless their files are already in place), and DownloadError when fetching or checking fails.
    """
    if name not in CORPUS_SOURCES:
        raise ValueError(f"unknown corpus '{name}'; choose one of: {', '.join(CORPUS_SOURCES)}")
    source = CORPUS_SOURCES[name]
    root = Path(dest) / name
    if source.method == "registration":
        if not _count_files(root, source.layout):
            raise RegistrationRequired(source.instructions.format(root=root), url=source.url)
        return root
    fetchers = {"zip": _fetch_zip_corpus, "github_lfs": _fetch_github_lfs, "dataverse": _fetch_dataverse}
    fetchers[source.method](source, root=root, progress=progress)
    _require_layout(source, root=root)
    return root


def run_download_command(name: str, dest: Path, *, progress: bool = True) -> int:
    """Run ``python -m ser_utils download <name> --dest DEST``: print the licence and citation,
    download, and return the exit code (EXIT_OK, EXIT_FAILURE, or EXIT_NEEDS_REGISTRATION).

    Failures print one line to stderr that names the URL and the manual alternative; no traceback.
    """
    source = CORPUS_SOURCES.get(name)
    if source is None:
        print(f"error: unknown corpus '{name}'; choose one of: {', '.join(CORPUS_SOURCES)}", file=sys.stderr)
        return EXIT_FAILURE
    root = Path(dest) / name
    print(source.title)
    print(f"  licence: {source.licence}")
    print(f"  cite:    {source.citation}")
    try:
        download_corpus(name, dest=Path(dest), progress=progress)
    except RegistrationRequired as error:
        print(error, file=sys.stderr)
        return EXIT_NEEDS_REGISTRATION
    except DownloadError as error:
        hint = source.manual_hint.format(root=root)
        print(f"error: {error}. Instead, {hint}.", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"interrupted; partial files under {root} are kept, run again to resume", file=sys.stderr)
        return EXIT_FAILURE
    found = _count_files(root, source.layout)
    expected = f" (the publisher lists {source.expected_files})" if source.expected_files else ""
    print(f"{found} files at {root}/{source.layout}{expected}")
    return EXIT_OK


def _fetch_zip_corpus(source: CorpusSource, *, root: Path, progress: bool) -> None:
    if (root / EXTRACTED_MARKER).is_file():
        return
    archive_name = PurePosixPath(urllib.parse.urlparse(source.url).path).name
    archive = download_file(
        source.url, dest=root / archive_name, expected_size=source.size, md5=source.md5, progress=progress
    )
    try:
        extract_zip(archive, dest=root)
    except DownloadError as error:
        archive.unlink()  # a verified archive cannot get here; an unverified one is fetched afresh
        raise DownloadError(f"{error}; deleted the archive from {source.url}", url=source.url) from error
    _require_layout(source, root=root)
    (root / EXTRACTED_MARKER).write_text(f"{source.url}\n")
    archive.unlink()


def _fetch_github_lfs(source: CorpusSource, *, root: Path, progress: bool) -> None:
    top = _get_json(source.url)
    folder = next((entry for entry in top.get("tree", []) if entry.get("path") == source.folder), None)
    if folder is None or folder.get("type") != "tree":
        raise DownloadError(f"{source.url} lists no folder '{source.folder}'", url=source.url)
    listing = _get_json(folder["url"])
    if listing.get("truncated"):
        raise DownloadError(f"{folder['url']} returned a truncated file list", url=folder["url"])
    names = sorted(
        entry["path"]
        for entry in listing.get("tree", [])
        if entry.get("type") == "blob" and entry["path"].lower().endswith(".wav")
    )
    for relative, url in source.extra_files:
        download_file(url, dest=_safe_target(root, relative, source=url), progress=False)

    def fetch_wav(file_name: str) -> None:
        url = source.file_url.format(path=f"{source.folder}/{file_name}")
        target = _safe_target(root, f"{source.folder}/{file_name}", source=url)
        download_file(url, dest=target, progress=False)  # returns at once when already complete
        with open(target, "rb") as handle:
            header = handle.read(12)
        if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            target.unlink()
            raise DownloadError(
                f"{url} did not return WAV audio (an unresolved Git LFS pointer or an error page; "
                "the repository's LFS bandwidth may be used up)",
                url=url,
            )

    _run_parallel([partial(fetch_wav, name) for name in names], label=source.folder, progress=progress)


def _fetch_dataverse(source: CorpusSource, *, root: Path, progress: bool) -> None:
    dataset = _get_json(source.url)
    try:
        entries = dataset["data"]["latestVersion"]["files"]
    except (KeyError, TypeError) as error:
        raise DownloadError(f"{source.url} returned no file list ({error!r} missing)", url=source.url) from error
    jobs = []
    for entry in entries:
        data_file = entry.get("dataFile", {})
        file_name = data_file.get("filename", "")
        if not file_name.lower().endswith(".wav"):
            continue
        folder = PurePosixPath(entry.get("directoryLabel") or _tess_folder(file_name)).name
        checksum = data_file.get("checksum", {})
        md5 = data_file.get("md5") or (checksum.get("value") if checksum.get("type") == "MD5" else None)
        url = source.file_url.format(id=data_file["id"])
        target = _safe_target(root, f"{folder}/{file_name}", source=url)
        jobs.append(
            partial(
                download_file,
                url,
                dest=target,
                expected_size=data_file.get("filesize"),
                md5=md5,
                progress=False,
            )
        )
    if not jobs:
        raise DownloadError(f"{source.url} lists no .wav files", url=source.url)
    _run_parallel(jobs, label="files", progress=progress)


def _tess_folder(file_name: str) -> str:
    """``OAF_back_ps.wav`` -> ``OAF_pleasant_surprise``: the folder when Dataverse gives none."""
    parts = PurePosixPath(file_name).stem.split("_")
    emotion = parts[-1].lower()
    return f"{parts[0].upper()}_{'pleasant_surprise' if emotion == 'ps' else emotion}"


def _run_parallel(jobs: list[Callable[[], object]], *, label: str, progress: bool) -> None:
    with ThreadPoolExecutor(max_workers=PARALLEL_FILES) as pool:
        futures = [pool.submit(job) for job in jobs]
        try:
            for future in tqdm(
                as_completed(futures), total=len(futures), desc=label, unit="file", disable=not progress
            ):
                future.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


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


def _get_json(url: str) -> dict:
    with _open(url, {"Accept": "application/json"}) as response:
        body = response.read()
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        raise DownloadError(f"{url} did not return JSON ({error})", url=url) from error


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


def _safe_target(root: Path, member: str, *, source: str) -> Path:
    """``root / member``, refusing names that are absolute or climb out of ``root``."""
    parts = PurePosixPath(member.replace("\\", "/")).parts
    if not parts or member.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts:
        raise DownloadError(f"refusing unsafe path '{member}' from {source}", url=source)
    return Path(root).joinpath(*parts)


def _require_layout(source: CorpusSource, *, root: Path) -> None:
    if not _count_files(root, source.layout):
        raise DownloadError(
            f"nothing matching {source.layout} under {root} after fetching {source.url}", url=source.url
        )


def _count_files(root: Path, layout: str) -> int:
    return sum(1 for path in root.glob(layout) if path.is_file()) if root.is_dir() else 0
