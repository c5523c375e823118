"""shang's expansion augmentation: box distribution (eqs. 2-4) and cropping."""

import numpy as np
import pytest
import torch
from scipy import stats

from fashionbench.data.augment import apply_boxes, expand_boxes, expand_image, expansion_boxes
from fashionbench.core.errors import ConfigError, ContractError


def test_shapes_and_default_count():
    rng = np.random.default_rng(0)
    assert expansion_boxes(200, 100, rng=rng).shape == (5, 4)  # five crops per image by default
    assert expansion_boxes(np.array([200, 50, 80]), np.array([100, 60, 80]), 3, rng=rng).shape == (3, 3, 4)


def test_box_distribution_matches_eqs_2_to_4():
    w, h, n = 200.0, 120.0, 40000
    b = expansion_boxes(w, h, n, rng=np.random.default_rng(123))
    fx1, fy1, fx2, fy2 = b[:, 0] / w, b[:, 1] / h, b[:, 2] / w, b[:, 3] / h
    for lo_frac in (fx1, fy1):
        assert lo_frac.min() >= 0.0 and lo_frac.max() <= 0.15
        assert lo_frac.mean() == pytest.approx(0.075, abs=0.002)  # sd of the mean ~ 0.0002
        assert stats.kstest(lo_frac, stats.uniform(loc=0.0, scale=0.15).cdf).pvalue > 0.001
    for hi_frac in (fx2, fy2):
        assert hi_frac.min() >= 0.85 and hi_frac.max() <= 1.0
        assert hi_frac.mean() == pytest.approx(0.925, abs=0.002)
        assert stats.kstest(hi_frac, stats.uniform(loc=0.85, scale=0.15).cdf).pvalue > 0.001
    # the four fractions are drawn independently
    corr = np.corrcoef(np.stack([fx1, fy1, fx2, fy2]))
    assert np.abs(corr - np.eye(4)).max() < 0.03
    # crop sides: between 70 % and 100 % of the image side
    assert ((b[:, 2] - b[:, 0]) / w).min() >= 0.7 and ((b[:, 3] - b[:, 1]) / h).min() >= 0.7


def test_ranges_are_parameters_and_checked():
    b = expansion_boxes(100, 100, 2000, rng=np.random.default_rng(1), min_range=(0.1, 0.2), max_range=(0.6, 0.7))
    assert b[:, :2].min() >= 10 and b[:, :2].max() <= 20 and b[:, 2:].min() >= 60 and b[:, 2:].max() <= 70
    with pytest.raises(ConfigError, match="below"):
        expansion_boxes(10, 10, rng=np.random.default_rng(0), min_range=(0, 0.6), max_range=(0.5, 1))
    with pytest.raises(ConfigError):
        expansion_boxes(10, 10, rng=np.random.default_rng(0), max_range=(0.9, 1.2))
    with pytest.raises(ConfigError):
        expansion_boxes(10, 10, 0, rng=np.random.default_rng(0))
    with pytest.raises(ContractError):
        expansion_boxes(0, 10, rng=np.random.default_rng(0))


def test_seeded_and_deterministic():
    a = expansion_boxes(64, 48, rng=np.random.default_rng(7))
    b = expansion_boxes(64, 48, rng=np.random.default_rng(7))
    c = expansion_boxes(64, 48, rng=np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_expand_boxes_stays_inside_each_region():
    regions = np.array([[10.0, 20.0, 110.0, 70.0], [0.0, 0.0, 30.0, 30.0]])
    out = expand_boxes(regions, 1000, rng=np.random.default_rng(2))
    assert out.shape == (2, 1000, 4)
    # region 0 is 100 x 50 at (10, 20): x1 in [10, 25], y1 in [20, 27.5], x2 in [95, 110], y2 in [62.5, 70]
    r = out[0]
    assert r[:, 0].min() >= 10 and r[:, 0].max() <= 25 and r[:, 1].min() >= 20 and r[:, 1].max() <= 27.5
    assert r[:, 2].min() >= 95 and r[:, 2].max() <= 110 and r[:, 3].min() >= 62.5 and r[:, 3].max() <= 70


def test_apply_boxes_integer_slices_by_hand():
    img = torch.arange(3 * 5 * 6, dtype=torch.float32).reshape(3, 5, 6)
    crops = apply_boxes(img, np.array([[1.2, 0.5, 3.7, 2.0], [0.0, 0.0, 6.0, 5.0]]))
    # x: floor(1.2)=1 .. ceil(3.7)=4 ; y: floor(0.5)=0 .. ceil(2.0)=2
    assert torch.equal(crops[0], img[:, 0:2, 1:4])
    assert torch.equal(crops[1], img)


def test_apply_boxes_resampled_on_pixel_grid_is_exact():
    img = torch.rand(3, 8, 9)
    out = apply_boxes(img, np.array([[2.0, 1.0, 5.0, 4.0], [0.0, 0.0, 9.0, 8.0]]), size=3)
    assert out.shape == (2, 3, 3, 3)
    # a 3x3-pixel box sampled at 3x3 hits the pixel centres exactly
    torch.testing.assert_close(out[0], img[:, 1:4, 2:5])
    # a whole-image box shrunk averages pixels: values stay within the image's range
    assert out[1].min() >= img.min() and out[1].max() <= img.max()


def test_expand_image_yields_n_large_crops():
    img = torch.rand(3, 100, 80)
    crops = expand_image(img, 5, rng=np.random.default_rng(0))
    assert len(crops) == 5
    for c in crops:
        assert c.shape[0] == 3 and 70 <= c.shape[1] <= 100 and 56 <= c.shape[2] <= 80
    assert expand_image(img, 4, rng=np.random.default_rng(0), size=(32, 24)).shape == (4, 3, 32, 24)
