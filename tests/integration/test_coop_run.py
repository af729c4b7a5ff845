"""`coop run`, `coop serve` and `coop worker` on a data dir: healthy, sharing one set of servers,
keeping data across a restart, surviving a dead worker, and leaving nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import psutil
import pytest

from tests.support.http import free_port

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = pytest.mark.slow

ADMIN = {"email": "admin@coop.test", "password": "a-long-enough-password"}


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


def _start(data_dir: Path, port: int, *, admin: bool, command: str = "run") -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {"COOP_DATA_DIR": str(data_dir), "COOP_PORT": str(port)}
    if admin:
        env |= {"COOP_ADMIN_EMAIL": ADMIN["email"], "COOP_ADMIN_PASSWORD": ADMIN["password"]}
    return subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "deploy.cli", command],
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
    """Processes naming the data dir, or working in it (Valkey retitles itself to `valkey-server host:port`)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(data_dir) in cmdline or str(data_dir) in (proc.info["cwd"] or ""):
            found.append(cmdline)
    return found


def _valkeys(data_dir: Path) -> list[psutil.Process]:
    return [
        p
        for p in psutil.process_iter(["name", "cwd"])
        if "valkey" in (p.info["name"] or "") and str(data_dir) in (p.info["cwd"] or "")
    ]


def _worker_of(run: subprocess.Popen[bytes]) -> psutil.Process | None:
    children = psutil.Process(run.pid).children()
    return next((c for c in children if "worker" in c.cmdline()), None)


def _wait(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    pytest.fail(f"not within {seconds} s: {what}")


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals, *, group: bool) -> None:
    if group:  # what Ctrl-C in a terminal does
        os.killpg(process.pid, sig)
    else:
        process.send_signal(sig)
    process.wait(timeout=60)


def test_run_answers_health_keeps_data_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
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
        # A dead worker is started again; the API serves on meanwhile.
        worker = _worker_of(second)
        assert worker is not None
        worker.kill()
        worker.wait(10)
        _wait(lambda: (w := _worker_of(second)) is not None and w.pid != worker.pid, 30, "a new worker")
        assert second.poll() is None
        assert _call(port, "/health")[0] == 200
    finally:
        _stop(second, signal.SIGINT, group=True)
    time.sleep(1)
    assert _leftovers(data_dir) == []


def _run_allocation(port: int) -> str:
    status, body = _call(port, "/v1/auth/token", ADMIN)
    assert status == 200, body
    token = str(body["access_token"])
    # A run is refused for a pool without patronage: one non-member purchase is enough to run.
    purchase = {
        "records": [
            {
                "external_ref": "coop-run-1",
                "member_number": None,
                "pool": "purchases",
                "amount_cents": 5_000,
                "occurred_at": "2025-06-01T12:00:00",
            }
        ]
    }
    imported = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/patronage/imports",
        data=json.dumps(purchase).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(imported, timeout=5) as answer:  # noqa: S310
        assert answer.status in {200, 201}
    run = {
        "fiscal_year": 2025,
        "pools": [{"pool": "purchases", "net_margin_cents": 1_000}],
        "payment_date": "2026-03-15",
        "policy": {"cash_rate": "0.20"},
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/allocation-runs",
        data=json.dumps(run).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
        assert answer.status == 202
        run_id = json.loads(answer.read())["id"]

    def status_of() -> str:
        show = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/allocation-runs/{run_id}", headers={"authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(show, timeout=5) as answer:  # noqa: S310
            return str(json.loads(answer.read())["status"])

    _wait(lambda: status_of() != "computing", 30, "the allocation job to run")
    return status_of()


def test_serve_and_worker_on_one_data_dir_share_the_servers_and_each_stops_only_its_share(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    serve = _start(data_dir, port, admin=True, command="serve")
    worker = None
    try:
        _wait_healthy(port, serve)
        worker = _start(data_dir, free_port(), admin=False, command="worker")
        _wait(lambda: _uses_the_queue(data_dir, worker), 60, "the worker to join the servers")
        assert len(_valkeys(data_dir)) == 1
        assert _run_allocation(port) in {"computed", "failed"}
        assert len(_valkeys(data_dir)) == 1

        _stop(serve, signal.SIGINT, group=True)  # the worker still uses the servers: they stay
        assert len(_valkeys(data_dir)) == 1
        assert worker.poll() is None
    finally:
        if serve.poll() is None:
            _stop(serve, signal.SIGINT, group=True)
        if worker is not None:
            _stop(worker, signal.SIGINT, group=True)  # the last one out stops them
    time.sleep(1)
    assert _leftovers(data_dir) == []


def _uses_the_queue(data_dir: Path, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, "the command exited"
    handles = data_dir / "valkey" / "handles.json"
    return handles.exists() and process.pid in [pid for pid, _ in json.loads(handles.read_text() or "[]")]
