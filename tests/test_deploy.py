"""Deployment: the server config Streamlit really reads, packages.txt, the Dockerfile, and an app that
runs with only requirements.txt (no test or export-check dependencies, no Graphviz `dot`)."""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import tomllib

from streamlit.testing.v1 import AppTest

from conftest import ROOT

CONFIG = ROOT / ".streamlit" / "config.toml"
DEV_ONLY = ("keras", "torch", "jax", "scipy", "playwright", "hypothesis")
MAX_UPLOAD_MB = 10  # a Keras model JSON is a few KB; Streamlit's default of 200 MB is an easy memory attack


def streamlit_env(tmp_path) -> dict:
    """An environment where only the repo's .streamlit/config.toml can set options: no STREAMLIT_* variables,
    and a HOME without a global ~/.streamlit/config.toml."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env["HOME"] = str(tmp_path)
    return env


# --- .streamlit/config.toml ---------------------------------------------------------------------
def test_config_file_has_safe_server_settings():
    with CONFIG.open("rb") as f:
        config = tomllib.load(f)
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"]["headless"] is True
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["showErrorDetails"] == "none"  # not even the exception type reaches a visitor
    upload = config["server"]["maxUploadSize"]
    assert isinstance(upload, int) and 1 <= upload <= MAX_UPLOAD_MB
    assert 5 <= config["server"]["disconnectedSessionTTL"] <= 30  # a closed tab's memory is freed soon
    assert config["runner"]["postScriptGC"] is False  # a full collection after each run stalls every other visitor


def config_show(tmp_path) -> dict[str, tuple[object, str]]:
    """`streamlit config show` run from the repo root: option -> (value, where Streamlit says it was set)."""
    done = subprocess.run(
        [sys.executable, "-m", "streamlit", "config", "show"],
        cwd=ROOT,
        env=streamlit_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    options, section, where = {}, None, "default"
    for line in done.stdout.splitlines():
        if m := re.fullmatch(r"\[(\w+)\]", line.strip()):
            section, where = m.group(1), "default"
        elif m := re.fullmatch(r"# The value below was set in (.+)", line.strip()):
            where = m.group(1)
        elif (m := re.fullmatch(r"(\w+) = (.+)", line)) and section:
            options[f"{section}.{m.group(1)}"] = (tomllib.loads(f"v = {m.group(2)}")["v"], where)
            where = "default"
    return options


def test_streamlit_itself_reads_and_applies_the_config(tmp_path):
    options = config_show(tmp_path)
    expected = {
        "server.enableXsrfProtection": True,
        "server.headless": True,
        "browser.gatherUsageStats": False,
        "client.showErrorDetails": "none",
        "server.disconnectedSessionTTL": 15,
        "server.maxCacheDataSize": "64mb",
    }
    for name, value in expected.items():
        assert options[name] == (value, str(CONFIG)), name
    details, where = options["client.showErrorDetails"]
    assert details not in ("full", "stacktrace", True) and where == str(CONFIG)
    upload, where = options["server.maxUploadSize"]
    assert upload <= MAX_UPLOAD_MB and where == str(CONFIG)


def test_streamlit_get_option_sees_the_config(tmp_path):
    """The values as the running server looks them up (after Streamlit's own overrides)."""
    code = textwrap.dedent("""
        import json
        from streamlit import config
        config.get_config_options(force_reparse=True)
        names = ["server.enableXsrfProtection", "server.headless", "browser.gatherUsageStats",
                 "client.showErrorDetails", "server.maxUploadSize", "server.disconnectedSessionTTL"]
        print(json.dumps({n: [config.get_option(n), config.get_where_defined(n)] for n in names}))
    """)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=streamlit_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["server.enableXsrfProtection"] == [True, str(CONFIG)]
    assert got["server.headless"] == [True, str(CONFIG)]
    assert got["browser.gatherUsageStats"] == [False, str(CONFIG)]
    assert got["client.showErrorDetails"] == ["none", str(CONFIG)]
    assert got["server.maxUploadSize"][0] <= MAX_UPLOAD_MB
    assert got["server.disconnectedSessionTTL"] == [15, str(CONFIG)]


# --- packages.txt and the Dockerfile --------------------------------------------------------------
def test_packages_txt_lists_graphviz():
    lines = [line.split("#")[0].strip() for line in (ROOT / "packages.txt").read_text().splitlines()]
    assert "graphviz" in lines


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [
        (m.group(1).upper(), m.group(2).strip())
        for line in joined.splitlines()
        if (m := re.match(r"\s*([A-Za-z]+)\s+(.*)", line))
    ]


def test_dockerfile_slim_python_workdir_healthcheck():
    steps = dockerfile_instructions()
    froms = [args for op, args in steps if op == "FROM"]
    assert len(froms) == 1 and re.fullmatch(r"python:3\.\d+(\.\d+)?-slim(-\w+)?", froms[0]), froms
    assert ("WORKDIR", "/app") in steps
    (health,) = [args for op, args in steps if op == "HEALTHCHECK"]
    assert "/_stcore/health" in health
    # The health probe is a Python one-liner: it must at least be valid Python.
    cmd = shlex.split(health.split("CMD", 1)[1])
    assert cmd[:2] == ["python", "-c"]
    compile(cmd[2], "HEALTHCHECK", "exec")
    assert any(op == "CMD" and "streamlit" in args and "app.py" in args for op, args in steps)


def test_dockerfile_installs_only_requirements_txt():
    steps = dockerfile_instructions()
    installs = [args for op, args in steps if op == "RUN" and "pip" in args]
    assert installs, "the image installs no Python packages"
    for run in installs:
        for command in re.split(r"&&|;", run):
            words = shlex.split(command)
            if "pip" not in " ".join(words[:3]):
                continue
            rest = [w for w in words[words.index("install") + 1 :] if not w.startswith("--")]
            assert rest == ["-r", "requirements.txt"], command
    copies = " ".join(args for op, args in steps if op in ("COPY", "ADD"))
    assert "requirements-dev" not in copies


# --- runs with only requirements.txt --------------------------------------------------------------
def requirement_names() -> set[str]:
    names = set()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(re.match(r"[A-Za-z0-9_.-]+", line).group().lower().replace("-", "_"))
    return names


def test_app_and_engine_import_only_the_stdlib_and_requirements_txt():
    """Every import statement, even one inside a function, names the stdlib, netbuilder or a runtime requirement."""
    allowed = set(sys.stdlib_module_names) | requirement_names() | {"netbuilder", "__future__"}
    assert not set(DEV_ONLY) & requirement_names()
    bad = []
    for path in [ROOT / "app.py", *sorted((ROOT / "netbuilder").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            bad += [
                f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names if n.split(".")[0] not in allowed
            ]
    assert not bad, bad


BLOCKED_RUN = textwrap.dedent("""
    import importlib, importlib.abc, json, pkgutil, sys

    BLOCKED = set(sys.argv[1].split(","))

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is not installed in production (blocked by test_deploy)")
            return None

    sys.meta_path.insert(0, Block())
    import netbuilder
    for module in pkgutil.walk_packages(netbuilder.__path__, "netbuilder."):
        importlib.import_module(module.name)

    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file("app.py", default_timeout=120).run()
    problems = [e.message for e in at.exception]
    at.selectbox(key="add_kind").set_value("Activation")
    at = at.button(key="add").click().run()
    problems += [e.message for e in at.exception]
    at = at.radio(key="selected").set_value("input").run()
    at = at.button(key="fill_random").click().run()
    problems += [e.message for e in at.exception]
    at.session_state["page"] = "Export"
    at = at.run()
    problems += [e.message for e in at.exception]
    print(json.dumps({
        "exceptions": problems,
        "layers": len(at.session_state.history.present.layers),
        "loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED),
    }))
""")


def test_app_runs_with_dev_only_packages_blocked(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED_RUN, ",".join(DEV_ONLY)],
        cwd=ROOT,
        env=streamlit_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"exceptions": [], "layers": 5, "loaded": []}, result


def test_export_tab_says_how_to_get_svg_and_png_without_dot(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no `dot` anywhere on PATH
    from netbuilder.views import graph

    assert not graph.dot_available()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.session_state["page"] = "Export"  # only the open tab runs
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    (export_tab,) = [tab for tab in at.tabs if tab.label == "Export"]
    notes = " ".join(
        str(e.value) for kind in ("info", "warning", "markdown", "caption") for e in getattr(export_tab, kind)
    )
    assert "apt-get install graphviz" in notes
    assert not [b for b in export_tab.get("download_button") if b.proto.label in ("Graph (SVG)", "Graph (PNG)")]


LIVE_UPDATE = textwrap.dedent("""
    import sys
    from netbuilder.studio.spec import seed_spec
    from netbuilder.studio import share

    held = seed_spec()  # what an open session keeps in st.session_state.history
    share.encode(held)
    for name in [m for m in sys.modules if m.split(".")[0] == "netbuilder"]:
        del sys.modules[name]  # what Streamlit's file watcher does when a source file changes on a live server
    from netbuilder.studio import share
    share.encode(held)  # the next rerun of that session: sync_link encodes the model it holds
""")


def test_open_sessions_survive_a_code_update_on_a_live_server(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", LIVE_UPDATE],
        cwd=ROOT,
        env=streamlit_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
