import json
import re

import librosa
import numpy as np
import pytest
import soundfile as sf

from ser_utils.data import corpora, demo_corpus
from ser_utils.data.demo_corpus import clip_names, generate_demo_corpus, synthesize_clip

SR = 16_000
SMALL = dict(n_speakers=2, emotions=("02", "04", "05"))  # calm, sad, angry: 2 × 3 × 8 = 48 clips
RAVDESS_NAME = re.compile(r"^Actor_(\d\d)/03-01-0[1-8]-0[12]-0[12]-0[12]-(\d\d)\.wav$")


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    return generate_demo_corpus(tmp_path_factory.mktemp("demo") / "corpus", **SMALL)


def _wav_files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.wav"))


def _median_f0(waveform):
    f0, _, _ = librosa.pyin(waveform, fmin=60, fmax=600, sr=SR, frame_length=1024)
    return float(np.nanmedian(f0))


def _rms(waveform):
    return float(np.sqrt(np.mean(waveform.astype(float) ** 2)))


def _centroid(waveform):
    power = np.abs(librosa.stft(waveform, n_fft=1024)) ** 2
    freqs = librosa.fft_frequencies(sr=SR, n_fft=1024)
    return float((freqs[:, None] * power).sum() / power.sum())


def test_default_corpus_is_ravdess_sized():
    names = clip_names()
    assert len(names) == 8 * 60 == len(set(names))
    assert all(RAVDESS_NAME.match(name) for name in names)
    codes = [name.split("/")[1].split("-")[2:4] for name in names]
    assert ["01", "02"] not in codes and ["05", "02"] in codes  # neutral alone has no strong take


def test_files_have_ravdess_names_that_the_project_parser_reads(small_corpus):
    files = _wav_files(small_corpus)
    assert files == clip_names(**SMALL)
    assert len(files) == 48
    for name in files:
        match = RAVDESS_NAME.match(name)
        assert match and match.group(1) == match.group(2)
        record = corpora.parse_clip_path(small_corpus / name, demo=True)
        assert record["corpus"] == "demo"
        assert record["emotion"] in ("calm", "sad", "angry")
        assert record["gender"] == ("male" if int(match.group(1)) % 2 else "female")


def test_clips_are_mono_16_bit_finite_audible_and_1_5_to_3_s(small_corpus):
    for name in _wav_files(small_corpus):
        info = sf.info(small_corpus / name)
        assert (info.samplerate, info.channels, info.subtype, info.format) == (SR, 1, "PCM_16", "WAV")
        waveform, _ = sf.read(small_corpus / name)
        assert waveform.ndim == 1 and np.isfinite(waveform).all()
        assert 1.5 <= waveform.size / SR <= 3.0
        assert 0.005 < _rms(waveform) and np.abs(waveform).max() < 1.0
        edge = int(0.15 * SR)  # leading/trailing pause: far quieter than the utterance
        assert _rms(waveform[:edge]) < 0.05 * _rms(waveform) and _rms(waveform[-edge:]) < 0.05 * _rms(waveform)


def test_marker_records_version_and_parameters(small_corpus):
    marker = json.loads((small_corpus / corpora.DEMO_MARKER).read_text())
    assert marker["version"] == demo_corpus.GENERATOR_VERSION
    assert marker["complete"] is True
    assert marker["parameters"] == {"n_speakers": 2, "sr": SR, "seed": 0, "emotions": ["02", "04", "05"]}
    assert marker["files"] == clip_names(**SMALL)


def test_same_seed_gives_identical_bytes_and_another_seed_differs(small_corpus, tmp_path):
    again = generate_demo_corpus(tmp_path / "again", **SMALL)
    other = generate_demo_corpus(tmp_path / "other", **SMALL, seed=1)
    for name in _wav_files(small_corpus):
        assert (again / name).read_bytes() == (small_corpus / name).read_bytes(), name
    assert (again / corpora.DEMO_MARKER).read_bytes() == (small_corpus / corpora.DEMO_MARKER).read_bytes()
    name = _wav_files(small_corpus)[0]
    assert (other / name).read_bytes() != (small_corpus / name).read_bytes()


def test_second_call_rewrites_nothing(small_corpus):
    before = {p: p.stat().st_mtime_ns for p in small_corpus.rglob("*") if p.is_file()}
    assert generate_demo_corpus(small_corpus, **SMALL) == small_corpus
    after = {p: p.stat().st_mtime_ns for p in small_corpus.rglob("*") if p.is_file()}
    assert after == before


