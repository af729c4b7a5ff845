"""Schemathesis over the served schema, as staff and as a member's admin, against a real server.

No answer may be a 5xx; every answer must match the schema (status, content type, body),
errors are problem+json, and OPTIONS names every method of the path. Bounded: a fixed seed
and a few examples per operation, so the run is repeatable and takes well under two minutes
on two cores.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.http import call, free_port, wait_healthy
from tests.support.processes import start_coop, stop
from tests.support.scratch_db import migrated_database

if TYPE_CHECKING:
    from collections.abc import Iterator

    from deploy.stack import StackUrls

pytestmark = pytest.mark.slow

ADMIN = {"email": "fuzz-admin@coop.test", "password": "a-long-enough-password"}
# allow_header_conformance costs one OPTIONS request per operation: it caught Allow headers
# naming only some of a path's methods (litestar#4169).
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
    "allow_header_conformance"
)


@pytest.fixture
def server(stack: StackUrls, tmp_path: Path) -> Iterator[int]:
    with migrated_database(stack.database_url, "schema_fuzz") as url:
        port = free_port()
        process = start_coop(
            "serve",
            tmp_path / "api.log",
            DATABASE_URL=url,
            REDIS_URL=stack.redis_url,
            COOP_PORT=str(port),
            COOP_ADMIN_EMAIL=ADMIN["email"],
            COOP_ADMIN_PASSWORD=ADMIN["password"],
            COOP_LOG_LEVEL="WARNING",
        )
        try:
            wait_healthy(port)
            yield port
        finally:
            stop(process, signal.SIGTERM)


def _tokens(port: int) -> dict[str, str]:
    staff = call(port, "POST", "/v1/auth/token", ADMIN)[1]["access_token"]
    auth = {"Authorization": f"Bearer {staff}"}
    status, member = call(port, "POST", "/v1/members", {"name": "Fuzz Bakery", "email": "fuzz@shop.test"}, auth)
    assert status == 201, member
    user = {"email": "fuzz-member@shop.test", "password": ADMIN["password"], "member_role": "admin"}
    status, answer = call(port, "POST", f"/v1/members/{member['id']}/users", user, auth)
    assert status in {200, 201, 202}, answer
    member_token = call(port, "POST", "/v1/auth/token", {"email": user["email"], "password": user["password"]})
    return {"staff": staff, "member admin": member_token[1]["access_token"]}


def test_no_5xx_and_every_answer_matches_the_schema(server, tmp_path: Path):
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st is not None, "schemathesis is a dev dependency"
    # Both principals at once: the server runs one process per CPU, and the two runs
    # together take about as long as one did alone.
    runs, logs = {}, {}
    for who, token in _tokens(server).items():
        workdir = tmp_path / who.replace(" ", "_")
        workdir.mkdir()
        logs[who] = workdir / "st.log"
        out = logs[who].open("w")
        runs[who] = subprocess.Popen(  # noqa: S603 - our own dev tool against our own server
            [
                st,
                "run",
                f"http://127.0.0.1:{server}/schema/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                CHECKS,
                "--phases",
                "coverage,fuzzing",
                "--max-examples",
                "5",
                "--seed",
                "20261130",
                # One worker: hypothesis describing lambdas from two threads at once trips
                # CPython 3.11's ast.parse ("AST constructor recursion depth mismatch").
                "--workers",
                "1",
                # Signing in, out and changing the password would end the fuzzing session itself.
                "--exclude-path",
                "/v1/auth/token",
                "--exclude-path",
                "/v1/auth/sign-out",
                "--exclude-path",
                "/v1/me/password",
                "--no-color",
            ],
            # To a file, not a pipe: a full pipe would stall one run while the other is awaited.
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
        out.close()  # the child keeps its own copy
    failures = []
    for who, run in runs.items():
        # A guard against a hung run, not a speed check: on two cores shared with other work
        # (load 8-9), the two runs over ~100 operations passed every case and still took ~300 s.
        run.wait(timeout=900)
        output = logs[who].read_text()
        if run.returncode != 0:
            failures.append(f"--- as {who} ---\n{output[-6000:]}")
    assert not failures, "\n".join(failures)
