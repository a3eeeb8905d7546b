"""The core never names a service module (issue 10): no string in the source outside a module's own
package is a built-in module's slug, and no core file imports a built-in module. The modules' names
live in their manifests; the core iterates them."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "platform" / "bippop"


def builtin_slugs() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(project["project"]["entry-points"]["bippop.modules"])


def core_files() -> list[Path]:
    return [p for p in sorted(SOURCE.rglob("*.py")) if "migrations" not in p.relative_to(SOURCE).parts]


def slugs_named(path: Path, slugs: set[str], root: Path = SOURCE) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in slugs:
            found.append(f"{path.relative_to(root)}:{node.lineno}: {node.value!r}")
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bippop_modules"):
            found.append(f"{path.relative_to(root)}:{node.lineno}: imports {node.module}")
        if isinstance(node, ast.Import):
            found += [
                f"{path.relative_to(root)}:{node.lineno}: imports {a.name}"
                for a in node.names
                if a.name.startswith("bippop_modules")
            ]
    return found


def test_the_core_names_no_module() -> None:
    slugs = builtin_slugs()
    named = [hit for path in core_files() for hit in slugs_named(path, slugs)]
    assert not named, f"the core names a module (move it into the module's manifest): {named}"


def test_templates_of_the_core_name_no_module() -> None:
    slugs = builtin_slugs()
    named = []
    for template in sorted((ROOT / "themes").rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        named += [f"{template.relative_to(ROOT)}: {s}" for s in slugs if f'"{s}"' in text or f"'{s}'" in text]
    assert not named, named


def test_the_scan_sees_a_slug(tmp_path: Path) -> None:
    # A scan that silently matched nothing would pass forever.
    fake = tmp_path / "planted.py"
    fake.write_text('if manifest.slug == "admin_help":\n    pass\nfrom bippop_modules import events\n')
    hits = slugs_named(fake, {"admin_help", "events"}, root=tmp_path)
    assert sorted(h.split(": ", 1)[1] for h in hits) == ["'admin_help'", "imports bippop_modules"]
    assert {"visits", "events", "admin_help"} <= builtin_slugs()
