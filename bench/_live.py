"""Shared by the live benchmarks (bench_app, bench_load, bench_browser): a real `streamlit run` server on
loopback, its memory from /proc, a client that speaks Streamlit's websocket protocol, and Chromium.

The server runs from the repository root, so it reads the repo's `.streamlit/config.toml` (the public
deployment settings: disconnectedSessionTTL, maxCacheDataSize, ...); only the port, the loopback
address and `fileWatcherType none` are given on the command line (a file saved mid-benchmark must
not make the server re-import netbuilder, as tests/e2e_support.py explains).

`WsSession` is what a browser tab does on the wire, without drawing: it sends `BackMsg.rerun_script`
with the query string and the widget states of one interaction, and reads every `ForwardMsg` until
the run is over (`script_finished`, then `session_status_changed` with `script_is_running=False`).
It does not declare a message cache (`cached_message_hashes`), so the server sends every element in
full each run: a little more work for the server than a real browser causes, never less.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from _common import ROOT, timer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-gpu",
    "--disable-dev-shm-usage",
]
TTL_S = 15  # .streamlit/config.toml: server.disconnectedSessionTTL (read back in config_ttl())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_value(section: str, key: str, default=None):
    """A setting of the repo's .streamlit/config.toml (what the benchmark servers run with)."""
    try:
        import tomllib

        return tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())[section][key]
    except (OSError, KeyError, ValueError, ImportError):
        return default


def config_ttl() -> float:
    """server.disconnectedSessionTTL (the figure the memory check waits for)."""
    return float(config_value("server", "disconnectedSessionTTL", TTL_S))


def config_bytes(section: str, key: str, default: int) -> int:
    """A size setting such as maxCacheDataSize = "64mb" in bytes (Streamlit's units: kb, mb, gb are powers of 1024)."""
    text = str(config_value(section, key, "")).strip().lower()
    for unit, scale in (("gb", 2**30), ("mb", 2**20), ("kb", 2**10), ("b", 1)):
        if text.endswith(unit) and text[: -len(unit)].strip().replace(".", "", 1).isdigit():
            return int(float(text[: -len(unit)]) * scale)
    return int(text) if text.isdigit() else default


def server_options(pairs) -> tuple[str, ...]:
    """["runner.postScriptGC=false"] -> ("--runner.postScriptGC", "false"): Streamlit's command-line form."""
    out: list[str] = []
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {pair!r}")
        out += [f"--{key}", value]
    return tuple(out)


# --- the server --------------------------------------------------------------------------------------
class Server:
    """`python -m streamlit run APP` on a free loopback port, in its own process group (always stopped)."""

    def __init__(
        self,
        app: Path,
        log_path: Path,
        extra: tuple[str, ...] = (),
        env: dict | None = None,
        launcher: tuple[str, ...] = ("-m", "streamlit"),
    ):
        self.app, self.log_path, self.extra, self.env = Path(app), Path(log_path), extra, dict(env or {})
        self.launcher = launcher  # what follows `python`: Streamlit's CLI, or a wrapper script for what-if runs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen | None = None
        self.health_s: float | None = None

    def start(self, timeout: float = 90) -> "Server":
        cmd = [
            sys.executable,
            *self.launcher,
            "run",
            str(self.app),
            "--server.headless",
            "true",
            "--server.port",
            str(self.port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
            *self.extra,
        ]
        t0 = timer()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
                start_new_session=True,
            )
        try:
            while timer() - t0 < timeout:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"streamlit exited with {self.proc.returncode}: {self.log()[-600:]}")
                if health(self.port, timeout=2)[0]:
                    self.health_s = timer() - t0
                    return self
                time.sleep(0.01)
            raise TimeoutError(f"no healthy server within {timeout:.0f} s: {self.log()[-600:]}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM to the server's own process group, SIGKILL if it lingers: only what we started."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                continue

    def rss(self) -> int:
        """Resident bytes of the server and every process under it (e.g. a `dot` it runs), from /proc."""
        return tree_rss(self.proc.pid) if self.proc is not None and self.proc.poll() is None else 0

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def health(port: int, timeout: float = 10) -> tuple[bool, float]:
    """(said "ok", seconds) for one GET /_stcore/health on a fresh connection."""
    t0 = timer()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=timeout) as r:
            ok = r.status == 200 and r.read().strip() == b"ok"
    except OSError:
        ok = False
    return ok, timer() - t0


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the command name may hold spaces and parentheses
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def tree_pids(root: int) -> list[int]:
    kids, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, ()))
    return out


