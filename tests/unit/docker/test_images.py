"""The Dockerfiles under docker/, checked statically: hadolint, pinned bases, non-root users, COPY
sources, and the trainer and serving images' contents (the core without Airflow, pinned like the
root requirements). No Docker engine is needed, and none builds anything here."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.version import Version

from tests.unit.docker import checks

pytestmark = pytest.mark.unit

DOCKERFILES = checks.dockerfiles()
IDS = [str(p.relative_to(checks.DOCKER_DIR)) for p in DOCKERFILES]
ROOT_REQS = checks.requirements(checks.REPO_ROOT / "requirements.txt")

TRAINER_CPU = checks.DOCKER_DIR / "trainer" / "Dockerfile.cpu"
TRAINER_CUDA = checks.DOCKER_DIR / "trainer" / "Dockerfile.cuda"
SERVING = checks.DOCKER_DIR / "serving" / "Dockerfile"
CORE_IMAGES = {  # Dockerfile -> its requirements file
    TRAINER_CPU: checks.DOCKER_DIR / "trainer" / "requirements.txt",
    TRAINER_CUDA: checks.DOCKER_DIR / "trainer" / "requirements.txt",
    SERVING: checks.DOCKER_DIR / "serving" / "requirements.txt",
}
REQUIREMENT_FILES = sorted(checks.DOCKER_DIR.rglob("requirements*.txt"))


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def hadolint_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An explicit, empty configuration: a hadolint.yaml elsewhere on the machine cannot relax the rules."""
    path = tmp_path_factory.mktemp("hadolint") / "hadolint.yaml"
    path.write_text("ignored: []\ntrusted-registries: []\n", encoding="utf-8")
    return path


def test_every_image_has_a_dockerfile() -> None:
    names = {str(p.relative_to(checks.DOCKER_DIR)) for p in DOCKERFILES}
    assert {"airflow/Dockerfile", "trainer/Dockerfile.cpu", "trainer/Dockerfile.cuda", "serving/Dockerfile"} <= names


# --- hadolint --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_hadolint_finds_nothing(path: Path, hadolint_config: Path) -> None:
    findings = checks.hadolint(path, hadolint_config)
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['level']}: {f['message']}" for f in findings)


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path, hadolint_config: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install flask\nRUN cd /app && make\n", encoding="utf-8")
    codes = {f["code"] for f in checks.hadolint(bad, hadolint_config)}
    assert {"DL3007", "DL3013", "DL3042"} <= codes, codes


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_hadolint_pragmas_give_a_reason(path: Path) -> None:
    assert checks.check_hadolint_pragmas(_text(path)) == []


def test_a_pragma_without_reason_is_caught() -> None:
    text = (
        "FROM debian:12\n"
        "# hadolint ignore=DL3008\n"
        "RUN apt-get update\n"
        "# hadolint ignore=DL3008,DL3015 -- Debian drops superseded versions from its mirrors\n"
    )
    problems = checks.check_hadolint_pragmas(text)
    assert len(problems) == 1
    assert "line 2" in problems[0]


# --- bases, users, copies ----------------------------------------------------------------------


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_base_images_are_pinned(path: Path) -> None:
    assert checks.check_base_images(_text(path)) == []


def test_unpinned_bases_are_caught() -> None:
    text = "ARG TAG\nFROM ubuntu AS one\nFROM python:latest\nFROM one\nFROM registry:5000/team/app\nFROM x:${TAG}\n"
    problems = checks.check_base_images(text)
    assert len(problems) == 4, problems  # ubuntu, python:latest, registry:5000/team/app, x:${TAG}


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_images_end_as_a_non_root_user(path: Path) -> None:
    assert checks.check_non_root(_text(path)) == []


@pytest.mark.parametrize(
    "text",
    [
        "FROM python:3.11-slim\nRUN true\n",
        "FROM python:3.11-slim\nUSER 10001\nFROM python:3.11-slim\n",
        "FROM python:3.11-slim\nUSER 10001\nUSER root\n",
        "FROM python:3.11-slim\nUSER 0:0\n",
    ],
    ids=["no-user", "user-in-an-earlier-stage", "back-to-root", "uid-0"],
)
def test_root_images_are_caught(text: str) -> None:
    assert checks.check_non_root(text) != []


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_copies_only_existing_paths(path: Path) -> None:
    assert checks.check_copy_sources(_text(path)) == []


