"""Static checks of terraform/: module shape, typed and described interfaces, pinned providers, the
GPU node-pool contract of include/config/gpu_profiles.yaml, the outputs the cloud profiles read,
``terraform fmt`` and checkov.

Nothing here needs a cloud or a provider download: the HCL is parsed with python-hcl2, the contract
is derived from the YAML with PyYAML, and the checkers are functions that return the problems they
find, so each one is also run on a deliberately broken copy to show that it can fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from tradewind.k8s import K8S_VERSION

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
TERRAFORM = REPO / "terraform"
MODULES = TERRAFORM / "modules"
ENVS = TERRAFORM / "envs"
CONFIG = REPO / "include" / "config"
GPU_PROFILES = CONFIG / "gpu_profiles.yaml"

EXPECTED_MODULES = (
    "network/aws",
    "network/gcp",
    "eks",
    "gke",
    "storage/aws",
    "storage/gcp",
    "database/aws",
    "database/gcp",
    "registry/aws",
    "registry/gcp",
    "iam/aws",
    "iam/gcp",
    "platform",
)
MODULE_SHAPE = ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md")
ENV_FILES = (*MODULE_SHAPE, "terraform.tfvars.example", "backend.hcl.example")
BACKENDS = {"aws": "s3", "gcp": "gcs"}

# What the aws and gcp environment profiles read from `terraform output -json`.
REQUIRED_ENV_OUTPUTS = (
    "lake_bucket",
    "artifacts_bucket",
    "inference_log_bucket",
    "storage_conn_id",
    "kubernetes_conn_id",
    "mlflow_tracking_uri",
    "image_registry",
    "training_namespace",
    "serving_namespace",
    "prometheus_url",
    "gpu_node_pools",
    "cluster_name",
    "region",
    "database_host",
)
DEFAULT_CONN_IDS = {
    "aws": {"storage_conn_id": "aws_default", "kubernetes_conn_id": "kubernetes_default"},
    "gcp": {"storage_conn_id": "google_cloud_default", "kubernetes_conn_id": "kubernetes_default"},
}
TF_PLACEHOLDER = re.compile(r"\$\{tf:([A-Za-z0-9_]+)\}")

PLATFORM_MANIFESTS = {
    "serving-runtime.yaml": ("ServingRuntime", "tradewind-mlflow"),
    "trainer-workers-service.yaml": ("Service", "tradewind-trainer-workers"),
    "trainer-network-policy.yaml": ("NetworkPolicy", "tradewind-trainer"),
    "pod-monitor.yaml": ("PodMonitor", None),
}

_HCL = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
_SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")
_CHECK_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def load_hcl(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return hcl2.load(handle, serialization_options=_HCL)


def named_blocks(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    """``variable``/``output`` blocks of a file by name (an absent file has none)."""
    if not path.exists():
        return {}
    found: dict[str, dict[str, Any]] = {}
    for entry in load_hcl(path).get(kind, []):
        found.update(entry)
    return found


def resources(directory: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(type, name) -> body of every ``resource`` and ``data`` block of a module."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for tf in sorted(directory.glob("*.tf")):
        doc = load_hcl(tf)
        for kind in ("resource", "data"):
            for entry in doc.get(kind, []):
                for rtype, by_name in entry.items():
                    for name, body in by_name.items():
                        found[(rtype, name)] = body
    return found


def locals_of(directory: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for tf in sorted(directory.glob("*.tf")):
        for entry in load_hcl(tf).get("locals", []):
            merged.update(entry)
    return merged


def terraform_block(directory: Path) -> dict[str, Any]:
    blocks = load_hcl(directory / "versions.tf").get("terraform", [])
    assert len(blocks) == 1, f"{directory}/versions.tf: one terraform block expected, found {len(blocks)}"
    return blocks[0]


def iter_tf_files(root: Path) -> Iterator[Path]:
    """The .tf files under a folder, without what `terraform init` downloads into .terraform/."""
    yield from sorted(tf for tf in root.rglob("*.tf") if ".terraform" not in tf.relative_to(root).parts)


def module_dirs() -> list[Path]:
    """Every folder under terraform/modules that holds .tf files (parent folders hold a README only)."""
    return sorted({tf.parent for tf in iter_tf_files(MODULES)})


def env_dirs() -> list[Path]:
    return sorted(p for p in ENVS.iterdir() if p.is_dir())


def placeholders(data: Any) -> set[str]:
    """The ``${tf:NAME}`` names in the values of a parsed profile (comments are not values)."""
    if isinstance(data, dict):
        return set().union(set(), *(placeholders(v) for v in data.values()))
    if isinstance(data, list):
        return set().union(set(), *(placeholders(v) for v in data))
    return set(TF_PLACEHOLDER.findall(data)) if isinstance(data, str) else set()


def rel(path: Path) -> str:
    return path.relative_to(TERRAFORM).as_posix()


# ---------------------------------------------------------------------------------------------
# Checkers: each returns the problems it finds (empty when the folder is right)
# ---------------------------------------------------------------------------------------------


def shape_problems(directory: Path, expected: tuple[str, ...] = MODULE_SHAPE) -> list[str]:
    problems = [f"{name} is missing" for name in expected if not (directory / name).is_file()]
    extra = sorted(p.name for p in directory.glob("*.tf") if p.name not in expected)
    problems += [f"{name} is outside the module shape (main, variables, outputs, versions)" for name in extra]
    return problems


def interface_problems(directory: Path) -> list[str]:
    """Every variable has a type and a description; every output has a description."""
    problems = []
    for name, spec in named_blocks(directory / "variables.tf", "variable").items():
        if not spec.get("type"):
            problems.append(f"variable {name}: no type")
        if not str(spec.get("description", "")).strip():
            problems.append(f"variable {name}: no description")
    for name, spec in named_blocks(directory / "outputs.tf", "output").items():
        if not str(spec.get("description", "")).strip():
            problems.append(f"output {name}: no description")
    # Interfaces live in their own files, so the README tables and the checks see all of them.
    for tf in sorted(directory.glob("*.tf")):
        doc = load_hcl(tf)
        if tf.name != "variables.tf" and doc.get("variable"):
            problems.append(f"{tf.name}: variables belong in variables.tf")
        if tf.name != "outputs.tf" and doc.get("output"):
            problems.append(f"{tf.name}: outputs belong in outputs.tf")
    return problems


def version_problems(directory: Path) -> list[str]:
    """versions.tf pins Terraform and every provider the module's resources use."""
    block = terraform_block(directory)
    problems = []
    if not str(block.get("required_version", "")).strip():
        problems.append("terraform.required_version is missing")
    declared: dict[str, Any] = {}
    for entry in block.get("required_providers", []):
        declared.update(entry)
    for name, spec in declared.items():
        if not isinstance(spec, dict) or not spec.get("source") or not str(spec.get("version", "")).strip():
            problems.append(f"provider {name}: needs a source and a version constraint")
    used = {rtype.split("_", 1)[0] for rtype, _ in resources(directory)}
    problems += [f"provider {name} is used but not in required_providers" for name in sorted(used - set(declared))]
    return problems


