"""The names the docs quote exist: every `netlab/...` path and `module.Name` in docs/architecture.md, and
the `module.Name`s that netlab's own docstrings quote.

docs/architecture.md is the newcomer's map, so it must not send anyone to a module or function that was
renamed: every code span (and every path or name in its diagrams) that looks like a file path, a bare
`*.py` name, a dotted `module.Name[.attr]` or a CamelCase class name is looked up. A dotted name is
resolved against netlab's modules: `netlab.x.y.Name`, or the last parts of a module's dotted name
(`decode._link_layer`, `report.model.sum_stats`), or a class defined at the top of some netlab module
(`Reassembler.feed`); the rest of the dots are attributes. Docstrings are checked more leniently: only
names whose first part is a netlab module or a name netlab defines are looked up (`json.dumps` and local
variables are not netlab's to check).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from shell_commands import code_in_markdown

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
CHECKED_DIRS = ("netlab/", "tests/", "bench/")
FILE_SUFFIXES = (".py", ".md", ".toml", ".txt", ".pcap", ".pcapng", ".json", ".jsonl", ".html", ".svg", ".sh")

_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_CAMEL = re.compile(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+")
_PATH = re.compile(r"(?:netlab|tests|bench)/[\w./*-]*")
_BARE_PY = re.compile(r"[\w*]+\.py")


@cache
def module_names() -> tuple[str, ...]:
    """Every module of the netlab package, dotted (`netlab.capture.decode`, `netlab.stream`)."""
    names = []
    for path in sorted((ROOT / "netlab").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return tuple(names)


@cache
def top_level_definers() -> dict[str, list[str]]:
    """Name → the netlab modules that define it at their top level (class, function or assignment)."""
    found: dict[str, list[str]] = {}
    for name in module_names():
        path = ROOT / (name.replace(".", "/") + ("/__init__.py" if (ROOT / name.replace(".", "/")).is_dir() else ".py"))
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets: list[str] = []
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                targets = [node.name]
            elif isinstance(node, ast.Assign):
                targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                targets = [node.target.id]
            for target in targets:
                found.setdefault(target, []).append(name)
    return found


def _instance_attributes(cls: type) -> set[str]:
    """What the methods of `cls` assign to `self.NAME` (attributes a class object does not have)."""
    try:
        tree = ast.parse(inspect.getsource(cls))
    except (OSError, TypeError, SyntaxError):
        return set()
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    }


def _has_attributes(obj: object, attributes: list[str]) -> bool:
    for index, attribute in enumerate(attributes):
        if not hasattr(obj, attribute):
            last = index == len(attributes) - 1
            # a dataclass field without a default is only an annotation; an instance attribute is set in a method
            known = set(getattr(obj, "__annotations__", {}))
            if isinstance(obj, type):
                known |= _instance_attributes(obj)
            return last and attribute in known
        obj = getattr(obj, attribute)
    return True


def _modules_ending_with(parts: list[str]) -> list[str]:
    suffix = ".".join(parts)
    return [m for m in module_names() if m == suffix or m.endswith("." + suffix)]


def resolves(dotted: str) -> bool:
    """True when `dotted` names something netlab has (see the module docstring for the forms)."""
    parts = dotted.removesuffix("()").split(".")
    for cut in range(len(parts), 0, -1):
        for module in _modules_ending_with(parts[:cut]):
            if _has_attributes(importlib.import_module(module), parts[cut:]):
                return True
    for module in top_level_definers().get(parts[0], []):
        if _has_attributes(importlib.import_module(module), parts):
            return True
    return False


def known_first_part(dotted: str) -> bool:
    """True when the first part of `dotted` is netlab's: a module's last part, or a name it defines."""
    first = dotted.split(".")[0]
    return bool(_modules_ending_with([first])) or first in top_level_definers()


def _is_file_name(text: str) -> bool:
    return text.endswith(FILE_SUFFIXES)


def path_exists(text: str) -> bool:
    """A repository path (globs allowed), or a bare `name.py` somewhere under netlab/, tests/ or bench/."""
    text = text.rstrip(".,")
    if "/" in text:
        return any(ROOT.glob(text)) if "*" in text else (ROOT / text).exists()
    return any(any((ROOT / top).rglob(text)) for top in CHECKED_DIRS)


def references(markdown: str) -> Iterator[tuple[str, str]]:
    """(kind, text) for every path, file name, dotted name and CamelCase name the Markdown quotes."""
    blocks, spans = code_in_markdown(markdown)
    for span in spans:
        span = span.strip()
        if span.startswith(CHECKED_DIRS):
            yield "path", span
        elif re.fullmatch(r"[\w*]+\.py", span):
            yield "path", span
        elif _is_file_name(span):
            continue
        elif re.fullmatch(_DOTTED.pattern + r"(?:\(\))?", span):
            yield "name", span
        elif _CAMEL.fullmatch(span):
            yield "name", span
    for line in blocks:
        for match in _PATH.finditer(line):
            yield "path", match.group()
        rest = _PATH.sub(" ", line)
        for match in _BARE_PY.finditer(rest):
            yield "path", match.group()
        rest = _BARE_PY.sub(" ", rest)
        for match in _DOTTED.finditer(rest):
            yield "name", match.group()
        for match in _CAMEL.finditer(_DOTTED.sub(" ", rest)):
            yield "name", match.group()


ARCHITECTURE_REFERENCES = sorted(set(references(ARCHITECTURE.read_text(encoding="utf-8"))))


def test_the_architecture_page_quotes_many_names() -> None:
    """The page names real code; if the extraction broke, the next test would pass on nothing."""
    kinds = [kind for kind, _ in ARCHITECTURE_REFERENCES]
    assert kinds.count("path") > 40 and kinds.count("name") > 80


@pytest.mark.parametrize(("kind", "text"), ARCHITECTURE_REFERENCES, ids=[t for _, t in ARCHITECTURE_REFERENCES])
def test_every_name_and_path_in_the_architecture_page_exists(kind: str, text: str) -> None:
    if kind == "path":
        assert path_exists(text), f"docs/architecture.md quotes {text!r}, which is not in the repository"
    else:
        assert resolves(text), f"docs/architecture.md quotes {text!r}, which netlab does not define"


def _docstrings() -> Iterator[tuple[str, str]]:
    for path in sorted((ROOT / "netlab").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    yield str(path.relative_to(ROOT)), doc


def _docstring_references() -> list[tuple[str, str]]:
    found = set()
    for where, doc in _docstrings():
        for span in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", doc):
            span = span.strip()
            if span.startswith("netlab/"):
                found.add((where, span))
            elif re.fullmatch(_DOTTED.pattern + r"(?:\(\))?", span) and not _is_file_name(span):
                if span.startswith("netlab.") or known_first_part(span):
                    found.add((where, span))
    return sorted(found)


DOCSTRING_REFERENCES = _docstring_references()


def test_docstrings_quote_netlab_names() -> None:
    assert len(DOCSTRING_REFERENCES) > 50


@pytest.mark.parametrize(("where", "text"), DOCSTRING_REFERENCES, ids=[f"{w}:{t}" for w, t in DOCSTRING_REFERENCES])
def test_every_netlab_name_a_docstring_quotes_exists(where: str, text: str) -> None:
    if text.startswith("netlab/"):
        assert path_exists(text), f"a docstring in {where} quotes {text!r}, which is not in the repository"
    else:
        assert resolves(text), f"a docstring in {where} quotes {text!r}, which netlab does not define"


@pytest.mark.parametrize(
    ("text", "exists"),
    [
        ("Reassembler.feed", True),
        ("Reassembler.feed_fields", False),
        ("decode.decode_layers", True),
        ("report.model.Report", True),
        ("netlab.cli.exits.exit_status_for", True),
        ("packets.Segment", True),
        ("netlab.stream.nothing", False),
        ("StreamStats.retransmissions", True),
        ("seq.seq_diff()", True),
    ],
)
def test_the_resolver_tells_names_apart(text: str, exists: bool) -> None:
    assert resolves(text) is exists


def test_the_path_check_tells_paths_apart() -> None:
    assert path_exists("netlab/stream/seq.py") and path_exists("live_afpacket.py")
    assert path_exists("tests/unit/test_seq.py") and path_exists("netlab/render/")
    assert not path_exists("netlab/stream/sequence.py") and not path_exists("nowhere_at_all.py")


def _readme_layout() -> str:
    """The fenced block of the README's "## Layout" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Layout") + 1 :]
    end = section.find("\n## ")
    blocks, _ = code_in_markdown(section if end < 0 else section[:end])
    return "\n".join(blocks)


