"""Paper ji's multi-loss: the mined multi-similarity term against a direct formula (Wang et al. 2019).

CE, center and batch-hard triplet values of ``ji_multi`` are checked by hand in
tests/test_models_losses.py; the unmined multi-similarity loss there too. Here: the default
configuration of the ji rows, multi-similarity *with* its pair mining (eqs. 8-9 of the paper),
against a loop written from the paper, and the weighted total with mining on.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fashionbench.models import build_loss
from fashionbench.models.losses import JiMultiLoss


def ms_mined_ref(emb: np.ndarray, labels: np.ndarray, alpha: float, beta: float, base: float,
                 eps: float) -> tuple[float, int, int]:
    """MS loss over mined pairs, mean over anchors; also the numbers of kept and of all pairs.

    Mining (Wang et al. eqs. 8-9), per anchor i with cosine similarities S:
    keep negative k if S_ik + eps > min_{y_j = y_i} S_ij; keep positive j if S_ij - eps < max_{y_k != y_i} S_ik.
    Loss of i: 1/alpha log(1 + sum_kept_pos exp(-alpha (S_ij - base))) + 1/beta log(1 + sum_kept_neg exp(beta (S_ik - base))).
    """
    x = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    s = x @ x.T
    total, kept, pairs = 0.0, 0, 0
    for i in range(len(x)):
        pos = [j for j in range(len(x)) if j != i and labels[j] == labels[i]]
        neg = [k for k in range(len(x)) if labels[k] != labels[i]]
        pairs += len(pos) + len(neg)
        if not pos or not neg:
            continue
        hp = [s[i, j] for j in pos if s[i, j] - eps < max(s[i, k] for k in neg)]
        hn = [s[i, k] for k in neg if s[i, k] + eps > min(s[i, j] for j in pos)]
        kept += len(hp) + len(hn)
        total += math.log(1 + sum(math.exp(-alpha * (v - base)) for v in hp)) / alpha
        total += math.log(1 + sum(math.exp(beta * (v - base)) for v in hn)) / beta
    return total / len(x), kept, pairs


def test_mined_multi_similarity_matches_the_paper_formula():
    torch.manual_seed(4)
    emb = torch.randn(8, 3, dtype=torch.float64)
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    loss = JiMultiLoss(3, 3, weights={"ce": 0, "center": 0, "triplet": 0, "ms": 1}, ms_miner=True,
                       ms_alpha=2.0, ms_beta=10.0, ms_base=0.5, ms_epsilon=0.1)
    value, parts = loss({"embedding": emb}, y, y)
    want, kept, pairs = ms_mined_ref(emb.numpy(), y.numpy(), 2.0, 10.0, 0.5, 0.1)
    assert 0 < kept < pairs  # the mining really drops some pairs and keeps others
    assert value.item() == pytest.approx(want, rel=1e-9)
    assert parts["ms"] == pytest.approx(want, rel=1e-9)


def test_ji_row_loss_is_the_weighted_sum_with_mining():
    """The loss block of the ji rows in params.yaml: every component on, MS mined."""
    spec = {"loss": "ji_multi", "weights": {"ce": 1.0, "center": 0.0005, "triplet": 1.0, "ms": 1.0},
            "margin": 0.3, "ms_alpha": 2.0, "ms_beta": 50.0, "ms_base": 0.5}
    torch.manual_seed(5)
    loss = build_loss(spec, 3, 2, 4).double()
    emb = torch.randn(6, 4, dtype=torch.float64)
    logits = torch.randn(6, 3, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    value, parts = loss({"embedding": emb, "logits": logits}, y, y)
    z = logits.numpy()
    ce = float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(6), y.numpy()]))
    c = loss.center.centers.detach().numpy()
    center = 0.5 * float(np.mean(((emb.numpy() - c[y.numpy()]) ** 2).sum(1)))
    # batch-hard triplet on L2-normalised embeddings, squared distances, margin 0.3
    x = emb.numpy() / np.linalg.norm(emb.numpy(), axis=1, keepdims=True)
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    same = y.numpy()[:, None] == y.numpy()[None]
    np.fill_diagonal(same, False)
    diff = y.numpy()[:, None] != y.numpy()[None]
    tri = float(np.mean(np.maximum(np.where(same, d, -np.inf).max(1) - np.where(diff, d, np.inf).min(1) + 0.3, 0)))
    ms, _, _ = ms_mined_ref(emb.numpy(), y.numpy(), 2.0, 50.0, 0.5, 0.1)
    assert parts["ce"] == pytest.approx(ce, rel=1e-9)
    assert parts["center"] == pytest.approx(center, rel=1e-9)
    assert parts["triplet"] == pytest.approx(tri, rel=1e-9)
    assert parts["ms"] == pytest.approx(ms, rel=1e-9)
    assert value.item() == pytest.approx(ce + 0.0005 * center + tri + ms, rel=1e-9)
