"""Plain HTTP to a real server on this machine, for tests that run `coop` as a process."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import pytest


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    """(status, decoded JSON body) of one request to 127.0.0.1:port."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def wait_healthy(port: int, timeout: float = 60) -> dict[str, Any]:
    """Poll /health until it answers 200; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, body = call(port, "GET", "/health")
        except OSError:
            time.sleep(0.2)
            continue
        if status == 200:
            return dict(body)
        time.sleep(0.2)
    pytest.fail(f"no healthy answer on port {port} within {timeout} s")
