"""Helpers for the real-browser tests: a `streamlit run` server, Debian's Chromium, and waits that
follow Streamlit's own messages instead of sleeping.

Waiting: every page listens to its websocket and decodes Streamlit's ForwardMsg frames, so "the run
is over" means the server said `script_finished` and then `session_status_changed` with
`script_is_running=False`, and the browser has drawn it (`data-test-script-state="notRunning"`,
no status widget). Checks on the page then retry until their expected value shows up (Playwright's
`expect`), because the graph is drawn to SVG asynchronously after the run.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-gpu",
    "--disable-dev-shm-usage",
]
STARTUP_TIMEOUT_S = 60
RUN_TIMEOUT_MS = 30_000  # one script run on a busy 2-core machine; an idle one takes well under 1 s
EXCEPTION = '[data-testid="stException"]'
INSTALL_HINT = (
    "Install Debian's Chromium with `apt-get install -y chromium` and Playwright with "
    "`pip install -r requirements-dev.txt` (no browser download is needed or used)."
)


def require_browser() -> None:
    """Skip without Chromium or Playwright, except under CI=true, where that is a failure."""
    missing = []
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"{CHROMIUM} is missing")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package is not installed")
    if not missing:
        return
    message = "Real-browser tests need Chromium and Playwright: " + "; ".join(missing) + ". " + INSTALL_HINT
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true, so the e2e tests must run, not skip. " + message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`streamlit run app.py` on a free loopback port, in its own process group."""

    def __init__(self, root: Path, log_path: Path, env: dict[str, str] | None = None):
        self.root, self.log_path, self.env = root, log_path, env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Server":
        # fileWatcherType none: the server runs the code as it was at startup. With the watcher on, a
        # source file saved mid-test (by an editor, a checkout) makes Streamlit re-import netbuilder,
        # and open sessions then fail (see test_deploy's live-code-update test): not what these test.
        cmd = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
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
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}  # a deployment's settings, for some tests
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"streamlit exited with code {self.proc.returncode} before it was healthy:\n{self.log()}",
                    pytrace=False,
                )
            try:
                with urllib.request.urlopen(self.url + "_stcore/health", timeout=2) as r:
                    if r.status == 200 and r.read().decode().strip() == "ok":
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail(
            f"GET /_stcore/health never said ok within {STARTUP_TIMEOUT_S} s; server log:\n{self.log()}", pytrace=False
        )

    def stop(self) -> None:
        """Terminate the whole process group (streamlit and anything it started); kill if it lingers."""
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

    def worker_pids(self) -> list[int]:
        """The server's worker processes (studio.workers), read from /proc: its children running `serve`."""
        found = []
        for entry in Path("/proc").iterdir():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes()
            except (OSError, ValueError):
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid and b"workers import serve" in command:
                found.append(int(entry.name))
        return sorted(found)

    def log(self, tail: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return "(no server log)"


class AppPage:
    """One browser page of the app, with Streamlit's run messages counted from its websocket."""

    def __init__(self, context, server: Server):
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._ForwardMsg = ForwardMsg
        self.server = server
        self.page = context.new_page()
        self.finished: list[int] = []  # ScriptFinishedStatus of every finished run, in order
        self.running = False
        self.page.on("websocket", self._watch)

    def _watch(self, ws) -> None:
        if ws.url.endswith("/_stcore/stream"):
            ws.on("framereceived", self._frame)

    def _frame(self, payload) -> None:
        if isinstance(payload, str):
            return
        try:
            msg = self._ForwardMsg.FromString(payload)
        except Exception:  # a frame we cannot read is not ours to judge; the page checks still run
            return
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.running = True
        elif kind == "session_status_changed":
            self.running = msg.session_status_changed.script_is_running
        elif kind == "script_finished":
            self.finished.append(msg.script_finished)

    # --- waiting ---------------------------------------------------------------------------
    def open(self, url: str | None = None) -> "AppPage":
        before = len(self.finished)
        self.page.goto(url if url and url.startswith("http") else self.server.url + (url or ""))  # "?model=..." too
        self.wait_run(before)
        return self

    def act(self, action: Callable[[], object]) -> None:
        """Do `action` (one widget interaction) and wait until the rerun it caused is over and drawn."""
        before = len(self.finished)
        action()
        self.wait_run(before)

    def wait_run(self, before: int, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
        deadline = time.monotonic() + timeout_ms / 1000
        # FINISHED_EARLY_FOR_RERUN (2): two reruns overlapped and another run is coming; wait for that one.
        while len(self.finished) <= before or self.running or self.finished[-1] == 2:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no Streamlit run finished within {timeout_ms} ms (finished: {self.finished[before:]}, "
                    f"running: {self.running}); server log:\n{self.server.log()}"
                )
            self.page.wait_for_timeout(20)  # lets Playwright deliver the websocket events
        # 0: a whole run finished; 3: a fragment's run (the Train page redraws its live part on its own)
        assert self.finished[-1] in (0, 3), (
            f"the run ended with status {self.finished[-1]}; server log:\n{self.server.log()}"
        )
        self.page.wait_for_function(
            """() => {
                const app = document.querySelector('[data-testid="stApp"]');
                return app && app.getAttribute('data-test-script-state') === 'notRunning'
                    && !document.querySelector('[data-testid="stStatusWidget"]');
            }""",
            timeout=timeout_ms,
        )
        self.assert_no_exception()

    def assert_no_exception(self) -> None:
        boxes = self.page.locator(EXCEPTION)
        if boxes.count():
            text = "\n---\n".join(boxes.all_inner_texts())
            raise AssertionError(
                f"the page shows {boxes.count()} exception box(es):\n{text}\nserver log:\n{self.server.log()}"
            )

    # --- reading ----------------------------------------------------------------------------
    @property
    def edges(self):
        """The shape labels on the graph's edges, in document order (input to output)."""
        return self.page.locator('[data-testid="stGraphVizChart"] svg g.edge text')

    @property
    def nodes(self):
        return self.page.locator('[data-testid="stGraphVizChart"] svg g.node')

    # --- widgets ----------------------------------------------------------------------------
    def widget(self, key: str):
        return self.page.locator(f".st-key-{key}")

    def choose(self, key: str, option: str) -> None:
        """Pick `option` in the selectbox keyed `key`, the way a person does: open it, type to narrow a long
        list (only the visible part of it is drawn), click the option."""
        box = self.widget(key).locator("input")

        def pick():
            box.click()
            box.fill(option[:24])
            self.page.get_by_role("option", name=option, exact=True).click()

        self.act(pick)
        assert box.input_value() == option

    def click(self, key: str) -> None:
        self.act(lambda: self.widget(key).locator("button").first.click())

    def set_number(self, key: str, value: int) -> None:
        """Type `value` into the number input keyed `key` and commit it with Enter."""
        box = self.widget(key).locator("input")

        def type_it():
            box.fill(str(value))
            box.press("Enter")

        self.act(type_it)

    def open_tab(self, name: str):
        """Click the tab called `name` and wait for its run (only the open tab runs); return its panel."""
        from playwright.sync_api import expect

        self.act(lambda: self.page.get_by_role("tab", name=name, exact=True).click())
        panel = self.page.get_by_role("tabpanel").filter(visible=True)
        expect(panel).to_have_count(1)
        return panel

    def pick_layer(self, label_start: str) -> None:
        """Select the layer (or "Input") whose entry in the layer list starts with `label_start`."""
        option = self.widget("selected").get_by_text(re.compile("^" + re.escape(label_start)))
        self.act(lambda: option.click())

    def type_text(self, key: str, text: str) -> None:
        """Replace a text area's text and commit it (Ctrl+Enter, as Streamlit takes it)."""
        box = self.widget(key).locator("textarea")

        def type_it():
            box.fill(text)
            box.press("Control+Enter")

        self.act(type_it)

    def tables(self):
        """The page's number tables (ui.widgets.number_table): HTML grids, so each cell's text and box can be read."""
        return self.page.get_by_test_id("stHtml").filter(has=self.page.locator(".nb-grid"))

    def table_cells(self, index: int = 0):
        """The numbers of one number table as its cells show them (the index above each is left out), once drawn."""
        from playwright.sync_api import expect

        cells = self.tables().nth(index).locator(".nb-c span")
        expect(cells.first).to_be_attached()
        return cells
