"""docker-compose.yml, parsed and checked without a Docker engine: the services and their wiring,
healthchecks, secrets only from variables (documented in .env.example), pinned images and ports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.docker import checks

pytestmark = pytest.mark.unit

AIRFLOW = ["airflow-init", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"]
SERVICES = {"postgres", "minio", "minio-init", "mlflow", "model-server", *AIRFLOW}
ONE_SHOT = {"airflow-init", "minio-init"}
COMPOSE_TEXT = checks.COMPOSE_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return checks.load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _bad(services: dict[str, Any]) -> dict[str, Any]:
    """A compose snippet parsed the same way as the real file."""
    return yaml.safe_load(json.dumps({"services": services}))["services"]


def test_the_stack_has_its_services(services: dict[str, Any]) -> None:
    assert set(services) == SERVICES


def test_airflow_services_share_the_common_anchor(compose: dict[str, Any], services: dict[str, Any]) -> None:
    common = compose["x-airflow-common"]
    assert common["build"]["dockerfile"] == "docker/airflow/Dockerfile"
    commands = set()
    for name in AIRFLOW:
        service = services[name]
        assert service["image"] == common["image"], name
        assert service["build"] == common["build"], name
        env = checks.environment(service)
        assert {k: env.get(k) for k in checks.environment(common)} == checks.environment(common), name
        commands.add(json.dumps(service["command"]))
    assert len(commands) == len(AIRFLOW)  # one component each


def test_airflow_runs_the_compose_profile_against_the_stack(compose: dict[str, Any], services: dict[str, Any]) -> None:
    env = checks.environment(compose["x-airflow-common"])
    assert checks._resolve_default(env["TRADEWIND_PROFILE"]) == "compose"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-api-server:8080/execution/"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
    assert env["TRADEWIND_SERVING_URL"] == "http://model-server:8080"
    conn = json.loads(checks.ANY_REF.sub("x", env["AIRFLOW_CONN_AWS_DEFAULT"]))
    assert conn["conn_type"] == "aws"
    assert conn["extra"]["endpoint_url"] == env["FSSPEC_S3_ENDPOINT_URL"] == "http://minio:9000"
    # The same credentials for the connection (Airflow) and for s3fs (the trainer subprocess).
    assert re.findall(r"\$\{(\w+)", env["AIRFLOW_CONN_AWS_DEFAULT"]) == [
        re.match(r"\$\{(\w+)", env["AWS_ACCESS_KEY_ID"]).group(1),  # type: ignore[union-attr]
        re.match(r"\$\{(\w+)", env["AWS_SECRET_ACCESS_KEY"]).group(1),  # type: ignore[union-attr]
    ]
    assert "TRADEWIND_STORAGE_ROOT" not in env  # the profile's s3:// root applies


def test_the_compose_profile_matches_the_stack(
    compose: dict[str, Any], services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The profile the Airflow services run with reads a bucket minio-init creates and the MLflow service."""
    profile = checks.REPO_ROOT / "include" / "config" / "profiles" / "compose.yaml"
    if not profile.exists():
        pytest.skip("include/config/profiles/compose.yaml is not there yet")
    from tradewind.settings import load_settings

    monkeypatch.delenv("TRADEWIND_STORAGE_ROOT", raising=False)
    monkeypatch.delenv("TRADEWIND_STORAGE_CONN_ID", raising=False)
    settings = load_settings("compose", config_dir=profile.parents[1])
    env = checks.environment(compose["x-airflow-common"])
    assert settings.storage.root.startswith("s3://"), settings.storage.root
    assert settings.storage.root.removeprefix("s3://").split("/")[0] in _created_buckets(services)
    assert settings.storage.conn_id == "aws_default"  # AIRFLOW_CONN_AWS_DEFAULT
    mlflow = getattr(settings, "mlflow", None)
    if mlflow is not None and mlflow.tracking_uri:
        assert mlflow.tracking_uri == env["MLFLOW_TRACKING_URI"]


def _created_buckets(services: dict[str, Any]) -> set[str]:
    script = " ".join(services["minio-init"]["command"])
    made = re.search(r"mc mb (?:--\S+ )*(?P<targets>[^\n]+)", script)
    assert made, script
    return {target.split("/", 1)[1] for target in made.group("targets").split()}


