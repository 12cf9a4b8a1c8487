"""Build a long test recording from short clips joined by quiet gaps, with its ground truth, written block by block.

Timelines are checked on such recordings: every clip's span is known, so the label ``timeline`` puts at a clip's
midpoint can be compared with the clip's own label and every gap should stay unlabelled.
"""

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from ser_utils.audio.loading import load_audio
from ser_utils.models.persistence import CARD_FILE

__all__ = ["held_out_clips", "assemble_recording", "compare_with_truth"]

GAP_NOISE_DBFS = -80.0  # the gaps hold faint noise, as a real pause does, rather than digital silence


def held_out_clips(
    model_dir: Path | str, *, manifest: pd.DataFrame, n_clips: int, seed: int
) -> tuple[Path, pd.DataFrame]:
    """(fold model folder, clips) for an honest timeline of the saved model at ``model_dir``: its first
    cross-validation fold model (``<model_dir>/folds/<fold>/``) and ``n_clips`` manifest rows of that fold's test
    speakers, which the fold model never heard, taking the emotions in turn (so every emotion appears) in a
    seeded random order. Raises ValueError when the model has no fold models or the manifest none of their clips.
    """
    cards = sorted(Path(model_dir).glob(f"folds/*/{CARD_FILE}"))
    if not cards:
        raise ValueError(f"{model_dir} has no fold models (folds/*/{CARD_FILE}); run notebooks 03-05 to save them")
    card = json.loads(cards[0].read_text())
    speakers = card.get("protocol", {}).get("test_speakers", [])
    pool = manifest[manifest["speaker"].isin(speakers)]
    if pool.empty:
        raise ValueError(f"the manifest holds no clip of {cards[0].parent.name}'s test speakers {speakers}")
    shuffled = pool.sample(frac=1.0, random_state=seed)
    turn = shuffled.groupby("emotion").cumcount()  # 0 for each emotion's first clip, 1 for its second, ...
    order = shuffled.assign(turn=turn).sort_values(["turn", "emotion"], kind="stable")
    chosen = order.head(n_clips).drop(columns="turn").sample(frac=1.0, random_state=seed)
    return cards[0].parent, chosen.reset_index(drop=True)


def assemble_recording(
    paths: Iterable[Path | str],
    *,
    out_path: Path | str,
    sr: int,
    gap_s: float,
    repeats: int = 1,
    seed: int = 0,
) -> pd.DataFrame:
    """Write ``gap, clip 1, gap, clip 2, ..., gap`` (the clip list played ``repeats`` times) to ``out_path``
    (mono ``sr`` Hz, format from the suffix), one clip in memory at a time.

    Returns one row per placed clip: path, start, end (seconds in the recording). Gaps are ``gap_s`` seconds of
    noise at ``GAP_NOISE_DBFS``.
    """
    paths = list(paths)
    if not paths:
        raise ValueError("pass at least one clip to assemble a recording from")
    if gap_s < 0 or repeats < 1:
        raise ValueError(f"gap_s must be >= 0 and repeats >= 1, got {gap_s} and {repeats}")
    rng = np.random.default_rng(seed)
    gap_samples = int(round(gap_s * sr))
    noise_rms = 10 ** (GAP_NOISE_DBFS / 20)
    rows, position = [], 0
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(str(out_path), mode="w", samplerate=sr, channels=1) as out:
        for _ in range(repeats):
            for path in paths:
                out.write(rng.normal(0, noise_rms, gap_samples).astype(np.float32))
                position += gap_samples
                clip = load_audio(path, sr=sr)
                out.write(clip)
                rows.append({"path": str(path), "start": position / sr, "end": (position + len(clip)) / sr})
                position += len(clip)
        out.write(rng.normal(0, noise_rms, gap_samples).astype(np.float32))
    return pd.DataFrame(rows, columns=["path", "start", "end"])


def compare_with_truth(timeline, *, placed: pd.DataFrame, clip_labels: list[str]) -> pd.DataFrame:
    """One row per placed clip of an assembled recording: path, start, end, truth (``placed["emotion"]`` when
    present), clip_label (the model on the clip alone) and timeline_label (the segment at the clip's midpoint;
    "" if none), agrees (timeline_label == clip_label); plus one row per pause (kind "pause", agrees: no label).
    """
    clips = placed.assign(
        kind="clip",
        truth=placed["emotion"] if "emotion" in placed else "",
        clip_label=clip_labels,
        timeline_label=[timeline.labelled_at((row.start + row.end) / 2) for row in placed.itertuples()],
    )
    clips["agrees"] = clips["timeline_label"] == clips["clip_label"]
    ends = np.r_[0.0, placed["end"].to_numpy()]
    starts = np.r_[placed["start"].to_numpy(), timeline.duration]
    middles = (ends + starts) / 2
    pauses = pd.DataFrame(
        {"kind": "pause", "start": ends, "end": starts, "timeline_label": [timeline.labelled_at(m) for m in middles]}
    )
    pauses["agrees"] = pauses["timeline_label"] == ""
    columns = ["kind", "path", "start", "end", "truth", "clip_label", "timeline_label", "agrees"]
    table = pd.concat([clips, pauses], ignore_index=True).reindex(columns=columns)
    return table.sort_values("start", kind="stable").fillna({"path": "", "truth": "", "clip_label": ""})
