"""The import graph has no cycle: every module imports alone, and no import (even one inside a
function, which hides a cycle until the day it runs first) closes a loop."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import waengine

PACKAGE = Path(waengine.__file__).resolve().parent


def module_files() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The waengine modules `name` imports anywhere in its source (top level or in a function)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = f"{base}.{target}" if target else base
            for alias in node.names:  # `from . import x` names the module x when there is one
                full = f"{target}.{alias.name}"
                found.add(full if full in modules else target)
    return {m for m in found if m in modules and m != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop (its modules in order, first repeated last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (loop := visit(nxt)):
                return loop
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (loop := visit(start)):
            return loop
    return None


def test_find_cycle_reports_a_loop_and_passes_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_module_imports_itself_back_through_another():
    modules = module_files()
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert graph["waengine.wiring"] >= {"waengine.ops.watchdog", "waengine.engine.manager"}
    assert find_cycle(graph) is None


def import_alone(name: str) -> tuple[str, int, str]:
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    done = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True,
                          text=True, timeout=120, cwd=PACKAGE.parent, env=env)
    return name, done.returncode, done.stderr.strip().splitlines()[-1:]


def test_every_module_imports_alone_in_a_fresh_interpreter():
    modules = sorted(module_files())
    assert {"waengine.ops.watchdog", "waengine.ops.reaper", "waengine.api.monitoring",
            "waengine.auth", "waengine.config"} <= set(modules)
    # Two at a time: each interpreter loads Flask or Selenium; the machine has few cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(import_alone, modules))
    failed = {name: err for name, code, err in results if code != 0}
    assert failed == {}


def test_importing_the_api_loads_no_selenium():
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    probe = ("import sys, waengine.api; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'selenium'))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, cwd=PACKAGE.parent, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def package_imports(source: str, target: str) -> dict[str, set[str]]:
    """{module of package `source`: the modules of package `target` it imports}, where any."""
    modules = module_files()
    found = {}
    for name, path in modules.items():
        if name == source or name.startswith(source + "."):
            hits = {m for m in imports_of(name, path, modules)
                    if m == target or m.startswith(target + ".")}
            if hits:
                found[name] = hits
    return found


def test_the_engine_and_ops_packages_import_each_other_in_neither_direction():
    assert package_imports("waengine.engine", "waengine.ops") == {}
    assert package_imports("waengine.ops", "waengine.engine") == {}
    # Both count into the leaf waengine.counters instead.
    assert "waengine.counters" in set().union(*package_imports("waengine.engine",
                                                               "waengine.counters").values())


def test_no_view_reaches_past_the_engine_object():
    """Views call Engine methods (wiring.py): no manager, session, outbox or service object."""
    reach = ("manager()", ".manager", ".outbox", ".service", ".watchdog", ".cache.",
             ".events.", "check_ready()", ".options")
    found = [f"{path.name}:{n}: {line.strip()}"
             for path in sorted((PACKAGE / "api").glob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if any(word in line for word in reach)
             and not line.lstrip().startswith(("#", "from "))]
    assert found == []
