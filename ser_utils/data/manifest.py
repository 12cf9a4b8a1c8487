"""Scan corpus folders into one manifest table, listing every unusable file with its reason."""

import os
from pathlib import Path

import pandas as pd
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from ser_utils.audio.loading import AUDIO_SUFFIXES, AudioError, probe_audio
from ser_utils.data import corpora
from ser_utils.io.atomic import atomic_path

__all__ = [
    "MANIFEST_COLUMNS",
    "SKIPPED_COLUMNS",
    "build_manifest",
    "write_manifest",
    "read_manifest",
    "usable_rows",
    "sample_clips",
    "summarize",
]

MANIFEST_COLUMNS = (
    "path",
    "corpus",
    "speaker",
    "gender",
    "emotion",
    "raw_label",
    "intensity",
    "statement",
    "repetition",
    "vocal_channel",
    "duration",
    "sample_rate",
    "channels",
    "excluded_reason",
)
SKIPPED_COLUMNS = ("path", "reason")
CREMAD_DEMOGRAPHICS = "VideoDemographics.csv"


def build_manifest(
    folders: list[Path | str], *, n_jobs: int, progress: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Find every audio file under ``folders`` and return (manifest, skipped).

    The manifest has one row per decodable clip with a recognisable label (MANIFEST_COLUMNS),
    sorted by path; ``skipped`` lists (path, reason) for every file that could not be decoded
    or matched no corpus convention. A folder holding ``SYNTHETIC_DEMO.json`` is read as the
    synthetic demo corpus. Each file is decoded completely, so truncated files are caught here.
    """
    candidates = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise ValueError(f"{folder}: not a folder; pass the folder that holds a corpus")
        demo = (folder / corpora.DEMO_MARKER).is_file()
        genders = _cremad_genders(folder)
        candidates += [(path, demo, genders) for path in _audio_files(folder)]
    jobs = (delayed(_inspect)(path, demo, genders) for path, demo, genders in candidates)
    results = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")(jobs)
    rows, skipped = [], []
    for record, reason in tqdm(results, total=len(candidates), disable=not progress, desc="manifest"):
        if record is None:
            skipped.append(reason)
        else:
            rows.append(record)
    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).sort_values("path", ignore_index=True)
    skipped = pd.DataFrame(skipped, columns=list(SKIPPED_COLUMNS)).sort_values("path", ignore_index=True)
    return manifest, skipped


def write_manifest(manifest: pd.DataFrame, skipped: pd.DataFrame, *, out: Path | str) -> Path:
    """Write the manifest to ``out`` and the skipped list beside it as ``<stem>_skipped.csv``.

    Both are written atomically (temporary file, then rename). Returns the skipped file's path.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    skipped_path = out.with_name(f"{out.stem}_skipped.csv")
    for table, path in ((manifest, out), (skipped, skipped_path)):
        with atomic_path(path) as tmp:
            table.to_csv(tmp, index=False)
    return skipped_path


def read_manifest(path: Path | str) -> pd.DataFrame:
    """Read a manifest CSV written by ``write_manifest`` with stable column types."""
    return pd.read_csv(path, dtype=str, keep_default_na=False).astype(
        {"repetition": int, "duration": float, "sample_rate": int, "channels": int}
    )


def usable_rows(manifest: pd.DataFrame, *, corpora_names: list[str] | None = None) -> pd.DataFrame:
    """Rows usable for training: a unified emotion label, no exclusion, optionally some corpora."""
    keep = manifest["excluded_reason"].eq("") & manifest["emotion"].ne("")
    if corpora_names:
        keep &= manifest["corpus"].isin(corpora_names)
    return manifest[keep].reset_index(drop=True)


def sample_clips(manifest: pd.DataFrame, *, max_clips: int | None, seed: int) -> pd.DataFrame:
    """At most ``max_clips`` rows, drawn evenly across corpus x speaker x emotion (None: all rows).

    Used by quick profiles: every speaker and emotion stays represented, so speaker-grouped
    splits and per-class metrics still work on the subset.
    """
    if max_clips is None or len(manifest) <= max_clips:
        return manifest.reset_index(drop=True)
    shuffled = manifest.sample(frac=1.0, random_state=seed)
    rank = shuffled.groupby(["corpus", "speaker", "emotion"]).cumcount()
    picked = shuffled.assign(_rank=rank).sort_values(["_rank", "path"], kind="stable").head(max_clips)
    return picked.drop(columns="_rank").sort_values("path", ignore_index=True)


def summarize(manifest: pd.DataFrame, skipped: pd.DataFrame) -> str:
    """A short human-readable summary: rows, speakers and emotions per corpus, exclusions, skips."""
    lines = [f"{len(manifest)} clips, {len(skipped)} skipped"]
    for corpus, rows in manifest.groupby("corpus"):
        emotions = sorted(set(rows["emotion"]) - {""})
        excluded = int(rows["excluded_reason"].ne("").sum())
        lines.append(
            f"  {corpus}: {len(rows)} clips, {rows['speaker'].nunique()} speakers, "
            f"{len(emotions)} emotions ({', '.join(emotions)})"
            + (f", {excluded} excluded from training" if excluded else "")
        )
    for reason, count in skipped["reason"].str.split(":").str[0].value_counts().items():
        lines.append(f"  skipped {count}: {reason}")
    return "\n".join(lines)


def _audio_files(folder: Path) -> list[Path]:
    files = []
    for directory, _, names in os.walk(folder):
        files += [
            Path(directory) / name
            for name in names
            if name.lower().endswith(AUDIO_SUFFIXES) and not name.startswith(".")
        ]
    return sorted(files)


def _cremad_genders(folder: Path) -> dict:
    for path in folder.rglob(CREMAD_DEMOGRAPHICS):
        table = pd.read_csv(path, dtype=str)
        return {row.ActorID: row.Sex.strip().lower() for row in table.itertuples()}
    return {}


def _inspect(path: Path, demo: bool, genders: dict) -> tuple[dict | None, dict | None]:
    record = corpora.parse_clip_path(path, demo=demo, cremad_genders=genders)
    if record is None:
        return None, {"path": str(path), "reason": "file name matches no known corpus convention"}
    try:
        record.update(probe_audio(path))
    except AudioError as error:
        return None, {"path": str(path), "reason": f"undecodable: {error.problem}"}
    return record, None
