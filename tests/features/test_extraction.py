"""Tests for ser_utils.features.extraction and the ``features`` command: failures, cache hits, outputs."""

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser_utils.audio.loading import load_audio
from ser_utils.cli import main
from ser_utils.data.manifest import build_manifest, write_manifest
from ser_utils.features import extraction as feature_extraction
from ser_utils.features.extraction import extract_features, waveform_feature_sets, waveform_features, write_features
from ser_utils.features.handcrafted import handcrafted_columns

SR = 16_000


@pytest.fixture
def clips(tmp_path):
    """Four RAVDESS-named files: two tones, digital silence and random bytes named .wav."""
    folder = tmp_path / "corpus" / "Actor_01"
    folder.mkdir(parents=True)
    t = np.arange(SR) / SR
    paths = {}
    for name, freq in (("03-01-05-01-01-01-01", 220.0), ("03-01-04-01-01-01-01", 330.0)):
        paths[name] = folder / f"{name}.wav"
        sf.write(paths[name], 0.3 * np.sin(2 * np.pi * freq * t), SR)
    paths["silent"] = folder / "03-01-01-01-01-01-01.wav"
    sf.write(paths["silent"], np.zeros(SR), SR)
    paths["corrupt"] = folder / "03-01-03-01-01-01-01.wav"
    paths["corrupt"].write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    return paths


def test_bad_files_are_listed_with_reasons_and_good_files_get_features(clips, tmp_path):
    paths = [str(path) for path in clips.values()] + [str(tmp_path / "missing.wav")]
    features = extract_features(
        paths, feature_set="handcrafted", cache_dir=tmp_path / "cache", n_jobs=2, progress=False
    )
    good = [str(clips["03-01-05-01-01-01-01"]), str(clips["03-01-04-01-01-01-01"])]
    assert list(features.paths) == good
    assert features.values.shape == (2, len(handcrafted_columns())) and features.values.dtype == np.float32
    reasons = dict(zip(features.failures["path"], features.failures["reason"], strict=True))
    assert reasons[str(clips["corrupt"])].startswith("undecodable")
    assert reasons[str(clips["silent"])].startswith("silent")
    assert "No such file" in reasons[str(tmp_path / "missing.wav")]
    assert features.frame().columns[0] == "path" and len(features.frame()) == 2


def test_cache_hit_returns_identical_values_without_recomputing(clips, tmp_path, monkeypatch):
    paths = [str(clips["03-01-05-01-01-01-01"]), str(clips["03-01-04-01-01-01-01"])]
    cold = extract_features(paths, feature_set="handcrafted", cache_dir=tmp_path, n_jobs=1, progress=False)
    assert (cold.n_cached, cold.n_computed) == (0, 2)

    def refuse(waveform, *, config):
        raise AssertionError("a cached clip was extracted again")

    extractor = feature_extraction._EXTRACTORS["handcrafted"]
    monkeypatch.setitem(feature_extraction._EXTRACTORS, "handcrafted", replace(extractor, compute=refuse))
    warm = extract_features(paths, feature_set="handcrafted", cache_dir=tmp_path, n_jobs=1, progress=False)
    assert (warm.n_cached, warm.n_computed) == (2, 0) and warm.failures.empty
    np.testing.assert_array_equal(warm.values, cold.values)
    assert warm.cache_key == cold.cache_key


def test_extractor_errors_are_reported_not_raised(clips, tmp_path, monkeypatch):
    def broken(waveform, *, config):
        raise RuntimeError("praat gave up")

    extractor = feature_extraction._EXTRACTORS["handcrafted"]
    monkeypatch.setitem(feature_extraction._EXTRACTORS, "handcrafted", replace(extractor, compute=broken))
    features = extract_features(
        [str(clips["03-01-05-01-01-01-01"])], feature_set="handcrafted", cache_dir=None, n_jobs=1, progress=False
    )
    assert features.values.shape == (0, len(features.columns))
    assert features.failures["reason"].iloc[0] == "extraction failed: RuntimeError: praat gave up"


def test_aligned_follows_the_manifest_order(clips, tmp_path):
    paths = [str(clips["03-01-05-01-01-01-01"]), str(clips["03-01-04-01-01-01-01"])]
    features = extract_features(paths, feature_set="logmel", cache_dir=tmp_path, n_jobs=1, progress=False)
    manifest = pd.DataFrame({"path": [str(clips["corrupt"]), paths[1], paths[0]], "emotion": ["a", "b", "c"]})
    rows, values = features.aligned(manifest)
    assert rows["emotion"].tolist() == ["b", "c"]
    np.testing.assert_array_equal(values[0], features.values[1])
    with pytest.raises(ValueError, match="sequences"):
        features.frame()


def test_unknown_set_and_wrong_config_raise_value_error(tmp_path):
    with pytest.raises(ValueError, match="unknown feature set"):
        extract_features([], feature_set="wav2vec", cache_dir=None, n_jobs=1)
    with pytest.raises(ValueError, match="LogmelConfig"):
        extract_features(
            [], feature_set="logmel", cache_dir=None, config=feature_extraction.default_config("egemaps"), n_jobs=1
        )


