"""Losses against direct formulas worked in numpy (float64) and against pytorch-metric-learning."""

import math

import numpy as np
import pytest
import torch
from pytorch_metric_learning.losses import CosFaceLoss

from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.models import build_loss
from fashionbench.models.losses import AMSoftmaxLoss, CenterLoss, JiMultiLoss, MGPACrossEntropy, ParkLoss


def ce_ref(logits, labels):
    """Mean softmax cross-entropy, written out."""
    z = np.asarray(logits, np.float64)
    lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
    return float(np.mean(lse - z[np.arange(len(z)), labels]))


# Four unit vectors whose squared distances are easy by hand:
# |e0-e1|^2 = 0.8, |e0-e2|^2 = 2, |e0-e3|^2 = 4, |e1-e2|^2 = 0.4, |e1-e3|^2 = 3.2, |e2-e3|^2 = 2
E = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
PAIRS = torch.tensor([0, 0, 1, 1])
# batch-hard, margin 0.3 (hardest positive, closest negative per anchor):
#   a0: 0.8 - min(2, 4) + 0.3 < 0 -> 0;  a1: 0.8 - min(0.4, 3.2) + 0.3 = 0.7
#   a2: 2 - min(2, 0.4) + 0.3 = 1.9;     a3: 2 - min(4, 3.2) + 0.3 < 0 -> 0       mean = 0.65
BATCH_HARD = 0.65
# every triplet: violations 0.7 (a1,e0,e2), 0.3 (a2,e3,e0), 1.9 (a2,e3,e1); 8 triplets -> 2.9/8
ALL_TRIPLETS = 2.9 / 8


# ---- AM-Softmax (shang) ---------------------------------------------------------------------

def test_am_softmax_direct_formula():
    cos = torch.tensor([[0.9, 0.1, -0.2], [0.3, 0.5, 0.4]], dtype=torch.float64)
    y = torch.tensor([0, 2])
    s, m = 10.0, 0.35
    loss, parts = AMSoftmaxLoss(3, 4, s=s, m=m)({"cosine": cos}, y, y)
    # -log( e^{s(cos_y - m)} / (e^{s(cos_y - m)} + sum_{j != y} e^{s cos_j}) )
    l0 = -math.log(math.exp(s * 0.55) / (math.exp(s * 0.55) + math.exp(s * 0.1) + math.exp(s * -0.2)))
    l1 = -math.log(math.exp(s * 0.05) / (math.exp(s * 0.05) + math.exp(s * 0.3) + math.exp(s * 0.5)))
    assert loss.item() == pytest.approx((l0 + l1) / 2, rel=1e-12)
    assert parts["am_softmax"] == pytest.approx(loss.item())


def test_am_softmax_equals_pml_cosface_with_same_weights():
    torch.manual_seed(0)
    ours = AMSoftmaxLoss(7, 5, s=16.0, m=0.3, own_weights=True)
    pml = CosFaceLoss(num_classes=7, embedding_size=5, margin=0.3, scale=16.0)
    pml.W.data = ours.weight.data.T.clone()  # PML stores [D, C]
    emb = torch.randn(6, 5, requires_grad=True)
    y = torch.tensor([0, 3, 3, 6, 1, 2])
    a = ours({"embedding": emb}, y, y)[0]
    (ga,) = torch.autograd.grad(a, emb)
    b = pml(emb, y)
    (gb,) = torch.autograd.grad(b, emb)
    assert a.item() == pytest.approx(b.item(), rel=1e-5)
    torch.testing.assert_close(ga, gb, rtol=1e-4, atol=1e-6)


def test_am_softmax_model_classifier_needs_cosine_output():
    with pytest.raises(ContractError, match="'cosine'"):
        AMSoftmaxLoss(3, 4)({"embedding": torch.zeros(2, 4)}, torch.tensor([0, 1]), torch.tensor([0, 1]))


# ---- center loss (ji) -------------------------------------------------------------------------

