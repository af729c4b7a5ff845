"""The deployment files are valid for their tools, offline: Kubernetes manifests against the
API schemas kubernetes-validate ships, the compose file against the compose specification
check-jsonschema ships, the Dockerfile through hadolint. And they agree with the code: every
setting they pass is one the app reads, and the image holds every module the app imports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "deploy" / "compose.yaml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
# The oldest Kubernetes minor still supported by the main clouds, and the newest the validator knows.
KUBERNETES_VERSIONS = ["1.31.0", "1.37.0"]


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, doc)
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
    ]


def settings_read_by_the_app() -> set[str]:
    source = (ROOT / "domain" / "settings.py").read_text()
    return set(re.findall(r'"((?:COOP|DATABASE|REDIS|STRIPE)_[A-Z_]+)"', source))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_kubernetes_manifest_is_valid(version: str) -> None:
    manifests = _manifests()
    assert {doc["kind"] for _, doc in manifests} >= {
        "Deployment",
        "Job",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ConfigMap",
        "Secret",
    }
    for _, doc in manifests:
        kubernetes_validate.validate(doc, version, strict=True)  # raises on the first invalid field


def test_the_validator_refuses_a_misspelt_field() -> None:
    """Strict validation is what makes the test above worth anything."""
    _, deployment = next((n, d) for n, d in _manifests() if n == "api-deployment.yaml")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_the_kustomization_applies_every_manifest_but_the_example_secret() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert set(kustomization["resources"]) == files


def _containers() -> dict[str, dict[str, Any]]:
    found = {}
    for _, doc in _manifests():
        if doc["kind"] in {"Deployment", "Job"}:
            for container in doc["spec"]["template"]["spec"]["containers"]:
                found[container["name"]] = container
    return found


def test_the_api_is_probed_on_health_and_the_worker_by_arq() -> None:
    containers = _containers()
    assert set(containers) == {"api", "worker", "migrate"}
    api, worker = containers["api"], containers["worker"]
    assert api["command"] == ["coop", "serve"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/health"
    assert "livenessProbe" in api
    assert worker["command"] == ["coop", "worker"]
    assert worker["livenessProbe"]["exec"]["command"] == ["arq", "--check", "workers.main.WorkerSettings"]
    assert containers["migrate"]["command"] == ["coop", "migrate"]


def manifest_environment() -> dict[str, dict[str, str]]:
    """Per container, the environment Kubernetes gives it: ConfigMap values and Secret keys."""
    config = next(d for _, d in _manifests() if d["kind"] == "ConfigMap")["data"]
    secret = next(d for _, d in _manifests() if d["kind"] == "Secret")["stringData"]
    env: dict[str, dict[str, str]] = {}
    for name, container in _containers().items():
        values: dict[str, str] = {}
        for source in container.get("envFrom", []):
            assert source["configMapRef"]["name"] == "coop-config"
            values |= config
        for item in container.get("env", []):
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "coop-secrets"
            values[item["name"]] = secret[ref["key"]]
        env[name] = values
    return env


def test_every_setting_the_manifests_and_compose_pass_is_read_by_the_app() -> None:
    known = settings_read_by_the_app()
    for container, values in manifest_environment().items():
        assert set(values) <= known, (container, set(values) - known)
        assert {"DATABASE_URL", "REDIS_URL"} <= set(values), container
    compose = yaml.safe_load(COMPOSE.read_text())
    for service in ("migrate", "api", "worker"):
        passed = set(compose["services"][service]["environment"])
        assert passed <= known, (service, passed - known)
    # Compose and Kubernetes configure the same settings (the image sets host, port and data dir).
    image_env = {"COOP_HOST", "COOP_PORT", "COOP_DATA_DIR"}
    assert set(manifest_environment()["api"]) - image_env == set(compose["services"]["api"]["environment"])


def test_the_compose_file_follows_the_compose_specification() -> None:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    compose = yaml.safe_load(COMPOSE.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []
    compose["services"]["api"]["stop_grace"] = "30s"
    assert list(validator.iter_errors(compose)), "the schema must refuse an unknown key"
    assert compose["services"]["migrate"]["command"] == ["coop", "migrate"]
    assert compose["services"]["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_dockerfile_passes_hadolint_and_copies_what_the_app_imports() -> None:
    hadolint = shutil.which("hadolint") or str(Path(__import__("sys").executable).parent / "hadolint")
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False)  # noqa: S603
    assert done.returncode == 0, done.stdout + done.stderr
    text = DOCKERFILE.read_text()
    for package in ("api", "domain", "workers"):
        assert f"COPY {package} ./{package}" in text
    copied = re.search(r"^COPY (deploy/\S+ )+\./deploy/$", text, re.MULTILINE)
    assert copied is not None
    modules = {p.name for p in (ROOT / "deploy").glob("*.py")}
    assert modules == {Path(p).name for p in copied.group(0).split()[1:-1]}
    assert "USER 10001" in text
    assert "HEALTHCHECK" in text
    assert "-c requirements.lock ." in text  # runtime dependencies only, pinned by the lock
