"""build_model / build_loss: every model and loss runs forward + backward on a [4, 3, 32, 32] batch."""

import inspect

import pytest
import torch

from fashionbench.core.errors import ConfigError
from fashionbench.models import ARCHS, LOSSES, CrossEntropyOnItems, GlobalClassifierNet, build_loss, build_model

X = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
ITEMS = torch.tensor([0, 0, 1, 1])
CATS = torch.tensor([0, 0, 0, 1])
DOMAINS = torch.tensor([0, 1, 0, 1])

CASES = [
    ({"arch": "global", "backbone": "resnet18", "embedding_dim": 128}, {"loss": "ce"}),
    ({"arch": "global", "backbone": "resnet18", "pooling": "gem"},
     {"loss": "am_softmax", "classifier": "loss", "s": 30, "m": 0.35}),
    ({"arch": "cgd", "backbone": "resnet18", "descriptors": ["gem", "mac"], "embedding_dim": 128},
     {"loss": "ji_multi", "weights": {"ce": 1, "center": 0.0005, "triplet": 1, "ms": 1}}),
    ({"arch": "relaxation", "backbone": "resnet18", "relaxation_dim": 64, "dropout": 0.5},
     {"loss": "park", "alpha": 1.0, "beta": 0.1, "margin": 0.3, "labels": "instance"}),
    ({"arch": "relaxation", "backbone": "resnet18"}, {"loss": "park", "labels": "category", "miner": "all"}),
    ({"arch": "mgpa", "backbone": "resnet18", "parts": ["global", "horizontal-2", "annular-3"],
      "reduce_dim": 64}, {"loss": "mgpa_ce"}),
    ({"arch": "mgpa", "backbone": "resnet18", "parts": "all", "reduce_dim": 16}, {"loss": "mgpa_ce"}),
    ({"arch": "cosine", "backbone": "resnet18", "embedding_dim": 64}, {"loss": "am_softmax", "s": 16, "m": 0.2}),
    ({"arch": "classifier", "backbone": "resnet18"}, {"loss": "category_ce"}),  # shang's router
    ({"arch": "triplet", "backbone": "resnet18"},
     {"loss": "zhan_triplet", "margin": 1.0, "negatives": 4, "easy_fraction": 0.25}),
]


@pytest.mark.parametrize("model_spec,loss_spec", CASES, ids=[f"{m['arch']}-{l['loss']}" for m, l in CASES])
def test_forward_backward(model_spec, loss_spec):
    torch.manual_seed(0)
    model = build_model(model_spec, num_classes=3, num_categories=2).train()
    out = model(X)
    emb = out["embedding"]
    assert emb.shape == (4, model.embedding_dim) and torch.isfinite(emb).all()
    loss_fn = build_loss(loss_spec, 3, 2, emb.shape[1])
    kw = {"domains": DOMAINS} if "domains" in inspect.signature(loss_fn.forward).parameters else {}
    loss, parts = loss_fn(out, ITEMS, CATS, **kw)
    assert loss.ndim == 0 and torch.isfinite(loss) and loss.item() > 0
    assert parts and all(isinstance(v, float) for v in parts.values())
    loss.backward()
    grad = model.backbone.conv1.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_every_arch_and_loss_is_covered_by_a_smoke_case():
    assert {m["arch"] for m, _ in CASES} == set(ARCHS)
    assert {l["loss"] for _, l in CASES} == set(LOSSES)


def test_only_zhan_takes_domains():
    takes = {name for name in LOSSES
             if "domains" in inspect.signature(build_loss({"loss": name}, 3, 2, 8).forward).parameters}
    assert takes == {"zhan_triplet"}


def test_mgpa_keeps_a_multi_cell_map_at_low_resolution():
    model = build_model({"arch": "mgpa", "backbone": "resnet18", "parts": "annular", "reduce_dim": 8}, 3, 2)
    assert model.backbone(X).shape[-2:] == (2, 2)  # output_stride 16 by default for mgpa
    assert model.embedding_dim == 5 * 8


def test_existing_interface_is_unchanged():
    net = GlobalClassifierNet("resnet18", 5, 32)  # positional signature kept
    out = net(X)
    assert set(out) == {"embedding", "logits"} and out["logits"].shape == (4, 5)
    assert net.backbone(X).shape == (4, 512)  # the backbone still pools itself
    loss, parts = CrossEntropyOnItems(0.1)(out, torch.tensor([0, 1, 2, 3]), CATS)
    assert set(parts) == {"ce"} and loss.item() > 0
    # default arch and loss
    assert isinstance(build_model({"backbone": "resnet18"}, 3, 2), GlobalClassifierNet)
    assert isinstance(build_loss({}, 3, 2, 8), CrossEntropyOnItems)


def test_gem_global_pools_the_feature_map():
    net = build_model({"arch": "global", "backbone": "resnet18", "pooling": "gem", "gem_p": 1.0}, 3, 2).eval()
    avg = build_model({"arch": "global", "backbone": "resnet18"}, 3, 2).eval()
    avg.load_state_dict({k: v for k, v in net.state_dict().items() if k != "pool.p"})
    x = torch.rand(2, 3, 64, 64)
    # GeM with p = 1 on non-negative (post-ReLU) features is average pooling
    torch.testing.assert_close(net(x)["embedding"], avg(x)["embedding"], rtol=1e-4, atol=1e-5)


def test_bad_specs_name_the_fault():
    with pytest.raises(ConfigError, match=r"unknown architecture 'pcb'.*'cgd'"):
        build_model({"arch": "pcb", "backbone": "resnet18"}, 3, 2)
    with pytest.raises(ConfigError, match=r"unknown key.*'embeding_dim'"):
        build_model({"arch": "global", "backbone": "resnet18", "embeding_dim": 8}, 3, 2)
    with pytest.raises(ConfigError, match="backbone"):
        build_model({"arch": "triplet", "backbone": "resnet_does_not_exist"}, 3, 2)
    with pytest.raises(ConfigError, match="backbone"):
        build_model({"arch": "cgd"}, 3, 2)
    with pytest.raises(ConfigError, match="pooling"):
        build_model({"arch": "global", "backbone": "resnet18", "pooling": "max"}, 3, 2)
    with pytest.raises(ConfigError, match="descriptors"):
        build_model({"arch": "cgd", "backbone": "resnet18", "descriptors": ["gem", "rmac"]}, 3, 2)
    with pytest.raises(ConfigError, match="output_stride"):
        build_model({"arch": "triplet", "backbone": "resnet18", "output_stride": 4}, 3, 2)
    with pytest.raises(ConfigError, match="reduce_dim"):
        build_model({"arch": "mgpa", "backbone": "resnet18", "reduce_dim": 0}, 3, 2)
