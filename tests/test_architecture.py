"""The layout shows the architecture: engine < studio < views < ui < app.py, imports only downward.

Every module of netbuilder/ (and app.py) is parsed with `ast`; every import is collected, also those
inside functions, and relative imports are resolved against the importing module's package. Nothing
is imported to find the imports, so a module that would fail to import is still checked.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEVELS = {"engine": 0, "studio": 1, "views": 2, "ui": 3, "app": 4}
BANNED = {  # third-party packages a level must not import (the engine is NumPy only)
    "engine": {"streamlit", "pandas", "graphviz"},
    "studio": {"streamlit"},
    "views": {"streamlit"},
}
MAX_APP_LINES = 40


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    """Every module of the package `netbuilder` under `root`, and `app` for root/app.py when there is one."""
    found = {module_name(root, path): path for path in sorted((root / "netbuilder").rglob("*.py"))}
    if (root / "app.py").exists():
        found["app"] = root / "app.py"
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Absolute names of everything `name` imports, anywhere in its source (functions included)."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                if node.level - 1 > len(base):
                    raise AssertionError(f"{name}: relative import beyond the top package")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            # `from . import kinds` imports the module netbuilder.engine.kinds; `from .x import y` a name of x
            submodules = {f"{target}.{alias.name}" for alias in node.names} & known
            out.update(submodules or {target})
    return out


def graph(root: Path) -> dict[str, set[str]]:
    """module → the modules and packages it imports (ours by their full names, others by their full dotted names)."""
    mods = modules(root)
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def facade(module: str) -> bool:
    """The package root and the packages beside the levels (`netbuilder.optimizers`, `netbuilder.optimizers.schedules`):
    Keras-style names for the engine's API."""
    parts = module.split(".")
    return parts[0] == "netbuilder" and (len(parts) == 1 or parts[1] not in LEVELS)


def level_of(module: str) -> int | None:
    """engine 0, studio 1, views 2, ui 3, app 4; the facades re-export the engine (0); None for other packages."""
    if module == "app":
        return LEVELS["app"]
    if facade(module):
        return LEVELS["engine"]
    parts = module.split(".")
    if parts[0] != "netbuilder":
        return None
    return LEVELS.get(parts[1])


def ours(module: str) -> bool:
    return module == "app" or module == "netbuilder" or module.startswith("netbuilder.")


def upward_imports(g: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in g.items():
        here = level_of(module)
        for target in sorted(targets):
            if not ours(target):
                continue
            there = level_of(target)
            if here is not None and there is not None and there > here:
                bad.append(f"{module} (level {here}) imports {target} (level {there})")
    return bad


def banned_imports(g: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in g.items():
        parts = module.split(".")
        level = "engine" if facade(module) else (parts[1] if parts[0] == "netbuilder" else None)
        for target in sorted(targets):
            if target.split(".")[0] in BANNED.get(level, ()):
                bad.append(f"{module} imports {target}")
    return bad


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself), Tarjan's algorithm."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g.get(v, ())):
            if w not in g:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in g.get(v, ()):
                found.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


# --- the checks on netbuilder itself -------------------------------------------------------------------
GRAPH = graph(ROOT)


def test_every_level_exists_and_holds_modules():
    names = set(GRAPH)
    for level in ("engine", "studio", "views", "ui"):
        assert any(n.startswith(f"netbuilder.{level}.") for n in names), level
    assert "app" in names and "netbuilder.engine.kinds.dense" in names
    assert all(level_of(n) is not None for n in names)  # every module lives in a level (or is a facade of the engine)


def test_no_module_imports_a_higher_level():
    assert upward_imports(GRAPH) == []


def test_the_facades_re_export_the_engine_only():
    allowed = {m for m in GRAPH if m.startswith("netbuilder.engine") or facade(m)}
    for module in (m for m in GRAPH if facade(m)):
        assert {t for t in GRAPH[module] if ours(t)} <= allowed, module


def test_no_cycles_anywhere_not_even_behind_an_import_inside_a_function():
    assert cycles(GRAPH) == []


def test_engine_imports_neither_streamlit_nor_pandas_nor_graphviz_and_studio_and_views_no_streamlit():
    assert banned_imports(GRAPH) == []


def test_importing_the_engine_studio_and_views_loads_no_streamlit():
    """The same at run time, transitively: a fresh interpreter imports every module below ui."""
    below_ui = sorted(m for m in GRAPH if level_of(m) is not None and level_of(m) < LEVELS["ui"])
    engine = sorted(m for m in GRAPH if level_of(m) == LEVELS["engine"])
    code = textwrap.dedent(f"""
        import importlib, sys
        for name in {engine!r} + ["netbuilder"]:
            importlib.import_module(name)
        engine_loaded = sorted(m for m in ("streamlit", "pandas", "graphviz") if m in sys.modules)
        for name in {below_ui!r}:
            importlib.import_module(name)
        print(engine_loaded, "streamlit" in sys.modules)
    """)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "KERAS_BACKEND": "numpy", "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["[]", "False"]


RUFF = (sys.executable, "-m", "ruff")
LINTED = ("netbuilder", "tests", "bench", "app.py")
LINE_LENGTH = ("--isolated", "--line-length", "120")


@pytest.mark.parametrize(
    "command",
    [("check", "--select", "E,F,W", "--output-format", "concise"), ("format", "--check")],
    ids=["pyflakes and pycodestyle (E, F, W)", "ruff format"],
)
def test_the_code_is_clean_under_ruff_at_120_columns(command):
    """`python -m ruff check --isolated --line-length 120 --select E,F,W` and `ruff format --check` (same length)
    find nothing: to fix a failure, run `ruff format --isolated --line-length 120 netbuilder tests bench app.py`."""
    done = subprocess.run(
        [*RUFF, command[0], *LINE_LENGTH, *command[1:], *LINTED], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]


def test_app_py_is_a_short_composition_of_the_ui():
    source = (ROOT / "app.py").read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MAX_APP_LINES
    assert {t for t in GRAPH["app"] if ours(t)} <= {m for m in GRAPH if m.startswith("netbuilder.ui")} | {
        "netbuilder.ui"
    }
    assert {t.split(".")[0] for t in GRAPH["app"] if not ours(t)} <= {"streamlit"}
    tree = ast.parse(source)
    assert not [
        n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))
    ]  # it composes, defines nothing