def test_the_readme_layout_names_every_module_of_the_tree() -> None:
    layout = _readme_layout()
    missing = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "netlab").rglob("*.py"))
        if path.name not in ("__init__.py", "__main__.py") and not re.search(rf"\b{path.stem}(\.py)?\b", layout)
    ]
    assert not missing, f"README.md's Layout does not name {missing}"


def test_every_module_the_readme_layout_names_exists() -> None:
    named = set(re.findall(r"\b(\w+)\.py\b", _readme_layout()))
    assert len(named) > 60
    missing = sorted(name for name in named if not any((ROOT / "netlab").rglob(f"{name}.py")))
    assert not missing, f"README.md's Layout names modules that do not exist: {missing}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, flags=re.MULTILINE)}


MARKDOWN = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", MARKDOWN, ids=[str(p.relative_to(ROOT)) for p in MARKDOWN])
def test_every_anchor_a_document_links_to_exists(path: Path) -> None:
    """`[text](#anchor)` and `[text](other.md#anchor)`: the heading is there (moved sections keep their links)."""
    broken = []
    for target, anchor in re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", path.read_text(encoding="utf-8")):
        document = path if not target else (path.parent / target).resolve()
        if document.exists() and anchor not in _anchors(document):
            broken.append(f"{target}#{anchor}")
    assert not broken, f"{path.relative_to(ROOT)} links to headings that do not exist: {broken}"