def test_write_features_writes_csv_npz_and_failures(clips, tmp_path):
    paths = [str(clips["03-01-05-01-01-01-01"]), str(clips["corrupt"])]
    for name in ("egemaps", "logmel"):
        features = extract_features(paths, feature_set=name, cache_dir=None, n_jobs=1, progress=False)
        written = write_features(features, out_dir=tmp_path / "out")
        assert [path.name for path in written] == [
            f"{name}.{'npz' if name == 'logmel' else 'csv'}",
            f"{name}_failures.csv",
        ]
    table = pd.read_csv(tmp_path / "out" / "egemaps.csv")
    assert table.shape == (1, 89) and table["path"].iloc[0] == paths[0]
    with np.load(tmp_path / "out" / "logmel.npz") as archive:
        assert archive["values"].shape == (1, 150, 64) and archive["values"].dtype == np.float16
        assert archive["paths"].tolist() == paths[:1]
    assert pd.read_csv(tmp_path / "out" / "logmel_failures.csv")["path"].tolist() == paths[1:]


def test_cli_writes_the_feature_table_and_failures(clips, tmp_path, capsys):
    manifest, skipped = build_manifest([tmp_path / "corpus"], n_jobs=1, progress=False)
    manifest = pd.concat([manifest, manifest.iloc[:1].assign(path=str(clips["corrupt"]))], ignore_index=True)
    write_manifest(manifest, skipped, out=tmp_path / "manifest.csv")
    code = main(
        [
            "features",
            str(tmp_path / "manifest.csv"),
            "--set",
            "handcrafted",
            "--out",
            str(tmp_path / "out"),
            "--cache",
            str(tmp_path / "cache"),
            "--jobs",
            "1",
        ]
    )
    assert code == 1  # the tables are written; the failed clips make the run's exit code 1 (cli.ExitCode.RUN_FAILED)
    table = pd.read_csv(tmp_path / "out" / "handcrafted.csv")
    failures = pd.read_csv(tmp_path / "out" / "handcrafted_failures.csv")
    assert list(table.columns) == ["path", *handcrafted_columns()] and len(table) == 2
    assert set(failures["path"]) == {str(clips["silent"]), str(clips["corrupt"])}
    assert "2 clips" in capsys.readouterr().out


def test_values_do_not_depend_on_the_number_of_workers(shared_data):
    # Real speech exercises the matrix products whose float32 rounding depends on the BLAS thread count.
    paths = sorted((shared_data / "ravdess" / "Actor_01").glob("*.flac"))[:4]
    alone, parallel = (
        extract_features(
            [str(p) for p in paths], feature_set="handcrafted", cache_dir=None, n_jobs=n_jobs, progress=False
        )
        for n_jobs in (1, 2)
    )
    assert len(alone.paths) == 4 and np.array_equal(alone.values, parallel.values)


def test_sets_computed_side_by_side_equal_each_set_alone(shared_data):
    waveform = load_audio(sorted((shared_data / "ravdess" / "Actor_01").glob("*.flac"))[0], sr=SR)
    configs = {name: feature_extraction.default_config(name) for name in ("handcrafted", "egemaps")}
    together = waveform_feature_sets(waveform, configs=configs)
    alone = [waveform_features(waveform, feature_set=name, config=config) for name, config in configs.items()]
    assert [block.shape for block in together] == [(len(handcrafted_columns()),), (88,)]
    assert all(np.array_equal(a, b) for a, b in zip(together, alone, strict=True))


def test_forked_workers_are_kept_for_the_next_call_and_stopped_on_request(clips):
    # A fresh interpreter: workers are forked only where TensorFlow is not loaded, which other tests may have done.
    script = f"""
from ser_utils.features import extraction
paths = {[str(clips[name]) for name in ("03-01-05-01-01-01-01", "03-01-04-01-01-01-01")]!r}
pids = []
for _ in range(2):
    features = extraction.extract_features(paths, feature_set="handcrafted", cache_dir=None, n_jobs=2, progress=False)
    assert len(features.paths) == 2, features.failures
    pids.append(sorted(extraction._FORKED[2]._processes))
assert pids[0] == pids[1] and len(pids[0]) == 2, pids
extraction.stop_workers()
assert not extraction._FORKED
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip().endswith("ok"), done.stderr[-2000:]


def test_a_phone_chain_view_keys_its_own_cache_entries_and_is_served_the_same(clips, tmp_path):
    path = str(clips["03-01-05-01-01-01-01"])
    plain = replace(feature_extraction.default_config("logmel"), noise_floor_db=20.0)
    phoned = replace(plain, phone_codec="gsm")
    wide, narrow = (
        extract_features([path], feature_set="logmel", config=config, cache_dir=tmp_path, n_jobs=1, progress=False)
        for config in (plain, phoned)
    )
    assert wide.cache_key != narrow.cache_key and not np.array_equal(wide.values[0], narrow.values[0])
    in_memory = waveform_features(load_audio(path, sr=SR), feature_set="logmel", config=phoned)
    np.testing.assert_array_equal(in_memory, narrow.values[0])  # served clips go through the chain too


def test_a_noise_floor_fills_the_quiet_bands_and_keys_its_own_cache_entries(clips, tmp_path):
    path = str(clips["03-01-05-01-01-01-01"])  # a 220 Hz tone: every other mel band is empty
    plain = feature_extraction.default_config("logmel")
    floored = replace(plain, noise_floor_db=20.0)
    tone, noisy = (
        extract_features([path], feature_set="logmel", config=config, cache_dir=tmp_path, n_jobs=1, progress=False)
        for config in (plain, floored)
    )
    assert tone.cache_key != noisy.cache_key
    top_band = (0, slice(None), -1)  # the highest mel band, 8 kHz: the tone leaves it at the spectrogram's floor
    assert noisy.values[top_band].astype(float).max() > tone.values[top_band].astype(float).max() + 20
    in_memory = waveform_features(load_audio(path, sr=SR), feature_set="logmel", config=floored)
    np.testing.assert_array_equal(in_memory, noisy.values[0])  # served clips get the floor the model trained with
