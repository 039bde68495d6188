"""The Prefect server a farm command talks to: the one `PREFECT_API_URL` names, or a temporary local one that ends
with the command, however the command ends.

Left to itself, Prefect starts its temporary server as a child process and stops it at exit; a command killed with
SIGKILL never reaches that, and the server is left running. The temporary server started here asks the kernel to
send it SIGTERM when its parent dies (Linux's parent-death signal), so nothing is left behind. Dask's worker
processes find the server through the environment.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

from base.errors import DvpError

START_TIMEOUT_S = 120.0
PR_SET_PDEATHSIG = 1


@contextlib.contextmanager
def prefect_server() -> Iterator[str]:
    """The API URL of the server to use: the configured one, or a temporary local server's for the block."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    configured = PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    process = _start(port)
    try:
        _wait_until_healthy(process, url)
        os.environ["PREFECT_API_URL"] = url
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _start(port: int) -> subprocess.Popen:
    import prefect
    from prefect.settings import get_current_settings

    env = {**os.environ, **get_current_settings().to_environment_variables(exclude_unset=True),
           "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent), "--factory",
         "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "error",
         "--lifespan", "on"], env=env, preexec_fn=_die_with_parent, stdin=subprocess.DEVNULL)


def _die_with_parent() -> None:
    """In the child, before it runs: SIGTERM when the parent dies (Linux; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_healthy(process: subprocess.Popen, url: str) -> None:
    import httpx

    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DvpError(f"the temporary Prefect server stopped as it started (exit status "
                               f"{process.returncode}); run `prefect server start` and set PREFECT_API_URL")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{url}/health").status_code == 200:
                    return
            time.sleep(0.2)
    raise DvpError(f"the temporary Prefect server did not answer within {START_TIMEOUT_S:.0f} s; run "
                   "`prefect server start` and set PREFECT_API_URL")
