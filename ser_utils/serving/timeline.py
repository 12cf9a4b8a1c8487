"""Emotions over time in a recording of any length: blockwise decoding, energy VAD, sliding windows, merged segments.

The recording is never held whole in memory. Pass 1 reads it in blocks of ``block_s`` seconds and keeps only a
frame energy track (one float per ``vad_hop_s``); an energy threshold relative to the recording's own loud frames
marks speech, short gaps are bridged and short bursts dropped. Pass 2 reads, region by region, only the audio of
``window_s``-second windows stepped by ``hop_s`` inside each speech region (a region no longer than a window gets
one window reaching ``context_s`` beyond each of its ends, so it is heard with the pauses a corpus clip has),
labels them with a ``Predictor`` (calibrated probabilities; a speaker-adaptive model is enrolled on all the
recording's speech windows, one voice assumed), smooths the probabilities over neighbouring windows of the region
and merges runs of one emotion into segments. Silence and non-speech get no segment.
"""

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import soundfile as sf

from ser_utils.audio.loading import AudioError
from ser_utils.features.speaker_adaptation import speaker_offset
from ser_utils.io.atomic import atomic_write_text
from ser_utils.serving.predictor import window_function

__all__ = [
    "DEFAULT_CONFIG",
    "TimelineConfig",
    "Timeline",
    "speech_regions",
    "window_spans",
    "smooth_probabilities",
    "merge_segments",
    "emotion_timeline",
    "write_timeline",
]


