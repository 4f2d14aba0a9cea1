"""Graphs in a real browser (Debian's Chromium, a real `streamlit run`), at desktop and phone widths: a residual block
built by the widgets drawn with both shapes meeting at its Add, a merge that does not fit drawn red and repaired by its
fix button, and a share link of a graph that opens the same graph in another browser."""

from __future__ import annotations

import pytest

from e2e_support import AppPage
from netbuilder.studio.presets import PRESETS, title
from netbuilder.studio.spec import seed_spec
from netbuilder.views.graph import ERROR_FILL, SELECTED_FILL
from test_e2e import (  # noqa: F401 — the fixtures
    ARTIFACTS,
    DESKTOP,
    PHONE,
    SETTLED_FONTS,
    browser,
    chain,
    expect_share_link,
    link,
    new_page,
    server,
)

SEED_IDS = [layer.id for layer in seed_spec().layers]


def node(app: AppPage, name: str):
    return app.nodes.filter(has_text=name)


@pytest.mark.e2e
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_residual_block_built_by_the_widgets_is_drawn_with_both_shapes_meeting_at_its_add(new_page, viewport):  # noqa: F811 — the fixture
    from playwright.sync_api import expect

    app = new_page(viewport=viewport)  # the first layer, dense, is selected
    app.page.get_by_role("button", name="Branch, merge, residual block").click()  # a popover: opening it runs nothing
    body = app.page.get_by_test_id("stPopoverBody")
    app.act(lambda: body.get_by_role("button", name="Residual block").click())
    expect(node(app, "add")).to_have_count(1)
    into_add = app.page.locator('[data-testid="stGraphVizChart"] svg g.edge').filter(
        has=app.page.locator("title", has_text="->L")
    )
    expect(app.edges.filter(has_text="(None, 3, 16)")).to_have_count(7)  # dense's output to 3 layers, and on
    titles = app.page.locator('[data-testid="stGraphVizChart"] svg g.edge title').all_text_contents()
    add_id = [t for t in titles if t.startswith("L") and "->" in t]
    assert sum(1 for t in add_id if t.endswith("->L7")) == 2  # two tensors meet at the Add (L7: the block's add)
    assert into_add.count() > 0
    expect(app.page.get_by_text("Connected to")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    app.page.screenshot(path=str(ARTIFACTS / f"residual-block-{viewport['width']}.png"), full_page=True)
    app.assert_no_exception()


@pytest.mark.e2e
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_merge_that_does_not_fit_is_red_said_in_words_and_its_fix_button_repairs_it(new_page, viewport):  # noqa: F811 — the fixture
    from playwright.sync_api import expect

    app = new_page(viewport=viewport)
    app.choose("preset_name", PRESETS["broken-shortcut-stride"].title)  # a puzzle, chosen from the menu
    failing = node(app, "add")
    expect(failing.locator("path, polygon").first).to_have_attribute("fill", ERROR_FILL)
    message = "Layer 'add' (Add) cannot add (None, 8, 8, 8) and (None, 16, 16, 8)"
    expect(app.page.get_by_text(message)).to_be_visible()
    fix = app.page.get_by_role("button", name="Fix: put Conv2D(filters=8, kernel_size=1, strides=(2, 2))", exact=False)
    app.act(lambda: fix.click())
    expect(app.page.get_by_text(message)).to_have_count(0)
    expect(node(app, "add").locator("path, polygon").first).not_to_have_attribute("fill", ERROR_FILL)
    expect(app.page.get_by_text("Solved")).to_be_visible()
    app.assert_no_exception()


@pytest.mark.e2e
def test_a_share_link_of_a_graph_opens_the_same_graph_in_another_browser(new_page):  # noqa: F811 — the fixture
    from playwright.sync_api import expect

    preset = PRESETS["inception-module"]
    app = new_page(link(preset.spec, preset.input_text))
    expect(node(app, "concatenate")).to_have_count(1)
    expect(app.edges.filter(has_text="(None, 16, 16, 24)")).to_have_count(1)  # 8 + 8 + 4 + 4 channels, to the output
    url = expect_share_link(app, preset.spec, preset.input_text)
    other = new_page(url, viewport=PHONE)
    expect(node(other, "concatenate")).to_have_count(1)
    assert other.edges.all_text_contents() == app.edges.all_text_contents()
    other.assert_no_exception()


SELECTED = f'path[fill="{SELECTED_FILL}"], polygon[fill="{SELECTED_FILL}"]'


@pytest.mark.e2e
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_clicking_a_node_selects_its_layer_with_a_pointer_cursor(new_page, viewport):  # noqa: F811 — the fixture
    from playwright.sync_api import expect

    app = new_page(viewport=viewport)
    flatten = node(app, "flatten")
    assert flatten.evaluate("g => getComputedStyle(g).cursor") == "pointer"
    app.act(lambda: flatten.click())
    expect(node(app, "flatten").locator(SELECTED)).to_have_count(1)
    expect(app.widget("selected_panel")).to_contain_text("flatten · Flatten")
    expect(app.widget("selected").locator("input:checked")).to_have_count(1)
    app.act(lambda: node(app, "Input").click())
    expect(app.widget("selected_panel")).to_contain_text("Input shape (per sample)")
    app.assert_no_exception()


@pytest.mark.e2e
def test_clicking_a_fold_of_a_long_graph_moves_the_window_and_a_forged_click_changes_nothing(new_page):  # noqa: F811
    from playwright.sync_api import expect

    app = new_page(link(chain(30)))  # dense is selected: the window is its neighbourhood, 25 layers folded below
    fold = app.nodes.filter(has_text="layers below")
    expect(fold).to_have_count(1)
    app.act(lambda: fold.click())  # selects the first layer folded: the window moves down to it
    expect(app.widget("selected_panel")).to_contain_text("dense_3")
    expect(node(app, "dense_3").locator(SELECTED)).to_have_count(1)
    for forged in ("999999", "../input", "<b>x</b>", "1e3"):  # what a visitor could send from the browser's console
        app.act(lambda: app.page.evaluate(f"window.netbuilderPick('picked', {forged!r})"))
        expect(app.widget("selected_panel")).to_contain_text("dense_3")
    app.assert_no_exception()


@pytest.mark.e2e
def test_a_keras_application_opens_folded_into_its_blocks_and_a_click_opens_one(new_page):  # noqa: F811
    from playwright.sync_api import expect

    app = new_page()
    app.choose("preset_name", PRESETS["keras-mobilenetv2"].title)
    expect(app.page.get_by_text("no pretrained (ImageNet) weights", exact=False)).to_be_visible()  # said on loading
    expect(app.nodes.filter(has_text="9 layers")).to_have_count(14)  # 16 blocks folded; two of them hold 8 layers
    box = app.nodes.filter(has_text="block_5").filter(has_text="layers")
    assert box.evaluate("g => getComputedStyle(g).cursor") == "pointer"
    app.act(lambda: box.click())
    expect(app.widget("selected_panel")).to_contain_text("block_5_expand")
    expect(node(app, "block_5_depthwise_BN")).to_have_count(1)  # the block is open, its layers drawn
    app.assert_no_exception()


@pytest.mark.e2e
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_resnet50_opens_by_name_as_four_stages_and_a_click_opens_a_stage_then_a_block(new_page, viewport):  # noqa: F811
    """ResNet50 is over the weight budget: it opens as its shapes, says why it does not run, and reads as its stem,
    four stages and its head; a stage opens into its blocks, a block into its layers."""
    from playwright.sync_api import expect

    app = new_page(viewport=viewport)
    app.choose("preset_name", title("keras-resnet50"))
    expect(app.page.get_by_text("Too large to run on this server", exact=False)).to_be_visible()
    expect(app.page.get_by_text("Total params: 25,636,712", exact=False)).to_be_visible()  # Keras's own count
    for stage, blocks in (("conv2", 3), ("conv3", 4), ("conv4", 6), ("conv5", 3)):
        expect(app.nodes.filter(has_text=f"{blocks} blocks").filter(has_text=stage)).to_have_count(1)
    app.act(lambda: app.nodes.filter(has_text="conv4").filter(has_text="6 blocks").click())
    expect(app.widget("selected_panel")).to_contain_text("conv4_block1_1_conv")
    expect(node(app, "conv4_block1_0_conv")).to_have_count(1)  # its first block is open, the others are boxes
    box = app.nodes.filter(has_text="conv4_block3").filter(has_text="layers")
    app.act(lambda: box.click())
    expect(app.widget("selected_panel")).to_contain_text("conv4_block3_1_conv")
    expect(node(app, "conv4_block3_2_conv")).to_have_count(1)
    app.page.screenshot(path=str(ARTIFACTS / f"resnet50-{viewport['width']}.png"), full_page=True)
    app.assert_no_exception()


@pytest.mark.e2e
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_wide_graph_keeps_its_text_readable(new_page, viewport):  # noqa: F811 — the fixture
    """Four branches side by side: the page gives the graph its whole width (a phone scrolls it sideways) rather
    than shrinking its shapes to a few pixels."""
    from playwright.sync_api import expect

    preset = PRESETS["inception-module"]
    app = new_page(link(preset.spec, preset.input_text), viewport=viewport)
    expect(node(app, "concatenate")).to_have_count(1)
    edges, nodes = app.page.locator('[data-testid="stGraphVizChart"] svg').evaluate(SETTLED_FONTS)
    assert min(px for _, px, _ in edges) >= 14 and min(px for _, px, _ in nodes) >= 12, (edges, nodes)
    if viewport == PHONE:  # wider than the screen: each drawing scrolls its selected node into the middle
        for entry in ("7. conv2d_5", "6. max_pooling2d", "1. conv2d "):
            app.pick_layer(entry)
            name = entry.split(". ")[1].strip()
            selected = app.nodes.filter(has_text=name).filter(has=app.page.locator(f'[fill="{SELECTED_FILL}"]'))
            expect(selected).to_have_count(1)
            for _ in range(100):  # the scroll follows the drawing by a frame, or many on a busy machine (CI: > 3 s)
                app.page.wait_for_timeout(100)
                box = selected.bounding_box()
                if 0 <= box["x"] and box["x"] + box["width"] <= viewport["width"]:
                    break
            assert 0 <= box["x"] and box["x"] + box["width"] <= viewport["width"], (entry, box)
    app.assert_no_exception()


@pytest.mark.e2e
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_second_input_added_by_its_button_is_drawn_and_a_branch_from_it_carries_its_shape(new_page, viewport):  # noqa: F811 — the fixture
    from playwright.sync_api import expect

    app = new_page(viewport=viewport)
    app.act(lambda: node(app, "Input").click())  # the inputs' panel
    app.act(lambda: app.widget("add_input").get_by_role("button").click())
    expect(node(app, "Input 2")).to_have_count(1)
    expect(app.page.get_by_text("Input 2 is taken by no layer yet")).to_be_visible()
    shape = app.widget("input_shape_text_1").locator("input")
    app.act(lambda: (shape.fill("5"), shape.press("Enter")))
    expect(node(app, "Input 2")).to_contain_text("shape=(5,)")
    app.choose("input_from", "Input 2 (input_layer_1) (None, 5)")  # the graph actions start from this input
    app.page.get_by_role("button", name="Branch, merge, residual block").click()
    body = app.page.get_by_test_id("stPopoverBody")
    app.act(lambda: body.get_by_role("button", name="Branch").click())  # the Add box's kind, Dense, on input 2
    expect(app.edges.filter(has_text="(None, 5)")).to_have_count(1)
    expect(node(app, "Output 2")).to_have_count(1)  # an open end: a second output
    ARTIFACTS.mkdir(exist_ok=True)
    app.page.keyboard.press("Escape")  # the popover closed, the graph in view
    app.page.locator('[data-testid="stGraphVizChart"]').screenshot(
        path=str(ARTIFACTS / f"two-inputs-{viewport['width']}.png")
    )
    app.assert_no_exception()
