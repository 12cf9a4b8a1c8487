"""The notebooks open in Jupyter: a headless Jupyter server started from .venv offers the kernel the notebooks name,
and a notebook's cells run through that server (REST session + kernel websocket) from the notebooks/ folder, where
the workspace is found as a person opening the notebook would find it."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import nbformat
import pytest

websocket = pytest.importorskip("websocket")  # websocket-client, a jupyter_server dependency
pytest.importorskip("jupyter_server")

ROOT = Path(__file__).resolve().parents[2]
TOKEN = uuid.uuid4().hex
STARTUP_S = 30
CELL_TIMEOUT_S = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A headless ``jupyter server`` on a free local port, rooted at the project, with a random token."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    runtime = tmp_path_factory.mktemp("jupyter_runtime")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={ROOT}", "--ServerApp.port_retries=0",
         "--allow-root"],  # containers and CI often run as root; the server is local and token-protected
        env={**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            try:
                _get(base, "/api/status")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"jupyter server did not start within {STARTUP_S} s (exit code {process.poll()})")
                time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_the_server_offers_the_kernel_every_notebook_names(server):
    available = set(_get(server, "/api/kernelspecs")["kernelspecs"])
    named = {nbformat.read(path, as_version=4).metadata.kernelspec.name for path in _notebooks()}
    assert named <= available, f"notebooks name kernels {named - available} the server lacks; run scripts/setup_env.sh"


def test_a_notebook_runs_through_the_server_from_the_notebooks_folder(server):
    """Cells a person would run first: the imports, then finding the workspace (data or the demo corpus) from the
    notebooks/ folder the kernel starts in; every cell must reply ``ok``."""
    kernel_name = nbformat.read(_notebooks()[0], as_version=4).metadata.kernelspec.name
    session = _post(
        server,
        "/api/sessions",
        {"path": "notebooks/server_check.ipynb", "type": "notebook", "name": "", "kernel": {"name": kernel_name}},
    )
    kernel_id = session["kernel"]["id"]
    cells = [
        "import os, sys\nfrom pathlib import Path",
        "from ser_utils.pipeline.workspace import project_root\nroot = project_root()",
        "assert Path(os.getcwd()).name == 'notebooks', os.getcwd()\nassert root == Path(os.getcwd()).parent",
        "assert Path(sys.prefix).resolve() == (root / '.venv').resolve() or 'VIRTUAL_ENV' not in os.environ",
        "from ser_utils.pipeline.workspace import resolve_data_dir\nprint(resolve_data_dir(None, root=root))",
    ]
    url = server.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels?token={TOKEN}"
    connection = websocket.create_connection(url, timeout=CELL_TIMEOUT_S)
    try:
        for code in cells:
            reply, error = _execute(connection, code)
            assert reply == "ok", f"{code!r} failed: {error}"
    finally:
        connection.close()
        _request(server, f"/api/sessions/{session['id']}", method="DELETE")


def _notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _execute(connection, code: str) -> tuple[str, str]:
    """Send one execute_request on the shell channel; return (reply status, error text) once its reply arrives."""
    msg_id = uuid.uuid4().hex
    connection.send(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": "test",
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                    "date": "",
                },
                "parent_header": {},
                "metadata": {},
                "content": {
                    "code": code,
                    "silent": False,
                    "store_history": True,
                    "user_expressions": {},
                    "allow_stdin": False,
                    "stop_on_error": True,
                },
                "channel": "shell",
                "buffers": [],
            }  # fmt: skip
        )
    )
    error = ""
    deadline = time.monotonic() + CELL_TIMEOUT_S
    while time.monotonic() < deadline:
        message = json.loads(connection.recv())
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if message["msg_type"] == "error":
            error = f"{message['content']['ename']}: {message['content']['evalue']}"
        if message["msg_type"] == "execute_reply":
            return message["content"]["status"], error
    return "timeout", error


def _request(base: str, path: str, *, method: str = "GET", body: dict | None = None) -> dict:
    request = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=CELL_TIMEOUT_S) as response:
        payload = response.read()
    return json.loads(payload) if payload else {}


def _get(base: str, path: str) -> dict:
    return _request(base, path)


def _post(base: str, path: str, body: dict) -> dict:
    return _request(base, path, method="POST", body=body)
