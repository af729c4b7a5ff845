"""The `coop` command line: run everything, or one part, or a staff task."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from deploy.stack import local_stack
from domain import migrate
from domain.logs import configure
from domain.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from deploy.stack import StackUrls

log = logging.getLogger("coop")

METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

STOP_GRACE_SECONDS = 10
WORKER_RESTART_MAX_DELAY_SECONDS = 30


def _raise_interrupt(signum: int, _frame: object) -> NoReturn:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def _stack(settings: Settings, *, queue: bool = True) -> Iterator[StackUrls]:
    # SIGTERM unwinds like Ctrl-C, so the embedded servers are stopped on the way out.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    redis_url = settings.redis_url if queue else (settings.redis_url or "redis://unused")
    with local_stack(settings.data_dir, settings.database_url, redis_url) as urls:
        # Starting the embedded servers replaces the SIGINT handler; Ctrl-C must still unwind here.
        signal.signal(signal.SIGINT, _raise_interrupt)
        signal.signal(signal.SIGTERM, _raise_interrupt)
        yield urls


def _with_urls(settings: Settings, urls: StackUrls) -> Settings:
    return dataclasses.replace(settings, database_url=urls.database_url, redis_url=urls.redis_url)


def cmd_migrate(settings: Settings) -> int:
    """Apply every migration."""
    with _stack(settings, queue=False) as urls:
        migrate.upgrade(urls.database_url)
    log.info("database migrated")
    return 0


def cmd_serve(settings: Settings, workers: int | None = None) -> int:
    """The HTTP API alone (migrating first), in `workers` processes (default COOP_WORKERS, else one per CPU).

    Every process is a whole app: nothing the API keeps in memory must be shared between
    them (sign-in throttling is in the database, the clock runs in the worker, and the
    token cache forgets within seconds; see api/auth.py).
    """
    import uvicorn  # noqa: PLC0415 - only this command needs it

    from deploy.api_processes import OwnSocketPerProcess  # noqa: PLC0415 - uvicorn's, as above

    count = workers or int(os.environ.get("COOP_WORKERS") or 0) or os.cpu_count() or 1
    with _stack(settings) as urls:
        migrate.upgrade(urls.database_url)
        # The worker processes build the app from the environment (api.app:app_from_env).
        os.environ.update({"DATABASE_URL": urls.database_url, "REDIS_URL": urls.redis_url})
        if count > 1 and not os.environ.get(METRICS_DIR_ENV):
            # /metrics answers from one process; this directory lets it sum all of them.
            metrics_dir = settings.data_dir / "metrics"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            os.environ[METRICS_DIR_ENV] = str(metrics_dir)
        options = {
            "factory": True,
            "host": settings.host,
            "port": settings.port,
            "workers": count,
            "log_config": None,
            "access_log": False,  # our own request log replaces it
            "loop": "auto",  # uvloop and httptools are installed: uvicorn picks them
            "http": "auto",
        }
        with contextlib.suppress(KeyboardInterrupt):
            if count > 1 and hasattr(socket, "SO_REUSEPORT"):
                # A socket per process, so the kernel spreads connections evenly (deploy/api_processes.py).
                OwnSocketPerProcess(uvicorn.Config("api.app:app_from_env", **options)).run()  # type: ignore[arg-type]
            else:
                uvicorn.run("api.app:app_from_env", **options)  # type: ignore[arg-type]
    return 0


def cmd_worker(settings: Settings) -> int:
    """The arq worker alone; it outlives queue outages (see workers/process.py)."""
    from workers.process import run_worker  # noqa: PLC0415 - deploy may import workers; only this command needs it

    async def until_signalled(worker_settings: Settings) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(worker_settings, stop)

    with _stack(settings) as urls, contextlib.suppress(KeyboardInterrupt):
        asyncio.run(until_signalled(_with_urls(settings, urls)))
    return 0


def cmd_create_staff(settings: Settings, email: str, password: str) -> int:
    """Create a staff user if that e-mail has none."""
    from domain.db import make_engine, make_session_maker  # noqa: PLC0415
    from domain.errors import InvalidInputError  # noqa: PLC0415
    from domain.identity.service import ensure_staff  # noqa: PLC0415
    from domain.unit_of_work import UnitOfWork  # noqa: PLC0415

    async def create(url: str) -> bool:
        engine = make_engine(url, pool_size=1)
        try:
            async with UnitOfWork(make_session_maker(engine)) as uow:
                created = await ensure_staff(uow.session, email, password)
                await uow.commit()
                return created
        finally:
            await engine.dispose()

    with _stack(settings, queue=False) as urls:
        migrate.upgrade(urls.database_url)
        try:
            created = asyncio.run(create(urls.database_url))
        except InvalidInputError as exc:
            print(f"refused: {'; '.join(f'{e.field}: {e.message}' for e in exc.errors)}", file=sys.stderr)  # noqa: T201
            return 2
    print(f"staff user {email} {'created' if created else 'already exists'}")  # noqa: T201
    return 0


def cmd_backup(settings: Settings, target: Path) -> int:
    """A consistent custom-format dump of the database, taken while the co-op keeps working."""
    from deploy.backup import PG_BIN_ENV, BackupError, backup  # noqa: PLC0415

    with _stack(settings, queue=False) as urls:
        try:
            backup(urls.database_url, target, pg_bin=os.environ.get(PG_BIN_ENV))
        except BackupError as exc:
            print(f"backup failed: {exc}", file=sys.stderr)  # noqa: T201
            return 1
    print(f"backup written to {target}")  # noqa: T201
    return 0


def cmd_restore(settings: Settings, source: Path, *, replace: bool) -> int:
    """Load a backup into an empty database (or over the current one with --replace)."""
    from deploy.backup import PG_BIN_ENV, BackupError, restore  # noqa: PLC0415

    with _stack(settings, queue=False) as urls:
        try:
            restore(urls.database_url, source, pg_bin=os.environ.get(PG_BIN_ENV), replace=replace)
        except BackupError as exc:
            print(f"restore failed: {exc}", file=sys.stderr)  # noqa: T201
            return 1
    print(f"restored {source}")  # noqa: T201
    return 0


def cmd_run(settings: Settings) -> int:
    """Everything: embedded servers, migrations, the API and the worker, until Ctrl-C."""
    with _stack(settings) as urls:
        migrate.upgrade(urls.database_url)
        env = {**os.environ, "DATABASE_URL": urls.database_url, "REDIS_URL": urls.redis_url}

        def start(part: str) -> subprocess.Popen[bytes]:
            return subprocess.Popen([sys.executable, "-m", "deploy.cli", part], env=env)  # noqa: S603 - our own module

        parts = {"serve": start("serve"), "worker": start("worker")}
        pids = [p.pid for p in parts.values()]
        log.info("running", extra={"url": f"http://{settings.host}:{settings.port}", "pids": pids})
        try:
            _supervise(parts, start)
        except KeyboardInterrupt:
            log.info("stopping")
        finally:
            _stop(list(parts.values()))
    return 0


def _supervise(parts: dict[str, subprocess.Popen[bytes]], start: Callable[[str], subprocess.Popen[bytes]]) -> None:
    """Until the API stops: a worker that dies (a crash, the OOM killer) is started again with backoff.

    The API keeps serving meanwhile; the jobs it records wait in the outbox for the next worker.
    """
    failures, started = 0, time.monotonic()
    while parts["serve"].poll() is None:
        time.sleep(0.5)
        if parts["worker"].poll() is None:
            continue
        failures = 1 if time.monotonic() - started > WORKER_RESTART_MAX_DELAY_SECONDS else failures + 1
        delay = min(2 ** (failures - 1), WORKER_RESTART_MAX_DELAY_SECONDS)
        code = parts["worker"].returncode
        log.warning("the worker stopped; starting it again", extra={"code": code, "delay_seconds": delay})
        time.sleep(delay)
        parts["worker"] = start("worker")
        started = time.monotonic()
    code = parts["serve"].returncode
    # A clean exit is a stop someone asked for (Ctrl-C reaches the whole process group).
    log.log(logging.INFO if code == 0 else logging.ERROR, "the API stopped; stopping the rest", extra={"code": code})


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main(argv: list[str] | None = None) -> int:
    """Parse the command and run it."""
    parser = argparse.ArgumentParser(prog="coop", description="Purchasing co-op backend")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="embedded servers, migrations, API and worker")
    serve = sub.add_parser("serve", help="the HTTP API only")
    serve.add_argument(
        "--workers", type=int, default=None, help="API processes (default: COOP_WORKERS, else the CPU count)"
    )
    sub.add_parser("worker", help="the arq worker only")
    sub.add_parser("migrate", help="apply database migrations")
    staff = sub.add_parser("create-staff", help="create a staff user")
    staff.add_argument("--email", required=True)
    staff.add_argument("--password", required=True)
    dump = sub.add_parser("backup", help="write a consistent backup of the database to a file")
    dump.add_argument("file", type=Path)
    load = sub.add_parser("restore", help="load a backup into an empty database")
    load.add_argument("file", type=Path)
    load.add_argument("--replace", action="store_true", help="drop what the database holds first")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    configure(settings.log_level)
    if args.command == "create-staff":
        return cmd_create_staff(settings, args.email, args.password)
    if args.command == "backup":
        return cmd_backup(settings, args.file)
    if args.command == "restore":
        return cmd_restore(settings, args.file, replace=args.replace)
    if args.command == "serve":
        return cmd_serve(settings, args.workers)
    commands = {"run": cmd_run, "worker": cmd_worker, "migrate": cmd_migrate}
    return commands[args.command](settings)


if __name__ == "__main__":
    sys.exit(main())
