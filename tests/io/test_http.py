"""Tests for ser_utils.io.http against a local HTTP server with Range support (no internet)."""

import hashlib

import numpy as np
import pytest

from ser_utils.io.errors import NeedsUserAction
from ser_utils.io.http import DownloadError, download_file, extract_zip

PAYLOAD = np.random.default_rng(0).integers(0, 256, size=300_000, dtype=np.uint8).tobytes()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_full_download_checks_size_md5_and_sha256(server, tmp_path):
    server.files["/data.bin"] = PAYLOAD
    dest = tmp_path / "out" / "data.bin"
    result = download_file(
        server.url("/data.bin"),
        dest=dest,
        expected_size=len(PAYLOAD),
        md5=_md5(PAYLOAD),
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
        progress=True,
    )
    assert result == dest
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("data.bin.part").exists()


def test_existing_part_file_is_resumed_with_range(server, tmp_path):
    server.files["/data.bin"] = PAYLOAD
    dest = tmp_path / "data.bin"
    dest.with_name("data.bin.part").write_bytes(PAYLOAD[:123_456])
    download_file(server.url("/data.bin"), dest=dest, expected_size=len(PAYLOAD), md5=_md5(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [("/data.bin", "bytes=123456-")]


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.files["/data.bin"] = PAYLOAD
    server.honour_range = False
    dest = tmp_path / "data.bin"
    dest.with_name("data.bin.part").write_bytes(PAYLOAD[:1000])
    download_file(server.url("/data.bin"), dest=dest, md5=_md5(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_broken_transfer_keeps_part_and_next_run_resumes(server, tmp_path):
    server.files["/data.bin"] = PAYLOAD
    server.cut_after["/data.bin"] = 100_000
    dest = tmp_path / "data.bin"
    part = dest.with_name("data.bin.part")
    with pytest.raises(DownloadError, match="run again to resume"):
        download_file(server.url("/data.bin"), dest=dest, expected_size=len(PAYLOAD), progress=False)
    assert not dest.exists()
    assert part.read_bytes() == PAYLOAD[:100_000]
    download_file(server.url("/data.bin"), dest=dest, expected_size=len(PAYLOAD), md5=_md5(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[-1] == ("/data.bin", "bytes=100000-")


def test_complete_file_is_not_fetched_again(server, tmp_path):
    server.files["/data.bin"] = PAYLOAD
    dest = tmp_path / "data.bin"
    download_file(server.url("/data.bin"), dest=dest, expected_size=len(PAYLOAD), progress=False)
    download_file(server.url("/data.bin"), dest=dest, expected_size=len(PAYLOAD), progress=False)
    assert len(server.requests) == 1


def test_checksum_mismatch_raises_and_deletes_the_part_file(server, tmp_path):
    server.files["/data.bin"] = PAYLOAD
    dest = tmp_path / "data.bin"
    with pytest.raises(DownloadError, match="md5") as caught:
        download_file(server.url("/data.bin"), dest=dest, md5="0" * 32, progress=False)
    assert caught.value.url == server.url("/data.bin")
    assert not dest.exists()
    assert not dest.with_name("data.bin.part").exists()


def test_size_mismatch_raises(server, tmp_path):
    server.files["/data.bin"] = PAYLOAD
    with pytest.raises(DownloadError, match="expected 10"):
        download_file(server.url("/data.bin"), dest=tmp_path / "data.bin", expected_size=10, progress=False)


def test_http_error_names_url_and_status(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404") as caught:
        download_file(server.url("/missing.zip"), dest=tmp_path / "missing.zip", progress=False)
    assert server.url("/missing.zip") in str(caught.value)


def test_unreachable_url_raises_download_error_naming_it(closed_port_url, tmp_path):
    with pytest.raises(DownloadError) as caught:
        download_file(closed_port_url, dest=tmp_path / "corpus.zip", progress=False)
    assert closed_port_url in str(caught.value)


def test_extract_zip_refuses_members_outside_the_folder(tmp_path, zip_bytes):
    for evil in ("../evil.txt", "ok/../../evil.txt", "/abs/evil.txt"):
        archive = tmp_path / "evil.zip"
        archive.write_bytes(zip_bytes({"fine.txt": b"ok", evil: b"owned"}))
        dest = tmp_path / "dest"
        with pytest.raises(DownloadError, match="unsafe path"):
            extract_zip(archive, dest=dest)
        assert not (tmp_path / "evil.txt").exists()
        assert not dest.exists()  # refused before anything is written


def test_extract_zip_reports_a_corrupt_archive(tmp_path):
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"this is not a zip archive")
    with pytest.raises(DownloadError, match="not a readable zip"):
        extract_zip(archive, dest=tmp_path / "dest")


def test_a_download_error_asks_for_the_users_action():
    assert issubclass(DownloadError, NeedsUserAction)  # the command line exits 3 and says what to do
