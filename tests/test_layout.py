"""The layout's rules (docs/architecture.md): stage modules on top, the library below.

- no stage module (the top of `stages/`: what dvc.yaml and the Makefile run) imports another;
- nothing in a subpackage imports a stage module;
- no import cycles;
- every project file a dvc.yaml stage's command imports, directly or not, is covered by one
  of that stage's `deps`, so an edit re-runs exactly the stages that run the edited code.

Imports are read with `ast` (function-level ones too), so nothing is executed.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "stages"
# Plumbing whose edits change no output bytes: error texts, the path names (dvc.yaml names
# the same paths), the typed schema (the values come from params.yaml, which DVC tracks)
# and the command line of every stage. Every other imported file must be a declared dep.
PLUMBING = {
    "stages/__init__.py",
    "stages/core/__init__.py",
    "stages/core/errors.py",
    "stages/core/paths.py",
    "stages/core/schema.py",
    "stages/core/stage.py",
}


def module_files() -> dict[str, Path]:
    """Module name -> file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = module_files()
STAGE_MODULES = {name for name, path in MODULES.items() if path.parent == PACKAGE and name != "stages"}


def imports_of(name: str) -> set[str]:
    """The project modules `name` imports (at any depth of its code), plus the packages that
    contain them, since importing a.b.c runs a/__init__ and a/b/__init__ first."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    is_package = MODULES[name].name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names
            ]
        for target in targets:
            parts = target.split(".")
            for depth in range(1, len(parts) + 1):
                prefix = ".".join(parts[:depth])
                if prefix in MODULES and prefix != name:
                    found.add(prefix)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def closure(start: str) -> set[str]:
    """The modules `start` runs. What plumbing imports is not followed: the schema imports the
    model registry only to name the known architectures in an error."""
    seen, todo = {start}, [start]
    while todo:
        current = todo.pop()
        if relative(current) in PLUMBING:
            continue
        for target in GRAPH[current]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def relative(name: str) -> str:
    return MODULES[name].relative_to(REPO).as_posix()


def runs_nothing(name: str) -> bool:
    """A package `__init__.py` that holds only its docstring: importing it computes nothing."""
    body = ast.parse(MODULES[name].read_text(encoding="utf-8")).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def code_run_by(module: str) -> list[str]:
    """Files of `module`'s closure that must be declared as deps: all but plumbing and
    docstring-only packages."""
    return sorted(
        relative(name)
        for name in closure(module)
        if relative(name) not in PLUMBING and not runs_nothing(name)
    )


def test_the_stage_modules_are_what_dvc_yaml_and_the_makefile_run() -> None:
    commands = (REPO / "dvc.yaml").read_text() + (REPO / "Makefile").read_text()
    run = set(re.findall(r"-m (stages\.\w+)", commands))
    assert run == STAGE_MODULES, "the top of stages/ is exactly the modules dvc.yaml and the Makefile run"


def test_no_stage_module_imports_another() -> None:
    found = {
        f"{name} imports {target}"
        for name in STAGE_MODULES
        for target in GRAPH[name]
        if target in STAGE_MODULES
    }
    assert not found, sorted(found)


def test_nothing_in_a_subpackage_imports_a_stage_module() -> None:
    found = {
        f"{name} imports {target}"
        for name in MODULES
        if name not in STAGE_MODULES
        for target in GRAPH[name]
        if target in STAGE_MODULES
    }
    assert not found, sorted(found)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if target.startswith(node + "."):  # a package importing its own module is no cycle
                continue
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if state.get(target) is None and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None and (cycle := visit(node)):
            return cycle
    return None


def test_there_are_no_import_cycles() -> None:
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a"}}) is None


def dvc_stages() -> dict[str, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def covers(dep: str, path: str) -> bool:
    """Whether a dvc.yaml dep (a file or a folder) covers a file."""
    return path == dep or path.startswith(dep.rstrip("/") + "/")


@pytest.mark.parametrize("stage", sorted(dvc_stages()))
def test_every_file_a_stage_runs_is_one_of_its_deps(stage: str) -> None:
    spec = dvc_stages()[stage]
    module = re.search(r"python -m (stages\.\w+)", spec["cmd"])
    assert module, f"{stage}: its cmd runs no stages module"
    deps = [d for d in spec.get("deps", []) if "${" not in d]
    ran = code_run_by(module.group(1))
    missing = [path for path in ran if not any(covers(d, path) for d in deps)]
    assert not missing, f"dvc.yaml stage {stage} runs these files but does not list them in deps: {missing}"
    unused = [d for d in deps if d.endswith(".py") and not any(covers(d, path) for path in ran)]
    assert not unused, f"dvc.yaml stage {stage} lists deps its command never imports: {unused}"
