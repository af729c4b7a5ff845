"""localstripe (a stateful fake Stripe server) on 127.0.0.1, for the Stripe adapter's tests.

Its own command binds every interface and pickles its store into /tmp after each write;
this launcher binds loopback only and keeps the store in memory, so runs never share state.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from collections.abc import Iterator


def free_port() -> int:
    """A port free on loopback now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def localstripe() -> Iterator[str]:
    """Start localstripe on a free loopback port; yield its base URL; stop it by its pid."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - this module, with our own interpreter
        [sys.executable, "-m", "tests.support.localstripe", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/v1/customers", headers={"Authorization": "Bearer sk_test_x"}, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    msg = f"localstripe did not start on {url}"
                    raise RuntimeError(msg) from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _serve(port: int) -> None:
    from aiohttp import web
    from localstripe import resources  # type: ignore[import-untyped]
    from localstripe.server import app  # type: ignore[import-untyped]

    resources.store.dump_to_disk = lambda: None
    web.run_app(app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
