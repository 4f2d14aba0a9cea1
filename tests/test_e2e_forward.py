"""The Forward page in a real browser: a handwritten digit as the input, each picture on its own scale, and the
Conv2D's feature maps drawn whole where the visitor looks, on a desktop and on a phone (servers and browsers as in
test_e2e)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from test_e2e import ARTIFACTS, DESKTOP, PHONE, browser, link, new_page, server  # noqa: F401 — the fixtures
from netbuilder.studio.spec import LayerSpec, ModelSpec
from netbuilder.views.heatmap import GAP

CONVNET = ModelSpec(
    (8, 8, 1),
    (
        LayerSpec.make(0, "Conv2D", filters=8, kernel_size=(3, 3), activation="relu"),
        LayerSpec.make(1, "MaxPooling2D", pool_size=(2, 2)),
        LayerSpec.make(2, "Flatten"),
        LayerSpec.make(3, "Dense", units=10, activation="softmax"),
    ),
    0,
)
MAPS_PX = (8 * 6 * 19 + 7 * GAP, 6 * 19)  # eight 6×6 maps in one row, 19 px a value (heatmap.feature_maps)

# The picture's box against the main area and every ancestor that clips or scrolls: a picture cut by any of them
# (even with no scrollbar shown) is found, and its drawn size against its own.
PICTURE_SHOWN = """img => {
    const b = img.getBoundingClientRect(),
        main = document.querySelector('[data-testid="stMain"]').getBoundingClientRect();
    const cut = [];
    for (let e = img.parentElement; e && e.getAttribute('data-testid') !== 'stMain'; e = e.parentElement) {
        const cs = getComputedStyle(e), r = e.getBoundingClientRect();
        if ((cs.overflowX !== 'visible' || cs.overflowY !== 'visible')
            && (b.left < r.left - 0.5 || b.right > r.right + 0.5 || b.top < r.top - 0.5 || b.bottom > r.bottom + 0.5)) {
            cut.push(e.className.slice(0, 40));
        }
    }
    return {natural: [img.naturalWidth, img.naturalHeight], box: [b.left, b.right, b.width, b.height],
            main: [main.left, main.right], cut};
}"""


@pytest.mark.e2e
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_digits_feature_maps_on_their_own_scale_are_in_view_and_whole(new_page, viewport):  # noqa: F811 — the fixture
    from PIL import Image
    from playwright.sync_api import expect

    app = new_page(link(CONVNET, "zeros"), viewport=viewport)
    panel = app.open_tab("Forward pass")
    app.choose("input_dataset", "Handwritten digits 8×8")
    app.set_number("dataset_start", 3)
    expect(panel.get_by_text("The input holds sample 3 of Handwritten digits 8×8: digit 3.")).to_be_visible()
    app.act(lambda: app.widget("own_scales").locator("label").click())
    heading = panel.get_by_test_id("stMarkdownContainer").filter(has_text="conv2d (Conv2D) — ")
    expect(heading).to_contain_text("colors on its own scale ±")
    pictures = panel.get_by_test_id("stImage").locator("img")
    maps = pictures.nth(2)  # the legend, the input, then the Conv2D's maps
    expect(maps).to_have_js_property("complete", True)
    maps.scroll_into_view_if_needed()
    expect(maps).to_be_in_viewport(ratio=1)  # the whole picture on the screen
    shown = maps.evaluate(PICTURE_SHOWN)
    assert shown["natural"] == list(MAPS_PX), shown
    left, right, width, height = shown["box"]
    assert shown["main"][0] <= left and right <= shown["main"][1] and not shown["cut"], shown  # nothing cut
    assert abs(width / height - MAPS_PX[0] / MAPS_PX[1]) < 0.05, shown  # scaled as a whole, not cropped
    assert width >= min(MAPS_PX[0], 0.8 * (shown["main"][1] - shown["main"][0])), shown  # as wide as the room allows
    assert heading.bounding_box()["y"] < maps.bounding_box()["y"]  # its range written right above it
    # on its own scale the strongest value is full red, as drawn on the screen (after any scaling)
    pixels = np.asarray(Image.open(io.BytesIO(maps.screenshot())).convert("RGB")).astype(int)
    assert ((pixels[..., 0] >= 250) & (pixels[..., 1] <= 5) & (pixels[..., 2] <= 5)).any()
    ARTIFACTS.mkdir(exist_ok=True)
    app.page.screenshot(path=str(ARTIFACTS / f"forward-digit-{'desktop' if viewport is DESKTOP else 'phone'}.png"))
    app.assert_no_exception()
