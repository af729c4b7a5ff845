"""HTTP throughput of the API as `make run` serves it, next to a raw-asyncpg floor measured in the same run.

    .venv/bin/python -m bench.http [--members 200] [--seconds 8] [--connections 32]

It starts embedded PostgreSQL and Valkey in a temporary directory, applies the migrations,
seeds one co-op (members with a buyer user and a bearer token each, one open group buy
of five products, one order per member), then starts `coop run` (the API and the worker,
as `make run` does) against those servers and drives it with Debian's `wrk` and
bench/http/load.lua, one call at a time:

- change: PUT /v1/orders/{id} by the member users, each with its own token, every line changed;
- place: POST /v1/group-buys/{id}/orders by the same users, each placing once in every buy of a
  series: all connections place into one buy (into `--group-buys` buys at once) until every
  member has, then into the next;
- group_buy: GET /v1/group-buys/{id} (live progress);
- me: GET /v1/me (authentication only);
- health: GET /health.

Each order write's floor runs right after it, the API idle. The floor is raw asyncpg on the
same server, as many connections as wrk has, doing per change what the order change does at
its core: lock the group buy FOR SHARE, the order FOR UPDATE, insert the increments, update
the lines and the order, add to the buy's running totals (the connection's shard), commit.
The placement has a floor of its own, doing what the placement does at its core: lock the
group buy FOR SHARE, insert the order, its lines and their increments, add to the running
totals, commit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from deploy.stack import local_stack
from domain import migrate
from domain.buying import orders as buying_orders
from domain.buying import service as buying
from domain.buying.rules import LineRequest
from domain.catalog import service as catalog
from domain.catalog.rules import Tier
from domain.db import make_engine, make_session_maker
from domain.identity.passwords import hash_password
from domain.identity.rules import token_digest
from domain.identity.tables import AuthToken, User
from domain.membership import service as membership

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator, Sequence

LUA = Path(__file__).with_name("load.lua")
CALLS = ("change", "place", "group_buy", "me", "health")
PRODUCTS = 5
# Seconds each call (and the floor) runs unmeasured before its figures are taken.
WARM_UP_SECONDS = 2
# The placements per second the series of buys is made for (every member places once a buy): about
# twice the fastest placement floor seen on two cores. A faster run would place into buys that do
# not exist, each answered 404 and counted as failed.
PLACEMENTS_PER_SECOND = 5_000
INSTALL_WRK = "wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu) or see https://github.com/wg/wrk"


@dataclass(frozen=True, slots=True)
class Seeded:
    """What the load script needs: the buy, its products and each member user's token and order."""

    group_buy_id: int
    product_ids: list[int]
    users: list[tuple[str, int, int]]  # token, order, the order's group buy
    member_ids: list[int]  # each user's member, in the order of `users`
    place_buys: list[int]  # open buys with no orders: wrk places into the first ones, then the floor


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured call: requests per second and latency percentiles."""

    call: str
    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    failed: int
    api_cpu_ms: float | None = None  # CPU of the API processes per request (user + system), from /proc

    def row(self) -> str:
        cpu = f"{self.api_cpu_ms:>8.2f}" if self.api_cpu_ms is not None else f"{'':>8}"
        return f"{self.call:<11} {self.per_second:>9.1f} {self.p50_ms:>8.2f} {self.p99_ms:>8.2f} {self.failed:>7} {cpu}"


async def seed(url: str, members: int, group_buys: int = 1, place_buys: int = 0) -> Seeded:
    """One co-op: `members` full members, each with a buyer user, a token and an order in one of `group_buys` open buys.

    Member i orders in buy i mod `group_buys`; all buys offer the same five products, and so do
    `place_buys` more, without orders, for the placements.
    """
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    password_hash = hash_password(secrets.token_urlsafe(16))  # nobody signs in: the tokens are issued here
    engine = make_engine(url, pool_size=1)
    try:
        async with make_session_maker(engine)() as s:
            supplier = await catalog.create_supplier(s, name=f"Bench {tag}", email=f"{tag}@bench.test")
            product_ids = []
            for n in range(PRODUCTS):
                new = catalog.NewProduct(
                    supplier.id or 0,
                    f"B-{tag}-{n}",
                    f"Product {n}",
                    "unit",
                    12,
                    "purchases",
                    Decimal("0.08"),
                    (Tier(1, 1_000), Tier(100, 900), Tier(1_000, 800)),
                )
                product_ids.append((await catalog.create_product(s, new, actor=0)).product.id or 0)
            buy_ids = []
            for b in range(group_buys):
                new_buy = buying.NewGroupBuy(
                    supplier.id or 0, f"Bench {tag} {b}", now + timedelta(days=1), tuple(product_ids)
                )
                buy_ids.append((await buying.create_group_buy(s, new_buy, now=now, actor=0)).id or 0)
            place_buy_ids = []
            for b in range(place_buys):
                new_buy = buying.NewGroupBuy(
                    supplier.id or 0, f"Bench {tag} place {b}", now + timedelta(days=1), tuple(product_ids)
                )
                place_buy_ids.append((await buying.create_group_buy(s, new_buy, now=now, actor=0)).id or 0)
            users = []
            member_ids = []
            for i in range(members):
                member = await membership.apply(
                    s, name=f"Bench {tag} {i}", email=f"{tag}.{i}@bench.test", contact_name=None, par_cents=10_000
                )
                member.status, member.joined_at = "full", now
                s.add(member)
                user = User(
                    email=f"buyer.{tag}.{i}@bench.test",
                    password_hash=password_hash,
                    role="member",
                    member_id=member.id,
                    member_role="buyer",
                )
                s.add(user)
                await s.flush()
                user_id = user.id or 0
                token = secrets.token_urlsafe(32)
                s.add(AuthToken(token_digest=token_digest(token), user_id=user_id, expires_at=now + timedelta(days=1)))
                lines = [LineRequest(p, 1, 0) for p in product_ids]
                buy = buy_ids[i % group_buys]
                view = await buying_orders.place_order(
                    s, buy, member_id=member.id or 0, lines=lines, now=now, actor=user_id
                )
                users.append((token, view.order.id or 0, buy))
                member_ids.append(member.id or 0)
            await s.commit()
    finally:
        await engine.dispose()
    return Seeded(buy_ids[0], product_ids, users, member_ids, place_buy_ids)


def place_buys_needed(members: int, seconds: int, at_once: int) -> int:
    """Buys enough for PLACEMENTS_PER_SECOND over wrk's warm-up and measured run, and the floor's."""
    placements = PLACEMENTS_PER_SECOND * 2 * (WARM_UP_SECONDS + seconds)
    # In whole blocks of `at_once` buys: each of the two wrk runs rounds up to a block and skips
    # one more (place_buys_used), and the floor rounds up to a block.
    return (-(-placements // (members * at_once)) + 5) * at_once


def place_target(n: int, members: int, at_once: int) -> tuple[int, int]:
    """The n-th placement of a run: (which member, which buy of the series counted from the run's first).

    The series is taken a block of `at_once` buys at a time. Within a block the j-th round of
    the members places member m into buy (m + j) mod `at_once`, so consecutive placements
    spread over the block's buys and, after `at_once` rounds, each member has placed once into
    each of them (never twice into one: that would be a 409). load.lua does the same.
    """
    block, k = divmod(n, members * at_once)
    j, m = divmod(k, members)
    return m, block * at_once + (m + j) % at_once


def place_buys_used(requests: int, members: int, at_once: int) -> int:
    """How far into the series a run of `requests` placements went, with a block for those still in flight."""
    return (-(-requests // (members * at_once)) + 1) * at_once


# Orders of members who call nothing, added set-based to the first buy (one increment per
# line, and the running totals in shard 0), so the group buy read runs against many orders.
EXTRA_ORDERS = """
WITH m AS (
    INSERT INTO member (name, email, status, share_par_cents, joined_at)
    SELECT 'Bench ' || $1 || ' extra ' || g, $1 || '.extra.' || g || '@bench.test', 'full', 10000, now()
    FROM generate_series(1, $2) AS g
    RETURNING id
), o AS (
    INSERT INTO buy_order (group_buy_id, member_id, status, placed_seq, placed_by, created_at, updated_at)
    SELECT $3, id, 'open', nextval('order_change_seq'), 0, now(), now() FROM m
    RETURNING id
), l AS (
    INSERT INTO order_line (order_id, group_buy_id, product_id, quantity, flex_quantity)
    SELECT o.id, $3, p, 1, 0 FROM o, unnest($4::bigint[]) AS p
    RETURNING id
), i AS (
    INSERT INTO order_increment (order_line_id, at_seq, quantity, flex_quantity, created_at)
    SELECT id, nextval('order_change_seq'), 1, 0, now() FROM l
)
INSERT INTO group_buy_total (group_buy_id, product_id, shard, quantity, flex_quantity)
SELECT $3, p, 0, $2, 0 FROM unnest($4::bigint[]) AS p ORDER BY p
ON CONFLICT (group_buy_id, product_id, shard) DO UPDATE SET quantity = group_buy_total.quantity + excluded.quantity
"""


async def add_orders(url: str, seeded: Seeded, orders: int) -> None:
    """Bring the first buy to `orders` orders with members who only order (not driven by wrk)."""
    extra = orders - sum(1 for _, _, buy in seeded.users if buy == seeded.group_buy_id)
    if extra <= 0:
        return
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with connection.transaction():
            await connection.execute(EXTRA_ORDERS, uuid.uuid4().hex[:8], extra, seeded.group_buy_id, seeded.product_ids)
        counted = await connection.fetchval(
            "SELECT count(*) FROM buy_order WHERE group_buy_id = $1", seeded.group_buy_id
        )
        # Steady state, as autovacuum leaves the tables soon after a bulk load: without it the
        # measured calls ran on plans made for the tables before the load, and met autovacuum
        # at work on them.
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    print(f"group buy {seeded.group_buy_id}: {counted} orders", flush=True)


def write_lua_data(path: Path, seeded: Seeded, place_at_once: int) -> None:
    users = ",".join(f'{{"{token}",{order},{buy}}}' for token, order, buy in seeded.users)
    products = ",".join(str(p) for p in seeded.product_ids)
    place_buys = ",".join(str(b) for b in seeded.place_buys)
    path.write_text(
        f"return {{group_buy={seeded.group_buy_id}, products={{{products}}}, users={{{users}}}, "
        f"place_buys={{{place_buys}}}, place_at_once={place_at_once}}}\n"
    )


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (None when the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def api_processes(server_pid: int) -> list[int]:
    """The API processes under `coop run`: every descendant but the job worker (`deploy.cli worker`)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [server_pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"worker" not in command:
                found.append(child)
                todo.append(child)
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU these processes used so far."""
    ticks = 0
    for pid in pids:
        if (fields := _stat(pid)) is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / _CLOCK_TICKS


def connections_per_process(port: int) -> dict[int, int]:
    """Established connections to `port` per process that holds them (`ss -tnp`); wrk's side is not counted."""
    out = subprocess.run(  # noqa: S603 - a fixed command
        ["ss", "-Htnp", "state", "established", "( sport = :" + str(port) + " )"],  # noqa: S607
        check=False,
        capture_output=True,
        text=True,
    )
    counts: dict[int, int] = {}
    for pid in re.findall(r"pid=(\d+)", out.stdout):
        counts[int(pid)] = counts.get(int(pid), 0) + 1
    return counts


@dataclass(frozen=True, slots=True)
class Server:
    """The running `coop run`: its base URL, port and process id."""

    base: str
    port: int
    pid: int


@contextlib.contextmanager
def serving(database_url: str, redis_url: str, data_dir: Path, env_extra: dict[str, str]) -> Iterator[Server]:
    """`coop run` against the given servers, as `make run` starts it; yields it once every API process is up."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "COOP_PORT": str(port),
        "COOP_DATA_DIR": str(data_dir),
        **env_extra,
    }
    log = (data_dir / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "run"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                msg = f"the server stopped (code {server.returncode}); see {data_dir / 'server.log'}"
                raise RuntimeError(msg)
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{base}/health", timeout=2) as answer,  # noqa: S310 - our own server
            ):
                if answer.status == 200:
                    break
            if time.monotonic() > deadline:
                msg = "the server did not answer /health within 60 s"
                raise RuntimeError(msg)
            time.sleep(0.3)
        _wait_for_every_process(data_dir / "server.log", int(env.get("COOP_WORKERS") or 0) or os.cpu_count() or 1)
        yield Server(base, port, server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _wait_for_every_process(server_log: Path, processes: int) -> None:
    """Until every API process has started (under load the last can come up seconds after the first answers).

    /health answers as soon as one does; a process that starts during the warm-up would meet
    the measured calls with its token cache and statement caches cold.
    """
    deadline = time.monotonic() + 60
    while server_log.read_text(errors="replace").count("Application startup complete") < processes:
        if time.monotonic() > deadline:
            msg = f"fewer than {processes} API processes started within 60 s; see {server_log}"
            raise RuntimeError(msg)
        time.sleep(0.3)


_RESULT = re.compile(
    r"RESULT requests=(\d+) duration_us=(\d+) p50_us=(\d+) p99_us=(\d+) status_errors=(\d+) socket_errors=(\d+)"
)


def drive(
    wrk: str, server: Server, call: str, data: Path, *, seconds: int, connections: int, first_buy: int = 0
) -> Figure:
    """One wrk run of one call kind, with the API processes' CPU per request over it.

    `first_buy`: where in the series of placement buys this run starts (each run places anew).
    """
    env = {
        **os.environ,
        "COOP_BENCH_DATA": str(data),
        "COOP_BENCH_CALL": call,
        "COOP_BENCH_FIRST_BUY": str(first_buy),
    }
    pids = api_processes(server.pid)
    cpu_before = cpu_seconds(pids)
    load = subprocess.Popen(  # noqa: S603 - wrk with our script
        [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA), server.base],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(min(1.0, seconds / 2))
    spread = connections_per_process(server.port)
    stdout, stderr = load.communicate()
    cpu = cpu_seconds(pids) - cpu_before
    if load.returncode:
        msg = f"wrk failed ({load.returncode}): {stderr}"
        raise RuntimeError(msg)
    if len(spread) > 1 or os.environ.get("COOP_BENCH_SPREAD"):
        print(f"{call}: connections per API process {sorted(spread.values(), reverse=True)}", flush=True)
    out = subprocess.CompletedProcess(load.args, load.returncode, stdout, stderr)
    if out.stderr.strip():
        print(out.stderr.strip(), file=sys.stderr)
    found = _RESULT.search(out.stdout)
    if found is None:
        msg = f"no RESULT line from wrk:\n{out.stdout}"
        raise RuntimeError(msg)
    requests, duration_us, p50, p99, status_errors, socket_errors = (int(g) for g in found.groups())
    per_second = requests / (duration_us / 1e6)
    failed = status_errors + socket_errors
    cpu_ms = cpu * 1000 / requests if requests else None
    return Figure(call, requests, per_second, p50 / 1000, p99 / 1000, failed, cpu_ms)


FLOOR_LINES = """
UPDATE order_line l SET quantity = c.quantity, flex_quantity = c.flex
FROM unnest($2::bigint[], $3::int[], $4::int[]) AS c(product_id, quantity, flex)
WHERE l.order_id = $1 AND l.product_id = c.product_id
RETURNING l.id
"""
FLOOR_TOTALS = """
INSERT INTO group_buy_total (group_buy_id, product_id, shard, quantity, flex_quantity)
SELECT $1, p, pg_backend_pid() % 64, 1, 0 FROM unnest($2::bigint[]) AS p ORDER BY p
ON CONFLICT (group_buy_id, product_id, shard) DO UPDATE
SET quantity = group_buy_total.quantity + excluded.quantity, flex_quantity = group_buy_total.flex_quantity
"""
FLOOR_INCREMENTS = """
INSERT INTO order_increment (order_line_id, at_seq, quantity, flex_quantity, created_at)
SELECT line_id, nextval('order_change_seq'), 1, 0, now() FROM unnest($1::bigint[]) AS line_id
"""


async def _floor(
    database_url: str,
    call: str,
    write: Callable[[asyncpg.Connection, int], Awaitable[None]],
    *,
    seconds: float,
    connections: int,
) -> Figure:
    """Raw asyncpg: `write(connection, n)` for n = 0, 1, ... on every connection, timed for `seconds` after a warm-up.

    Each write is one transaction; a write refused by PostgreSQL counts as failed.
    """
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    latencies: list[float] = []
    failed = 0
    try:
        measure_from = time.perf_counter() + WARM_UP_SECONDS
        stop_at = measure_from + seconds
        counter = iter(range(sys.maxsize))

        async def writer() -> None:
            nonlocal failed
            async with pool.acquire() as con:
                while time.perf_counter() < stop_at:
                    n = next(counter)
                    started = time.perf_counter()
                    try:
                        async with con.transaction():
                            await write(con, n)
                    except asyncpg.PostgresError:
                        if started >= measure_from:
                            failed += 1
                        continue
                    if started >= measure_from:
                        latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(writer() for _ in range(connections)))
        elapsed = time.perf_counter() - measure_from
    finally:
        await pool.close()
    return _figure(call, latencies, elapsed, failed)


async def change_floor(database_url: str, seeded: Seeded, *, seconds: float, connections: int) -> Figure:
    """The order change's locks and writes, each member's order in turn."""

    async def change(con: asyncpg.Connection, n: int) -> None:
        _, order_id, group_buy_id = seeded.users[n % len(seeded.users)]
        quantities = [(n + i) % 8 + 1 for i in range(len(seeded.product_ids))]
        await con.fetchval("SELECT status FROM group_buy WHERE id = $1 FOR SHARE", group_buy_id)
        await con.fetchval("SELECT status FROM buy_order WHERE id = $1 FOR UPDATE", order_id)
        line_ids = await con.fetch(FLOOR_LINES, order_id, seeded.product_ids, quantities, [0] * len(quantities))
        await con.execute(FLOOR_INCREMENTS, [r[0] for r in line_ids])
        await con.execute("UPDATE buy_order SET updated_at = now() WHERE id = $1", order_id)
        await con.execute(FLOOR_TOTALS, group_buy_id, seeded.product_ids)

    return await _floor(database_url, "floor", change, seconds=seconds, connections=connections)


FLOOR_PLACE_ORDER = """
INSERT INTO buy_order (group_buy_id, member_id, status, placed_seq, placed_by, created_at, updated_at)
VALUES ($1, $2, 'open', nextval('order_change_seq'), 0, now(), now())
RETURNING id, placed_seq
"""
FLOOR_PLACE_LINES = """
INSERT INTO order_line (order_id, group_buy_id, product_id, quantity, flex_quantity)
SELECT $1, $2, c.product_id, c.quantity, c.flex
FROM unnest($3::bigint[], $4::int[], $5::int[]) AS c(product_id, quantity, flex)
RETURNING id, quantity, flex_quantity
"""
FLOOR_PLACE_INCREMENTS = """
INSERT INTO order_increment (order_line_id, at_seq, quantity, flex_quantity, created_at)
SELECT line_id, $2, q, f, now() FROM unnest($1::bigint[], $3::int[], $4::int[]) AS c(line_id, q, f)
"""


async def floor_place(
    database_url: str, seeded: Seeded, *, first_buy: int, at_once: int, seconds: float, connections: int
) -> Figure:
    """The placement's lock and writes, the members into the series' buys from `first_buy` on (as wrk places)."""
    members = len(seeded.member_ids)

    async def place(con: asyncpg.Connection, n: int) -> None:
        member, buy = place_target(n, members, at_once)
        group_buy_id = seeded.place_buys[first_buy + buy]
        quantities = [(n + i) % 8 + 1 for i in range(len(seeded.product_ids))]
        flex = [n % 2] * len(quantities)
        await con.fetchval("SELECT status FROM group_buy WHERE id = $1 FOR SHARE", group_buy_id)
        order_id, placed_seq = await con.fetchrow(FLOOR_PLACE_ORDER, group_buy_id, seeded.member_ids[member])
        lines = await con.fetch(FLOOR_PLACE_LINES, order_id, group_buy_id, seeded.product_ids, quantities, flex)
        await con.execute(
            FLOOR_PLACE_INCREMENTS, [r[0] for r in lines], placed_seq, [r[1] for r in lines], [r[2] for r in lines]
        )
        await con.execute(FLOOR_TOTALS, group_buy_id, seeded.product_ids)

    return await _floor(database_url, "place floor", place, seconds=seconds, connections=connections)


def _figure(call: str, latencies: list[float], elapsed: float, failed: int) -> Figure:
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    return Figure(call, len(latencies), len(latencies) / elapsed, p50, p99, failed)


def report(figures: list[Figure], floor_figure: Figure, place_floor: Figure | None = None) -> list[str]:
    """Each call against its floor: the placement against the placement's, every other call against the change's."""
    lines = [f"{'call':<11} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7} {'cpu ms':>8} {'vs floor':>9}"]
    floors = [floor_figure] if place_floor is None else [floor_figure, place_floor]
    for f in [*figures, *floors]:
        own = place_floor if f.call in ("place", "place floor") and place_floor is not None else floor_figure
        ratio = f.per_second / own.per_second if own.per_second else 0.0
        lines.append(f"{f.row()} {ratio:>8.2f}x")
    summaries = [("change", "order change", floor_figure)]
    if place_floor is not None:
        summaries.append(("place", "order placement", place_floor))
    for call, name, own in summaries:
        figure = next((f for f in figures if f.call == call), None)
        if figure is not None and own.per_second:
            lines.append(
                f"{name} / floor: throughput {figure.per_second / own.per_second:.2f}x, "
                f"p99 {figure.p99_ms / own.p99_ms:.1f}x the floor's"
            )
    return lines


def measure(
    wrk: str, server: Server, database_url: str, seeded: Seeded, data: Path, args: argparse.Namespace
) -> tuple[list[Figure], Figure | None, Figure | None]:
    """Every call warmed up, then measured; each order write's floor right after it (the API idle).

    The host's speed drifts within minutes: a floor taken after every other call drifted with it.
    """
    figures = []
    floor_figure = place_floor = None
    next_buy = 0  # the first placement buy no run has placed into yet

    def driven(call: str, seconds: int) -> Figure:
        nonlocal next_buy
        figure = drive(wrk, server, call, data, seconds=seconds, connections=args.connections, first_buy=next_buy)
        if call == "place":
            next_buy += place_buys_used(figure.requests, args.members, args.group_buys)
        return figure

    # Steady state: every call driven unmeasured first, so the figures are not the first
    # seconds' pool growth, new backends' plans and caches, which the floor warms too.
    for call in dict.fromkeys(["me", *args.calls]):
        driven(call, WARM_UP_SECONDS)
    for call in dict.fromkeys(args.calls):
        figures.append(driven(call, args.seconds))
        print(figures[-1].row(), flush=True)
        if call == "change":
            floor_figure = asyncio.run(
                change_floor(database_url, seeded, seconds=args.seconds, connections=args.connections)
            )
        elif call == "place":
            place_floor = asyncio.run(
                floor_place(
                    database_url,
                    seeded,
                    first_buy=next_buy,
                    at_once=args.group_buys,
                    seconds=args.seconds,
                    connections=args.connections,
                )
            )
    return figures, floor_figure, place_floor


def run(args: argparse.Namespace) -> list[str]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit(INSTALL_WRK)
    with (
        tempfile.TemporaryDirectory(prefix="coop-bench-http-") as tmp,
        local_stack(Path(tmp), os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"), keep=False) as urls,
    ):
        migrate.upgrade(urls.database_url)
        place_buys = place_buys_needed(args.members, args.seconds, args.group_buys) if "place" in args.calls else 0
        seeded = asyncio.run(seed(urls.database_url, args.members, args.group_buys, place_buys))
        if args.orders:
            asyncio.run(add_orders(urls.database_url, seeded, args.orders))
        data = Path(tmp) / "users.lua"
        write_lua_data(data, seeded, args.group_buys)
        env_extra = {"COOP_LOG_LEVEL": os.environ.get("COOP_LOG_LEVEL", "INFO")}
        if args.workers is not None:
            env_extra["COOP_WORKERS"] = str(args.workers)
        with serving(urls.database_url, urls.redis_url, Path(tmp), env_extra) as server:
            figures, floor_figure, place_floor = measure(wrk, server, urls.database_url, seeded, data, args)
        if floor_figure is None:  # the other calls are compared with the change's floor
            floor_figure = asyncio.run(
                change_floor(urls.database_url, seeded, seconds=args.seconds, connections=args.connections)
            )
    header = (
        f"http: {args.members} members in {args.group_buys} group buy(s), "
        + (f"{args.orders} orders in the first, " if args.orders else "")
        + f"{args.connections} connections, "
        f"{args.seconds} s per call, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    return [header, *report(figures, floor_figure, place_floor)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=200, help="member users changing orders (default 200)")
    parser.add_argument("--seconds", type=int, default=8, help="seconds per call and for the floor (default 8)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--group-buys", type=int, default=1, help="open buys the members order into (default 1)")
    parser.add_argument(
        "--orders", type=int, default=0, help="orders in the first buy (members who only order are added)"
    )
    parser.add_argument("--workers", type=int, default=None, help="API processes (default: the server's own)")
    parser.add_argument("--calls", nargs="+", choices=CALLS, default=list(CALLS), help="which calls to drive")
    args = parser.parse_args(argv)
    if min(args.members, args.seconds, args.connections, args.group_buys) < 1:
        parser.error("need --members, --group-buys, --seconds and --connections >= 1")
    for line in run(args):
        print(line)


if __name__ == "__main__":
    main()
