"""The app in a real browser: `streamlit run app.py` driven through Debian's Chromium with Playwright.

What AppTest cannot see: the graph really drawn to SVG with its shapes, the real widgets (a
selectbox opened and clicked), the address bar holding a share link that opens the same model in
another browser, and two browsers at once never sharing a model. Every wait follows Streamlit's
own run messages (see e2e_support), never a fixed sleep.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from conftest import ROOT
from e2e_support import CHROMIUM, CHROMIUM_ARGS, AppPage, Server, require_browser
from netbuilder import share
from netbuilder.spec import seed_spec

SEED_INPUT = "[[[1, 2], [3, 4], [5, 6]]]"
SEED_EDGES = ["(None, 3, 2)", "(None, 3, 16)", "(None, 3, 16)", "(None, 48)", "(None, 4)"]
SEED_IDS = [layer.id for layer in seed_spec().layers]  # Dense, Activation, Flatten, Dense
ARTIFACTS = ROOT / "artifacts"
VIEWPORT = {"width": 1400, "height": 1000}


@pytest.fixture(scope="module")
def browser():
    require_browser()  # before the server: no server is started for tests that will not run
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # the SVG is drawn after the run; a busy machine may be slow
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def server(browser, tmp_path_factory):
    app = Server(ROOT, tmp_path_factory.mktemp("streamlit") / "server.log")
    try:
        yield app.start()
    finally:
        app.stop()


@pytest.fixture
def new_page(browser, server, request):
    """Open the app in a fresh browser context (its own cookies, storage and Streamlit session).

    When the test fails, every page it opened is saved to artifacts/failed-<test>-<n>.png."""
    contexts, pages = [], []
    failed_before = request.session.testsfailed

    def open_page(url: str | None = None, viewport: dict = VIEWPORT) -> AppPage:
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(30_000)
        contexts.append(context)
        app = AppPage(context, server)
        pages.append(app)
        return app.open(url)

    yield open_page
    if request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(exist_ok=True)
        for n, app in enumerate(pages):
            try:
                app.page.screenshot(path=str(ARTIFACTS / f"failed-{request.node.name}-{n}.png"), full_page=True)
            except Exception:  # a crashed page cannot be photographed; the failure itself is reported anyway
                pass
    for context in contexts:
        context.close()


def expect_edges(app: AppPage, shapes: list[str]) -> None:
    from playwright.sync_api import expect

    expect(app.edges).to_have_text(shapes)


def token_of(url: str) -> str:
    (token,) = parse_qs(urlsplit(url).query)["model"]
    return token


def expect_share_link(app: AppPage, model, input_text: str = SEED_INPUT) -> str:
    """The address bar holds exactly the share token of `model` (retrying until the run has set it)."""
    from playwright.sync_api import expect

    token = share.encode(model, input_text)
    expect(app.page).to_have_url(re.compile(r"[?&]model=" + re.escape(token) + r"(&|$)"))
    return app.page.url


@pytest.mark.e2e
def test_first_open_draws_the_seed_model_and_saves_a_screenshot(new_page):
    from playwright.sync_api import expect

    app = new_page()
    expect_edges(app, SEED_EDGES)
    expect(app.nodes).to_have_count(len(SEED_EDGES) + 1)  # Input, 4 layers, Output
    expect(app.page.get_by_test_id("stMarkdownContainer").filter(has_text="Total params: 244")).to_have_count(1)
    expect_share_link(app, seed_spec())  # even before any edit the address bar is a share link
    app.assert_no_exception()

    # The main area scrolls inside the page, so "full page" is the viewport: grow it to the content.
    height = app.page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    app.page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], min(int(height), 6000))})
    expect_edges(app, SEED_EDGES)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "first-open.png"
    app.page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    app.assert_no_exception()


@pytest.mark.e2e
def test_adding_layers_through_the_widgets_updates_the_graph(new_page):
    from playwright.sync_api import expect

    app = new_page()
    expect_edges(app, SEED_EDGES)

    app.choose("add_kind", "Activation")
    app.click("add")
    expect_edges(app, SEED_EDGES + ["(None, 4)"])  # a new edge into the new layer, shape kept
    expect(app.nodes).to_have_count(7)
    expect(app.nodes.filter(has_text="activation_1")).to_have_count(1)
    app.assert_no_exception()

    app.choose("add_kind", "Flatten")
    app.choose("add_position", "1. before dense")
    app.click("add")
    expect_edges(app, ["(None, 3, 2)", "(None, 6)", "(None, 16)", "(None, 16)", "(None, 16)", "(None, 4)", "(None, 4)"])
    expect(app.nodes).to_have_count(8)
    expect(app.page.get_by_test_id("stMarkdownContainer").filter(has_text="Total params: 180")).to_have_count(1)
    app.assert_no_exception()


@pytest.mark.e2e
def test_the_address_bar_is_a_share_link_that_reopens_the_same_model_and_output(new_page):
    app = new_page()
    app.set_number(f"units_{SEED_IDS[0]}", 8)
    edited = ["(None, 3, 2)", "(None, 3, 8)", "(None, 3, 8)", "(None, 24)", "(None, 4)"]
    expect_edges(app, edited)
    model = seed_spec().update(SEED_IDS[0], units=8)
    url = expect_share_link(app, model)
    output = app.forward_output()
    app.assert_no_exception()

    x = np.array([[[1, 2], [3, 4], [5, 6]]], dtype=np.float32)
    expected = model.model().forward(x)[-1][0]
    np.testing.assert_allclose([float(v) for v in output[1:]], expected, rtol=1e-6)  # cell 0 is the row index

    other = new_page(url)  # a fresh context: nothing shared with the first but the link
    expect_edges(other, edited)
    assert token_of(other.page.url) == token_of(url)
    assert other.forward_output() == output
    other.assert_no_exception()


@pytest.mark.e2e
def test_two_browsers_editing_at_once_never_see_each_others_model(new_page):
    first, second = new_page(), new_page()
    dense, last = SEED_IDS[0], SEED_IDS[3]

    first.set_number(f"units_{dense}", 8)
    expect_edges(first, ["(None, 3, 2)", "(None, 3, 8)", "(None, 3, 8)", "(None, 24)", "(None, 4)"])
    expect_edges(second, SEED_EDGES)

    # The second session reruns with its own edit: had it taken the first one's model, dense would be 8 wide.
    second.set_number(f"units_{last}", 5)
    expect_edges(second, ["(None, 3, 2)", "(None, 3, 16)", "(None, 3, 16)", "(None, 48)", "(None, 5)"])
    expect_edges(first, ["(None, 3, 2)", "(None, 3, 8)", "(None, 3, 8)", "(None, 24)", "(None, 4)"])

    # Now both at the same moment: send both edits, then wait for both runs.
    runs = len(first.finished), len(second.finished)
    box_a, box_b = first.widget(f"units_{dense}").locator("input"), second.widget(f"units_{dense}").locator("input")
    box_a.fill("9")
    box_b.fill("12")
    box_a.press("Enter")
    box_b.press("Enter")
    first.wait_run(runs[0])
    second.wait_run(runs[1])
    expect_edges(first, ["(None, 3, 2)", "(None, 3, 9)", "(None, 3, 9)", "(None, 27)", "(None, 4)"])
    expect_edges(second, ["(None, 3, 2)", "(None, 3, 12)", "(None, 3, 12)", "(None, 36)", "(None, 5)"])

    expect_share_link(first, seed_spec().update(dense, units=8).update(dense, units=9))
    expect_share_link(second, seed_spec().update(last, units=5).update(dense, units=12))
    first.assert_no_exception()
    second.assert_no_exception()
