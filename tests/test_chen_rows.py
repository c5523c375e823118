"""chen: the rows' feature-map size and parts, identity-balanced batches as the training loop
draws them, the chen claims' comparisons, and one MGPA row end to end on a tiny build."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

matplotlib.use("Agg")

from conftest import ROOT
from fashionbench.papers.chen import report as chen_report
from fashionbench.core import config
import fashionbench.papers.claims
import fashionbench.core.paths
import fashionbench.pipeline.embed
import fashionbench.pipeline.evaluate
import fashionbench.pipeline.train
from fashionbench.core.artifacts import load_embeddings
from fashionbench.core.errors import ConfigError
from fashionbench.models.mgpa import parts_count, resolve_partitions
from fashionbench.engine.training import _batches


def test_feature_map_sizes():
    assert chen_report.feature_map_size({"arch": "mgpa", "backbone": "resnet10t", "output_stride": 16}, 36) == (3, 3)
    assert chen_report.feature_map_size({"arch": "mgpa", "backbone": "resnet18", "output_stride": 32}, 32) == (1, 1)
    assert chen_report.feature_map_size({"arch": "mgpa", "backbone": "resnet18"}, 64) == (4, 4)  # default os 16
    with pytest.raises(ConfigError, match="'mgpa'"):
        chen_report.feature_map_size({"arch": "global", "backbone": "resnet18"}, 32)


def test_params_rows_differ_only_in_their_partitions_at_equal_total_size():
    """chen-1/2's arms: global branch in every row, 1,536-d features in every row (6 x 256 vs 16 x 96)."""
    params = config.load_params(ROOT / "params.yaml")
    names = ["chen-horizontal", "chen-vertical", "chen-annular", "chen-all"]
    for prof, fmap in (("tiny", "2x2"), ("default", "4x4")):
        params = {**params, "profile": prof}
        t = chen_report.rows_table(params, names + ["baseline"])
        assert list(t.index) == names  # non-mgpa rows are skipped
        assert set(t["feature map"]) == {fmap}
        assert t["parts"].tolist() == [6, 6, 6, 16]
    rows = {m: dict(params["methods"][m]) for m in names}
    models = {m: dict(r["model"]) for m, r in rows.items()}
    parts = {m: models[m].pop("parts") for m in names}
    assert parts == {"chen-horizontal": ["global", "horizontal-2", "horizontal-3"],
                     "chen-vertical": ["global", "vertical-2", "vertical-3"],
                     "chen-annular": ["global", "annular-2", "annular-3"], "chen-all": "all"}
    dims = {m: models[m].pop("reduce_dim") for m in names}
    assert {m: dims[m] * (16 if m == "chen-all" else 6) for m in names} == dict.fromkeys(names, 1536)
    assert models["chen-horizontal"] == models["chen-vertical"] == models["chen-annular"] == models["chen-all"]
    for r in rows.values():  # apart from the model block (and chen-all's paper backbone) the rows agree
        r.pop("description")
        r.pop("model")
        r["profiles"] = {k: v for k, v in r["profiles"].items() if k != "paper"}
    assert rows["chen-horizontal"] == rows["chen-vertical"] == rows["chen-annular"] == rows["chen-all"]


def test_plot_partitions_draws_every_part():
    parts = resolve_partitions("all")
    fig = chen_report.plot_partitions(parts, 3, 3)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == parts_count(parts) == 16
    # panel "annular-2 #0" is the centre cell of the 3x3 map
    ax = next(a for a in drawn if a.get_title() == "annular-2 #0")
    assert ax.images[0].get_array().tolist() == [[0, 0, 0], [0, 1, 0], [0, 0, 0]]


def test_training_loop_draws_p_identities_times_k():
    labels = torch.tensor(np.repeat(np.arange(40), [2, 3, 4, 5] * 10))
    ds = SimpleNamespace(labels=labels, categories=torch.zeros_like(labels), domains=torch.zeros_like(labels))
    cfg = {"sampler": "identity", "samples_per_item": 2, "batch_size": 16}
    batches = list(_batches(cfg, ds, torch.Generator().manual_seed(0)))
    assert batches
    for b in batches:
        lab = labels[b]
        assert len(b) == 16 and len(set(b.tolist())) == 16  # distinct images (every item has >= 2)
        assert sorted(np.unique(lab.numpy(), return_counts=True)[1].tolist()) == [2] * 8  # 8 items x 2


def _pq(values: dict[str, list[float]]) -> dict[str, pd.DataFrame]:
    return {m: pd.DataFrame({"query_id": [f"q{i}" for i in range(len(v))], "AP": v}) for m, v in values.items()}


def test_chen_claims_compare_the_right_rows():
    n = 200
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 0.5, n)
    per_query = _pq({"chen-horizontal": base, "chen-vertical": base + 0.01, "chen-annular": base + 0.1,
                     "chen-all": base + 0.3})
    res = {r.id: r for r in fashionbench.papers.claims.evaluate_claims(per_query, papers=["chen"], n_boot=200)}
    assert res["chen-1"].verdict == fashionbench.papers.claims.HOLDS
    assert [(d["a"], d["b"]) for d in res["chen-1"].details] == [("chen-annular", "chen-horizontal"),
                                                                 ("chen-annular", "chen-vertical")]
    assert res["chen-2"].verdict == fashionbench.papers.claims.HOLDS
    assert {d["b"] for d in res["chen-2"].details} == {"chen-annular", "chen-horizontal", "chen-vertical"}
    assert all(d["a"] == "chen-all" for d in res["chen-2"].details)
    # chen-all below annular: chen-2 does not hold (it used to be compared with itself via a glob)
    per_query["chen-all"]["AP"] = base + 0.05
    res = {r.id: r for r in fashionbench.papers.claims.evaluate_claims(per_query, papers=["chen"], n_boot=200)}
    assert res["chen-2"].verdict == fashionbench.papers.claims.NOT_HOLD