def readme_problems(directory: Path) -> list[str]:
    """The README has Inputs and Outputs tables with a row for every variable and output."""
    readme = directory / "README.md"
    if not readme.exists():
        return ["README.md is missing"]
    text = readme.read_text(encoding="utf-8")
    problems = [f"README.md: no '## {title}' section" for title in ("Inputs", "Outputs") if f"## {title}" not in text]
    rows = set(re.findall(r"^\| `([A-Za-z0-9_]+)` \|", text, flags=re.MULTILINE))
    names = [*named_blocks(directory / "variables.tf", "variable"), *named_blocks(directory / "outputs.tf", "output")]
    problems += [f"README.md: no table row for {name}" for name in names if name not in rows]
    return problems


def helm_problems(directory: Path) -> list[str]:
    return [
        f"helm_release.{name}: chart version is not pinned"
        for (rtype, name), body in resources(directory).items()
        if rtype == "helm_release" and not body.get("version")
    ]


def skip_problems(root: Path) -> list[str]:
    """Every checkov skip is inline, names a real check id and gives a reason in words."""
    problems = []
    for tf in iter_tf_files(root):
        for number, line in enumerate(tf.read_text(encoding="utf-8").splitlines(), start=1):
            match = _SKIP.search(line)
            if not match:
                continue
            where = f"{tf.relative_to(root)}:{number}"
            check, reason = match.group(1), (match.group(2) or "").strip()
            if not _CHECK_ID.match(check):
                problems.append(f"{where}: {check} is not a checkov check id")
            if len(reason.split()) < 6:
                problems.append(f"{where}: skip of {check} needs a reason (a sentence, not '{reason}')")
    return problems