# --- the checker itself finds what it is meant to find ----------------------------------------------------
def fake_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


BASE = {
    "netbuilder/__init__.py": "from .engine import model\n",
    "netbuilder/engine/__init__.py": "from . import kinds\n",
    "netbuilder/engine/model.py": "import numpy as np\n\ndef f():\n    from .serialization import g\n",
    "netbuilder/engine/serialization.py": "import json\n",
    "netbuilder/engine/kinds/__init__.py": "from . import dense\n",
    "netbuilder/engine/kinds/dense.py": "from ..layer import Layer\n",
    "netbuilder/engine/layer.py": "",
    "netbuilder/studio/__init__.py": "",
    "netbuilder/studio/spec.py": "from ..engine.model import f\n",
    "netbuilder/views/__init__.py": "",
    "netbuilder/views/graph.py": "import graphviz\nfrom ..studio import spec\n",
    "netbuilder/ui/__init__.py": "",
    "netbuilder/ui/build.py": "import streamlit as st\nfrom netbuilder.views.graph import x\n",
    "app.py": "from netbuilder.ui import build\n",
}


def test_the_checker_passes_a_clean_tree_and_resolves_relative_imports(tmp_path):
    g = graph(fake_tree(tmp_path, BASE))
    assert g["netbuilder.engine"] == {"netbuilder.engine.kinds"}
    assert g["netbuilder.engine.kinds.dense"] == {"netbuilder.engine.layer"}
    assert g["netbuilder.engine.model"] == {"numpy", "netbuilder.engine.serialization"}  # inside a function too
    assert g["app"] == {"netbuilder.ui.build"}
    assert upward_imports(g) == [] and banned_imports(g) == [] and cycles(g) == []


@pytest.mark.parametrize(
    "path, text, check, expected",
    [
        (
            "netbuilder/engine/layer.py",
            "def f():\n    from ..studio.spec import x\n",
            upward_imports,
            ["netbuilder.engine.layer (level 0) imports netbuilder.studio.spec (level 1)"],
        ),
        (
            "netbuilder/studio/spec.py",
            "import netbuilder.views.graph\n",
            upward_imports,
            ["netbuilder.studio.spec (level 1) imports netbuilder.views.graph (level 2)"],
        ),
        (
            "netbuilder/engine/kinds/dense.py",
            "from ... import ui\n",
            upward_imports,
            ["netbuilder.engine.kinds.dense (level 0) imports netbuilder.ui (level 3)"],
        ),
        (
            "netbuilder/engine/layer.py",
            "def table():\n    import pandas as pd\n",
            banned_imports,
            ["netbuilder.engine.layer imports pandas"],
        ),
        (
            "netbuilder/studio/spec.py",
            "from streamlit import session_state\n",
            banned_imports,
            ["netbuilder.studio.spec imports streamlit"],
        ),
        (
            "netbuilder/views/graph.py",
            "import streamlit.components.v1\n",
            banned_imports,
            ["netbuilder.views.graph imports streamlit.components.v1"],
        ),
        ("netbuilder/studio/__init__.py", "from . import spec\n", cycles, []),  # a package and its modules: no cycle
        ("netbuilder/studio/__init__.py", "from .spec import y\n", cycles, []),
        (
            "netbuilder/engine/serialization.py",
            "from .model import f\n",
            cycles,  # model imports it inside a function
            [["netbuilder.engine.model", "netbuilder.engine.serialization"]],
        ),
    ],
)
def test_the_checker_finds_violations(tmp_path, path, text, check, expected):
    assert check(graph(fake_tree(tmp_path, {**BASE, path: text}))) == expected


def test_the_checker_finds_a_cycle_in_any_level(tmp_path):
    files = {
        **BASE,
        "netbuilder/studio/a.py": "from .b import x\n",
        "netbuilder/studio/b.py": "def f():\n    from . import a\n",
    }
    assert cycles(graph(fake_tree(tmp_path, files))) == [["netbuilder.studio.a", "netbuilder.studio.b"]]
