"""The shape of the source tree (issue 10): no file reaches into another file's private names, and
no file or function grows past what a reader can hold. The import layers themselves are checked
by `lint-imports` (contracts in pyproject.toml).

Each allow-list holds today's offenders and only shrinks: a new offender fails, and so does an
entry whose offence is gone (delete the line then). The split of the large files under issue 10
is emptying them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "platform" / "bippop"
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80

# "importing file: imported module.name". Emptied by the issue 10 split of accounts/ and aid/: keep it so.
UNDERSCORE_IMPORTS_ALLOWED: set[str] = set()

# Files over the limit (the failure message shows their lengths). Emptied by the issue 10 split: keep it so.
LONG_FILES_ALLOWED: set[str] = set()

# "file: qualified function name". Emptied by the issue 10 split: keep it so.
LONG_FUNCTIONS_ALLOWED: set[str] = set()
# The built-in service modules: a package of their own beside bippop, held to the same shape.
MODULES = SOURCE.parent / "bippop_modules"


def source_files() -> Iterator[tuple[str, ast.Module, int]]:
    """Each file as ``aid/portal/ask.py`` (under bippop) or ``bippop_modules/events/portal.py``."""
    paths = [(p, p.relative_to(SOURCE)) for p in sorted(SOURCE.rglob("*.py"))]
    paths += [(p, p.relative_to(SOURCE.parent)) for p in sorted(MODULES.rglob("*.py"))]
    for path, relative in paths:
        if "migrations" in relative.parts:
            continue  # generated revisions, read by Alembic, not by people
        text = path.read_text(encoding="utf-8")
        yield relative.as_posix(), ast.parse(text, filename=str(path)), len(text.splitlines())


def module_name(relative: str) -> list[str]:
    parts = relative.removesuffix(".py").split("/")
    if parts[0] != MODULES.name:
        parts = ["bippop", *parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported_module(relative: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module_name(relative)
    if not relative.endswith("__init__.py"):
        package = package[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def is_private(name: str) -> bool:
    # `_` is the gettext function; dunders such as __version__ are public by convention.
    return name.startswith("_") and name != "_" and not (name.startswith("__") and name.endswith("__"))


def underscore_imports() -> set[str]:
    found = set()
    for relative, tree, _lines in source_files():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = imported_module(relative, node)
                if module == "bippop" or module.startswith("bippop."):
                    found |= {f"{relative}: {module}.{a.name}" for a in node.names if is_private(a.name)}
    return found


def long_files() -> dict[str, int]:
    return {relative: lines for relative, _tree, lines in source_files() if lines > MAX_FILE_LINES}


def functions(
    node: ast.AST, prefix: str = ""
) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield f"{prefix}{child.name}", child
            yield from functions(child, f"{prefix}{child.name}.")
        elif isinstance(child, ast.ClassDef):
            yield from functions(child, f"{prefix}{child.name}.")


def long_functions() -> set[str]:
    found = set()
    for relative, tree, _lines in source_files():
        for name, node in functions(tree):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if (node.end_lineno or node.lineno) - start + 1 > MAX_FUNCTION_LINES:
                found.add(f"{relative}: {name}")
    return found


def check_allow_list(found: set[str], allowed: set[str], what: str) -> None:
    new, fixed = sorted(found - allowed), sorted(allowed - found)
    assert not new, f"new {what} (fix it rather than extend the allow-list): {new}"
    assert not fixed, f"gone from the code, delete from the allow-list: {fixed}"


def test_no_file_imports_another_files_private_names() -> None:
    check_allow_list(underscore_imports(), UNDERSCORE_IMPORTS_ALLOWED, "import of another file's _name")


def test_no_source_file_passes_500_lines() -> None:
    found = long_files()
    check_allow_list(set(found), LONG_FILES_ALLOWED, f"file over {MAX_FILE_LINES} lines: {found}")


def test_no_function_passes_80_lines() -> None:
    check_allow_list(long_functions(), LONG_FUNCTIONS_ALLOWED, f"function over {MAX_FUNCTION_LINES} lines")


def test_the_scan_sees_what_it_looks_for() -> None:
    # A scan that silently matched nothing would pass forever.
    tree = ast.parse("from bippop.web.pages import _page, _\nfrom .forms import _check\n")
    froms = [n for n in tree.body if isinstance(n, ast.ImportFrom)]
    assert imported_module("aid/portal.py", froms[1]) == "bippop.aid.forms"
    assert imported_module("aid/__init__.py", froms[1]) == "bippop.aid.forms"
    assert [a.name for a in froms[0].names if is_private(a.name)] == ["_page"]
    assert not is_private("__version__")
    nested = ast.parse("class Page:\n    def render(self):\n        def inner(): pass\n")
    assert [name for name, _node in functions(nested)] == ["Page.render", "Page.render.inner"]
    assert len(list(source_files())) > 50


# "a <-> b", in name order: two packages under bippop that import each other. Emptied under issue 10:
# keep it so.
PACKAGE_CYCLES_ALLOWED: set[str] = set()


def package_imports() -> dict[str, set[str]]:
    """Each package (or top-level module) under bippop → the others it imports, function-local imports
    and relative ones included."""
    found: dict[str, set[str]] = {}
    for relative, tree, _lines in source_files():
        own = relative.split("/")[0].removesuffix(".py")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = imported_module(relative, node)
                names = [f"{base}.{a.name}" for a in node.names] if base == "bippop" else [base]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "bippop" and len(parts) > 1 and parts[1] != own:
                    found.setdefault(own, set()).add(parts[1])
    return found


def package_cycles(imports: dict[str, set[str]]) -> set[str]:
    return {
        f"{a} <-> {b}"
        for a, targets in imports.items()
        for b in targets
        if a < b and a in imports.get(b, set())
    }


def test_no_two_packages_import_each_other() -> None:
    check_allow_list(
        package_cycles(package_imports()), PACKAGE_CYCLES_ALLOWED, "packages importing each other"
    )


def test_the_package_scan_sees_imports_each_way() -> None:
    imports = package_imports()
    assert "tenants" in imports["web"] and "config" in imports["db"]
    assert package_cycles({"a": {"b"}, "b": {"a", "c"}, "c": set()}) == {"a <-> b"}
