"""Measure a loaded predictor's inference speed: warm latency per clip, model-only latency, throughput, timeline RTF."""

import time
from pathlib import Path

import numpy as np

from ser_utils.audio.loading import load_audio
from ser_utils.serving.timeline import DEFAULT_CONFIG, TimelineConfig, emotion_timeline

__all__ = ["CLIP_S", "median_seconds", "measure_inference"]

CLIP_S = 3.0  # the clip length latency is quoted for


def median_seconds(call, *, repeats: int) -> float:
    """Median wall-clock seconds of ``repeats`` calls of ``call()``."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def measure_inference(
    predictor, *, recording: Path | str, repeats: int, batch: int, config: TimelineConfig = DEFAULT_CONFIG
) -> dict:
    """Speed figures of ``predictor`` (``serving.predictor.Predictor``) on ``CLIP_S``-second clips cut from
    ``recording`` (a speech recording of clips and pauses, e.g. ``serving.assemble.assemble_recording``'s):

    latency_ms (features + model for one clip, warm, median of ``repeats``), model_ms (the model alone on that
    clip's inputs; NaN for an ensemble), features_ms (the difference), batch_clips_per_s (``batch`` clips in one
    call, end to end) and timeline_rtf (seconds of compute per second of audio of ``timeline.emotion_timeline``
    on ``recording``).
    The recording is read whole: pass a short one (a minute or two).
    """
    from ser_utils.serving.predictor import window_function

    sr = int(predictor.card["sample_rate"])
    waveform = load_audio(recording, sr=sr)
    n_clip = int(CLIP_S * sr)
    if len(waveform) < n_clip:
        raise ValueError(f"{recording} lasts under {CLIP_S} s; pass a longer recording")
    starts = np.linspace(0, len(waveform) - n_clip, batch).astype(int)
    clips = [waveform[start : start + n_clip] for start in starts]
    loudest = max(clips, key=lambda clip: float(np.abs(clip).max()))
    predictor.predict_waveforms([loudest])  # warm-up: lazy imports, kernels, tracing
    latency = median_seconds(lambda: predictor.predict_waveforms([loudest]), repeats=repeats)
    model_only = float("nan")  # an ensemble's members each read their own features: no model-alone figure
    if hasattr(predictor, "probabilities"):
        inputs, _ = window_function(predictor.card["input"]["kind"])([loudest], spec=predictor.card["input"], n_jobs=1)
        model_only = median_seconds(lambda: predictor.probabilities(inputs), repeats=repeats)
    started = time.perf_counter()
    predictor.predict_waveforms(clips)
    batch_s = time.perf_counter() - started
    del waveform, clips
    started = time.perf_counter()
    timeline = emotion_timeline(recording, predictor=predictor, config=config)
    return {
        "latency_ms": 1e3 * latency,
        "features_ms": 1e3 * max(latency - model_only, 0.0) if np.isfinite(model_only) else float("nan"),
        "model_ms": 1e3 * model_only,
        "batch_clips_per_s": batch / batch_s,
        "timeline_rtf": (time.perf_counter() - started) / timeline.duration,
    }
