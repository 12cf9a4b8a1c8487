"""Tests for ser_utils.features.cache: content keys, hash memo, atomic entries."""

import numpy as np
import pytest

from ser_utils.features import cache as feature_cache
from ser_utils.features.cache import FeatureCache, HashMemo, config_key, file_sha256
from ser_utils.features.handcrafted import HandcraftedConfig


def test_config_key_changes_with_config_and_is_stable():
    key, description = config_key("handcrafted", HandcraftedConfig(), libraries=("librosa",))
    assert key == config_key("handcrafted", HandcraftedConfig(), libraries=("librosa",))[0]
    assert key.startswith("handcrafted-")
    assert key != config_key("handcrafted", HandcraftedConfig(n_mfcc=20), libraries=("librosa",))[0]
    assert description["config"]["n_mfcc"] == 40 and "librosa" in description["libraries"]


def test_entries_are_keyed_by_content_not_name(tmp_path):
    first, second = tmp_path / "a.wav", tmp_path / "b.wav"
    first.write_bytes(b"same bytes")
    second.write_bytes(b"same bytes")
    assert file_sha256(first) == file_sha256(second)
    cache = FeatureCache(root=tmp_path / "cache", key="demo-000")
    cache.store(file_sha256(first), np.arange(3, dtype=np.float32))
    np.testing.assert_array_equal(cache.load(file_sha256(second)), np.arange(3, dtype=np.float32))
    assert cache.load("0" * 64) is None


def test_hash_memo_skips_unchanged_files_and_rehashes_changed_ones(tmp_path, monkeypatch):
    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"version one")
    memo_path = tmp_path / "memo.json"
    memo = HashMemo(memo_path)
    digest = memo.sha256(clip)
    memo.save()

    def refuse(path):
        raise AssertionError("an unchanged file was hashed again")

    monkeypatch.setattr(feature_cache, "file_sha256", refuse)
    assert HashMemo(memo_path).sha256(clip) == digest
    monkeypatch.undo()
    clip.write_bytes(b"version two, longer")
    assert HashMemo(memo_path).sha256(clip) != digest


def test_interrupted_write_leaves_no_entry_and_no_temporary_file(tmp_path, monkeypatch):
    cache = FeatureCache(root=tmp_path, key="demo-000")

    def interrupted(source, destination):
        raise KeyboardInterrupt  # e.g. Ctrl-C between writing and renaming

    monkeypatch.setattr(feature_cache.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.store("ab" * 32, np.ones(5, dtype=np.float32))
    assert not cache.entry_path("ab" * 32).exists()
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []


def test_unreadable_entry_counts_as_missing(tmp_path):
    cache = FeatureCache(root=tmp_path, key="demo-000")
    path = cache.store("cd" * 32, np.ones(4, dtype=np.float32))
    path.write_bytes(path.read_bytes()[:20])  # truncated by something outside our control
    assert cache.load("cd" * 32) is None
