"""`coop run` on an empty data dir: healthy, keeps data across a restart, leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import psutil
import pytest

if TYPE_CHECKING:
    from pathlib import Path

ADMIN = {"email": "admin@coop.test", "password": "a-long-enough-password"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(port: int, path: str, body: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body else None,
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _start(data_dir: Path, port: int, *, admin: bool) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {"COOP_DATA_DIR": str(data_dir), "COOP_PORT": str(port)}
    if admin:
        env |= {"COOP_ADMIN_EMAIL": ADMIN["email"], "COOP_ADMIN_PASSWORD": ADMIN["password"]}
    return subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _wait_healthy(port: int, process: subprocess.Popen[bytes]) -> dict[str, object]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "coop run exited"
        try:
            status, body = _call(port, "/health")
        except OSError:
            time.sleep(0.3)
            continue
        if status == 200:
            return body
        time.sleep(0.3)
    pytest.fail("no healthy answer within two minutes")


def _leftovers(data_dir: Path) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(data_dir) in cmdline:
            found.append(cmdline)
    return found


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals, *, group: bool) -> None:
    if group:  # what Ctrl-C in a terminal does
        os.killpg(process.pid, sig)
    else:
        process.send_signal(sig)
    process.wait(timeout=60)


def test_run_answers_health_keeps_data_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = _free_port()
    first = _start(data_dir, port, admin=True)
    try:
        assert _wait_healthy(port, first) == {"status": "ok", "database": "ok", "queue": "ok"}
        status, _ = _call(port, "/v1/auth/token", ADMIN)
        assert status == 200
    finally:
        _stop(first, signal.SIGTERM, group=False)
    time.sleep(1)
    assert _leftovers(data_dir) == []

    second = _start(data_dir, port, admin=False)  # no bootstrap this time: the user must have persisted
    try:
        _wait_healthy(port, second)
        status, body = _call(port, "/v1/auth/token", ADMIN)
        assert status == 200, body
    finally:
        _stop(second, signal.SIGINT, group=True)
    time.sleep(1)
    assert _leftovers(data_dir) == []