def test_center_loss_direct_formula_and_gradient():
    cl = CenterLoss(3, 2)
    cl.centers.data = torch.tensor([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]])
    x = torch.tensor([[1.0, 0.0], [2.0, 3.0], [0.0, 2.0]])
    y = torch.tensor([0, 1, 1])
    loss = cl(x, y)
    # 1/2 * mean(|(1,0)-(0,0)|^2, |(2,3)-(1,1)|^2, |(0,2)-(1,1)|^2) = 1/2 * (1 + 5 + 2) / 3
    assert loss.item() == pytest.approx(8 / 6)
    loss.backward()
    # d/dc_1 = -(1/3) * ((2,3)-(1,1) + (0,2)-(1,1)) = -(1/3) * (0, 3);  c_2 unused
    torch.testing.assert_close(cl.centers.grad, torch.tensor([[-1 / 3, 0.0], [0.0, -1.0], [0.0, 0.0]]))


# ---- park: alpha * CE(categories) + beta * triplet -------------------------------------------

def test_park_triplet_batch_hard_and_all_hand_values():
    logits = torch.zeros(4, 2, dtype=torch.float64)
    for miner, want in (("batch_hard", BATCH_HARD), ("all", ALL_TRIPLETS)):
        loss = ParkLoss(alpha=0.0, beta=1.0, margin=0.3, labels="instance", miner=miner)
        value, parts = loss({"embedding": E, "category_logits": logits}, PAIRS, PAIRS)
        assert value.item() == pytest.approx(want, abs=1e-9), miner
        assert parts["triplet"] == pytest.approx(want, abs=1e-9)


def test_park_uses_the_labels_it_is_told_to():
    logits = torch.tensor([[2.0, 0.0], [0.5, 1.0], [0.0, 0.0], [-1.0, 3.0]], dtype=torch.float64)
    items = torch.tensor([0, 1, 2, 3])  # no instance positives: instance triplet = 0
    cats = PAIRS
    out = {"embedding": E, "category_logits": logits}
    os_loss, parts = ParkLoss(alpha=1.0, beta=0.1, margin=0.3, labels="category")(out, items, cats)
    assert os_loss.item() == pytest.approx(ce_ref(logits, cats.numpy()) + 0.1 * BATCH_HARD, abs=1e-9)
    assert parts["ce"] == pytest.approx(ce_ref(logits, cats.numpy()))
    is_loss, _ = ParkLoss(alpha=1.0, beta=0.1, margin=0.3, labels="instance")(out, items, cats)
    assert is_loss.item() == pytest.approx(ce_ref(logits, cats.numpy()), abs=1e-9)
    oc_loss, oc_parts = ParkLoss(alpha=2.0, beta=0.1, labels="none")(out, items, cats)
    assert oc_loss.item() == pytest.approx(2 * ce_ref(logits, cats.numpy()), abs=1e-9)
    assert "triplet" not in oc_parts


def test_park_triplet_normalises_embeddings_by_default():
    out = {"embedding": E * torch.tensor([[3.0], [0.5], [2.0], [7.0]], dtype=torch.float64),
           "category_logits": torch.zeros(4, 2, dtype=torch.float64)}
    value, _ = ParkLoss(alpha=0.0, beta=1.0, margin=0.3)(out, PAIRS, PAIRS)
    assert value.item() == pytest.approx(BATCH_HARD, abs=1e-9)


# ---- chen: sum over parts of the part cross-entropies ---------------------------------------

def test_mgpa_ce_is_the_sum_of_part_losses():
    torch.manual_seed(0)
    logits = torch.randn(5, 3, 4, dtype=torch.float64)
    y = torch.tensor([0, 3, 1, 1, 2])
    loss, _ = MGPACrossEntropy()({"part_logits": logits}, y, y)
    want = sum(ce_ref(logits[:, p].numpy(), y.numpy()) for p in range(3))
    assert loss.item() == pytest.approx(want, rel=1e-12)


# ---- ji: CE + center + triplet + multi-similarity -------------------------------------------

