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
