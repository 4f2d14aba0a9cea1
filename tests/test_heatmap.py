"""netbuilder.views.heatmap: layout of one sample, its colors, a shared scale and the legend."""

import numpy as np

from netbuilder.studio.samples import as_matrix
from netbuilder.views.heatmap import NAN_RGB, colors, image, legend, magnitude


def test_a_sample_becomes_positions_by_features():
    assert as_matrix(np.arange(24).reshape(2, 3, 4)).shape == (6, 4)
    assert as_matrix(np.arange(5)).shape == (1, 5)
    assert as_matrix(np.float32(7)).shape == (1, 1)
    np.testing.assert_array_equal(as_matrix(np.arange(6).reshape(3, 2)), [[0, 1], [2, 3], [4, 5]])


def test_colors_blue_white_red_scaled_by_the_largest_finite_magnitude():
    rgb = colors(np.array([[-2.0, 0.0, 1.0, 2.0]]))
    assert rgb.dtype == np.uint8
    assert rgb[0].tolist() == [[0, 0, 255], [255, 255, 255], [255, 128, 128], [255, 0, 0]]


def test_non_finite_values_keep_the_scale_of_the_finite_ones():
    rgb = colors(np.array([[np.nan, np.inf, -np.inf, 1.0, 0.5]]))
    assert rgb[0].tolist() == [list(NAN_RGB), [255, 0, 0], [0, 0, 255], [255, 0, 0], [255, 128, 128]]
    assert colors(np.array([[np.nan]]))[0, 0].tolist() == list(NAN_RGB)
    assert colors(np.zeros((1, 2)))[0].tolist() == [[255, 255, 255]] * 2


def test_a_given_scale_is_shared_and_values_beyond_it_saturate():
    assert colors(np.array([[1.0, -1.0]]), scale=2.0)[0].tolist() == [[255, 128, 128], [128, 128, 255]]
    assert colors(np.array([[4.0, -4.0]]), scale=2.0)[0].tolist() == [[255, 0, 0], [0, 0, 255]]
    assert colors(np.array([[0.0, 3.0]]), scale=0.0)[0].tolist() == [[255, 255, 255], [255, 0, 0]]  # no division by 0


def test_magnitude_is_the_largest_finite_absolute_value_of_all_arrays():
    assert magnitude(np.array([1.0, -3.0]), np.array([[2.5, np.inf, np.nan]])) == 3.0
    assert magnitude(np.array([np.nan, -np.inf])) == 0.0
    assert magnitude(np.float32(-0.5)) == 0.5
    assert magnitude() == 0.0
    # pictures drawn with the shared scale agree on what a value looks like
    a, b = np.array([[1.0]]), np.array([[4.0]])
    scale = magnitude(a, b)
    assert colors(a, scale)[0, 0].tolist() == [255, 191, 191] and colors(b, scale)[0, 0].tolist() == [255, 0, 0]


def test_legend_runs_from_full_blue_through_white_to_full_red():
    bar = legend(width=101, height=5)
    assert bar.shape == (5, 101, 3) and bar.dtype == np.uint8
    assert (
        bar[0, 0].tolist() == [0, 0, 255]
        and bar[0, 50].tolist() == [255, 255, 255]
        and bar[0, -1].tolist() == [255, 0, 0]
    )
    assert (bar == bar[:1]).all()  # every row the same


def test_image_blocks_and_cuts():
    picture = image(np.array([[1.0, -1.0]]), width=20)
    assert picture.shape == (10, 20, 3)
    assert picture[0, 0].tolist() == [255, 0, 0] and picture[9, 19].tolist() == [0, 0, 255]
    assert image(np.zeros((100, 1000)), max_rows=64, max_cols=256).shape[:2] == (64 * 2, 256 * 2)
    assert image(np.array([[1.0, 2.0]]), width=20, scale=4.0)[0, 0].tolist() == [255, 191, 191]


def test_the_finite_range_of_a_big_tensor_is_read_in_chunks():
    import tracemalloc

    from netbuilder.studio.samples import CHUNK, finite_range

    assert finite_range(np.array([np.nan, -np.inf, 2.0, -1.5, np.inf])) == (-1.5, 2.0)
    assert finite_range(np.array([np.nan])) is None and finite_range(np.zeros(0)) is None
    big = np.full(10 * CHUNK + 3, 0.5, np.float32)
    big[-1], big[7] = -4.0, np.nan
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        assert finite_range(big) == (-4.0, 0.5) and magnitude(big) == 4.0
        extra = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert extra < 3 * CHUNK * 8  # a few chunks' temporaries, never a copy of the whole tensor


def test_an_image_sample_becomes_one_tile_per_channel():
    from netbuilder.views.heatmap import GAP, GAP_RGB, MAX_MAPS, feature_maps

    sample = np.zeros((3, 4, 10), np.float32)
    sample[0, 0, 9] = 1.0  # channel 9: second row of tiles, second tile; its top-left cell red
    sample[2, 3, 0] = -1.0  # channel 0: first tile; its bottom-right cell blue
    picture = feature_maps(sample, width=8 * (4 * 2 + GAP), per_row=8)  # cells of 2 px
    tile_h, tile_w = 3 * 2, 4 * 2
    assert picture.shape == (2 * tile_h + GAP, 8 * tile_w + 7 * GAP, 3)
    assert picture[tile_h - 1, tile_w - 1].tolist() == [0, 0, 255]  # channel 0, cell (2, 3)
    top, left = tile_h + GAP, tile_w + GAP
    assert picture[top, left].tolist() == [255, 0, 0] and picture[top + 2, left + 2].tolist() == [255, 255, 255]
    assert picture[tile_h, 0].tolist() == list(GAP_RGB)  # the line between rows of tiles
    assert picture[top, 2 * tile_w + 2 * GAP].tolist() == list(GAP_RGB)  # no tile after channel 9
    np.testing.assert_array_equal(
        feature_maps(np.moveaxis(sample, -1, 0), channels_first=True, width=8 * 10, per_row=8),
        feature_maps(sample, width=8 * 10, per_row=8),
    )
    many = feature_maps(np.ones((100, 100, 64)), width=960)  # cut: 32 channels, 64×64 cells each
    assert many.shape == (4 * (64 + GAP) - GAP, 8 * (64 + GAP) - GAP, 3) and MAX_MAPS == 32


def test_small_maps_get_cells_big_enough_to_read_a_digit():
    from netbuilder.views.heatmap import GAP, MAX_CELL, feature_maps

    assert MAX_CELL == 24
    assert feature_maps(np.zeros((8, 8, 1))).shape == (8 * 24, 8 * 24, 3)  # an 8×8 digit: 192 px, not 96
    assert feature_maps(np.zeros((6, 6, 8))).shape == (6 * 19, 8 * 6 * 19 + 7 * GAP, 3)  # (960 // 8 - 2) // 6 = 19 px
    assert feature_maps(np.zeros((28, 28, 1))).shape == (28 * 24, 28 * 24, 3)
