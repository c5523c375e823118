"""MGPA (chen): part masks written out by hand, masked pooling, grouped per-part layers."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fashionbench.core.errors import ConfigError
from fashionbench.models.backbones import create_backbone
from fashionbench.models.mgpa import MGPANet, masked_average_pool, part_masks, partition_masks, parts_count, resolve_partitions


def masks(name, h, w):
    return partition_masks(name, h, w).int().numpy().tolist()


# ---- 6x6: every partition divides evenly, so parts are disjoint and cover the map ----------

def test_6x6_horizontal_and_vertical():
    assert masks("horizontal-2", 6, 6) == [
        [[1] * 6] * 3 + [[0] * 6] * 3,
        [[0] * 6] * 3 + [[1] * 6] * 3,
    ]
    assert masks("horizontal-3", 6, 6) == [
        [[1] * 6] * 2 + [[0] * 6] * 4,
        [[0] * 6] * 2 + [[1] * 6] * 2 + [[0] * 6] * 2,
        [[0] * 6] * 4 + [[1] * 6] * 2,
    ]
    assert masks("vertical-3", 6, 6) == [
        [[1, 1, 0, 0, 0, 0]] * 6,
        [[0, 0, 1, 1, 0, 0]] * 6,
        [[0, 0, 0, 0, 1, 1]] * 6,
    ]
    assert masks("vertical-2", 6, 6) == [[[1, 1, 1, 0, 0, 0]] * 6, [[0, 0, 0, 1, 1, 1]] * 6]


def test_6x6_annular():
    assert masks("annular-2", 6, 6) == [
        [[0, 0, 0, 0, 0, 0],
         [0, 0, 0, 0, 0, 0],
         [0, 0, 1, 1, 0, 0],
         [0, 0, 1, 1, 0, 0],
         [0, 0, 0, 0, 0, 0],
         [0, 0, 0, 0, 0, 0]],
        [[1, 1, 1, 1, 1, 1],
         [1, 1, 1, 1, 1, 1],
         [1, 1, 0, 0, 1, 1],
         [1, 1, 0, 0, 1, 1],
         [1, 1, 1, 1, 1, 1],
         [1, 1, 1, 1, 1, 1]],
    ]
    assert masks("annular-3", 6, 6) == [
        [[0, 0, 0, 0, 0, 0],
         [0, 0, 0, 0, 0, 0],
         [0, 0, 1, 1, 0, 0],
         [0, 0, 1, 1, 0, 0],
         [0, 0, 0, 0, 0, 0],
         [0, 0, 0, 0, 0, 0]],
        [[0, 0, 0, 0, 0, 0],
         [0, 1, 1, 1, 1, 0],
         [0, 1, 0, 0, 1, 0],
         [0, 1, 0, 0, 1, 0],
         [0, 1, 1, 1, 1, 0],
         [0, 0, 0, 0, 0, 0]],
        [[1, 1, 1, 1, 1, 1],
         [1, 0, 0, 0, 0, 1],
         [1, 0, 0, 0, 0, 1],
         [1, 0, 0, 0, 0, 1],
         [1, 0, 0, 0, 0, 1],
         [1, 1, 1, 1, 1, 1]],
    ]


# ---- 4x4: 3 stripes give 1, 2, 1 rows; annular-3's middle ring has no cell centre ---------

def test_4x4():
    assert masks("horizontal-3", 4, 4) == [
        [[1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
        [[0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0]],
        [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]],
    ]
    assert masks("annular-2", 4, 4) == [
        [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]],
        [[1, 1, 1, 1], [1, 0, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]],
    ]
    # centre ring: the 2x2 core; middle ring (normalised radius 1/3..2/3) contains no cell
    # centre, so it takes every cell it touches (all 16); outer ring: the border cells
    assert masks("annular-3", 4, 4) == [
        [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]],
        [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]],
        [[1, 1, 1, 1], [1, 0, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]],
    ]


# ---- 2x2 and 1x1: more parts than cells -> parts overlap, none is empty --------------------

def test_2x2():
    assert masks("horizontal-2", 2, 2) == [[[1, 1], [0, 0]], [[0, 0], [1, 1]]]
    assert masks("vertical-2", 2, 2) == [[[1, 0], [1, 0]], [[0, 1], [0, 1]]]
    assert masks("horizontal-3", 2, 2) == [[[1, 1], [0, 0]], [[1, 1], [1, 1]], [[0, 0], [1, 1]]]
    assert masks("vertical-3", 2, 2) == [[[1, 0], [1, 0]], [[1, 1], [1, 1]], [[0, 1], [0, 1]]]
    # every cell touches the centre: each annular part is the whole map
    assert masks("annular-2", 2, 2) == [[[1, 1], [1, 1]]] * 2
    assert masks("annular-3", 2, 2) == [[[1, 1], [1, 1]]] * 3


def test_1x1_every_part_is_the_cell():
    for name in resolve_partitions("all"):
        m = masks(name, 1, 1)
        assert m == [[[1]]] * len(m)


def test_odd_and_non_square_maps():
    # 3 columns in 2 stripes: the middle column's centre sits on the boundary -> right stripe
    assert masks("vertical-2", 3, 3) == [[[1, 0, 0]] * 3, [[0, 1, 1]] * 3]
    # 4x8: rings follow the map's aspect ratio
    assert masks("annular-2", 4, 8) == [
        [[0, 0, 0, 0, 0, 0, 0, 0],
         [0, 0, 1, 1, 1, 1, 0, 0],
         [0, 0, 1, 1, 1, 1, 0, 0],
         [0, 0, 0, 0, 0, 0, 0, 0]],
        [[1, 1, 1, 1, 1, 1, 1, 1],
         [1, 1, 0, 0, 0, 0, 1, 1],
         [1, 1, 0, 0, 0, 0, 1, 1],
         [1, 1, 1, 1, 1, 1, 1, 1]],
    ]


def test_parts_never_empty_and_partition_when_possible():
    for h, w, kind, k in itertools.product(range(1, 8), range(1, 8), ("horizontal", "vertical", "annular"), (1, 2, 3, 4)):
        m = partition_masks(f"{kind}-{k}", h, w)
        assert m.shape == (k, h, w)
        assert (m.sum(dim=(1, 2)) > 0).all(), (h, w, kind, k)
        assert (m.sum(dim=0) >= 1).all(), (h, w, kind, k)  # the union covers the map
        n = h if kind == "horizontal" else w
        if kind != "annular" and n >= k:  # enough cells: a true partition
            assert (m.sum(dim=0) == 1).all(), (h, w, kind, k)


def test_resolve_partitions_and_counts():
    assert resolve_partitions("all") == ["global", "vertical-2", "vertical-3", "horizontal-2",
                                         "horizontal-3", "annular-2", "annular-3"]
    assert resolve_partitions("annular") == ["annular-2", "annular-3"]
    assert resolve_partitions(["global", "horizontal", "annular-4"]) == [
        "global", "horizontal-2", "horizontal-3", "annular-4"]
    assert parts_count(resolve_partitions("all")) == 16  # the paper's "256 x 16"
    with pytest.raises(ConfigError, match="unknown partition 'diagonal-2'"):
        resolve_partitions(["diagonal-2"])
    with pytest.raises(ConfigError, match="twice"):
        resolve_partitions(["global", "all"])
    with pytest.raises(ConfigError):
        resolve_partitions("horizontal-0")


def test_masked_pool_matches_adaptive_pool_and_brute_force():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 6, 6)
    # horizontal stripes dividing evenly == adaptive average pooling over rows
    pooled = masked_average_pool(x, partition_masks("horizontal-3", 6, 6))  # [B, 3, C]
    ref = F.adaptive_avg_pool2d(x, (3, 1)).squeeze(-1).transpose(1, 2)
    torch.testing.assert_close(pooled, ref, rtol=1e-5, atol=1e-6)
    # any masks: float64 loops over the cells
    m = part_masks(["annular-3", "vertical-2"], 6, 6)
    got = masked_average_pool(x.double(), m.double())
    xs, ms = x.double().numpy(), m.numpy()
    for b in range(2):
        for p in range(len(ms)):
            cells = [(i, j) for i in range(6) for j in range(6) if ms[p, i, j]]
            want = np.mean([xs[b, :, i, j] for i, j in cells], axis=0)
            np.testing.assert_allclose(got[b, p].numpy(), want, rtol=1e-12)


def test_grouped_layers_equal_independent_per_part_layers():
    torch.manual_seed(0)
    net = MGPANet(create_backbone("resnet18", output_stride=16), num_classes=5,
                  parts=["global", "horizontal-2", "annular-2"], reduce_dim=8).eval()
    # give BN non-trivial statistics so that a part/channel mix-up would show
    bn = net.reduce[1]
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.uniform_(-0.5, 0.5)
    x = torch.randn(2, 3, 64, 64)
    out = net(x)
    assert out["embedding"].shape == (2, 5 * 8) and out["part_logits"].shape == (2, 5, 5)
    fmap = net.backbone(x)  # [2, 512, 4, 4]
    pooled = masked_average_pool(fmap, part_masks(net.partitions, 4, 4))
    conv_w = net.reduce[0].weight.squeeze(-1).squeeze(-1)  # [P*d, C]
    cls_w = net.classifier.weight.squeeze(-1).squeeze(-1)  # [P*K, d]
    for p in range(5):
        d, k = slice(8 * p, 8 * (p + 1)), slice(5 * p, 5 * (p + 1))
        z = pooled[:, p] @ conv_w[d].T
        z = (z - bn.running_mean[d]) / torch.sqrt(bn.running_var[d] + bn.eps) * bn.weight[d] + bn.bias[d]
        torch.testing.assert_close(out["embedding"][:, d], z, rtol=1e-4, atol=1e-5)
        logits = z @ cls_w[k].T + net.classifier.bias[k]
        torch.testing.assert_close(out["part_logits"][:, p], logits, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out["logits"], out["part_logits"].mean(1))


def test_one_cell_map_gives_identical_part_features():
    net = MGPANet(create_backbone("resnet18"), num_classes=3, parts="all", reduce_dim=4).eval()
    fmap = net.backbone(torch.randn(2, 3, 32, 32))
    assert fmap.shape[-2:] == (1, 1)
    pooled = masked_average_pool(fmap, net.masks(1, 1))
    assert torch.equal(pooled, pooled[:, :1].expand_as(pooled))
