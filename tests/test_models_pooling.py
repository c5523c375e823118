"""Pooling: GeM / MAC / SPoC against hand cases and torch references; the CGD head."""

import math

import pytest
import torch
import torch.nn.functional as F

from fashionbench.core.errors import ConfigError
from fashionbench.models.pooling import MAC, CombinedGlobalDescriptor, GeM, SPoC, build_pooling, gem

HAND = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # [1, 1, 2, 2]


def test_gem_hand_values():
    assert gem(HAND, 1.0).item() == pytest.approx(2.5)
    assert gem(HAND, 2.0).item() == pytest.approx(math.sqrt(7.5), rel=1e-6)  # sqrt((1+4+9+16)/4)
    assert gem(HAND, 3.0).item() == pytest.approx(25.0 ** (1 / 3), rel=1e-6)  # cbrt((1+8+27+64)/4)


def test_gem_p1_equals_average_pooling():
    x = torch.rand(3, 5, 4, 6) * 3
    torch.testing.assert_close(gem(x, 1.0), F.adaptive_avg_pool2d(x, 1).flatten(1), rtol=1e-5, atol=1e-6)


def test_gem_large_p_approaches_max():
    x = torch.rand(2, 4, 4, 4) + 0.1
    mx = x.amax(dim=(-2, -1))
    errors = [((gem(x, p) - mx).abs() / mx).max().item() for p in (3.0, 20.0, 200.0, 2000.0)]
    assert errors == sorted(errors, reverse=True)  # monotone approach
    assert errors[-1] < 2e-3  # (1/16)^(1/2000) = 0.9986 at worst
    # no overflow where x^p would overflow float32 (1000^100 = 1e300)
    assert torch.isfinite(gem(x * 1000, 100.0)).all()


def test_gem_module_learns_p_and_is_built_by_name():
    g = build_pooling("gem", gem_p=4.0)
    assert isinstance(g, GeM) and g.p.requires_grad and g.p.item() == 4.0
    x = torch.rand(2, 3, 2, 2)
    g(x).sum().backward()
    assert g.p.grad is not None and torch.isfinite(g.p.grad).all() and g.p.grad.abs().item() > 0


def test_mac_and_spoc_hand_values():
    assert MAC()(HAND).item() == 4.0
    assert SPoC()(HAND).item() == 2.5
    assert isinstance(build_pooling("avg"), SPoC) and isinstance(build_pooling("mac"), MAC)


def test_unknown_pooling_lists_valid_names():
    with pytest.raises(ConfigError, match=r"gem.*mac|mac.*gem"):
        build_pooling("median")


def test_cgd_parts_are_unit_norm_projections_in_order():
    torch.manual_seed(0)
    head = CombinedGlobalDescriptor(6, ["gem", "mac", "spoc"], 12, gem_p=3.0)
    x = torch.rand(4, 6, 3, 3)
    emb, first = head(x)
    assert emb.shape == (4, 12)
    # reference: each descriptor computed directly, projected with its own weight, normalised
    refs = [gem(x, 3.0), x.amax(dim=(-2, -1)), x.mean(dim=(-2, -1))]
    for i, ref in enumerate(refs):
        part = F.normalize(ref @ head.projections[i].weight.T, dim=1)
        torch.testing.assert_close(emb[:, 4 * i:4 * (i + 1)], part, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(emb[:, 4 * i:4 * (i + 1)].norm(dim=1), torch.ones(4))
    torch.testing.assert_close(first, refs[0], rtol=1e-5, atol=1e-6)


def test_cgd_rejects_bad_dims_and_duplicates():
    with pytest.raises(ConfigError, match="divisible"):
        CombinedGlobalDescriptor(8, ["gem", "mac", "spoc"], 128)
    with pytest.raises(ConfigError, match="repeated"):
        CombinedGlobalDescriptor(8, ["gem", "gem"], 128)
