"""The API and the worker start with exactly the environment the Kubernetes manifests give
them (ConfigMap plus Secret keys), against this machine's servers: the manifests' settings
parse, the API gets ready on /health and the worker passes its liveness probe, `arq --check`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.deploy.test_manifests import manifest_environment
from tests.support.http import call, free_port, wait_healthy
from tests.support.scratch_db import migrated_database

if TYPE_CHECKING:
    from deploy.stack import StackUrls

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=out, start_new_session=True)  # noqa: S603


def test_api_and_worker_run_with_the_manifest_environment(stack: StackUrls, tmp_path: Path) -> None:
    environment = manifest_environment()
    with migrated_database(stack.database_url, "manifest_env") as url:
        port = free_port()

        def env_of(container: str) -> dict[str, str]:
            # Only what the pod has: the manifest's variables (the Secret's URLs pointed at this
            # machine's servers, the port moved to a free one) and the image's PATH.
            values = environment[container] | {"DATABASE_URL": url, "REDIS_URL": stack.redis_url}
            return values | {"COOP_PORT": str(port), "COOP_DATA_DIR": str(tmp_path), "PATH": f"{BIN}:/usr/bin:/bin"}

        api = _start([str(BIN / "coop"), "serve"], env_of("api"), tmp_path / "api.log")
        worker = _start([str(BIN / "coop"), "worker"], env_of("worker"), tmp_path / "worker.log")
        try:
            assert wait_healthy(port)["status"] == "ok"
            # Two API processes (the pod's CPU count here): a scrape sums both, whichever answers.
            for _ in range(10):
                assert call(port, "GET", "/v1/me")[0] == 401
            token = environment["api"]["COOP_METRICS_TOKEN"]
            for _ in range(3):
                scrape = urllib.request.Request(
                    f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {token}"}
                )
                with urllib.request.urlopen(scrape, timeout=10) as answer:  # noqa: S310 - loopback
                    text = answer.read().decode()
                assert 'coop_http_requests_total{method="GET",route="/v1/me",status="401"} 10.0' in text, text[:3000]
            probe = [str(BIN / "arq"), "--check", "workers.main.WorkerSettings"]
            deadline = time.monotonic() + 40
            while True:
                check = subprocess.run(probe, env=env_of("worker"), capture_output=True, text=True, check=False)  # noqa: S603
                if check.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert check.returncode == 0, check.stdout + check.stderr + (tmp_path / "worker.log").read_text()
        finally:
            for process in (api, worker):
                os.killpg(process.pid, signal.SIGTERM)
            for process in (api, worker):
                assert process.wait(timeout=30) == 0, (tmp_path / "api.log").read_text()[-2000:]
