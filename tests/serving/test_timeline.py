"""Tests for ser_utils.serving.timeline and ``python -m ser_utils timeline``: a minute-long recording of clips joined
by pauses gets each clip's own label at its midpoint and nothing in the pauses; the pieces have known answers."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser_utils.features.extraction import extract_features
from ser_utils.models.baselines import train_baseline
from ser_utils.models.persistence import model_card, save_model
from ser_utils.serving.assemble import assemble_recording
from ser_utils.serving.predictor import feature_input_spec, load_predictor
from ser_utils.serving.timeline import (
    DEFAULT_CONFIG,
    TimelineConfig,
    _energy_track,
    emotion_timeline,
    merge_segments,
    smooth_probabilities,
    speech_regions,
    window_spans,
)

REPO = Path(__file__).resolve().parents[2]
SR = 16_000
CLASSES = ["neutral", "happy", "sad"]


def _tone(freq: float, *, seconds: float, seed: int) -> np.ndarray:
    """A voiced-like tone with vibrato and a soft envelope: class k is a pitch near 150·2^k Hz."""
    t = np.arange(int(SR * seconds)) / SR
    vibrato = 1 + 0.02 * np.sin(2 * np.pi * 5 * t)
    noise = 0.01 * np.random.default_rng(seed).normal(size=t.size)
    envelope = np.minimum(1, np.minimum(t, t[::-1]) / 0.1)
    return (0.3 * np.sin(2 * np.pi * freq * vibrato * t) * envelope + noise).astype(np.float32)


@pytest.fixture(scope="module")
def tone_model(tmp_path_factory):
    """A logistic regression on handcrafted features of 1.5-s tones, saved as a model folder; and tone clips."""
    folder = tmp_path_factory.mktemp("tones")
    rows = []
    for index in range(18):
        label = index % 3
        path = folder / f"train{index:02d}.wav"
        sf.write(path, _tone(150 * 2**label * (1 + 0.02 * (index // 3)), seconds=1.5, seed=index), SR)
        rows.append({"path": str(path), "corpus": "demo", "speaker": f"{index % 6:02d}", "emotion": CLASSES[label]})
    manifest = pd.DataFrame(rows)
    features = extract_features(manifest, feature_set="handcrafted", cache_dir=None, n_jobs=1, progress=False)
    labels = np.arange(18) % 3
    model = train_baseline(
        features.values, labels, features.values, labels,
        kind="logistic_regression", n_classes=3, work_dir=folder / "fit", seed=0, n_jobs=1,
    )  # fmt: skip
    card = model_card(
        name="tones", classes=CLASSES, sample_rate=SR, manifest=manifest, data_label="test tones",
        input_spec=feature_input_spec([features]),
    )  # fmt: skip
    model_dir = save_model(model, model_dir=folder / "model", card=card)
    clips = []
    for index in range(14):
        path = folder / f"query{index:02d}.wav"
        sf.write(path, _tone(150 * 2 ** (index % 3) * (1.01 + 0.01 * (index % 4)), seconds=1.5, seed=100 + index), SR)
        clips.append(path)
    return model_dir, clips


def test_a_minute_of_clips_and_pauses_gets_each_clip_label_and_unlabelled_pauses(tone_model, tmp_path):
    model_dir, clips = tone_model
    truth = assemble_recording(clips, out_path=tmp_path / "long.flac", sr=SR, gap_s=2.5)
    predictor = load_predictor(model_dir)
    config = TimelineConfig(window_s=1.5, hop_s=0.5, block_s=7.0)  # the clips the toy model was trained on
    timeline = emotion_timeline(tmp_path / "long.flac", predictor=predictor, config=config)
    assert timeline.duration == pytest.approx(14 * 1.5 + 15 * 2.5, abs=0.01)  # 58.5 s
    own = predictor.predict_files(clips, n_jobs=1)["emotion"].tolist()
    midpoints = (truth["start"] + truth["end"]) / 2
    agree = np.mean([timeline.labelled_at(m) == label for m, label in zip(midpoints, own, strict=True)])
    pauses = np.r_[truth["start"].iloc[0] / 2, (truth["start"].to_numpy()[1:] + truth["end"].to_numpy()[:-1]) / 2]
    unlabelled = np.mean([timeline.labelled_at(p) == "" for p in pauses])
    assert agree >= 0.8 and unlabelled >= 0.8, (agree, unlabelled)
    segments = timeline.segments
    assert (segments["end"] > segments["start"]).all() and (segments["start"].diff().dropna() > 0).all()
    probabilities = segments[[f"prob_{name}" for name in CLASSES]].to_numpy()
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-6)
    assert np.allclose(segments["confidence"], probabilities.max(axis=1))


def test_energy_track_does_not_depend_on_the_block_size(tmp_path):
    """Blockwise decoding (the hour-long-file path) gives the frame energies of one whole read."""
    waveform = np.concatenate([np.zeros(SR // 2), _tone(220, seconds=1.3, seed=1), np.zeros(SR // 3)])
    sf.write(tmp_path / "x.wav", waveform, SR)
    whole = _energy_track(tmp_path / "x.wav", config=TimelineConfig(block_s=100.0))
    blocks = _energy_track(tmp_path / "x.wav", config=TimelineConfig(block_s=0.37))
    assert len(whole) == (len(waveform) - 512) // 160 + 1
    assert np.allclose(whole, blocks, atol=1e-6)
    assert whole[:10].max() < -100 and whole[len(whole) // 2] > -20  # digital silence, then a 0.3-amplitude tone


def test_speech_regions_bridge_short_gaps_and_drop_short_bursts():
    config = TimelineConfig(min_gap_s=0.5, min_speech_s=0.25)
    mask = np.zeros(300, bool)  # 10 ms frames: 3 s
    mask[10:50] = mask[70:120] = True  # 0.1-0.5 s and 0.7-1.2 s: a 0.2-s gap, bridged
    mask[200:210] = True  # 0.1-s burst: dropped
    assert np.allclose(speech_regions(mask, hop_s=0.01, config=config), [[0.1, 1.2]])
    assert speech_regions(np.zeros(5, bool), hop_s=0.01, config=config).shape == (0, 2)


def test_window_spans_slide_over_long_regions_and_give_short_ones_their_pauses():
    config = TimelineConfig(window_s=3.0, hop_s=1.0, context_s=1.0)
    spans = window_spans(10.0, 15.5, bounds=(5, 20), duration=60, config=config)
    assert np.allclose(spans[:, 0], [10, 11, 12, 12.5]) and np.allclose(spans[:, 1] - spans[:, 0], 3.0)
    assert np.allclose(window_spans(10.0, 12.0, bounds=(5, 20), duration=60, config=config), [[9.0, 13.0]])
    assert np.allclose(window_spans(10.0, 12.0, bounds=(9.5, 20), duration=60, config=config), [[9.5, 13.0]])
    assert np.allclose(window_spans(10.0, 11.0, bounds=(5, 20), duration=60, config=config), [[9.0, 12.0]])
    assert np.allclose(window_spans(10.0, 10.4, bounds=(5, 20), duration=60, config=config), [[8.7, 11.7]])
    assert np.allclose(window_spans(0.2, 1.0, bounds=(0, 20), duration=60, config=config), [[0.0, 3.0]])
    assert np.allclose(window_spans(0.2, 1.0, bounds=(0, 2), duration=2, config=config), [[0.0, 2.0]])


def test_smoothing_averages_neighbours_and_keeps_unusable_windows_nan():
    p = np.array([[1.0, 0.0], [0.0, 1.0], [np.nan, np.nan], [1.0, 0.0]])
    smoothed = smooth_probabilities(p, width=3)
    assert np.allclose(smoothed[0], [0.5, 0.5]) and np.allclose(smoothed[1], [0.5, 0.5])
    assert np.isnan(smoothed[2]).all() and np.allclose(smoothed[3], [1.0, 0.0])
    assert np.allclose(smooth_probabilities(p[:2], width=1), p[:2])


def test_merge_joins_runs_of_one_emotion_within_a_region():
    windows = pd.DataFrame(
        {
            "start": [0.0, 1.0, 2.0, 10.0],
            "end": [3.0, 4.0, 5.0, 13.0],
            "region": [0, 0, 0, 1],
            "prob_a": [0.9, 0.7, 0.2, 0.6],
            "prob_b": [0.1, 0.3, 0.8, 0.4],
            "error": ["", "", "", ""],
        }
    )
    segments = merge_segments(windows, regions=np.array([[0.5, 4.5], [10.5, 12.0]]), classes=["a", "b"])
    assert segments[["start", "end", "emotion"]].values.tolist() == [
        [0.5, 3.0, "a"], [3.0, 4.5, "b"], [10.5, 12.0, "a"],
    ]  # fmt: skip
    assert segments["confidence"].iloc[0] == pytest.approx((0.9 * 1.5 + 0.7 * 1.0) / 2.5)  # owns 0.5-2 s, 2-3 s


def test_cli_timeline_writes_tables_and_chart_and_reports_bad_files(tone_model, tmp_path):
    model_dir, clips = tone_model
    assemble_recording(clips[:4], out_path=tmp_path / "talk.wav", sr=SR, gap_s=2.0)
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "ser_utils", "timeline", "--model", str(model_dir), str(tmp_path / "talk.wav"),
         str(tmp_path / "broken.wav"), "--out", str(out), "--window", "2", "--hop", "0.5"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # the broken file fails; the good one is written
    assert "broken.wav" in result.stderr and "talk.wav" in result.stdout
    table = pd.read_csv(out / "talk_timeline.csv")
    assert list(table.columns) == ["start", "end", "emotion", "confidence", *(f"prob_{c}" for c in CLASSES)]
    assert len(table) >= 4 and table["emotion"].isin(CLASSES).all()
    document = json.loads((out / "talk_timeline.json").read_text())
    assert document["config"]["window_s"] == 2.0 and len(document["segments"]) == len(table)
    assert (out / "talk_timeline.png").stat().st_size > 10_000


def test_cli_timeline_rejects_bad_options(tone_model, tmp_path):
    from ser_utils.cli import main

    model_dir, clips = tone_model
    assert main(["timeline", "--model", str(model_dir), str(clips[0]), "--window", "1", "--hop", "2"]) == 2
    assert main(["timeline", "--model", str(tmp_path), str(clips[0])]) == 2  # no model card


def test_a_speaker_adaptive_model_is_enrolled_on_the_recording_own_speech(tone_model, tmp_path, monkeypatch):
    """The offset comes from every usable window of the recording; a prior that never moves (huge pseudo-counts)
    and a zero mean give the plain model's timeline, as centring by zero must."""
    from ser_utils.models.persistence import update_card
    from ser_utils.serving import timeline as timeline_module

    model_dir, clips = tone_model
    assemble_recording(clips[:5], out_path=tmp_path / "talk.wav", sr=SR, gap_s=2.0)
    config = TimelineConfig(window_s=1.5, hop_s=0.5)
    plain = emotion_timeline(tmp_path / "talk.wav", predictor=load_predictor(model_dir), config=config)
    adaptive_dir = tmp_path / "adaptive"
    adaptive_dir.mkdir()
    for item in model_dir.iterdir():
        (adaptive_dir / item.name).write_bytes(item.read_bytes())
    n_columns = len(load_predictor(model_dir).card["input"]["columns"])
    update_card(adaptive_dir, adaptation={"prior_mean": [0.0] * n_columns, "pseudo_counts": [1e12] * n_columns})
    enrolled = []
    original = timeline_module.speaker_offset
    monkeypatch.setattr(
        timeline_module,
        "speaker_offset",
        lambda inputs, *, prior: enrolled.append(len(inputs)) or original(inputs, prior=prior),
    )
    adapted = emotion_timeline(tmp_path / "talk.wav", predictor=load_predictor(adaptive_dir), config=config)
    assert enrolled == [int(plain.windows["error"].eq("").sum())] and enrolled[0] >= 5
    pd.testing.assert_frame_equal(adapted.segments, plain.segments, atol=1e-6)


def test_timeline_help_states_the_configs_defaults(capsys):
    from ser_utils.cli import main

    with pytest.raises(SystemExit):
        main(["timeline", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for value in (
        DEFAULT_CONFIG.window_s,
        DEFAULT_CONFIG.hop_s,
        DEFAULT_CONFIG.context_s,
        DEFAULT_CONFIG.smoothing_windows,
    ):
        assert f"default {value:g})" in text