# ---------------------------------------------------------------------------------------------
# The node-pool contract
# ---------------------------------------------------------------------------------------------


def _taint(item: dict[str, Any]) -> dict[str, str]:
    return {"key": str(item["key"]), "value": str(item["value"]), "effect": str(item["effect"])}


def contract_from_profiles(path: Path = GPU_PROFILES) -> dict[str, dict[str, Any]]:
    """Pool -> {labels, taints, spot} as the GPU profiles select and tolerate them."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    label = data["node_pools"]["pool_label"]
    gpu_taint, spot_taint = _taint(data["node_pools"]["gpu_taint"]), _taint(data["node_pools"]["spot_taint"])
    pools: dict[str, dict[str, Any]] = {}
    for name, profile in data["profiles"].items():
        if not profile.get("gpus"):
            continue
        pool = profile["node_selector"][label]
        taints = [_taint(t) for t in profile["tolerations"]]
        assert gpu_taint in taints, f"profile {name} does not tolerate the GPU taint"
        assert (spot_taint in taints) == bool(profile["spot"]), f"profile {name}: spot and the spot taint disagree"
        entry = {"labels": {label: pool}, "taints": taints, "spot": bool(profile["spot"])}
        previous = pools.setdefault(pool, entry)
        assert _same_pool(previous, entry), f"profiles disagree on pool {pool}: {previous} != {entry}"
    return pools


def _same_pool(a: dict[str, Any], b: dict[str, Any]) -> bool:
    order = lambda taints: sorted(json.dumps(t, sort_keys=True) for t in taints)  # noqa: E731
    return a["labels"] == b["labels"] and order(a["taints"]) == order(b["taints"]) and a["spot"] == b["spot"]


def pools_in_terraform(directory: Path) -> dict[str, dict[str, Any]]:
    """Pool -> {labels, taints, spot} from the ``gpu_node_pools`` default of an eks or gke module."""
    default = named_blocks(directory / "variables.tf", "variable")["gpu_node_pools"]["default"]
    out = {}
    for name, pool in default.items():
        spot = pool["capacity_type"] == "SPOT" if "capacity_type" in pool else bool(pool["spot"])
        out[name] = {"labels": dict(pool["labels"]), "taints": [_taint(t) for t in pool["taints"]], "spot": spot}
    return out


def contract_problems(expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    if set(expected) != set(actual):
        problems.append(f"pools differ: gpu_profiles.yaml has {sorted(expected)}, Terraform has {sorted(actual)}")
    for name in sorted(set(expected) & set(actual)):
        if not _same_pool(expected[name], actual[name]):
            problems.append(f"pool {name}: gpu_profiles.yaml wants {expected[name]}, Terraform has {actual[name]}")
    return problems


# ---------------------------------------------------------------------------------------------
# Structure of the modules and roots
# ---------------------------------------------------------------------------------------------


def test_every_module_the_design_names_exists() -> None:
    found = {rel(d).removeprefix("modules/") for d in module_dirs()}
    assert set(EXPECTED_MODULES) <= found, f"missing modules: {sorted(set(EXPECTED_MODULES) - found)}"


@pytest.mark.parametrize("directory", module_dirs(), ids=rel)
def test_every_module_has_the_module_shape(directory: Path) -> None:
    assert shape_problems(directory) == []


@pytest.mark.parametrize("directory", env_dirs(), ids=rel)
def test_every_env_root_has_the_module_shape_and_its_examples(directory: Path) -> None:
    assert shape_problems(directory, ENV_FILES) == []


@pytest.mark.parametrize("directory", module_dirs() + env_dirs(), ids=rel)
def test_every_variable_is_typed_and_described_and_every_output_described(directory: Path) -> None:
    assert interface_problems(directory) == []


@pytest.mark.parametrize("directory", module_dirs() + env_dirs(), ids=rel)
def test_versions_tf_pins_terraform_and_every_provider_used(directory: Path) -> None:
    assert version_problems(directory) == []


@pytest.mark.parametrize("directory", module_dirs() + env_dirs(), ids=rel)
def test_the_readme_lists_every_input_and_output(directory: Path) -> None:
    assert readme_problems(directory) == []


@pytest.mark.parametrize("directory", module_dirs(), ids=rel)
def test_modules_configure_no_provider_and_no_backend(directory: Path) -> None:
    for tf in directory.glob("*.tf"):
        doc = load_hcl(tf)
        assert not doc.get("provider"), f"{rel(tf)}: providers are configured by the env roots"
    assert "backend" not in terraform_block(directory), f"{rel(directory)}: only env roots have a backend"


def test_every_helm_chart_version_is_pinned() -> None:
    assert helm_problems(MODULES / "platform") == []
    assert any(rtype == "helm_release" for rtype, _ in resources(MODULES / "platform"))


@pytest.mark.parametrize("env", sorted(BACKENDS))
def test_env_roots_have_a_partial_remote_backend_and_example_values(env: str) -> None:
    directory = ENVS / env
    (backend,) = terraform_block(directory)["backend"]
    assert list(backend) == [BACKENDS[env]], f"envs/{env}: backend {list(backend)}, expected {BACKENDS[env]}"
    assert backend[BACKENDS[env]] == {}, f"envs/{env}: the backend is configured at init time (-backend-config)"
    example = load_hcl(directory / "backend.hcl.example")
    assert example.get("bucket"), f"envs/{env}/backend.hcl.example: no bucket"
    tfvars = load_hcl(directory / "terraform.tfvars.example")
    variables = named_blocks(directory / "variables.tf", "variable")
    required = sorted(name for name, spec in variables.items() if "default" not in spec)
    missing = [name for name in required if name not in tfvars]
    assert not missing, f"envs/{env}/terraform.tfvars.example does not set the required {missing}"
    unknown = sorted(set(tfvars) - set(variables))
    assert not unknown, f"envs/{env}/terraform.tfvars.example sets unknown variables {unknown}"


@pytest.mark.parametrize("env", sorted(BACKENDS))
def test_env_outputs_cover_what_the_profile_reads(env: str) -> None:
    directory = ENVS / env
    outputs = set(named_blocks(directory / "outputs.tf", "output"))
    wanted = set(REQUIRED_ENV_OUTPUTS)
    profile = CONFIG / "profiles" / f"{env}.yaml"
    if profile.exists():
        wanted |= placeholders(yaml.safe_load(profile.read_text(encoding="utf-8")))
    assert sorted(wanted - outputs) == [], f"envs/{env}/outputs.tf lacks what the {env} profile reads"


@pytest.mark.parametrize("env", sorted(BACKENDS))
def test_env_connection_ids_default_to_the_profile_names(env: str) -> None:
    variables = named_blocks(ENVS / env / "variables.tf", "variable")
    for name, default in DEFAULT_CONN_IDS[env].items():
        assert variables[name]["default"] == default


def test_eks_targets_the_kubernetes_version_the_specs_are_validated_against() -> None:
    minor = ".".join(K8S_VERSION.split(".")[:2])
    for directory in (MODULES / "eks", ENVS / "aws"):
        default = named_blocks(directory / "variables.tf", "variable")["kubernetes_version"]["default"]
        assert default == minor, f"{rel(directory)}: kubernetes_version {default}, tradewind.k8s.K8S_VERSION {minor}"


# ---------------------------------------------------------------------------------------------
# The GPU node-pool contract
# ---------------------------------------------------------------------------------------------


def test_the_contract_is_what_the_profiles_say() -> None:
    pools = contract_from_profiles()
    assert set(pools) == {"gpu-t4-spot", "gpu-a100"}
    assert pools["gpu-t4-spot"]["spot"]
    assert not pools["gpu-a100"]["spot"]


@pytest.mark.parametrize("module", ["eks", "gke"])
def test_gpu_pools_carry_exactly_the_labels_and_taints_of_the_profiles(module: str) -> None:
    assert contract_problems(contract_from_profiles(), pools_in_terraform(MODULES / module)) == []


@pytest.mark.parametrize(
    ("module", "resource", "effect_map", "api_effect"),
    [
        ("eks", ("aws_eks_node_group", "gpu"), "eks_taint_effect", "NO_SCHEDULE"),
        ("gke", ("google_container_node_pool", "gpu"), "gke_taint_effect", "NO_SCHEDULE"),
    ],
)
def test_gpu_pools_apply_the_labels_and_taints_they_declare(
    module: str, resource: tuple[str, str], effect_map: str, api_effect: str
) -> None:
    """The node group or pool is made from the declared pools, with effects mapped to the cloud API."""
    directory = MODULES / module
    body = resources(directory)[resource]
    assert body["for_each"] == "${var.gpu_node_pools}"
    config = body if module == "eks" else body["node_config"][0]
    assert config["labels"] == "${each.value.labels}"
    (dynamic,) = config["dynamic"]
    taint = dynamic["taint"]
    assert taint["for_each"] == "${each.value.taints}"
    (content,) = taint["content"]
    assert content["effect"] == f"${{local.{effect_map}[taint.value.effect]}}"
    assert locals_of(directory)[effect_map]["NoSchedule"] == api_effect
    spot_field = "capacity_type" if module == "eks" else "spot"
    assert config[spot_field] == f"${{each.value.{spot_field}}}"


@pytest.mark.parametrize("module", ["eks", "gke"])
def test_the_gpu_node_pools_output_keeps_the_kubernetes_spelling(module: str) -> None:
    value = named_blocks(MODULES / module / "outputs.tf", "output")["gpu_node_pools"]["value"]
    assert "labels = pool.labels" in value
    assert "taints = pool.taints" in value
    for pool in pools_in_terraform(MODULES / module).values():
        assert {t["effect"] for t in pool["taints"]} <= {"NoSchedule", "PreferNoSchedule", "NoExecute"}


@pytest.mark.parametrize("module", ["eks", "gke"])
def test_pool_validation_guards_the_contract_against_overrides(module: str) -> None:
    spec = named_blocks(MODULES / module / "variables.tf", "variable")["gpu_node_pools"]
    conditions = " ".join(v["condition"] for v in spec["validation"])
    for needle in ('"tradewind.io/pool"', '"nvidia.com/gpu"', '"tradewind.io/spot"'):
        assert needle in conditions, f"{module}: gpu_node_pools validation does not check {needle}"
    assert spec.get("nullable") is False, f"{module}: gpu_node_pools must fall back to the contract when null"


def test_gke_gpu_pools_fit_the_profiles_gpu_count() -> None:
    data = yaml.safe_load(GPU_PROFILES.read_text(encoding="utf-8"))
    label = data["node_pools"]["pool_label"]
    default = named_blocks(MODULES / "gke" / "variables.tf", "variable")["gpu_node_pools"]["default"]
    for name, profile in data["profiles"].items():
        if profile.get("gpus"):
            pool = default[profile["node_selector"][label]]
            assert pool["accelerator_count"] >= profile["gpus"], f"profile {name} wants more GPUs than a node has"


# ---------------------------------------------------------------------------------------------
# Platform manifests
# ---------------------------------------------------------------------------------------------


def test_the_platform_applies_exactly_the_manifest_files() -> None:
    folder = MODULES / "platform" / "manifests"
    assert sorted(p.name for p in folder.glob("*.yaml")) == sorted(PLATFORM_MANIFESTS)
    applied = locals_of(MODULES / "platform")["manifest_namespaces"]
    assert sorted(applied) == sorted(PLATFORM_MANIFESTS)


@pytest.mark.parametrize("name", sorted(PLATFORM_MANIFESTS))
def test_each_manifest_is_a_placeholder_or_one_object_of_the_expected_kind(name: str) -> None:
    text = (MODULES / "platform" / "manifests" / name).read_text(encoding="utf-8")
    body = [line for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    if not body:
        assert "tradewind.k8s.render_platform" in text, f"{name}: a placeholder names the command that renders it"
        return
    filled = text.replace("${namespace}", "tradewind").replace("${serving_image}", "registry.example/serving:1")
    documents = [d for d in yaml.safe_load_all(filled) if d is not None]
    assert len(documents) == 1, f"{name}: Terraform's yamldecode() takes exactly one object per file"
    kind, object_name = PLATFORM_MANIFESTS[name]
    assert documents[0]["kind"] == kind
    if object_name:
        assert documents[0]["metadata"]["name"] == object_name


# ---------------------------------------------------------------------------------------------
# The checkers can fail: each one on a deliberately broken copy
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def broken_eks(tmp_path: Path) -> Path:
    copy = tmp_path / "eks"
    shutil.copytree(MODULES / "eks", copy)
    return copy


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path.name} no longer contains {old!r}; update the broken-copy test"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shape_check_finds_a_missing_file_and_a_stray_one(broken_eks: Path) -> None:
    (broken_eks / "outputs.tf").unlink()
    (broken_eks / "extra.tf").write_text("locals {}\n")
    assert shape_problems(broken_eks) == [
        "outputs.tf is missing",
        "extra.tf is outside the module shape (main, variables, outputs, versions)",
    ]


def test_the_interface_check_finds_an_untyped_undescribed_variable(broken_eks: Path) -> None:
    with (broken_eks / "variables.tf").open("a", encoding="utf-8") as handle:
        handle.write('\nvariable "loose" {\n  default = 1\n}\n')
    with (broken_eks / "outputs.tf").open("a", encoding="utf-8") as handle:
        handle.write('\noutput "bare" {\n  value = 1\n}\n')
    assert interface_problems(broken_eks) == [
        "variable loose: no type",
        "variable loose: no description",
        "output bare: no description",
    ]
    assert "README.md: no table row for loose" in readme_problems(broken_eks)


def test_the_version_check_finds_an_unpinned_and_an_undeclared_provider(broken_eks: Path) -> None:
    _edit(broken_eks / "versions.tf", 'version = "~> 6.0"', "")
    with (broken_eks / "main.tf").open("a", encoding="utf-8") as handle:
        handle.write('\nresource "random_id" "x" {\n  byte_length = 4\n}\n')
    assert version_problems(broken_eks) == [
        "provider aws: needs a source and a version constraint",
        "provider random is used but not in required_providers",
    ]


def test_the_contract_check_finds_a_dropped_spot_taint_and_a_renamed_pool(broken_eks: Path) -> None:
    _edit(
        broken_eks / "variables.tf",
        '        { key = "tradewind.io/spot", value = "true", effect = "NoSchedule" },\n',
        "",
    )
    problems = contract_problems(contract_from_profiles(), pools_in_terraform(broken_eks))
    assert len(problems) == 1
    assert problems[0].startswith("pool gpu-t4-spot:")
    _edit(broken_eks / "variables.tf", '"gpu-a100" = {', '"gpu-a100-renamed" = {')
    problems = contract_problems(contract_from_profiles(), pools_in_terraform(broken_eks))
    assert problems[0].startswith("pools differ:")


def test_the_skip_check_finds_a_skip_without_a_reason(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'resource "aws_s3_bucket" "x" {\n'
        "  #checkov:skip=CKV_AWS_18\n"
        "  #checkov:skip=CKV_AWS_21:not needed\n"
        '  bucket = "x"\n'
        "}\n"
    )
    assert len(skip_problems(tmp_path)) == 2


# ---------------------------------------------------------------------------------------------
# terraform fmt and checkov
# ---------------------------------------------------------------------------------------------


def _terraform() -> str:
    found = shutil.which("terraform")
    if not found:
        pytest.skip("terraform is not on PATH: `terraform fmt -check -recursive terraform/` was not run")
    return found


def _fmt_check(terraform: str, target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", "-no-color", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_terraform_fmt_is_clean() -> None:
    result = _fmt_check(_terraform(), TERRAFORM)
    assert result.returncode == 0, f"terraform fmt -check -recursive terraform/ failed:\n{result.stdout}{result.stderr}"


def test_terraform_fmt_check_fails_on_unformatted_code(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text("locals {\nx=1\n  long_name = 2\n}\n")
    assert _fmt_check(_terraform(), tmp_path).returncode != 0


def _checkov_binary() -> Path:
    tools = Path(os.environ.get("TRADEWIND_TOOLS_VENV", REPO / ".venv-tools"))
    binary = tools / "bin" / "checkov"
    if not binary.exists():
        pytest.fail(
            f"checkov not found at {binary}: run `make tools` (installs terraform/tools-requirements.txt into "
            ".venv-tools; set TRADEWIND_TOOLS_VENV to use another environment). checkov cannot live in .venv: "
            "its pins would downgrade packages the Airflow stack needs."
        )
    return binary


def run_checkov(target: Path) -> dict[str, Any]:
    """checkov on a folder, offline; the one report of the terraform framework."""
    result = subprocess.run(
        [
            str(_checkov_binary()),
            "-d",
            str(target),
            "--framework",
            "terraform",
            "--quiet",
            "--compact",
            "--skip-download",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "LOG_LEVEL": "ERROR"},
    )
    assert result.stdout.strip(), f"checkov printed no report (exit {result.returncode}):\n{result.stderr[-4000:]}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    (terraform,) = [r for r in reports if r.get("check_type", "terraform") == "terraform"]
    return terraform


@pytest.fixture(scope="module")
def checkov_report() -> dict[str, Any]:
    return run_checkov(TERRAFORM)


def _failures(report: dict[str, Any]) -> list[str]:
    return [
        f"{f['check_id']} {f['resource']} ({f['file_path']}:{'-'.join(map(str, f.get('file_line_range', [])))}): "
        f"{f['check_name']}"
        for f in report.get("results", {}).get("failed_checks", [])
    ]


def test_checkov_finds_no_failed_check(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0, f"checkov could not parse terraform/: {summary}"
    assert summary["resource_count"] > 100, f"checkov scanned too little of terraform/: {summary}"
    failures = "\n".join(_failures(checkov_report))
    assert summary["failed"] == 0, f"checkov: {summary['failed']} failed checks\n{failures}"


def test_every_checkov_skip_is_inline_with_a_reason() -> None:
    assert skip_problems(TERRAFORM) == []
    config = [p for p in REPO.glob(".checkov*") if p.is_file()]
    assert not config, f"skips are inline (#checkov:skip=ID:reason), not in {config}"


def test_checkov_reports_an_insecure_bucket(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('resource "aws_s3_bucket" "open" {\n  bucket = "tradewind-open"\n}\n')
    report = run_checkov(tmp_path)
    assert report["summary"]["failed"] > 0, "checkov passed a bare bucket: the checker is not checking"


def test_no_terraform_file_holds_a_literal_password() -> None:
    for tf in iter_tf_files(TERRAFORM):
        text = tf.read_text(encoding="utf-8")
        assert not re.search(r'password\s*=\s*"[^"$]', text), f"{rel(tf)}: a literal password"
