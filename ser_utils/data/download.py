"""Download each public corpus from its publisher into the folder layout the corpus registry reads.

The transfers go through ``io.http`` (resumable ``.part`` files, size and checksum checks, safe zip
extraction). A marker file makes re-runs skip finished archive corpora, and per-file corpora skip every
file already present. Every ``DownloadError`` raised here ends with the manual alternative.
"""

import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from ser_utils.io.http import DownloadError, download_file, extract_zip, get_json, safe_target

__all__ = [
    "CORPUS_SOURCES",
    "PARALLEL_FILES",
    "CorpusSource",
    "RegistrationRequired",
    "download_corpus",
    "count_corpus_files",
]

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
            "SAVEE cannot be downloaded automatically: the University of Surrey gives it out after registration. "
            "Register and download the audio at http://kahlan.eps.surrey.ac.uk/savee/ (its Download page), put "
            "the WAV files at {root}/AudioData/<DC|JE|JK|KL>/<a|d|f|h|n|sa|su><NN>.wav (the AudioData archive) "
            "or {root}/ALL/DC_a01.wav (the flat ALL folder), and run this command again to check they are found"
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


class RegistrationRequired(DownloadError):
    """The corpus is only given out after registration; the message says how to get it."""


def download_corpus(name: str, *, dest: Path, n_jobs: int, progress: bool = True) -> Path:
    """Download corpus ``name`` into ``DEST/<name>`` in the registry's layout and return that folder.

    ``n_jobs`` files are fetched at once for per-file corpora (``PARALLEL_FILES`` is polite to the hosts).
    Raises ValueError for an unknown name or ``n_jobs`` < 1, RegistrationRequired for corpora that need
    registration (unless their files are already in place), and DownloadError, ending with the manual
    alternative, when fetching or checking fails.
    """
    if name not in CORPUS_SOURCES:
        raise ValueError(f"unknown corpus '{name}'; choose one of: {', '.join(CORPUS_SOURCES)}")
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be >= 1, got {n_jobs}")
    source = CORPUS_SOURCES[name]
    root = Path(dest) / name
    if source.method == "registration":
        if not count_corpus_files(name, dest=dest):
            raise RegistrationRequired(source.instructions.format(root=root), url=source.url)
        return root
    fetchers = {"zip": _fetch_zip_corpus, "github_lfs": _fetch_github_lfs, "dataverse": _fetch_dataverse}
    try:
        fetchers[source.method](source, root=root, n_jobs=n_jobs, progress=progress)
        _require_layout(source, root=root)
    except DownloadError as error:
        hint = source.manual_hint.format(root=root)
        raise DownloadError(f"{error}. Instead, {hint}", url=error.url) from error
    return root


def count_corpus_files(name: str, *, dest: Path) -> int:
    """How many files of corpus ``name`` are in place under ``DEST/<name>`` (its registry layout)."""
    if name not in CORPUS_SOURCES:
        raise ValueError(f"unknown corpus '{name}'; choose one of: {', '.join(CORPUS_SOURCES)}")
    root = Path(dest) / name
    layout = CORPUS_SOURCES[name].layout
    return sum(1 for path in root.glob(layout) if path.is_file()) if root.is_dir() else 0


def _fetch_zip_corpus(source: CorpusSource, *, root: Path, n_jobs: int, progress: bool) -> None:
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


def _fetch_github_lfs(source: CorpusSource, *, root: Path, n_jobs: int, progress: bool) -> None:
    top = get_json(source.url)
    folder = next((entry for entry in top.get("tree", []) if entry.get("path") == source.folder), None)
    if folder is None or folder.get("type") != "tree":
        raise DownloadError(f"{source.url} lists no folder '{source.folder}'", url=source.url)
    listing = get_json(folder["url"])
    if listing.get("truncated"):
        raise DownloadError(f"{folder['url']} returned a truncated file list", url=folder["url"])
    names = sorted(
        entry["path"]
        for entry in listing.get("tree", [])
        if entry.get("type") == "blob" and entry["path"].lower().endswith(".wav")
    )
    for relative, url in source.extra_files:
        download_file(url, dest=safe_target(root, relative, source=url), progress=False)

    def fetch_wav(file_name: str) -> None:
        url = source.file_url.format(path=f"{source.folder}/{file_name}")
        target = safe_target(root, f"{source.folder}/{file_name}", source=url)
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

    _run_parallel([partial(fetch_wav, name) for name in names], label=source.folder, n_jobs=n_jobs, progress=progress)


def _fetch_dataverse(source: CorpusSource, *, root: Path, n_jobs: int, progress: bool) -> None:
    dataset = get_json(source.url)
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
        target = safe_target(root, f"{folder}/{file_name}", source=url)
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
    _run_parallel(jobs, label="files", n_jobs=n_jobs, progress=progress)


def _tess_folder(file_name: str) -> str:
    """``OAF_back_ps.wav`` -> ``OAF_pleasant_surprise``: the folder when Dataverse gives none."""
    parts = PurePosixPath(file_name).stem.split("_")
    emotion = parts[-1].lower()
    return f"{parts[0].upper()}_{'pleasant_surprise' if emotion == 'ps' else emotion}"


def _run_parallel(jobs: list[Callable[[], object]], *, label: str, n_jobs: int, progress: bool) -> None:
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        futures = [pool.submit(job) for job in jobs]
        try:
            for future in tqdm(
                as_completed(futures), total=len(futures), desc=label, unit="file", disable=not progress
            ):
                future.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _require_layout(source: CorpusSource, *, root: Path) -> None:
    if not any(path.is_file() for path in root.glob(source.layout)):
        raise DownloadError(
            f"nothing matching {source.layout} under {root} after fetching {source.url}", url=source.url
        )