def test_mlflow_uses_postgres_and_the_object_store(services: dict[str, Any]) -> None:
    mlflow = services["mlflow"]
    args = mlflow["command"]
    destination = args[args.index("--artifacts-destination") + 1]
    assert destination == "s3://mlflow/"
    assert destination.removeprefix("s3://").strip("/") in _created_buckets(services)
    env = checks.environment(mlflow)
    assert re.fullmatch(
        r"postgresql\+psycopg2://mlflow:\$\{[^}]+\}@postgres:5432/mlflow", env["MLFLOW_BACKEND_STORE_URI"]
    )
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    # Clients reach it as mlflow:5000 (inside) and localhost (the host): both Host headers are allowed.
    hosts = args[args.index("--allowed-hosts") + 1].split(",")
    assert {"mlflow:5000", "localhost:*"} <= set(hosts)


def test_mlflow_flags_exist_in_the_pinned_mlflow(services: dict[str, Any]) -> None:
    from mlflow.cli import server

    known = {opt for param in server.params for opt in getattr(param, "opts", [])}
    used = {a for a in services["mlflow"]["command"] if a.startswith("--")}
    assert used <= known, used - known


def test_postgres_creates_the_mlflow_database_on_first_start(services: dict[str, Any]) -> None:
    mounts = [m for m in services["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in m]
    assert len(mounts) == 1
    source = checks.REPO_ROOT / mounts[0].split(":")[0]
    script = source.read_text(encoding="utf-8")
    assert "CREATE DATABASE mlflow OWNER mlflow" in script
    assert "MLFLOW_DB_PASSWORD" in checks.environment(services["postgres"])
    assert source.stat().st_mode & 0o111, f"{source} must be executable"


def test_bind_mounts_exist(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for mount in service.get("volumes") or []:
            source = str(mount).split(":")[0]
            if source.startswith((".", "/")):
                assert (checks.REPO_ROOT / source).exists(), f"{name}: {mount}"


def test_builds_point_at_dockerfiles_that_exist(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if "build" in service:
            build = service["build"]
            assert (checks.REPO_ROOT / build["context"] / build["dockerfile"]).is_file(), name


def test_model_server_is_the_serving_image_on_host_port_8081(services: dict[str, Any]) -> None:
    serving = services["model-server"]
    assert serving["build"]["dockerfile"] == "docker/serving/Dockerfile"
    assert checks.published_ports(serving) == [("", 8081, 8080)]
    env = checks.environment(serving)
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert checks.REQUIRED_REF.fullmatch(env["TRADEWIND_SERVING_ADMIN_TOKEN"])
    assert "/healthz" in " ".join(serving["healthcheck"]["test"])


# --- healthchecks and start order ---------------------------------------------------------------


def test_long_running_services_have_healthchecks(services: dict[str, Any]) -> None:
    assert {n for n, s in services.items() if checks.one_shot(s)} == ONE_SHOT
    assert checks.check_healthchecks(services) == []


def test_a_service_without_healthcheck_is_caught() -> None:
    bad = _bad({"db": {"image": "postgres:16.15"}, "job": {"image": "busybox:1.37", "restart": "no"}})
    assert checks.check_healthchecks(bad) == ["db: no healthcheck"]


def test_dependencies_wait_on_conditions_they_can_meet(services: dict[str, Any]) -> None:
    assert checks.check_depends_on(services) == []
    for name in ONE_SHOT:
        awaited = [
            other
            for other, s in services.items()
            if (s.get("depends_on") or {}).get(name, {}).get("condition") == "service_completed_successfully"
        ]
        assert awaited, f"nobody waits for the one-shot job {name}"


def test_bad_dependencies_are_caught() -> None:
    bad = _bad(
        {
            "a": {"image": "x:1", "depends_on": ["b"]},
            "b": {"image": "x:1", "depends_on": {"c": {"condition": "service_healthy"}}},
            "c": {"image": "x:1", "depends_on": {"b": {"condition": "service_completed_successfully"}}},
            "d": {"image": "x:1", "depends_on": {"nope": {"condition": "service_started"}}},
        }
    )
    assert len(checks.check_depends_on(bad)) == 4


def test_healthchecks_use_tools_the_images_have(services: dict[str, Any]) -> None:
    """curl is in the Airflow image, not in python:*-slim ones (MLflow, the model server) nor in MinIO's."""
    for name, service in services.items():
        test = (service.get("healthcheck") or {}).get("test") or []
        tool = test[1].split()[0] if len(test) > 1 else ""
        if "build" in service:
            dockerfile = checks.REPO_ROOT / service["build"]["context"] / service["build"]["dockerfile"]
            base = checks.stages(checks.parse_dockerfile(dockerfile.read_text(encoding="utf-8")))[-1][0].args
            if base.startswith("python:") and "slim" in base:
                assert tool not in {"curl", "wget"}, f"{name}: {tool} is not in {base}"
        if str(service.get("image", "")).startswith("quay.io/minio/minio"):
            assert tool == "mc", name


# --- secrets ------------------------------------------------------------------------------------


def test_no_inline_secrets(services: dict[str, Any]) -> None:
    assert checks.check_secrets(services) == []


def test_inline_secrets_are_caught() -> None:
    bad = _bad(
        {
            "a": {
                "image": "x:1",
                "environment": {
                    "POSTGRES_PASSWORD": "hunter2",
                    "API_TOKEN": "${API_TOKEN:-default-token}",
                    "DB_URL": "postgresql://user:hunter2@db/app",
                    "AIRFLOW_CONN_S3": '{"conn_type": "aws", "password": "hunter2"}',
                    "FINE": "${FINE}",
                    "DB_PASSWORD_FILE": "/run/secrets/db",
                },
            },
            "b": {"image": "x:1", "environment": ["SECRET_KEY=abc", "OK_URL=postgresql://u:${P:?set P}@db/app"]},
        }
    )
    problems = checks.check_secrets(bad)
    assert len(problems) == 5, problems


def test_env_example_documents_every_variable_and_no_secret() -> None:
    assert checks.check_env_example(COMPOSE_TEXT, checks.ENV_EXAMPLE.read_text(encoding="utf-8")) == []


def test_env_example_mismatches_are_caught() -> None:
    compose = "x: ${A:?set A}\ny: ${B_PASSWORD:?set it}\nz: $${NOT_A_VARIABLE}\n"
    example = "A=1\nB_PASSWORD=hunter2\nUNUSED=3\n"
    problems = checks.check_env_example(compose, example)
    assert len(problems) == 2, problems  # UNUSED is stale; B_PASSWORD is filled in


# --- images and ports ---------------------------------------------------------------------------


def test_images_are_pinned(services: dict[str, Any]) -> None:
    assert checks.check_images(services) == []


def test_unpinned_images_are_caught() -> None:
    bad = _bad(
        {
            "a": {"image": "postgres"},
            "b": {"image": "minio/minio:latest"},
            "c": {"image": "tradewind/x:${TAG}", "build": {"context": "."}},
            "d": {"image": "localhost:5000/app"},
            "e": {"build": {"context": "."}},
        }
    )
    assert len(checks.check_images(bad)) == 4


def test_published_ports_do_not_collide(services: dict[str, Any]) -> None:
    assert checks.check_ports(services) == []
    hosts = {port for s in services.values() for _, port, _ in checks.published_ports(s)}
    assert {8080, 8081, 5000, 9000, 9001} == hosts


def test_colliding_ports_are_caught() -> None:
    bad = _bad(
        {
            "a": {"image": "x:1", "ports": ["${A_PORT:-8080}:8080"]},
            "b": {"image": "x:1", "ports": ["127.0.0.1:8080:80/tcp", "9000"]},
            "c": {"image": "x:1", "ports": [{"target": 80, "published": 8081}]},
            "d": {"image": "x:1", "ports": ["8081:8081"]},
        }
    )
    assert len(checks.check_ports(bad)) == 2


def test_port_variables_default_to_the_documented_values() -> None:
    example = checks.env_file(checks.ENV_EXAMPLE.read_text(encoding="utf-8"))
    for name, default in re.findall(r"\$\{(\w+_PORT):-(\d+)\}", COMPOSE_TEXT):
        assert example[name] == default, name


def test_compose_file_names_no_host_path_outside_the_repository(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for mount in service.get("volumes") or []:
            assert not str(mount).startswith("/"), f"{name}: {mount}"
    assert Path(checks.COMPOSE_FILE).parent == checks.REPO_ROOT
