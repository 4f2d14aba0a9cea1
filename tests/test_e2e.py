"""The app in a real browser: `streamlit run app.py` driven through Debian's Chromium with Playwright.

What AppTest cannot see: the graph really drawn to SVG with its shapes, the real widgets, numbers as a
person reads them (no digit or sign cut), where a message appears relative to what caused it, the
phone layout, the address bar holding a share link that opens the same model in another browser, and
two browsers at once never sharing a model. Every wait follows Streamlit's own run messages (see
e2e_support), never a fixed sleep.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from conftest import ROOT
from e2e_support import CHROMIUM, CHROMIUM_ARGS, AppPage, Server, require_browser
from netbuilder.studio import share
from netbuilder.studio.models import built
from netbuilder.studio.spec import LayerSpec, ModelSpec, seed_spec
from netbuilder.views.graph import SELECTED_FILL

SEED_INPUT = "[[[1, 2], [3, 4], [5, 6]]]"
SEED_EDGES = ["(None, 3, 2)", "(None, 3, 16)", "(None, 3, 16)", "(None, 48)", "(None, 4)"]
SEED_IDS = [layer.id for layer in seed_spec().layers]  # Dense, Activation, Flatten, Dense
ARTIFACTS = ROOT / "artifacts"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


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

    def open_page(url: str | None = None, viewport: dict = DESKTOP) -> AppPage:
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


def link(spec: ModelSpec, input_text: str | None = None) -> str:
    return "?model=" + share.encode(spec, input_text)


def chain(n: int) -> ModelSpec:
    """Input (8,) and n Dense(8) layers: a long model for the tests about 30 layers."""
    return ModelSpec((8,), tuple(LayerSpec.make(i, "Dense", units=8) for i in range(n)), 0)


def save_full_page(app: AppPage, path) -> None:
    """The main area scrolls inside the page, so grow the viewport to the content before the screenshot."""
    width = app.page.viewport_size["width"]
    height = app.page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    app.page.set_viewport_size({"width": width, "height": max(844, min(int(height), 8000))})
    app.page.wait_for_timeout(200)  # one layout pass at the new size
    app.page.screenshot(path=str(path), full_page=True)


@pytest.mark.e2e
@pytest.mark.parametrize("viewport, name", [(DESKTOP, "first-open.png"), (PHONE, "first-open-phone.png")])
def test_first_open_draws_the_seed_model_and_saves_a_screenshot(new_page, viewport, name):
    from playwright.sync_api import expect

    app = new_page(viewport=viewport)
    expect_edges(app, SEED_EDGES)
    expect(app.nodes).to_have_count(len(SEED_EDGES) + 1)  # Input, 4 layers, Output
    expect(app.page.get_by_test_id("stMarkdownContainer").filter(has_text="Total params: 244")).to_have_count(1)
    expect(app.page.get_by_text("New here?")).to_be_visible()  # what to try first
    expect_share_link(app, seed_spec())  # even before any edit the address bar is a share link
    ARTIFACTS.mkdir(exist_ok=True)
    save_full_page(app, ARTIFACTS / name)
    assert (ARTIFACTS / name).stat().st_size > 10_000
    app.assert_no_exception()


@pytest.mark.e2e
def test_on_a_phone_the_graph_and_the_output_are_within_the_first_two_screens(new_page):
    from playwright.sync_api import expect

    app = new_page(viewport=PHONE)
    expect_edges(app, SEED_EDGES)
    main = app.page.get_by_test_id("stMain")
    graph_top = app.page.get_by_test_id("stGraphVizChart").bounding_box()["y"]
    output = app.page.get_by_text("Output for your input")
    expect(output).to_be_attached()
    table_bottom = app.table_cells().first.bounding_box()
    scrolled = main.evaluate("m => m.scrollTop")
    assert scrolled == 0
    assert graph_top < PHONE["height"]  # the graph starts on the first screen
    assert table_bottom["y"] + table_bottom["height"] < 2 * PHONE["height"], (
        table_bottom
    )  # the output's numbers on the second
    # layer actions stay compact: the selected layer's buttons fit on at most two rows
    bottoms = app.widget("layer_actions").evaluate(
        "row => [...row.children].map(c => Math.round(c.getBoundingClientRect().bottom))"
    )
    assert len(set(bottoms)) <= 2, bottoms
    app.assert_no_exception()


# Each number cell's box against its grid's and every ancestor's up to the page: a cell cut by a box that
# clips or scrolls sideways (even with no scrollbar shown) is found, not only a cell whose own text overflows.
CELLS_SHOWN = """grid => {
    const main = document.querySelector('[data-testid="stMain"]').getBoundingClientRect();
    const clippers = [];
    for (let e = grid; e && e.getAttribute('data-testid') !== 'stMain'; e = e.parentElement) {
        if (getComputedStyle(e).overflowX !== 'visible') clippers.push(e);
    }
    return [...grid.querySelectorAll('.nb-c')].flatMap(cell => {
        const b = cell.getBoundingClientRect(), text = cell.querySelector('span');
        const cut = clippers.filter(c => {
            const r = c.getBoundingClientRect(); return b.left < r.left - 0.5 || b.right > r.right + 0.5;
        });
        const bad = text.scrollWidth > text.clientWidth || b.left < main.left || b.right > main.right || cut.length;
        return bad ? [[text.textContent, b.left, b.right, cut.map(c => c.className.slice(0, 40))]] : [];
    });
}"""


@pytest.mark.e2e
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_no_number_is_clipped_in_a_wide_output_table(new_page, viewport):
    spec = ModelSpec(
        (3, 2),
        (
            LayerSpec.make(0, "Dense", units=16, activation="tanh"),
            LayerSpec.make(1, "Flatten"),
            LayerSpec.make(2, "Dense", units=16),
        ),
        0,
    )
    app = new_page(link(spec, SEED_INPUT), viewport=viewport)
    expected = built(spec).predict(np.array([[[1, 2], [3, 4], [5, 6]]], np.float32))[0]
    assert (expected < 0).any()  # the minus signs are what was lost
    cells = app.table_cells()
    texts = cells.all_text_contents()
    assert texts == [f"{v:.4g}" for v in expected]  # each cell holds the whole formatted value
    assert app.tables().first.evaluate(CELLS_SHOWN) == []  # and every cell is whole on the page: nothing to scroll to
    rows = {round(box["y"]) for box in (cells.nth(i).bounding_box() for i in range(len(texts)))}
    assert len(rows) > 1  # 16 numbers do not fit one line here: they wrap
    app.assert_no_exception()


@pytest.mark.e2e
def test_a_refused_edit_on_layer_29_is_explained_where_the_visitor_is(new_page):
    from playwright.sync_api import expect

    app = new_page(link(chain(30)))
    expect(app.edges).to_have_count(5)  # a window around the first layer: Input, 3 layers, 27 folded, Output
    app.pick_layer("29.")
    layer = chain(30).layers[28].id
    app.set_number(f"units_{layer}", 100_000)
    message = app.page.get_by_test_id("stAlertContentError").filter(has_text="Could not set units")
    expect(message).to_be_visible()
    expect(message).to_be_in_viewport()  # not 4,800 px above, at the top of the page
    expect(app.widget(f"units_{layer}")).to_be_in_viewport()
    assert app.widget(f"units_{layer}").locator("input").input_value() == "8"  # snapped back to the model
    app.assert_no_exception()


SELECTED = f'path[fill="{SELECTED_FILL}"], polygon[fill="{SELECTED_FILL}"]'
# A graph whose highlighted node shows only when a box around it is scrolled to it is what this must not need.
SCROLLED_AWAY = """svg => { const out = [];
    for (let e = svg.parentElement; e && e.getAttribute('data-testid') !== 'stMain'; e = e.parentElement) {
        const s = getComputedStyle(e).overflowY;
        if ((s === 'auto' || s === 'scroll') && e.scrollHeight > e.clientHeight + 1) out.push(e.className.slice(0, 40));
    }
    return out; }"""


@pytest.mark.e2e
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_at_30_layers_the_selected_layer_is_on_screen_highlighted_beside_its_settings(new_page, viewport):
    from playwright.sync_api import expect

    app = new_page(link(chain(30)), viewport=viewport)
    app.pick_layer("29.")
    node = app.nodes.filter(has=app.page.locator(SELECTED))
    expect(node).to_have_count(1)
    expect(node).to_contain_text("dense_28")
    expect(app.nodes.filter(has_text="26 layers above")).to_have_count(1)  # the rest folded, its shapes on the edges
    expect(app.edges).to_have_text(["(None, 8)"] * 6)
    panel = app.widget("selected_panel")
    expect(panel).to_contain_text("dense_28")
    assert app.page.get_by_test_id("stGraphVizChart").locator("svg").evaluate(SCROLLED_AWAY) == []
    n, p, height = node.bounding_box(), panel.bounding_box(), viewport["height"]
    heading = 60  # the panel's first line: the layer's name and kind
    if viewport is DESKTOP:  # both on the screen the visitor is looking at, no scrolling
        assert 0 <= n["y"] and n["y"] + n["height"] <= height, n
        assert 0 <= p["y"] and p["y"] + heading <= height, p
    else:  # the phone stacks them: the node, and below it the panel, within one screen
        assert p["y"] + heading - n["y"] <= height, (n, p)
    app.assert_no_exception()


ON_SCREEN_FONT = (
    "t => [t.textContent, parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a, "
    "getComputedStyle(t).fontWeight]"
)
# Every edge's and node's text as drawn on screen, read at one moment once the drawing's scale has held for 5 frames
# (the page may still be settling its width, which scales the graph, on a loaded machine)
SETTLED_FONTS = (
    "async svg => { const scale = () => svg.getScreenCTM().a; let last = scale(), same = 0;"
    " while (same < 5) { await new Promise(r => requestAnimationFrame(r)); const now = scale();"
    " same = now === last ? same + 1 : 0; last = now; }"
    " const font = " + ON_SCREEN_FONT + ";"
    " return [[...svg.querySelectorAll('g.edge text')].map(font), [...svg.querySelectorAll('g.node text')].map(font)];"
    " }"
)
# Each line of a node (its texts with one baseline) and how far its middle is from the node's middle, in px.
LINE_OFFSETS = """g => {
    const shape = g.querySelector('path, polygon').getBoundingClientRect(), lines = {};
    for (const t of g.querySelectorAll('text')) if (t.textContent.trim()) (lines[t.getAttribute('y')] ??= []).push(t);
    return Object.values(lines).map(ts => {
        const boxes = ts.map(t => t.getBoundingClientRect());
        const left = Math.min(...boxes.map(b => b.left)), right = Math.max(...boxes.map(b => b.right));
        return [ts.map(t => t.textContent).join(' '), (left + right - shape.left - shape.right) / 2];
    });
}"""


@pytest.mark.e2e
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_graph_text_is_readable_centred_and_the_shapes_are_its_clearest_text(new_page, viewport):
    app = new_page(viewport=viewport)
    expect_edges(app, SEED_EDGES)
    edges, nodes = app.page.locator('[data-testid="stGraphVizChart"] svg').evaluate(SETTLED_FONTS)
    assert min(px for _, px, _ in nodes) >= 13, nodes  # st.graphviz_chart alone draws them at 9.6 px
    assert min(px for _, px, _ in edges) > max(px for _, px, _ in nodes), (edges, nodes)
    assert {weight for _, _, weight in edges} == {"700"}  # and in bold
    lines = [line for i in range(app.nodes.count()) for line in app.nodes.nth(i).evaluate(LINE_OFFSETS)]
    assert len(lines) == 12
    for text, off in lines:  # centred in its node: laid out for the font the browser draws
        assert abs(off) <= (1.5 if text.isascii() else 5), (text, off)  # (Graphviz counts · as two letters wide)
    app.assert_no_exception()


@pytest.mark.e2e
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_pasted_layers_are_confirmed_beside_the_paste_box(new_page, viewport):
    from playwright.sync_api import expect

    app = new_page(viewport=viewport)
    app.page.get_by_text("Paste layers written as Keras code").click()
    box = app.widget("paste_text").locator("textarea")
    box.evaluate("e => e.scrollIntoView({block: 'center'})")  # as a person types: the box in the middle of the screen
    box.fill("Input(shape=(8,))\n" + "\n".join('Dense(16, activation="relu")' for _ in range(29)) + "\nDense(4)")
    box.press("Tab")
    app.click("paste_replace")
    paste_box = app.page.get_by_test_id("stExpander").filter(has_text="Paste layers written as Keras code")
    message = paste_box.get_by_test_id("stAlertContentSuccess").filter(has_text="Replaced the layers with 30 layer(s).")
    expect(message).to_be_visible()  # in the paste box, under its buttons (after what the new input shape did)
    expect(paste_box.get_by_test_id("stAlertContentInfo")).to_contain_text(
        "refilled with a range for the new shape (8,)"
    )
    assert message.bounding_box()["y"] > app.widget("paste_replace").bounding_box()["y"]
    assert not app.widget("selected_panel").get_by_test_id("stAlert").count()  # not beside the selected layer
    # The list and the graph above grow with the model, and how far the browser follows that with its scroll varies:
    # the same words also come as a toast, in view wherever the page went.
    expect(
        app.page.get_by_test_id("stToast").filter(has_text="Replaced the layers with 30 layer(s).")
    ).to_be_in_viewport()
    app.assert_no_exception()


# Whether a text box shows all of its value: the value's width in the box's font against the room inside it.
VALUE_FITS = """e => { const cs = getComputedStyle(e), c = document.createElement('canvas').getContext('2d');
    c.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
    return c.measureText(e.value).width <=
        e.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight); }"""


@pytest.mark.e2e
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_no_text_of_the_toolbar_or_the_editor_is_cut(new_page, viewport):
    from playwright.sync_api import expect

    from netbuilder.studio import presets

    app = new_page(viewport=viewport)
    first = app.widget("first_steps").get_by_test_id("stMarkdownContainer").first
    assert first.inner_text().endswith("or try a puzzle:")  # a whole sentence before its button, no lone "or"
    app.choose("preset_name", max((p.title for p in presets.PRESETS.values()), key=len))
    assert app.widget("preset_name").locator("input").evaluate(VALUE_FITS)  # the longest preset title, whole
    app.choose("add_kind", "Normalisation · BatchNormalization")  # the longest kind name
    assert app.widget("add_kind").locator("input").evaluate(VALUE_FITS)
    expect(app.page.get_by_text("BatchNormalization: Normalises each feature with batch statistics")).to_be_visible()
    expect(app.widget("duplicate_count").get_by_text("copies")).to_be_visible()  # not a bare "1"
    app.assert_no_exception()


@pytest.mark.e2e
def test_the_fix_buttons_show_their_whole_text(new_page):
    from playwright.sync_api import expect

    broken = ModelSpec((3, 2), (LayerSpec.make(0, "Dense", units=16), LayerSpec.make(1, "Dense", (48,), units=4)), 0)
    for viewport in (DESKTOP, PHONE):
        app = new_page(link(broken), viewport=viewport)
        button = app.widget("fix_0").locator("button")
        expect(button).to_contain_text("it turns (None, 3, 16) into (None, 48)")
        sizes = button.evaluate("b => [b.scrollWidth, b.clientWidth, b.scrollHeight, b.clientHeight]")
        assert sizes[0] <= sizes[1] and sizes[2] <= sizes[3], sizes  # nothing of it hidden
        app.assert_no_exception()


@pytest.mark.e2e
def test_a_batch_shows_the_sample_the_visitor_picks(new_page):
    batch = "[[[1, 2], [3, 4], [5, 6]], [[-6, 5], [-4, 3], [-2, 1]]]"
    app = new_page(link(seed_spec(), batch))
    expected = built(seed_spec()).predict(np.array(eval(batch), np.float32))  # our own literal, not visitor data
    cells = app.table_cells()
    assert cells.all_text_contents() == [f"{v:.4g}" for v in expected[0]]
    app.set_number("output_sample", 1)
    assert cells.all_text_contents() == [f"{v:.4g}" for v in expected[1]]
    app.assert_no_exception()


@pytest.mark.e2e
def test_adding_layers_through_the_widgets_updates_the_graph(new_page):
    from playwright.sync_api import expect

    app = new_page()
    expect_edges(app, SEED_EDGES)
    app.choose("add_where", "at the end")
    app.choose("add_kind", "Activations · Activation")
    expect(
        app.page.get_by_text(
            "Activation: One function applied to every value; the shape stays the same (glu halves the last axis)."
        )
    ).to_be_visible()
    app.click("add")
    expect_edges(app, SEED_EDGES + ["(None, 4)"])  # a new edge into the new layer, shape kept
    expect(app.nodes.filter(has_text="activation_1")).to_have_count(1)
    app.pick_layer("Input")
    app.choose("add_where", "after the selected layer")
    app.choose("add_kind", "Reshaping · Flatten")
    app.click("add")
    expect_edges(app, ["(None, 3, 2)", "(None, 6)", "(None, 16)", "(None, 16)", "(None, 16)", "(None, 4)", "(None, 4)"])
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
    output = app.table_cells().all_text_contents()
    expected = built(model).predict(np.array([[[1, 2], [3, 4], [5, 6]]], dtype=np.float32))[0]
    assert output == [f"{v:.4g}" for v in expected]

    other = new_page(url)  # a fresh context: nothing shared with the first but the link
    expect_edges(other, edited)
    assert token_of(other.page.url) == token_of(url)
    assert other.table_cells().all_text_contents() == output
    other.assert_no_exception()


HOSTILE_KINDS = [
    "https://evil.example/login",
    "https&colon;//evil.example/login",
    "admin@evil.example",
    "www.evil.example",
    "[x](javascript:alert(1))",
    "<a href='https://evil.example'>x</a>",
]


@pytest.mark.e2e
def test_visitor_text_quoted_in_a_message_never_becomes_a_link(new_page):
    """What the browser draws, not the Markdown source: Streamlit's Markdown auto-links bare URLs, e-mail
    addresses and entity-spelled schemes, so a hostile link's layer kind must reach the page as plain text."""
    import base64
    import json
    import zlib

    for kind in HOSTILE_KINDS:
        raw = json.dumps({"model": {"input_shape": [3, 2], "seed": 0, "layers": [{"id": 0, "kind": kind}]}}).encode()
        app = new_page("?model=1." + base64.urlsafe_b64encode(zlib.compress(raw)).rstrip(b"=").decode())
        (alert,) = [
            a for a in app.page.locator('[data-testid="stAlert"]').all() if "could not be opened" in a.inner_text()
        ]
        assert alert.locator("a").count() == 0, (kind, alert.inner_html())
        assert kind.split("/")[-1].split("@")[-1][:6] in alert.inner_text().replace("\u200d", "")  # quoted, as text


