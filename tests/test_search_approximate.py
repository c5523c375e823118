"""Approximate search (IVF-Flat, IVF-PQ, HNSW), its recall against exact search, blocked exact
search, and the GPU sharding call sequence (with a stand-in faiss: there is no GPU in CI)."""

from __future__ import annotations

import numpy as np
import pytest

import fashionbench.retrieval.search as S
from fashionbench.core.artifacts import Embeddings
from fashionbench.core.errors import ConfigError
from fashionbench.retrieval.search import ApproximateIndex, approximate_search, exact_search_blocked, index_metrics, index_note, index_recall, index_spec, search, to_ranking


def _clustered(rng: np.random.Generator, n: int, d: int, centers: np.ndarray, noise: float = 0.3) -> np.ndarray:
    x = centers[rng.integers(0, len(centers), n)] + noise * rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((40, 32))
    return _clustered(rng, 60, 32, centers), _clustered(rng, 3000, 32, centers)


def test_index_recall_by_hand():
    exact = np.array([[1, 2, 3], [4, 5, -1], [-1, -1, -1]])
    approx = np.array([[3, 9, 1], [5, 4, 7], [0, 1, 2]])
    r = index_recall(approx, exact, [1, 2, 3])
    # row 0: @1 {1} vs {3} -> 0; @2 {1,2} vs {3,9} -> 0; @3 {1,2,3} vs {3,9,1} -> 2/3
    # row 1: @1 {4} vs {5} -> 0; @2 {4,5} vs {5,4} -> 1; @3 (2 true) {4,5} vs {5,4,7} -> 1; row 2 skipped
    assert r[1] == 0.0 and r[2] == pytest.approx(0.5) and r[3] == pytest.approx((2 / 3 + 1) / 2)


def test_ivf_flat_probing_every_list_is_exact(data):
    q, g = data
    ref_i, ref_s = search(q, g, 20)
    i, s = approximate_search(q, g, 20, {"type": "ivf_flat", "nlist": 16, "nprobe": 16})
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_allclose(s, ref_s, atol=1e-5)
    assert index_recall(i, ref_i, [10])[10] == 1.0


@pytest.mark.parametrize("cfg, floor", [({"type": "ivf_flat", "nlist": 32, "nprobe": 4}, 0.6),
                                        ({"type": "hnsw", "hnsw_m": 16, "ef_search": 64}, 0.9),
                                        ({"type": "ivf_pq", "nlist": 8, "nprobe": 8, "m": 8, "rescore": True,
                                          "k_factor": 4}, 0.7)])
def test_approximate_indexes_recall_and_order(data, cfg, floor):
    q, g = data
    ref_i, _ = search(q, g, 10)
    i, s = approximate_search(q, g, 10, cfg)
    assert i.shape == (len(q), 10) and i.dtype == np.int64 and s.dtype == np.float32
    valid = i >= 0
    assert (np.diff(np.where(valid, s, -np.inf), axis=1) <= 1e-7).all()  # descending
    if cfg.get("rescore") or cfg["type"] != "ivf_pq":  # exact similarities of the returned items
        np.testing.assert_allclose(s[valid], np.einsum("qd,qkd->qk", q, g[np.maximum(i, 0)])[valid], atol=1e-5)
    rec = index_recall(i, ref_i, [10])[10]
    assert floor <= rec <= 1.0
    again = approximate_search(q, g, 10, cfg)  # deterministic for the seed
    np.testing.assert_array_equal(i, again[0])


def test_index_metrics_and_note(data):
    q, g = data
    spec = {"type": "ivf_flat", "nlist": 32, "nprobe": 2, "recall_queries": 25}
    i, _ = approximate_search(q, g, 30, spec)
    m = index_metrics(q, g, i, spec)
    assert m["index_approximate"] == 1 and m["index_recall_queries"] == 25
    assert set(m) >= {"index_recall@1", "index_recall@10", "index_recall@30"}
    ref, _ = search(q, g, 30)
    full = index_metrics(q, g, i, {**spec, "recall_queries": None})
    assert full["index_recall@10"] == pytest.approx(index_recall(i, ref, [10])[10])
    assert index_metrics(q, g, i, {"type": "exact"}) == {} and index_note(None, {}) is None
    assert "recall" in index_note(spec, m).lower() and "ivf_flat" in index_note(spec, m)


def test_to_ranking_with_index(data):
    q, g = data
    ids = lambda n, p: np.array([f"{p}{i}" for i in range(n)])  # noqa: E731
    emb = Embeddings(query=q, gallery=g, query_ids=ids(len(q), "q"), gallery_ids=ids(len(g), "g"),
                     query_labels=ids(len(q), "l"), gallery_labels=ids(len(g), "l"),
                     query_categories=np.full(len(q), "c"), gallery_categories=np.full(len(g), "c"),
                     model="m", fingerprint="f")
    exact = to_ranking(emb, 10)
    same = to_ranking(emb, 10, index={"type": "exact"})
    np.testing.assert_array_equal(exact.indices, same.indices)
    approx = to_ranking(emb, 10, index={"type": "hnsw"})
    assert approx.validate() is approx and approx.k == 10


def test_exact_search_blocked_equals_search_with_ties():
    rng = np.random.default_rng(3)
    dirs = np.eye(8, dtype=np.float32)[:3]
    g = dirs[rng.integers(0, 3, 500)]  # many exact ties across blocks
    q = np.vstack([dirs, rng.standard_normal((5, 8)).astype(np.float32)])
    for k in (1, 7, 60, 600):
        a = search(q, g, k)
        b = exact_search_blocked(q, g, k, block_rows=37)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_memmap_gallery_is_searched_without_copy(tmp_path, data):
    q, g = data
    np.save(tmp_path / "g.npy", g)
    mm = np.load(tmp_path / "g.npy", mmap_mode="r")
    spec = {"type": "ivf_flat", "nlist": 16, "nprobe": 4}
    np.testing.assert_array_equal(approximate_search(q, mm, 10, spec)[0], approximate_search(q, g, 10, spec)[0])
    np.testing.assert_array_equal(exact_search_blocked(q, mm, 10, block_rows=1000)[0], search(q, g, 10)[0])