def test_a_missing_copy_source_is_caught() -> None:
    text = (
        'FROM python:3.11-slim\nCOPY include/tradewind /app/\nCOPY ["no/such/dir", "/app/"]\nCOPY --from=build /x /y\n'
    )
    problems = checks.check_copy_sources(text)
    assert len(problems) == 1
    assert "no/such/dir" in problems[0]


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_dockerignore_keeps_what_the_images_copy(path: Path) -> None:
    assert checks.check_copies_not_ignored(_text(path), _text(checks.DOCKERIGNORE)) == []


def test_dockerignore_keeps_out_local_state_and_secrets() -> None:
    patterns = checks.dockerignore_patterns(_text(checks.DOCKERIGNORE))
    for path in (".venv/bin/python", ".git/HEAD", ".env", "data/lake/x", ".airflow/airflow.db", "bench/out/r.json"):
        assert checks.is_ignored(path, patterns), path
    for path in ("include/tradewind/settings.py", ".env.example", "requirements.txt", "dags/train.py"):
        assert not checks.is_ignored(path, patterns), path
    assert checks.check_copies_not_ignored("FROM a:1\nCOPY .venv /x\n", _text(checks.DOCKERIGNORE)) != []


# --- the trainer and serving images: the core, without Airflow ---------------------------------


@pytest.mark.parametrize("path", sorted(CORE_IMAGES), ids=lambda p: str(p.relative_to(checks.DOCKER_DIR)))
def test_core_images_contain_no_airflow(path: Path) -> None:
    assert checks.check_no_airflow(_text(CORE_IMAGES[path]), _text(path)) == []
    copied = {src.rstrip("/") for _, src in checks.copy_sources(_text(path))}
    assert "include/tradewind" in copied


def test_airflow_in_a_core_image_is_caught() -> None:
    dockerfile = "FROM python:3.11-slim\nRUN pip install --no-cache-dir apache-airflow==3.3.2\nCOPY plugins /p\n"
    problems = checks.check_no_airflow("pandas==2.3.3\napache-airflow-providers-amazon==9.39.0\n", dockerfile)
    assert len(problems) == 3, problems


@pytest.mark.parametrize("path", REQUIREMENT_FILES, ids=lambda p: str(p.relative_to(checks.DOCKER_DIR)))
def test_image_requirements_are_pinned_like_the_root_ones(path: Path) -> None:
    assert checks.check_pins(checks.requirements(path), ROOT_REQS) == []


def test_a_loose_or_diverging_pin_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("pandas>=2\nmlflow==3.16.0\nnumpy==2.4.6\n", encoding="utf-8")
    problems = checks.check_pins(checks.requirements(path), ROOT_REQS)
    assert len(problems) == 2, problems  # pandas not pinned; mlflow differs from the root pin


@pytest.mark.parametrize("path", REQUIREMENT_FILES, ids=lambda p: str(p.relative_to(checks.DOCKER_DIR)))
def test_image_requirements_match_the_tested_environment(path: Path) -> None:
    """The images pin what this environment (built from the root requirements) runs the tests with."""
    drift = []
    for name, req in checks.requirements(path).items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue
        pinned = checks.pinned_version(req)
        if pinned is not None and Version(installed).public != Version(pinned).public:
            drift.append(f"{name}: pinned {pinned}, the test environment has {installed}")
    assert drift == []


@pytest.mark.parametrize(
    ("entry", "requirements_file"),
    [
        ("tradewind.__main__", CORE_IMAGES[TRAINER_CPU]),
        ("tradewind.serving.__main__", CORE_IMAGES[SERVING]),
    ],
    ids=["trainer", "serving"],
)
def test_requirements_cover_what_the_entry_point_imports(entry: str, requirements_file: Path) -> None:
    assert checks.third_party_imports(entry), f"{entry}: no such module, or it imports nothing"
    assert checks.check_imports_covered(entry, checks.requirements(requirements_file)) == []


