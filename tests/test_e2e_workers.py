"""Heavy runs in worker processes, in a real `streamlit run` server driven by Debian's Chromium: a worker killed
mid-run says so and the next run works, a second visitor waits and is told so and each gets its own output, a closed
tab cancels its running run, a run over a worker's memory cap says so, and training runs in a worker, where Stop
keeps what it learned and a closed tab cancels it. The servers are set up as a deployment
would be, by environment variables: one worker, and no work budget so that a run lasts long enough to be caught."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from conftest import ROOT
from e2e_support import AppPage, Server
from netbuilder.studio.spec import LayerSpec, ModelSpec
from test_e2e import browser, link, new_page  # noqa: F401 — the fixtures

ONE_SLOW_WORKER = {"NETBUILDER_WORKERS": "1", "NETBUILDER_MAX_WORK": "none", "NETBUILDER_MAX_TRAIN_WORK": "none"}
# (1024, 1024) → Dense(1024) → 30 × gelu: a few seconds of one worker's time here, and heavy (past 2 G of work)
SLOW = ModelSpec(
    (1024, 1024),
    (LayerSpec.make(0, "Dense", units=1024),)
    + tuple(LayerSpec.make(i, "Activation", activation="gelu") for i in range(1, 31)),
)


def wide(units: int) -> ModelSpec:
    """(4096,) → Dense(units): heavy by its weights (past 8 MiB), quick to run."""
    return ModelSpec((4096,), (LayerSpec.make(0, "Dense", units=units),))


@pytest.fixture(scope="module")
def server(browser, tmp_path_factory):  # noqa: F811 — this module's server, used by new_page
    app = Server(ROOT, tmp_path_factory.mktemp("streamlit") / "server.log", env=ONE_SLOW_WORKER)
    try:
        yield app.start()
    finally:
        app.stop()


def go(app, spec: ModelSpec, text: str | None = None) -> int:
    """Navigate to `spec`'s link without waiting for its run; the count of runs finished before."""
    before = len(app.finished)
    app.page.goto(app.server.url + link(spec, text))
    return before


def cpu_ticks(pid: int) -> int:
    """A process's user CPU time so far, in clock ticks (1/100 s); 0 once it is gone."""
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[11])
    except OSError:
        return 0


def busy_worker(server: Server, seconds: float = 30) -> int:
    """The pid of the server's worker once it computes a run: 0.5 s more CPU than when first seen here, and past a
    new worker's imports."""
    start: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for pid in server.worker_pids():
            ticks = cpu_ticks(pid)
            if ticks - start.setdefault(pid, ticks) > 50 and ticks > 100:  # a new worker's imports take ~25
                return pid
        time.sleep(0.05)
    raise AssertionError(f"no worker became busy; workers {server.worker_pids()}; log:\n{server.log()}")


@pytest.mark.e2e
def test_a_worker_killed_mid_run_says_so_and_the_next_run_works(new_page, server):  # noqa: F811 — the fixture
    from playwright.sync_api import expect

    app = new_page()
    before = go(app, SLOW, "random:1")
    pid = busy_worker(server)
    os.kill(pid, signal.SIGKILL)
    app.wait_run(before, timeout_ms=60_000)
    expect(app.page.get_by_text("No output: the worker process running it stopped")).to_be_visible()
    assert server.worker_pids() and pid not in server.worker_pids()  # replaced
    app.page.get_by_role("button", name="Seed").click()  # a popover: opening it runs nothing
    app.act(lambda: app.widget("random_seed").locator("button").click())  # another run: on the new worker
    expect(app.page.get_by_text("Output for your input")).to_be_visible(timeout=60_000)
    app.assert_no_exception()


@pytest.mark.e2e
def test_a_second_visitor_waits_is_told_so_and_each_gets_its_own_output(new_page, server):  # noqa: F811
    from playwright.sync_api import expect

    first, second = new_page(), new_page()
    first_before = go(first, SLOW, "random:1")
    busy_worker(server)
    second_before = go(second, wide(2001))
    expect(second.page.get_by_text("Waiting for a free worker for this large run: yours is next.")).to_be_visible()
    first.wait_run(first_before, timeout_ms=60_000)
    second.wait_run(second_before, timeout_ms=60_000)
    expect(first.page.get_by_text("shape (1, 1024, 1024)")).to_be_visible()
    expect(second.page.get_by_text("shape (1, 2001)")).to_be_visible()
    for app in (first, second):
        app.assert_no_exception()


@pytest.mark.e2e
def test_a_closed_tab_cancels_its_running_run(new_page, server):  # noqa: F811 — the fixture
    app = new_page()
    go(app, SLOW, "random:1")
    pid = busy_worker(server)
    app.page.context.close()
    deadline = time.monotonic() + 15  # the run alone would go on for seconds; its cancelling kills its worker
    while pid in server.worker_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pid not in server.worker_pids(), f"the worker was not stopped; log:\n{server.log()}"


@pytest.mark.e2e
def test_a_run_over_a_workers_memory_cap_says_so(browser, tmp_path_factory):  # noqa: F811 — the fixture
    from playwright.sync_api import expect

    capped = {
        "NETBUILDER_WORKER_MEMORY": "500000000",
        "NETBUILDER_MAX_WEIGHT_BYTES": "none",
        "NETBUILDER_MAX_WORK": "none",
    }
    server = Server(ROOT, tmp_path_factory.mktemp("streamlit") / "server.log", env=capped).start()
    try:
        context = browser.new_context()
        app = AppPage(context, server).open(link(wide(40_000)))  # 655 MB of weights in a 477 MiB worker
        expect(app.page.get_by_text("needed more memory than a worker's 477 MiB and was stopped")).to_be_visible()
        app.assert_no_exception()
        context.close()
    finally:
        server.stop()


@pytest.mark.e2e
def test_training_runs_in_a_worker_stop_keeps_what_it_learned_and_a_closed_tab_cancels_it(new_page, server):  # noqa: F811
    from playwright.sync_api import expect

    from netbuilder.studio import presets

    spirals = presets.PRESETS["train-spirals"]
    app = new_page(link(spirals.spec))
    app.choose("preset_name", spirals.title)
    app.open_tab("Train")
    app.set_number("train_epochs", 5000)
    app.set_number("train_batch_size", 1)  # minutes of training, unless stopped
    app.page.locator(".st-key-train_start button").first.click()
    pid = busy_worker(server)  # the server's own process does not train
    expect(app.page.get_by_text(re.compile(r"^Epoch [0-9]+ of 5000"))).to_be_visible()
    app.page.locator(".st-key-train_stop button:not([disabled])").click()
    stopped = app.page.get_by_text(re.compile(r"Training stopped during epoch \d+ of 5000, after \d+ complete epoch"))
    expect(stopped).to_be_visible(timeout=30_000)
    assert pid in server.worker_pids()  # a stop lets the run end and send its weights: its worker goes on
    app.page.locator(".st-key-train_start button").first.click()
    pid = busy_worker(server)
    app.page.context.close()
    deadline = time.monotonic() + 15
    while pid in server.worker_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pid not in server.worker_pids(), f"the training run was not cancelled; log:\n{server.log()}"
