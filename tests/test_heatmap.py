"""netbuilder.heatmap: layout of one sample and its colors."""

import numpy as np

from netbuilder.heatmap import NAN_RGB, as_matrix, colors, image


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


def test_image_blocks_and_cuts():
    picture = image(np.array([[1.0, -1.0]]), width=20)
    assert picture.shape == (10, 20, 3)
    assert picture[0, 0].tolist() == [255, 0, 0] and picture[9, 19].tolist() == [0, 0, 255]
    assert image(np.zeros((100, 1000)), max_rows=64, max_cols=256).shape[:2] == (64 * 2, 256 * 2)