def test_a_missing_runtime_dependency_is_caught() -> None:
    reqs = set(checks.requirements(CORE_IMAGES[SERVING])) - {"prometheus-client"}
    problems = checks.check_imports_covered("tradewind.serving.__main__", reqs)
    assert any(p.startswith("prometheus_client") for p in problems), problems


@pytest.mark.parametrize(
    ("path", "variant"), [(TRAINER_CPU, "cpu"), (TRAINER_CUDA, "cu"), (SERVING, "cpu")], ids=["cpu", "cuda", "serving"]
)
def test_torch_comes_from_its_index_at_the_pinned_version(path: Path, variant: str) -> None:
    text = _text(path)
    pinned = checks.pinned_version(checks.requirements(CORE_IMAGES[path])["torch"])
    match = re.search(r"--index-url https://download\.pytorch\.org/whl/(\w+) torch==([\w.]+)\+(\w+)", text)
    assert match, "torch is installed from download.pytorch.org with an explicit build (+cpu, +cuXYZ)"
    index, torch_version, local = match.groups()
    assert torch_version == pinned == checks.pinned_version(ROOT_REQS["torch"])
    assert index == local
    assert local.startswith(variant)


def test_trainer_and_serving_run_as_the_uid_of_the_kubernetes_specs() -> None:
    from tradewind.k8s.inference import SERVING_UID
    from tradewind.k8s.specs import TRAINER_UID

    for path, uid in ((TRAINER_CPU, TRAINER_UID), (TRAINER_CUDA, TRAINER_UID), (SERVING, SERVING_UID)):
        text = _text(path)
        assert checks.final_user(text) == f"{uid}:{uid}", path.name
        assert re.search(rf"useradd [^\n]*--uid {uid} --gid {uid}", text), path.name
        assert re.search(rf"groupadd [^\n]*--gid {uid}", text), path.name


def _last(path: Path, keyword: str) -> list[str] | None:
    found = [ins for ins in checks.stages(checks.parse_dockerfile(_text(path)))[-1] if ins.keyword == keyword]
    return found[-1].exec_form() if found else None


@pytest.mark.parametrize("path", [TRAINER_CPU, TRAINER_CUDA], ids=["cpu", "cuda"])
def test_trainer_entrypoint_is_the_command_of_the_pod_specs(path: Path) -> None:
    from tradewind.k8s.specs import TRAINER_COMMAND

    assert _last(path, "ENTRYPOINT") == list(TRAINER_COMMAND)


def test_gpu_profiles_name_the_trainer_images() -> None:
    import yaml

    profiles = yaml.safe_load(_text(checks.REPO_ROOT / "include" / "config" / "gpu_profiles.yaml"))["profiles"]
    for name, profile in profiles.items():
        repository, _, tag = profile["image"].rsplit("/", 1)[-1].partition(":")
        assert repository == "trainer", name
        assert (checks.DOCKER_DIR / "trainer" / f"Dockerfile.{tag}").exists(), f"{name}: {profile['image']}"
        assert (tag == "cuda") == (profile["gpus"] > 0), f"{name}: gpus {profile['gpus']} on {profile['image']}"


def test_serving_image_runs_the_server_cli() -> None:
    import typer.main

    from tradewind.serving import contract
    from tradewind.serving.__main__ import cli

    assert _last(SERVING, "ENTRYPOINT") == ["python", "-m", "tradewind.serving"]
    cmd = _last(SERVING, "CMD")
    assert cmd == ["--host", "0.0.0.0", "--port", "8080"]
    options = {opt for param in typer.main.get_command(cli).params for opt in getattr(param, "opts", [])}
    assert {c for c in cmd if c.startswith("--")} <= options, options

    instructions = checks.parse_dockerfile(_text(SERVING))
    assert any(i.keyword == "EXPOSE" and i.args.split() == ["8080"] for i in instructions)
    health = [i for i in instructions if i.keyword == "HEALTHCHECK"]
    assert len(health) == 1
    assert f"127.0.0.1:8080{contract.HEALTH_PATH}" in health[0].args
    assert "curl" not in health[0].args
    assert "wget" not in health[0].args
