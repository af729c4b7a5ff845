"""Real `coop` processes for fault tests: started in their own session, stopped or killed by pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def start_coop(command: str, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """`python -m deploy.cli <command>` with `env` over ours (without the test's own URLs); logs to `log`."""
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "deploy.cli", command],
            env=base | {"COOP_LOG_LEVEL": "INFO"} | env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGINT, timeout: float = 30) -> int:
    """Signal the process and wait for it; kill it if it outstays `timeout`."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"not within {timeout} s: {what}")