def ms_ref(emb, labels, alpha, beta, base):
    """Multi-similarity loss (Wang et al. 2019, eq. 7), cosine similarity, mean over anchors."""
    x = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    s = x @ x.T
    total = 0.0
    for i in range(len(x)):
        pos = [s[i, k] for k in range(len(x)) if k != i and labels[k] == labels[i]]
        neg = [s[i, k] for k in range(len(x)) if labels[k] != labels[i]]
        total += math.log(1 + sum(math.exp(-alpha * (v - base)) for v in pos)) / alpha
        total += math.log(1 + sum(math.exp(beta * (v - base)) for v in neg)) / beta
    return total / len(x)


def test_multi_similarity_direct_formula():
    torch.manual_seed(1)
    emb = torch.randn(6, 3, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    loss = JiMultiLoss(3, 3, weights={"ce": 0, "center": 0, "triplet": 0, "ms": 1}, ms_miner=False,
                       ms_alpha=2.0, ms_beta=10.0, ms_base=0.5)
    value, parts = loss({"embedding": emb}, y, y)
    assert value.item() == pytest.approx(ms_ref(emb.numpy(), y.numpy(), 2.0, 10.0, 0.5), rel=1e-9)
    assert set(parts) == {"ms"}


def test_ji_multi_is_the_weighted_sum_of_its_parts():
    torch.manual_seed(2)
    logits = torch.randn(4, 3, dtype=torch.float64)
    w = {"ce": 1.0, "center": 0.5, "triplet": 2.0, "ms": 0.25}
    loss = JiMultiLoss(3, 2, weights=w, margin=0.3, ms_miner=False, ms_beta=10.0).double()
    loss.center.centers.data = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    value, parts = loss({"embedding": E, "logits": logits}, PAIRS, PAIRS)
    ce = ce_ref(logits, PAIRS.numpy())
    # centres (1,0) for class 0, (0,1) for class 1: squared offsets 0, 0.16+0.64, 0, 1+1
    center = 0.5 * (0.0 + 0.8 + 0.0 + 2.0) / 4
    ms = ms_ref(E.numpy(), PAIRS.numpy(), 2.0, 10.0, 0.5)
    assert parts["ce"] == pytest.approx(ce) and parts["center"] == pytest.approx(center)
    assert parts["triplet"] == pytest.approx(BATCH_HARD) and parts["ms"] == pytest.approx(ms)
    assert value.item() == pytest.approx(ce + 0.5 * center + 2.0 * BATCH_HARD + 0.25 * ms, rel=1e-9)


def test_ji_multi_zero_weight_skips_component():
    value, parts = JiMultiLoss(3, 2, weights={"center": 0, "ms": 0, "triplet": 0})(
        {"logits": torch.zeros(4, 3)}, PAIRS, PAIRS)  # no embedding needed
    assert set(parts) == {"ce"} and value.item() == pytest.approx(math.log(3))


# ---- build_loss: names, keys and values are checked ----------------------------------------

def test_build_loss_rejects_unknown_names_keys_and_values():
    with pytest.raises(ConfigError, match="unknown loss 'arcface'.*am_softmax"):
        build_loss({"loss": "arcface"}, 3, 2, 8)
    with pytest.raises(ConfigError, match="unknown key.*'marign'"):
        build_loss({"loss": "park", "marign": 0.3}, 3, 2, 8)
    with pytest.raises(ConfigError, match="labels"):
        build_loss({"loss": "park", "labels": "items"}, 3, 2, 8)
    with pytest.raises(ConfigError, match="miner"):
        build_loss({"loss": "park", "miner": "hardest"}, 3, 2, 8)
    with pytest.raises(ConfigError, match="unknown component 'arc'"):
        build_loss({"loss": "ji_multi", "weights": {"arc": 1}}, 3, 2, 8)
    with pytest.raises(ConfigError, match="margin"):
        build_loss({"loss": "zhan_triplet", "margin": -1}, 3, 2, 8)
    with pytest.raises(ConfigError, match="classifier"):
        build_loss({"loss": "am_softmax", "classifier": "head"}, 3, 2, 8)
