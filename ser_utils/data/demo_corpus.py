"""Generate a small synthetic, RAVDESS-style emotional speech corpus so the pipeline runs without data.

Each clip is a source–filter "utterance" (``demo_synthesis``): a glottal pulse train following an F0 contour,
passed through time-varying formant resonators, with a syllable amplitude envelope, aspiration noise and
consonant-like noise bursts. Emotion moves the prosody in the directions reported in the acoustic-phonetics
literature (pitch level and range, loudness, tempo, jitter/shimmer, voice quality, creak, tremor); each
synthetic speaker has its own base F0, vocal-tract length and habits, so speaker identity is strongly
encoded, as in real recordings. This module names, checks and writes the clips.
"""

import json
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf

from ser_utils.data.corpora import DEMO_MARKER
from ser_utils.data.demo_synthesis import EMOTION_CODES, render_clip
from ser_utils.io.atomic import atomic_path, atomic_write_text

__all__ = ["GENERATOR_VERSION", "generate_demo_corpus", "synthesize_clip", "clip_names"]

GENERATOR_VERSION = "1"  # bump whenever the audio a given seed produces changes
INTENSITY_CODES = ("01", "02")  # normal, strong (neutral has normal only, as in RAVDESS)
STATEMENT_CODES = ("01", "02")
REPETITION_CODES = ("01", "02")
MAX_SPEAKERS = 99  # actor numbers are two digits
MIN_SR, MAX_SR = 16_000, 96_000  # the highest formant (~4.3 kHz) needs a Nyquist well above it
_CLIP_NAME = re.compile(r"^Actor_(\d\d)/03-01-(\d\d)-(\d\d)-(\d\d)-(\d\d)-\1\.wav$")


def clip_names(*, n_speakers: int = 8, emotions: Iterable[str] | None = None) -> list[str]:
    """Relative paths ``Actor_XX/03-01-EE-II-SS-RR-XX.wav`` of every clip the corpus holds, in order.

    Per speaker: every emotion in ``emotions`` (RAVDESS codes, default all eight) × intensity
    (neutral: normal only) × statement × repetition — 60 clips per speaker for all eight emotions.
    """
    emotions = _check_emotions(emotions)
    _check_range("n_speakers", n_speakers, 1, MAX_SPEAKERS)
    names = []
    for actor in range(1, n_speakers + 1):
        for emotion in emotions:
            intensities = INTENSITY_CODES[:1] if emotion == "01" else INTENSITY_CODES
            for intensity in intensities:
                for statement in STATEMENT_CODES:
                    for repetition in REPETITION_CODES:
                        stem = f"03-01-{emotion}-{intensity}-{statement}-{repetition}-{actor:02d}"
                        names.append(f"Actor_{actor:02d}/{stem}.wav")
    return names


def generate_demo_corpus(
    dest: Path | str,
    *,
    n_speakers: int = 8,
    sr: int = 16_000,
    seed: int = 0,
    emotions: Iterable[str] | None = None,
) -> Path:
    """Write the synthetic corpus under ``dest`` and return ``dest`` as a Path.

    Files are 16-bit PCM mono WAV at ``sr`` Hz, 1.5–3 s long, named as in RAVDESS (see ``clip_names``;
    odd actors male, even female); 8 speakers × 60 clips = 480 clips by default. ``emotions`` limits the
    RAVDESS emotion codes generated (e.g. ``("04", "05")`` for quick tests). ``DEST/SYNTHETIC_DEMO.json``
    records the generator version and parameters. A call whose marker matches a finished run returns at
    once; an interrupted run with the same parameters resumes; different parameters regenerate every file
    (and remove clips the new parameters no longer include). Each file is written under a temporary name
    and renamed, so no half-written clip is ever visible. The same parameters give byte-identical files
    on the same platform and library versions.
    Raises ValueError for out-of-range parameters or a non-empty ``dest`` that is not a demo corpus.
    """
    dest = Path(dest)
    names = clip_names(n_speakers=n_speakers, emotions=emotions)
    _check_range("sr", sr, MIN_SR, MAX_SR)
    _check_range("seed", seed, 0, 2**63 - 1)
    parameters = {
        "n_speakers": int(n_speakers),
        "sr": int(sr),
        "seed": int(seed),
        "emotions": _check_emotions(emotions),
    }
    marker_path = dest / DEMO_MARKER
    old = _read_marker(marker_path)
    if old is None and dest.is_dir() and any(dest.iterdir()):
        raise ValueError(
            f"{dest} is not empty and holds no {DEMO_MARKER}; the demo corpus is written only into a new "
            "or empty folder (or over an earlier demo corpus) so it never mixes with real recordings"
        )
    same_run = old is not None and old.get("version") == GENERATOR_VERSION and old.get("parameters") == parameters
    if same_run and old.get("complete") and all((dest / name).is_file() for name in names):
        return dest
    if old is not None:
        _remove_stale(dest, keep=set(names), listed=old.get("files", []))
    marker = {
        "generator": "ser_utils.data.demo_corpus",
        "version": GENERATOR_VERSION,
        "description": "synthetic demo data: source-filter speech-like signals, not human speech",
        "parameters": parameters,
        "complete": False,
        "files": names,
    }
    dest.mkdir(parents=True, exist_ok=True)
    atomic_write_text(marker_path, json.dumps(marker, indent=1) + "\n")
    for name in names:
        path = dest / name
        if same_run and path.is_file():  # resuming an interrupted run: finished files are valid
            continue
        _, _, emotion, intensity, statement, repetition, actor = path.stem.split("-")
        waveform = synthesize_clip(
            actor=int(actor),
            emotion=emotion,
            intensity=intensity,
            statement=statement,
            repetition=repetition,
            sr=sr,
            seed=seed,
        )
        pcm = np.round(waveform * 32767.0).astype(np.int16)
        path.parent.mkdir(exist_ok=True)
        with atomic_path(path) as tmp:
            sf.write(tmp, pcm, sr, subtype="PCM_16", format="WAV")
    marker["complete"] = True
    atomic_write_text(marker_path, json.dumps(marker, indent=1) + "\n")
    return dest