ROW = {"group": "chen", "notebook": "notebooks/train.ipynb",
       "model": {"arch": "mgpa", "backbone": "resnet10t", "output_stride": 16, "parts": "annular", "reduce_dim": 8},
       "loss": {"loss": "mgpa_ce"}, "sampler": "identity", "samples_per_item": 2, "img_size": 36,
       "optimizer": "adam", "lr": 0.001, "schedule": "step", "milestones": [1], "gamma": 0.2,
       "augment": {"flip": True, "shift": 2}, "crop": "given"}


def test_chen_row_end_to_end(tiny_dataset, tmp_path, monkeypatch):
    shutil.copytree(tiny_dataset, tmp_path / "data" / "prepared")
    params = {"seed": 0, "profile": "tiny", "dataset": {"name": "fmnist-c2s"},
              "profiles": {"tiny": {"train": {"img_size": 32, "epochs": 1, "batch_size": 8, "threads": 1},
                                    "eval": {"top_k": 100, "n_boot": 50}}},
              "methods": {"chen-annular": ROW}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.setenv("FASHIONBENCH_ROOT", str(tmp_path))
    history = fashionbench.pipeline.train.train(params, "chen-annular", progress=False)
    assert len(history) == 1 and np.isfinite(history[0]["loss"])
    fashionbench.pipeline.embed.embed(params, "chen-annular", progress=False)
    emb = load_embeddings(fashionbench.core.paths.embeddings_path("chen-annular", params=params))
    assert emb.query.shape[1] == 5 * 8  # annular-2 + annular-3 parts x reduce_dim
    metrics = fashionbench.pipeline.evaluate.evaluate(params, "chen-annular")
    assert metrics["n_queries"] > 0


def test_clothes_table_scores_the_clothes_queries_only():
    """chen's Table 1 is clothes only: ours beside it is the mean AP of the clothes query photos."""
    import pandas as pd

    from fashionbench.papers.base import ReportContext
    from fashionbench.papers.chen.report import clothes_table

    manifest = pd.DataFrame({"uid": ["q1", "q2", "q3", "q4", "g1"], "split": ["query"] * 4 + ["gallery"],
                             "category": ["clothes", "clothes", "shoes", "bags", "clothes"]})
    pq = pd.DataFrame({"query_id": ["q1", "q2", "q3", "q4"], "item_id": ["a", "b", "c", "d"],
                       "AP": [0.5, 0.25, 1.0, 1.0]})
    ctx = ReportContext(paper="chen", params={}, root=None, names=["chen-all"], metrics=pd.DataFrame(),
                        per_query={"chen-all": pq}, mine=["chen-all"], n_boot=50, seed=0, n_examples=0)
    t = clothes_table(ctx, manifest)
    ours = t.loc["All, ResNet101 (256)", "mAP % (ours, clothes queries)"]
    assert ours.startswith("37.50 [")                         # (0.5 + 0.25) / 2, not 0.6875 over all four
    assert t.loc["All, ResNet101 (256)", "our row"] == "chen-all (2 clothes queries)"
    assert t.loc["All, ResNet101 (256)", "mAP % (quoted from chen, clothes)"] == 54.76
    assert t.loc["Horizontal, ResNet50", "mAP % (ours, clothes queries)"] == "—"   # not in this run


def test_clothes_table_without_clothes_queries_says_so():
    import pandas as pd

    from fashionbench.papers.base import ReportContext
    from fashionbench.papers.chen.report import clothes_table

    manifest = pd.DataFrame({"uid": ["q1"], "split": ["query"], "category": ["shoes"]})
    pq = pd.DataFrame({"query_id": ["q1"], "item_id": ["a"], "AP": [1.0]})
    ctx = ReportContext(paper="chen", params={}, root=None, names=["chen-all"], metrics=pd.DataFrame(),
                        per_query={"chen-all": pq}, mine=["chen-all"], n_boot=50, seed=0, n_examples=0)
    t = clothes_table(ctx, manifest)
    assert t.loc["All, ResNet101 (256)", "our row"] == "chen-all: no clothes query in this dataset"


def test_the_claims_stand_in_notes_give_the_arms_default_epochs():
    """A claim note that says "N epochs" says what params.yaml's default profile trains its arms for
    (chen's note said 4 after its rows went to 7)."""
    import re

    from fashionbench.core import config
    from fashionbench.papers.registry import CLAIMS

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["profile"] = "default"
    checked = 0
    for spec in CLAIMS:
        said = re.findall(r"(\d+) epochs \(paper", spec.note or "")
        arms = {x for c in spec.comparisons for x in (c.a, c.b) if x in params["methods"]}
        if not said or not arms:
            continue
        for arm in arms:
            assert int(config.method_settings(params, arm)["epochs"]) == int(said[0]), (spec.id, arm, spec.note)
        checked += 1
    assert checked >= 3                             # chen-1, park-1, zhan-2