@dataclass(frozen=True)
class TimelineConfig:
    """Every knob of a timeline (seconds unless named otherwise)."""

    window_s: float = 3.0  # analysis window: the few seconds the models were trained on
    hop_s: float = 1.0  # step between windows
    block_s: float = 30.0  # audio decoded at once (memory stays bounded by this, whatever the file's length)
    vad_frame_s: float = 0.032  # energy frame
    vad_hop_s: float = 0.010  # energy frame step (the speech/silence time resolution)
    vad_range_db: float = 35.0  # speech: within this many dB of the recording's loud frames (95th percentile)
    vad_floor_dbfs: float = -55.0  # and louder than this, whatever the recording
    min_gap_s: float = 0.5  # pauses shorter than this stay inside one speech region
    min_speech_s: float = 0.25  # bursts shorter than this are not speech
    context_s: float = 1.0  # pause kept each side of a short region (RAVDESS clips hold ~1 s before and after speech)
    smoothing_windows: int = 3  # centred moving average over this many windows of a region (1: none)
    batch_windows: int = 32  # windows labelled per model call

    def __post_init__(self):
        for name in ("window_s", "hop_s", "block_s", "vad_frame_s", "vad_hop_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.hop_s > self.window_s:
            raise ValueError(f"hop_s ({self.hop_s}) must not exceed window_s ({self.window_s}): audio would be skipped")
        if self.smoothing_windows < 1 or self.batch_windows < 1:
            raise ValueError("smoothing_windows and batch_windows must be at least 1")


DEFAULT_CONFIG = TimelineConfig()


@dataclass(frozen=True)
class Timeline:
    """A recording's timeline.

    ``segments``: start, end (s), emotion, confidence, prob_<class> per merged segment, in time order.
    ``windows``: start, end, region (index into ``regions``), prob_<class> (smoothed; NaN when unusable) and
    error per analysis window. ``regions``: (n_regions, 2) speech start/end in seconds. ``energy_db``: frame
    energy (n_frames,) in dBFS every ``config.vad_hop_s`` seconds; ``threshold_db`` its speech threshold.
    """

    path: str
    duration: float
    sample_rate: int
    classes: tuple[str, ...]
    segments: pd.DataFrame
    windows: pd.DataFrame
    regions: np.ndarray
    energy_db: np.ndarray
    threshold_db: float
    config: TimelineConfig

    def labelled_at(self, seconds: float) -> str:
        """The emotion of the segment covering ``seconds`` ("" where no segment does: silence)."""
        hit = self.segments[(self.segments["start"] <= seconds) & (self.segments["end"] > seconds)]
        return str(hit["emotion"].iloc[0]) if len(hit) else ""


def emotion_timeline(
    path: Path | str, *, predictor, config: TimelineConfig = DEFAULT_CONFIG, n_jobs: int = 1
) -> Timeline:
    """The ``Timeline`` of the recording at ``path`` (any length, any format ``soundfile`` reads) labelled by
    ``predictor`` (a ``serving.predictor.Predictor`` or ``serving.ensemble.EnsemblePredictor``), reading at most
    ``config.block_s`` seconds at a time.

    Raises AudioError when the file cannot be decoded.
    """
    path = Path(path)
    info = _info(path)
    sr = int(predictor.card["sample_rate"])
    energy_db = _energy_track(path, config=config)
    threshold_db = _speech_threshold(energy_db, config=config)
    regions = speech_regions(energy_db >= threshold_db, hop_s=config.vad_hop_s, config=config)
    regions = np.clip(regions, 0.0, info.duration)
    classes = tuple(predictor.classes)
    probability_columns = [f"prob_{name}" for name in classes]
    prior = predictor.speaker_prior
    make_inputs = window_function(predictor.card["input"]["kind"]) if prior is not None else None
    spans, blocks, reasons = [], [], []
    for batch in _window_batches(regions, duration=info.duration, config=config):
        waveforms = [_read_span(path, start=start, end=end, sr=sr) for start, end, _ in batch]
        if prior is None:
            batch_probabilities, batch_reasons = predictor.predict_waveforms(waveforms, n_jobs=n_jobs)
            blocks.append(batch_probabilities[np.array([not reason for reason in batch_reasons], dtype=bool)])
        else:  # a speaker-adaptive model waits for every window: the recording's own speech is its enrolment
            inputs, batch_reasons = make_inputs(waveforms, spec=predictor.card["input"], n_jobs=n_jobs)
            blocks.append(inputs)
        spans += batch
        reasons += batch_reasons
    usable = np.array([not reason for reason in reasons], dtype=bool)
    probabilities = np.full((len(spans), len(classes)), np.nan)
    kept = [block for block in blocks if len(block)]
    if kept and prior is not None:
        inputs = np.concatenate(kept)
        offset = speaker_offset(inputs.reshape(len(inputs), -1), prior=prior)
        probabilities[usable] = predictor.probabilities(inputs, offset=offset)
    elif kept:
        probabilities[usable] = np.concatenate(kept)
    windows = pd.DataFrame(spans, columns=["start", "end", "region"])
    windows[probability_columns] = probabilities
    windows["error"] = reasons
    for _, index in windows.groupby("region").groups.items():
        windows.loc[index, probability_columns] = smooth_probabilities(
            windows.loc[index, probability_columns].to_numpy(float), width=config.smoothing_windows
        )
    segments = merge_segments(windows, regions=regions, classes=classes)
    return Timeline(
        path=str(path),
        duration=info.duration,
        sample_rate=sr,
        classes=classes,
        segments=segments,
        windows=windows,
        regions=regions,
        energy_db=energy_db,
        threshold_db=threshold_db,
        config=config,
    )


def write_timeline(timeline: Timeline, *, out_dir: Path | str, model_name: str) -> list[Path]:
    """Write ``<name>_timeline.csv`` (the segments) and ``<name>_timeline.json`` (recording, model, config,
    speech regions and segments) into ``out_dir``, atomically; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(timeline.path).stem
    csv_path, json_path = out_dir / f"{stem}_timeline.csv", out_dir / f"{stem}_timeline.json"
    atomic_write_text(csv_path, timeline.segments.to_csv(index=False, float_format="%.4f"))
    document = {
        "path": timeline.path,
        "duration_s": timeline.duration,
        "model": model_name,
        "classes": list(timeline.classes),
        "config": asdict(timeline.config),
        "speech_threshold_dbfs": timeline.threshold_db,
        "speech_regions": timeline.regions.round(3).tolist(),
        "segments": timeline.segments.to_dict(orient="records"),
    }
    atomic_write_text(json_path, json.dumps(document, indent=2))
    return [csv_path, json_path]


def speech_regions(is_speech: np.ndarray, *, hop_s: float, config: TimelineConfig) -> np.ndarray:
    """(n_regions, 2) start/end seconds of speech from a per-frame boolean mask (n_frames,) stepped ``hop_s``:
    gaps under ``config.min_gap_s`` are bridged, then regions under ``config.min_speech_s`` dropped."""
    mask = np.concatenate([[False], np.asarray(is_speech, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(mask.astype(np.int8)))
    runs = edges.reshape(-1, 2) * hop_s  # [start, end) in seconds
    merged: list[list[float]] = []
    for start, end in runs:
        if merged and start - merged[-1][1] < config.min_gap_s:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    kept = [region for region in merged if region[1] - region[0] >= config.min_speech_s]
    return np.array(kept, dtype=float).reshape(-1, 2)


def window_spans(
    region_start: float, region_end: float, *, bounds: tuple[float, float], duration: float, config: TimelineConfig
) -> np.ndarray:
    """(n_windows, 2) start/end seconds of the windows covering one speech region of a ``duration``-second
    recording; ``bounds`` is the time the region may claim (halfway to its neighbours' speech).

    A region longer than ``window_s``: windows every ``hop_s`` from its start, the last ending at its end. A
    shorter one: a single window reaching ``context_s`` beyond each end (within ``bounds``), widened about its
    centre to ``window_s`` when still shorter, inside the recording when it is long enough.
    """
    if region_end - region_start > config.window_s:
        n_steps = int(np.ceil((region_end - region_start - config.window_s) / config.hop_s))
        starts = region_start + config.hop_s * np.arange(n_steps + 1)
        starts[-1] = region_end - config.window_s
        return np.stack([starts, starts + config.window_s], axis=1)
    start, end = max(region_start - config.context_s, bounds[0]), min(region_end + config.context_s, bounds[1])
    if end - start < config.window_s:
        centre = (start + end) / 2
        start = float(np.clip(centre - config.window_s / 2, 0.0, max(duration - config.window_s, 0.0)))
        end = min(start + config.window_s, duration)
    return np.array([[start, end]])


def smooth_probabilities(probabilities: np.ndarray, *, width: int) -> np.ndarray:
    """Centred moving average (n_windows, n_classes) over ``width`` neighbouring windows, ignoring NaN rows
    (unusable windows stay NaN); edges average the windows that exist."""
    probabilities = np.asarray(probabilities, dtype=float)
    if width <= 1 or len(probabilities) < 2:
        return probabilities.copy()
    valid = np.isfinite(probabilities).all(axis=1)
    filled = np.where(valid[:, None], probabilities, 0.0)
    before = width // 2
    pad = ((before, width - 1 - before), (0, 0))
    sums = np.lib.stride_tricks.sliding_window_view(np.pad(filled, pad), width, axis=0).sum(axis=-1)
    counts = np.lib.stride_tricks.sliding_window_view(np.pad(valid.astype(float), pad[0]), width).sum(axis=-1)
    smoothed = sums / np.maximum(counts, 1)[:, None]
    smoothed[~valid] = np.nan
    return smoothed


def merge_segments(windows: pd.DataFrame, *, regions: np.ndarray, classes) -> pd.DataFrame:
    """Segments (start, end, emotion, confidence, prob_<class>) from labelled ``windows`` (``Timeline.windows``).

    Each usable window owns the time nearer its centre than its neighbours' (to the region's edges at its ends);
    runs of one emotion merge; a segment's probabilities are the duration-weighted mean of its windows' and its
    confidence is that of its emotion."""
    columns = [f"prob_{name}" for name in classes]
    pieces = []
    for region_index, rows in windows[windows["error"].eq("")].groupby("region", sort=True):
        region_start, region_end = regions[int(region_index)]
        centres = ((rows["start"] + rows["end"]) / 2).to_numpy()
        bounds = np.concatenate([[region_start], (centres[1:] + centres[:-1]) / 2, [region_end]])
        probabilities = rows[columns].to_numpy(float)
        labels = np.asarray(classes)[probabilities.argmax(axis=1)]
        for start, end, label, row in zip(bounds[:-1], bounds[1:], labels, probabilities, strict=True):
            if end <= start:
                continue
            if pieces and pieces[-1]["region"] == region_index and pieces[-1]["emotion"] == label:
                previous = pieces[-1]
                weight = previous["end"] - previous["start"]
                previous["probabilities"] = (previous["probabilities"] * weight + row * (end - start)) / (
                    weight + end - start
                )
                previous["end"] = end
            else:
                pieces.append(
                    {"region": region_index, "start": start, "end": end, "emotion": label, "probabilities": row}
                )
    rows = [
        {
            "start": round(float(piece["start"]), 3),
            "end": round(float(piece["end"]), 3),
            "emotion": piece["emotion"],
            "confidence": float(piece["probabilities"][list(classes).index(piece["emotion"])]),
            **dict(zip(columns, map(float, piece["probabilities"]), strict=True)),
        }
        for piece in pieces
    ]
    return pd.DataFrame(rows, columns=["start", "end", "emotion", "confidence", *columns])


def _info(path: Path):
    """soundfile's header info, or AudioError naming the problem."""
    if path.is_dir():
        raise AudioError(path, "is a folder, not an audio file")
    if not path.is_file():
        raise AudioError(path, "no such file")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        raise AudioError(path, f"cannot be decoded as audio ({error})") from None
    if info.frames == 0:
        raise AudioError(path, "contains no samples (empty or truncated)")
    return info


def _blocks(path: Path, *, block_s: float) -> Iterator[tuple[np.ndarray, int]]:
    """Yield (mono float32 (samples,), native sr) blocks of about ``block_s`` seconds, in order."""
    with sf.SoundFile(str(path)) as audio:
        block_frames = max(int(block_s * audio.samplerate), 1)
        for block in audio.blocks(blocksize=block_frames, dtype="float32", always_2d=True):
            yield block.mean(axis=1), audio.samplerate


def _energy_track(path: Path, *, config: TimelineConfig) -> np.ndarray:
    """Frame RMS in dBFS (n_frames,) every ``vad_hop_s`` seconds, computed block by block at the native rate."""
    tracks, carry = [], np.zeros(0, np.float32)
    for block, sr in _blocks(path, block_s=config.block_s):
        frame, hop = max(int(config.vad_frame_s * sr), 1), max(int(config.vad_hop_s * sr), 1)
        samples = np.concatenate([carry, block])
        n_frames = max((len(samples) - frame) // hop + 1, 0)
        if n_frames:
            frames = np.lib.stride_tricks.sliding_window_view(samples, frame)[::hop][:n_frames]
            tracks.append(10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12))
        carry = samples[n_frames * hop :]
    return np.concatenate(tracks) if tracks else np.zeros(0)


def _speech_threshold(energy_db: np.ndarray, *, config: TimelineConfig) -> float:
    """The dBFS level above which a frame is speech: ``vad_range_db`` below the loud (95th percentile) frames,
    never below ``vad_floor_dbfs``."""
    if not len(energy_db):
        return float("inf")
    return float(max(np.percentile(energy_db, 95) - config.vad_range_db, config.vad_floor_dbfs))


def _window_batches(regions: np.ndarray, *, duration: float, config: TimelineConfig) -> Iterator[list]:
    """Batches of (start, end, region index) windows, at most ``config.batch_windows`` each, in time order; a
    region's windows stay halfway clear of its neighbours' speech."""
    edges = np.concatenate([[0.0], (regions[1:, 0] + regions[:-1, 1]) / 2, [duration]]) if len(regions) else []
    batch = []
    for index, (start, end) in enumerate(regions):
        bounds = (edges[index], edges[index + 1])
        for span in window_spans(start, end, bounds=bounds, duration=duration, config=config):
            batch.append((float(span[0]), float(span[1]), index))
            if len(batch) == config.batch_windows:
                yield batch
                batch = []
    if batch:
        yield batch


def _read_span(path: Path, *, start: float, end: float, sr: int) -> np.ndarray:
    """Mono float32 (samples,) of [start, end) seconds at ``sr`` Hz, read without decoding the rest."""
    with sf.SoundFile(str(path)) as audio:
        native = audio.samplerate
        audio.seek(int(start * native))
        data = audio.read(max(int((end - start) * native), 1), dtype="float32", always_2d=True)
    waveform = data.mean(axis=1)
    if native != sr:
        waveform = librosa.resample(waveform, orig_sr=native, target_sr=sr, res_type="soxr_hq")
    return waveform.astype(np.float32, copy=False)