@pytest.mark.e2e
def test_two_browsers_editing_at_once_never_see_each_others_model(new_page):
    first, second = new_page(), new_page()
    dense, last = SEED_IDS[0], SEED_IDS[3]

    first.set_number(f"units_{dense}", 8)
    expect_edges(first, ["(None, 3, 2)", "(None, 3, 8)", "(None, 3, 8)", "(None, 24)", "(None, 4)"])
    expect_edges(second, SEED_EDGES)

    # The second session reruns with its own edit: had it taken the first one's model, dense would be 8 wide.
    second.pick_layer("4.")
    second.set_number(f"units_{last}", 5)
    expect_edges(second, ["(None, 3, 2)", "(None, 3, 16)", "(None, 3, 16)", "(None, 48)", "(None, 5)"])
    expect_edges(first, ["(None, 3, 2)", "(None, 3, 8)", "(None, 3, 8)", "(None, 24)", "(None, 4)"])

    # Now both at the same moment: send both edits, then wait for both runs.
    second.pick_layer("1.")
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


@pytest.mark.e2e
def test_train_the_xor_preset_in_the_browser_and_stop_another_run(new_page):
    from playwright.sync_api import expect

    from netbuilder.studio import presets

    xor = presets.PRESETS["train-xor"]
    app = new_page(link(xor.spec, xor.input_text))
    app.choose("preset_name", xor.title)
    app.open_tab("Train")
    app.click("train_start")
    done = app.page.get_by_text(re.compile(r"Training finished: 60 epoch"))
    expect(done).to_be_visible(timeout=60_000)  # the page trains in pieces, redrawing in between
    caption = app.page.get_by_text(re.compile(r"^loss [0-9.e-]+ · accuracy")).first
    accuracy = float(re.search(r"accuracy ([0-9.]+)", caption.inner_text()).group(1))
    assert accuracy >= 0.95
    expect(app.page.get_by_text("Decision boundary", exact=True)).to_be_visible()

    spirals = presets.PRESETS["train-spirals"]
    app.choose("preset_name", spirals.title)
    app.set_number("train_epochs", 5000)  # far longer than the test: it is stopped mid-run
    app.page.locator(".st-key-train_start button").first.click()  # no waiting for the run: it goes on in pieces
    expect(app.page.get_by_text(re.compile(r"^Epoch [0-9]+ of 5000"))).to_be_visible()
    app.page.locator(".st-key-train_stop button:not([disabled])").click()  # (a redrawn page may briefly hold both)
    stopped = app.page.get_by_text(re.compile(r"Training stopped during epoch \d+ of 5000, after \d+ complete epoch"))
    expect(stopped).to_be_visible(timeout=30_000)
    during, complete = map(int, re.search(r"during epoch (\d+) of 5000, after (\d+)", stopped.inner_text()).groups())
    progress = app.page.get_by_text(re.compile(r"^Epoch \d+ of 5000 — stopped"))
    expect(progress).to_have_text(
        f"Epoch {during} of 5000 — stopped ({complete} complete)"
    )  # one count, said the same way
    assert complete == during - 1
    app.assert_no_exception()