def rss_of(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(root: int) -> int:
    return sum(rss_of(pid) for pid in tree_pids(root))


# --- Streamlit's websocket protocol ---------------------------------------------------------------------
@dataclass
class Run:
    """One script run as the client saw it."""

    seconds: float  # from sending the BackMsg to the server's "not running any more"
    status: int | None  # ScriptFinishedStatus of the last script_finished (0 = finished successfully)
    bytes: int = 0  # ForwardMsg bytes received
    messages: int = 0
    exceptions: list[str] = field(default_factory=list)  # st.exception boxes (none expected)
    alerts: list[str] = field(default_factory=list)  # st.error / st.warning texts


def widget_key(element_id: str) -> str | None:
    """The user key of a widget id `$$ID-<hash>-<key>` (None for widgets without one)."""
    if element_id.startswith("$$ID-"):
        parts = element_id.split("-", 2)
        return parts[2] if len(parts) == 3 and parts[2] else None
    return None


class WsSession:
    """One visitor on the wire: connect, run, interact by widget key, close (the tab is closed)."""

    def __init__(self, port: int, query: str = "", open_timeout: float = 60):
        from websockets.sync.client import connect

        self.port = port
        self.query = query.lstrip("?")
        self.page_hash = ""
        self.widgets: dict[str, object] = {}  # user key -> the widget's proto from the latest run
        self.tabs: dict[str, list[str]] = {}  # tab container key -> tab labels
        self.ws = connect(
            f"ws://127.0.0.1:{port}/_stcore/stream",
            subprotocols=["streamlit"],
            origin=f"http://127.0.0.1:{port}",
            max_size=None,
            open_timeout=open_timeout,
            compression=None,
            ping_interval=None,
        )

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001 - closing a broken socket is closing it
            pass

    # --- one run ------------------------------------------------------------------------------
    def run(self, states=(), timeout: float = 120) -> Run:
        """Send one rerun with these WidgetState protos; read until the run is over."""
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        msg.rerun_script.query_string = self.query
        msg.rerun_script.page_script_hash = self.page_hash
        for state in states:
            msg.rerun_script.widget_states.widgets.append(state)
        t0 = timer()
        self.ws.send(msg.SerializeToString())
        return self._read_run(t0, timeout)

    def _read_run(self, t0: float, timeout: float) -> Run:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        run = Run(seconds=0.0, status=None)
        finished, running, seen_running = [], True, False
        deadline = t0 + timeout
        while True:
            remaining = deadline - timer()
            if remaining <= 0:
                raise TimeoutError(f"no run finished within {timeout:.0f} s (finished {finished})")
            data = self.ws.recv(timeout=remaining)
            if isinstance(data, str):
                continue
            run.bytes += len(data)
            run.messages += 1
            fwd = ForwardMsg.FromString(data)
            kind = fwd.WhichOneof("type")
            if kind == "new_session":
                self.page_hash = fwd.new_session.page_script_hash
                running, seen_running = True, True
            elif kind == "session_status_changed":
                running = fwd.session_status_changed.script_is_running
                seen_running = seen_running or running
            elif kind == "script_finished":
                finished.append(fwd.script_finished)
            elif kind == "page_info_changed":
                self.query = fwd.page_info_changed.query_string
            elif kind == "delta":
                self._delta(fwd.delta, run)
            # as tests/e2e_support.py waits: a finished run, nothing running, and not "finished early for a rerun"
            if finished and not running and finished[-1] != 2:
                run.seconds = timer() - t0
                run.status = finished[-1]
                return run

    def _delta(self, delta, run: Run) -> None:
        kind = delta.WhichOneof("type")
        if kind == "new_element":
            element = delta.new_element
            etype = element.WhichOneof("type")
            if etype == "exception":
                run.exceptions.append(f"{element.exception.type}: {element.exception.message}"[:300])
                return
            if etype == "alert":
                run.alerts.append(element.alert.body[:300])
                return
            proto = getattr(element, etype, None)
            element_id = getattr(proto, "id", "") if proto is not None and hasattr(proto, "id") else ""
            key = widget_key(element_id) if element_id else None
            if key:
                self.widgets[key] = proto
        elif kind == "add_block":
            block = delta.add_block
            if block.WhichOneof("type") == "tab_container" and block.id:
                key = widget_key(block.id)
                if key:
                    self.widgets[key] = block.tab_container
                    self.tabs[key] = []
                    self._last_tabs = key
            elif block.WhichOneof("type") == "tab" and getattr(self, "_last_tabs", None):
                self.tabs[self._last_tabs].append(block.tab.label)

    # --- interactions, by widget key (what a click or a typed value sends) --------------------------
    def _state(self, key: str):
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        proto = self.widgets.get(key)
        if proto is None:
            raise KeyError(f"no widget keyed {key!r} on the page (have: {', '.join(sorted(self.widgets))[:300]})")
        state = WidgetState()
        state.id = proto.id
        return state

    def open(self, timeout: float = 180) -> Run:
        """The first run of the page (what the browser sends when the tab opens)."""
        return self.run((), timeout)

    def click(self, key: str, timeout: float = 120) -> Run:
        state = self._state(key)
        state.trigger_value = True
        return self.run((state,), timeout)

    def set_int(self, key: str, value: int, timeout: float = 120) -> Run:
        state = self._state(key)
        state.int_value = int(value)
        return self.run((state,), timeout)

    def set_string(self, key: str, value: str, timeout: float = 120) -> Run:
        state = self._state(key)
        state.string_value = value
        return self.run((state,), timeout)

    def tab(self, key: str, label: str, timeout: float = 120) -> Run:
        return self.set_string(key, label, timeout)


# --- Chromium -----------------------------------------------------------------------------------------
def launch_chromium(pw):
    return pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
