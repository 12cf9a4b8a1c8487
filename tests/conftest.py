"""Shared fixtures: where ../shared lives, small generated audio files, a local HTTP file server."""

import io
import os
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SER_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only shared corpora folder (../shared/data); tests needing it skip without it."""
    path = SHARED / "data"
    if not (path / "ravdess").is_dir():
        pytest.skip(f"shared corpora not found at {path}")
    return path


@pytest.fixture
def write_tone(tmp_path):
    """Write a sine tone file: ``write_tone(name, sr=16000, seconds=1.0, channels=1, freq=440)``."""

    def write(
        name: str,
        *,
        sr: int = 16000,
        seconds: float = 1.0,
        channels: int = 1,
        freq: float = 440.0,
        subtype: str | None = None,
    ) -> Path:
        t = np.arange(int(sr * seconds)) / sr
        wave = 0.5 * np.sin(2 * np.pi * freq * t)
        data = np.stack([wave] * channels, axis=1) if channels > 1 else wave
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, data, sr, subtype=subtype)
        return path

    return write


class FileServer:
    """Serves ``files`` (path -> bytes) on 127.0.0.1, honouring ``Range: bytes=N-`` unless told not to.

    ``cut_after`` maps a path to a byte count after which the connection is dropped mid-body.
    ``requests`` records (path, Range header) for every request.
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut_after: dict[str, int] = {}
        self.honour_range = True
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                range_header = self.headers.get("Range")
                if range_header and server.honour_range:
                    start = int(range_header.removeprefix("bytes=").rstrip("-"))
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                cut = server.cut_after.pop(self.path, None)
                self.wfile.write(body[start:] if cut is None else body[start : start + cut])
                if cut is not None:
                    self.close_connection = True

            def log_message(self, *args):  # keep the test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    file_server = FileServer()
    yield file_server
    file_server.close()


@pytest.fixture
def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/corpus.zip"


@pytest.fixture
def zip_bytes():
    """``zip_bytes({"member/name": b"data", ...})``: the bytes of a zip archive holding those members."""

    def build(members: dict[str, bytes]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        return buffer.getvalue()

    return build