@pytest.mark.e2e
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_newcomer_on_the_train_page_gets_a_model_for_the_data_trains_it_and_uploads_a_csv(
    new_page, viewport, tmp_path
):
    """The seed model does not fit XOR: the page says so under the data with one-click ways out; the MLP it loads trains
    and its charts and boundary are drawn; a CSV with a BOM and decimal commas is read as written, and said so."""
    from playwright.sync_api import expect

    app = new_page(viewport=viewport)
    panel = app.open_tab("Train")
    expect(panel.get_by_text("The data does not fit the model: the data's samples have shape (2,)")).to_be_visible()
    app.act(lambda: app.widget("advice_model").locator("button:visible").click())
    app.act(lambda: app.widget("train_start").locator("button:visible").click())
    expect(app.page.get_by_text(re.compile(r"Training finished: 100 epoch"))).to_be_visible(timeout=60_000)
    expect(app.page.get_by_text("Decision boundary", exact=True)).to_be_visible()
    expect(app.page.get_by_test_id("stVegaLiteChart")).to_have_count(3)
    app.choose("train_source_widget", "a CSV file")
    csv = tmp_path / "data.csv"
    csv.write_bytes("\ufeffx1;x2;label\n0,5;1,5;1\n-0,25;2;0\n".encode("utf-8"))
    app.act(lambda: app.widget("train_csv").locator("input[type=file]").set_input_files(str(csv)))
    expect(
        app.page.get_by_text(re.compile(r"Read 2 rows × 3 columns with ';' between values and ',' as the decimal mark"))
    ).to_be_visible()
    app.assert_no_exception()