def synthesize_clip(
    *,
    actor: int,
    emotion: str,
    intensity: str = "01",
    statement: str = "01",
    repetition: str = "01",
    sr: int = 16_000,
    seed: int = 0,
) -> np.ndarray:
    """One clip as float32 of shape (samples,) in [-1, 1] at ``sr`` Hz, 1.5–3 s long.

    ``actor`` 1–99 (odd male, even female); ``emotion``, ``intensity``, ``statement``, ``repetition`` are
    RAVDESS two-digit codes. Deterministic in all arguments; independent of which other clips are made.
    """
    _check_range("actor", actor, 1, MAX_SPEAKERS)
    _check_range("sr", sr, MIN_SR, MAX_SR)
    _check_range("seed", seed, 0, 2**63 - 1)
    codes = {
        "emotion": (emotion, EMOTION_CODES),
        "intensity": (intensity, INTENSITY_CODES),
        "statement": (statement, STATEMENT_CODES),
        "repetition": (repetition, REPETITION_CODES),
    }
    for label, (code, allowed) in codes.items():
        if code not in allowed:
            raise ValueError(f"{label}={code!r} is not a RAVDESS code; use one of {', '.join(allowed)}")
    if emotion == "01" and intensity != "01":
        raise ValueError("neutral (emotion '01') has normal intensity only; use intensity='01'")
    return render_clip(
        actor=actor, emotion=emotion, intensity=intensity, statement=statement, repetition=repetition, sr=sr, seed=seed
    )


def _check_emotions(emotions: Iterable[str] | None) -> list[str]:
    """The requested RAVDESS emotion codes, sorted (all eight for None)."""
    chosen = list(EMOTION_CODES) if emotions is None else list(emotions)
    unknown = [code for code in chosen if code not in EMOTION_CODES]
    if unknown or not chosen or len(set(chosen)) != len(chosen):
        raise ValueError(f"emotions={chosen!r} must be distinct RAVDESS codes from {', '.join(EMOTION_CODES)}")
    return sorted(chosen)


def _check_range(name: str, value: int, low: int, high: int) -> None:
    """Raise ValueError unless ``value`` is an integer in [low, high]."""
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name}={value!r} must be an integer from {low} to {high}")


def _read_marker(path: Path) -> dict | None:
    """The marker's contents; None when absent, {} when unreadable (a demo corpus to regenerate)."""
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return marker if isinstance(marker, dict) else {}


def _remove_stale(dest: Path, *, keep: set, listed) -> None:
    """Delete clips an earlier run listed that ``keep`` lacks, leftover temporaries and emptied folders."""
    for name in listed if isinstance(listed, list) else []:
        if isinstance(name, str) and _CLIP_NAME.match(name) and name not in keep:
            (dest / name).unlink(missing_ok=True)
    for tmp in dest.glob("Actor_*/.*.tmp.wav"):  # left by a killed run (io.atomic's temporary names)
        tmp.unlink()
    for folder in dest.glob("Actor_*"):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