def test_index_spec_errors():
    assert not index_spec(None).approximate and index_spec({"type": "hnsw"}).approximate
    with pytest.raises(ConfigError, match=r"eval.index.type"):
        index_spec({"type": "lsh"})
    with pytest.raises(ConfigError, match="unknown key"):
        index_spec({"type": "ivf_flat", "probes": 3})
    with pytest.raises(ConfigError, match=r"eval.index.nprobe"):
        index_spec({"type": "ivf_flat", "nprobe": 0})
    g = np.random.default_rng(0).standard_normal((300, 30)).astype(np.float32)
    with pytest.raises(ConfigError, match=r"eval.index.m"):
        ApproximateIndex.build(index_spec({"type": "ivf_pq", "m": 7}), g)
    with pytest.raises(ConfigError, match="training vectors"):
        ApproximateIndex.build(index_spec({"type": "ivf_pq", "m": 10, "nlist": 2}), g[:200])  # < 2**8 vectors
    with pytest.raises(ConfigError, match="nlist"):
        ApproximateIndex.build(index_spec({"type": "ivf_flat", "nlist": 400}), g)


class _FakeClonerOptions:
    shard = False


def test_gpu_sharding_call_sequence(monkeypatch, data):
    """The multi-GPU path asks faiss for an IndexShards over all GPUs (stand-in faiss functions:
    the real GPU run is not verified here)."""
    calls = []

    def all_gpus(index, co=None, ngpu=-1):
        calls.append(("all", co.shard))
        return index  # the CPU index stands in for the sharded GPU index

    monkeypatch.setattr(S.faiss, "get_num_gpus", lambda: 4, raising=False)
    monkeypatch.setattr(S.faiss, "GpuMultipleClonerOptions", _FakeClonerOptions, raising=False)
    monkeypatch.setattr(S.faiss, "index_cpu_to_all_gpus", all_gpus, raising=False)
    q, g = data
    assert S.gpu_available()
    ref = search(q, g, 10, use_gpu=False)
    np.testing.assert_array_equal(search(q, g, 10)[0], ref[0])
    assert calls == [("all", True)]
    built = ApproximateIndex.build(index_spec({"type": "ivf_flat", "nlist": 16}), g)
    assert built.gpu is not None and calls[-1] == ("all", True)
    hnsw = ApproximateIndex.build(index_spec({"type": "hnsw"}), g)
    assert hnsw.gpu is None  # faiss has no GPU HNSW: stays on the CPU


def test_evaluate_stage_reports_recall_of_approximate_index(tiny_dataset, tmp_path, monkeypatch):
    """fashionbench.pipeline.evaluate.evaluate with eval.index approximate: the metrics file carries index_recall@k."""
    import shutil

    import yaml

    from fashionbench.core import config
    import fashionbench.core.paths
    import fashionbench.pipeline.evaluate
    from fashionbench.core.artifacts import load_metrics, save_embeddings
    from fashionbench.data.datasets import load_manifest

    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    shutil.copytree(tiny_dataset, root / "data" / "prepared")
    monkeypatch.setenv("FASHIONBENCH_ROOT", str(root))
    index = {"type": "ivf_flat", "nlist": 4, "nprobe": 1}
    params = {"seed": 0, "profile": "tiny", "dataset": {"name": "fmnist-c2s"}, "methods": {"m": {"group": "g"}},
              "profiles": {"tiny": {"dataset": {}, "train": {}, "eval": {"top_k": 30, "ks": [1, 5, 10], "index": index}}}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    params = config.load_params(root / "params.yaml")
    df = load_manifest("fmnist-c2s", tiny_dataset)
    rng = np.random.default_rng(0)
    items = sorted(df.item_id.unique())
    centers = {it: rng.standard_normal(16) for it in items}
    sides = {}
    for split in ("query", "gallery"):
        rows = df[df.split == split]
        x = np.stack([centers[i] + 0.8 * rng.standard_normal(16) for i in rows.item_id])
        sides[split] = (rows, (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32))
    (qr, q), (gr, g) = sides["query"], sides["gallery"]
    save_embeddings(fashionbench.core.paths.embeddings_path("m", params=params), Embeddings(
        query=q, gallery=g, query_ids=qr.uid.to_numpy(str), gallery_ids=gr.uid.to_numpy(str),
        query_labels=qr.item_id.to_numpy(str), gallery_labels=gr.item_id.to_numpy(str),
        query_categories=qr.category.to_numpy(str), gallery_categories=gr.category.to_numpy(str),
        model="m", fingerprint="fp"))
    m = fashionbench.pipeline.evaluate.evaluate(params, "m")
    on_disk = load_metrics(fashionbench.core.paths.metrics_path("m"))
    assert on_disk["index_approximate"] == 1 and on_disk["index_recall_queries"] == len(q)
    ref, _ = search(q, g, 30)
    approx, _ = approximate_search(q, g, 30, index)
    assert on_disk["index_recall@10"] == pytest.approx(index_recall(approx, ref, [10])[10])
    assert on_disk["index_recall@10"] < 1.0  # one probed list of four: something was missed, and said so
    assert m == on_disk
    params["profiles"]["tiny"]["eval"]["index"] = {"type": "exact"}
    assert "index_recall@10" not in fashionbench.pipeline.evaluate.evaluate(params, "m")