@pytest.mark.e2e
def test_on_a_phone_help_icons_and_checkboxes_are_24_px_targets_and_a_focused_field_is_not_red(new_page):
    """New users read Streamlit's red focus border as an error, and 16 px help icons are small for a finger."""
    from playwright.sync_api import expect

    app = new_page(viewport=PHONE)
    expect(app.page.get_by_label("Help for units")).to_be_visible()  # the selected layer's settings are drawn
    sizes = app.page.evaluate(
        """() => {
        const targets = '[data-testid="stTooltipIcon"] button, [data-testid="stCheckbox"] label';
        const shown = [...document.querySelectorAll(targets)].map(e => e.getBoundingClientRect())
            .filter(b => b.width > 0);
        return shown.map(b => [b.width, b.height]);
    }"""
    )
    assert len(sizes) >= 5 and all(w >= 24 and h >= 24 for w, h in sizes), sizes
    field = app.page.locator('input[type="number"]').first
    field.focus()
    for _ in range(30):  # the border eases to its focused colour: read it once the transition is over (a busy CI)
        border = field.evaluate("e => getComputedStyle(e.parentElement).borderColor")
        red, green, blue = (int(v) for v in re.findall(r"\d+", border)[:3])
        if blue > red:
            break
        app.page.wait_for_timeout(100)
    assert blue > red, f"the focused field's border is {border}"
    app.assert_no_exception()
