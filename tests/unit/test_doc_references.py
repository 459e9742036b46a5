"""Names quoted in docstrings, comments and docs exist: `Class.member` and `netlab.module.name`.

A stale name (a method renamed, a function moved) sends a reader looking for code that is not
there. Every backticked `Class.member` whose class is defined in netlab, and every backticked
`netlab.x.y` path, must resolve in the source (read with `ast`, nothing is imported).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUOTED = re.compile(r"`+([A-Za-z_][\w.]*\.[A-Za-z_]\w*)(?:\(\))?`+")


def _members(node: ast.ClassDef) -> set[str]:
    """What `Class.name` may name: methods, class attributes and `self.x` set in any method."""
    names: set[str] = set()
    for item in ast.walk(node):
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and item is not node:
            names.add(item.name)
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            names.add(item.target.id)
        elif isinstance(item, ast.Assign):
            names.update(t.id for t in item.targets if isinstance(t, ast.Name))
        if isinstance(item, ast.Attribute) and isinstance(item.value, ast.Name) and item.value.id == "self":
            names.add(item.attr)
    return names


def _top_level(body: list[ast.stmt]) -> set[str]:
    """Names a module defines, including those under a top-level `if` / `try` (TYPE_CHECKING, fallbacks)."""
    names: set[str] = set()
    for item in body:
        if isinstance(item, (ast.If, ast.Try)):
            names |= _top_level([*item.body, *item.orelse, *getattr(item, "finalbody", [])])
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(item.name)
        elif isinstance(item, ast.Assign):
            names.update(t.id for t in item.targets if isinstance(t, ast.Name))
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            names.add(item.target.id)
        elif isinstance(item, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in item.names)
    return names


def _index() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Class name -> its members (union over same-named classes); module path -> its top-level names."""
    classes: dict[str, set[str]] = {}
    modules: dict[str, set[str]] = {}
    for path in (ROOT / "netlab").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[module] = _top_level(tree.body)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                classes.setdefault(node.name, set()).update(_members(node))
    return classes, modules


def _resolves(dotted: str, classes: dict[str, set[str]], modules: dict[str, set[str]]) -> bool:
    parts = dotted.split(".")
    if parts[0] == "netlab":
        for cut in range(len(parts), 0, -1):
            module = ".".join(parts[:cut])
            if module in modules:
                rest = parts[cut:]
                if not rest:
                    return True
                if rest[0] not in modules[module] and f"{module}.{rest[0]}" not in modules:
                    return False
                return len(rest) == 1 or rest[1] in classes.get(rest[0], {rest[1]})
        return False
    return parts[1] in classes[parts[0]] if parts[0] in classes else True


def _quoted_names() -> list[tuple[str, int, str]]:
    files = [*(ROOT / "netlab").rglob("*.py"), *(ROOT / "docs").rglob("*.md"), ROOT / "README.md"]
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for match in QUOTED.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((str(path.relative_to(ROOT)), line, match.group(1)))
    return found


def test_every_quoted_name_exists() -> None:
    classes, modules = _index()
    stale = [f"{path}:{line}: {name}" for path, line, name in _quoted_names() if not _resolves(name, classes, modules)]
    assert stale == []


def test_the_check_catches_a_stale_name() -> None:
    classes, modules = _index()
    assert _resolves("Reassembler.feed_batch", classes, modules)
    assert not _resolves("Reassembler.feed_fields", classes, modules)
    assert _resolves("netlab.stream.pipeline.FieldBatchSource", classes, modules)
    assert not _resolves("netlab.stream.pipeline.no_such_thing", classes, modules)
    assert not _resolves("netlab.no_such_module.x", classes, modules)
