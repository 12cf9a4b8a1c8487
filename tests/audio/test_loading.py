import numpy as np
import pytest
import soundfile as sf

from ser_utils.audio.loading import AudioError, fix_length, load_audio, probe_audio


def test_resamples_and_downmixes_stereo(write_tone):
    path = write_tone("stereo.wav", sr=44100, seconds=0.5, channels=2)
    wave = load_audio(path, sr=16000)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) - 8000) <= 1
    spectrum = np.abs(np.fft.rfft(wave))
    assert abs(np.argmax(spectrum) * 16000 / len(wave) - 440) < 5


def test_fixed_duration_pads_and_crops(write_tone):
    path = write_tone("short.flac", seconds=0.5)
    assert load_audio(path, duration=2.0).shape == (32000,)
    assert load_audio(path, duration=0.25).shape == (4000,)


def test_fix_length_is_centred():
    out = fix_length(np.arange(10, dtype=np.float32), n_samples=4)
    assert out.tolist() == [3, 4, 5, 6]
    padded = fix_length(np.ones(2, dtype=np.float32), n_samples=6)
    assert padded.tolist() == [0, 0, 1, 1, 0, 0]


def _hostile_files(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("this is not audio at all " * 20)
    (tmp_path / "random.flac").write_bytes(np.random.default_rng(0).bytes(4096))
    sf.write(tmp_path / "full.wav", np.zeros(16000), 16000)
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "truncated.wav").write_bytes(data[:44])
    sf.write(tmp_path / "tiny.wav", np.zeros(100), 16000)
    sf.write(tmp_path / "nan.wav", np.full(16000, np.nan, dtype=np.float32), 16000, subtype="FLOAT")
    return {
        "empty.wav": "empty",
        "text.wav": "cannot be decoded",
        "random.flac": "cannot be decoded",
        "truncated.wav": "no samples",
        "tiny.wav": "too short",
        "nan.wav": "NaN",
        "missing.wav": "no such file",
    }


def test_hostile_files_raise_one_clear_error(tmp_path):
    for name, problem in _hostile_files(tmp_path).items():
        with pytest.raises(AudioError) as caught:
            load_audio(tmp_path / name)
        assert name in str(caught.value) and problem in str(caught.value), str(caught.value)
        with pytest.raises(AudioError):
            probe_audio(tmp_path / name)


def test_real_world_originals(shared_data):
    originals = shared_data / "originals"
    stereo_48k = originals / "ravdess/Actor_01/03-01-02-01-01-02-01.wav"
    assert sf.info(stereo_48k).samplerate == 48000
    aiff_named_wav = originals / "tess/YAF_angry/YAF_germ_angry.wav"
    assert aiff_named_wav.read_bytes()[:4] == b"FORM"
    hi_rate = originals / "tess/OAF_fear/OAF_food_fear.wav"
    for path in sorted(originals.rglob("*.wav")):
        info = probe_audio(path)
        wave = load_audio(path, sr=16000)
        assert abs(len(wave) / 16000 - info["duration"]) < 0.01, path
        assert 0 < np.abs(wave).max() <= 1.0, path
    assert probe_audio(hi_rate)["sample_rate"] == 96000


def test_original_matches_reencoded_flac(shared_data):
    wav = load_audio(shared_data / "originals/ravdess/Actor_01/03-01-01-01-01-01-01.wav")
    flac = load_audio(shared_data / "ravdess/Actor_01/03-01-01-01-01-01-01.flac")
    n = min(len(wav), len(flac))
    assert abs(len(wav) - len(flac)) <= 2
    assert np.corrcoef(wav[:n], flac[:n])[0, 1] > 0.99
