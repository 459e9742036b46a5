"""How the decoder's modules fit together: no import cycle, the dispatch tables shared and filled,
and no per-packet method call on a name bound by `from ... import` (slower in CPython 3.11)."""

from __future__ import annotations

import ast
import importlib
import types
from pathlib import Path

import pytest

from netlab.capture import decode, layer_tables

CAPTURE = Path(decode.__file__).resolve().parent
DECODER_MODULES = (
    "decode",
    "endpoints",
    "frame_context",
    "ieee80211",
    "ip_layers",
    "layer_tables",
    "link_layers",
    "linktypes",
    "tcp_options",
    "transport",
    "tunnels",
)
TABLES = (
    "LINK_LAYERS",
    "ETHERTYPES",
    "PPP_PROTOCOLS",
    "ARCNET_PROTOCOLS",
    "JUNIPER_PROTOCOLS",
    "GRE_PROTOCOLS",
    "IP_PROTOCOLS",
    "UDP_PORTS",
)


def _capture_imports(name: str) -> set[str]:
    """The netlab.capture modules that `name` imports at its top level."""
    found = set()
    for node in ast.parse((CAPTURE / f"{name}.py").read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "netlab.capture":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("netlab.capture."):
                found.add(node.module.removeprefix("netlab.capture."))
    return found


def test_the_decoder_modules_import_one_another_without_a_cycle() -> None:
    graph = {name: _capture_imports(name) for name in DECODER_MODULES}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join((*path, name))}"
        if name in done or name not in graph:
            return
        for imported in graph[name]:
            visit(imported, (*path, name))
        done.add(name)

    for name in graph:
        visit(name, ())
    assert "decode" not in set().union(*(graph[n] for n in graph if n != "decode"))


@pytest.mark.parametrize("name", TABLES)
def test_every_module_looks_up_the_one_filled_table(name: str) -> None:
    table = getattr(layer_tables, name)
    assert table and getattr(decode, name) is table
    for module_name in DECODER_MODULES:
        module = importlib.import_module(f"netlab.capture.{module_name}")
        if hasattr(module, name):
            assert getattr(module, name) is table, f"{module_name}.{name} is another dict"


def method_calls_on_imported_names(source: str, namespace: dict[str, object]) -> list[str]:
    """Each `NAME.method(...)` inside a function of `source` where NAME was bound at the top level by
    `from ... import` and is not a module (`namespace`: the module's globals, to tell them apart)."""
    tree = ast.parse(source)
    imported = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if not isinstance(namespace.get(alias.asname or alias.name), types.ModuleType)
    }
    return [
        f"line {node.lineno}: {node.func.value.id}.{node.func.attr}(...)"
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in imported
    ]


@pytest.mark.parametrize("module_name", DECODER_MODULES)
def test_no_decoder_function_calls_a_method_on_an_imported_name(module_name: str) -> None:
    """CPython 3.11 compiles `NAME.get(key)` as an attribute load and a bound-method call when NAME was
    bound by `from ... import` (it takes NAME for a module): per packet, that measured 5-10% slower.
    The tables and caches a layer looks up are bound by assignment instead (see layer_tables)."""
    module = importlib.import_module(f"netlab.capture.{module_name}")
    source = (CAPTURE / f"{module_name}.py").read_text(encoding="utf-8")
    assert method_calls_on_imported_names(source, vars(module)) == []


def test_the_method_call_check_finds_an_imported_table() -> None:
    imported = "from netlab.capture.layer_tables import ETHERTYPES\n\n\ndef f(t):\n    return ETHERTYPES.get(t)\n"
    assigned = "from netlab.capture import layer_tables\n\nETHERTYPES = layer_tables.ETHERTYPES\n\n\ndef f(t):\n"
    assigned += "    return ETHERTYPES.get(t)\n"
    tables = {"ETHERTYPES": layer_tables.ETHERTYPES, "layer_tables": layer_tables}
    assert method_calls_on_imported_names(imported, tables) == ["line 5: ETHERTYPES.get(...)"]
    assert method_calls_on_imported_names(assigned, tables) == []