def test_a_missing_clip_is_restored_identically_and_alone(tmp_path):
    dest = generate_demo_corpus(tmp_path / "demo", n_speakers=1, emotions=("05",))
    victim = dest / clip_names(n_speakers=1, emotions=("05",))[3]
    original = victim.read_bytes()
    victim.unlink()
    before = {p: p.stat().st_mtime_ns for p in dest.rglob("*.wav")}
    generate_demo_corpus(dest, n_speakers=1, emotions=("05",))
    assert victim.read_bytes() == original
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*.wav") if p != victim} == before


def test_new_parameters_regenerate_and_drop_clips_no_longer_listed(tmp_path):
    dest = generate_demo_corpus(tmp_path / "demo", n_speakers=2, emotions=("04",))
    generate_demo_corpus(dest, n_speakers=1, emotions=("04", "05"))
    assert _wav_files(dest) == clip_names(n_speakers=1, emotions=("04", "05"))
    assert not (dest / "Actor_02").exists()
    assert not list(dest.rglob(".*.tmp.wav"))  # no temporary file of io.atomic left
    marker = json.loads((dest / corpora.DEMO_MARKER).read_text())
    assert marker["parameters"]["n_speakers"] == 1


def test_refuses_a_non_empty_folder_without_marker(tmp_path):
    (tmp_path / "Actor_01").mkdir()
    (tmp_path / "Actor_01" / "real.wav").write_bytes(b"not ours")
    with pytest.raises(ValueError, match="not empty"):
        generate_demo_corpus(tmp_path, n_speakers=1, emotions=("01",))
    assert (tmp_path / "Actor_01" / "real.wav").read_bytes() == b"not ours"


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n_speakers=0),
        dict(n_speakers=100),
        dict(sr=8000),
        dict(seed=-1),
        dict(emotions=("09",)),
        dict(emotions=()),
        dict(emotions=("05", "05")),
        dict(n_speakers=2.5),
    ],
)
def test_bad_parameters_raise_value_error(tmp_path, kwargs):
    with pytest.raises(ValueError):
        generate_demo_corpus(tmp_path / "demo", **kwargs)
    assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(emotion="01", intensity="02"),
        dict(emotion="9"),
        dict(emotion="05", statement="03"),
        dict(emotion="05", actor=0),
    ],
)
def test_bad_clip_codes_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        synthesize_clip(**{"actor": 1, **kwargs})


def test_clip_depends_only_on_its_own_codes():
    first = synthesize_clip(actor=3, emotion="06", intensity="02", statement="02", repetition="02")
    assert first.dtype == np.float32 and first.ndim == 1
    assert np.array_equal(
        first, synthesize_clip(actor=3, emotion="06", intensity="02", statement="02", repetition="02")
    )
    assert not np.array_equal(
        first[:SR],
        synthesize_clip(actor=3, emotion="06", intensity="02", statement="02", repetition="01")[:SR],
    )


@pytest.mark.parametrize("actor", [1, 2])
def test_speakers_sit_in_their_gender_pitch_range(actor):
    f0 = _median_f0(synthesize_clip(actor=actor, emotion="01"))
    assert (85 < f0 < 160) if actor % 2 else (155 < f0 < 280)


@pytest.mark.parametrize("actor", [1, 2, 3, 4])
def test_emotion_moves_prosody_in_the_intended_direction(actor):
    def clip(emotion, intensity="02"):
        return synthesize_clip(actor=actor, emotion=emotion, intensity=intensity, statement="01")

    angry, happy, sad, calm = clip("05"), clip("03"), clip("04"), clip("02")
    assert _median_f0(angry) > _median_f0(sad) * 1.1  # higher pitch
    assert _median_f0(happy) > _median_f0(sad) * 1.1
    assert _rms(angry) > 2.0 * _rms(calm)  # louder
    assert _rms(angry) > 2.0 * _rms(sad)
    assert sad.size > angry.size  # slower
    assert _centroid(angry) > _centroid(sad)  # flatter spectral tilt (tense vs lax voice)


def test_strong_intensity_is_further_from_neutral_than_normal():
    normal = synthesize_clip(actor=5, emotion="05", intensity="01")
    strong = synthesize_clip(actor=5, emotion="05", intensity="02")
    neutral = synthesize_clip(actor=5, emotion="01")
    assert _rms(strong) > _rms(normal) > _rms(neutral)
