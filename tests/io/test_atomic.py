"""Tests for ser_utils.io.atomic: a write is all or nothing, temporary files never collide or linger."""

import threading

import pytest

from ser_utils.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "results.csv"
    target.write_text("old,complete\n")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp:
            tmp.write_text("new,part")
            raise RuntimeError("disk full")
    assert target.read_text() == "old,complete\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]


def test_a_failing_first_write_leaves_no_file_under_the_real_name(tmp_path):
    target = tmp_path / "new" / "table.csv"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert list(target.parent.iterdir()) == []


def test_the_temporary_name_is_beside_the_target_and_keeps_its_suffix(tmp_path):
    target = tmp_path / "01_02_chart.png"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".01_02_chart.png.") and tmp.suffix == ".png"
        tmp.write_bytes(b"png")
    assert target.read_bytes() == b"png" and not tmp.exists()
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_two_writers_of_one_target_get_different_temporaries(tmp_path):
    target = tmp_path / "cache.npy"
    with atomic_path(target) as first, atomic_path(target) as second:
        assert first != second
        first.write_bytes(b"first")
        second.write_bytes(b"second")
    assert target.read_bytes() == b"first"  # the outer writer finished last
    assert [p.name for p in tmp_path.iterdir()] == ["cache.npy"]


def test_concurrent_writers_always_leave_one_complete_file(tmp_path):
    target = tmp_path / "memo.json"
    payloads = [bytes([index]) * 50_000 for index in range(8)]
    threads = [threading.Thread(target=atomic_write_bytes, args=(target, payload)) for payload in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert target.read_bytes() in payloads
    assert [p.name for p in tmp_path.iterdir()] == ["memo.json"]


def test_text_and_fsync(tmp_path):
    path = atomic_write_text(tmp_path / "a" / "note.json", '{"ok": true}\n', fsync=True)
    assert path.read_text() == '{"ok": true}\n'
