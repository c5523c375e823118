"""Tests of fashionbench.search against a dense float64 brute force and adversarial ties."""

from __future__ import annotations

import numpy as np
import pytest

import fashionbench.retrieval.search as S
from fashionbench.core.artifacts import Embeddings, load_ranking, save_ranking
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.retrieval.search import search, to_ranking


def _brute(query: np.ndarray, gallery: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense float64 reference: full argsort of -similarity, ties by ascending index."""
    sims = query.astype(np.float64) @ gallery.astype(np.float64).T
    order = np.array([np.lexsort((np.arange(len(row)), -row)) for row in sims])[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


def _rand(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    return rng.standard_normal((n, d)).astype(np.float32)


class _AdversarialIndex:
    """Exact top-k by similarity, but among equal similarities it keeps the *highest* indices
    and returns them in descending index order: the worst faiss could legally do."""

    def __init__(self, gallery: np.ndarray):
        self.g = gallery.astype(np.float64)
        self.calls: list[int] = []

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        self.calls.append(k)
        sims = x.astype(np.float64) @ self.g.T
        order = np.array([np.lexsort((-np.arange(len(r)), -r)) for r in sims])[:, :k]
        return np.take_along_axis(sims, order, axis=1).astype(np.float32), order


def test_matches_dense_bruteforce_random() -> None:
    rng = np.random.default_rng(0)
    q, g = _rand(rng, 37, 16), _rand(rng, 203, 16)
    idx, sims = search(q, g, 15, chunk_size=10)
    ref_idx, ref_sims = _brute(q, g, 15)
    assert idx.dtype == np.int64 and sims.dtype == np.float32
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(sims, ref_sims, rtol=0, atol=1e-5)


def test_chunk_size_does_not_change_result() -> None:
    rng = np.random.default_rng(1)
    q, g = _rand(rng, 25, 8), _rand(rng, 90, 8)
    a = search(q, g, 7, chunk_size=1)
    b = search(q, g, 7, chunk_size=1000)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], atol=1e-6)


def test_ties_ordered_by_ascending_index_with_real_faiss() -> None:
    # Gallery of 3 distinct directions repeated: the similarities are small integers (exact),
    # so every row has big tie groups that k=5 cuts in the middle.
    base = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    g = np.tile(base, (10, 1))                         # rows 0,3,6,... are base[0], etc.
    q = np.array([[2, 1, 0], [0, 0, 1], [1, 1, 1]], np.float32)
    idx, sims = search(q, g, 5)
    ref_idx, ref_sims = _brute(q, g, 5)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sims, ref_sims.astype(np.float32))
    # by hand: query 0 scores 2 on rows 0,3,6,... (base[0]) -> the 5 lowest such rows
    np.testing.assert_array_equal(idx[0], [0, 3, 6, 9, 12])
    np.testing.assert_array_equal(idx[2], [0, 1, 2, 3, 4])  # all 30 tie at 1


def test_tie_fixup_against_adversarial_index(monkeypatch: pytest.MonkeyPatch) -> None:
    # An index that keeps the highest-index members of a tie group and orders them
    # descending must still yield the lowest indices, ascending: this exercises both the
    # re-sort and the re-search when the group is cut at k.
    holder: dict[str, _AdversarialIndex] = {}

    def make(gallery: np.ndarray, use_gpu: bool) -> _AdversarialIndex:
        holder["index"] = _AdversarialIndex(gallery)
        return holder["index"]

    monkeypatch.setattr(S, "_make_index", make)
    # groups of 40 (> k + margin) in a gallery of 121 (> 4 x the candidates: not scored whole)
    g = np.tile(np.eye(3, dtype=np.float32), (40, 1))
    g = np.vstack([g, [[5, 0, 0]]]).astype(np.float32)  # row 120 is the unique best of query 0
    q = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 1]], np.float32)
    idx, _ = search(q, g, 4)
    np.testing.assert_array_equal(idx, _brute(q, g, 4)[0])
    np.testing.assert_array_equal(idx[0], [120, 0, 3, 6])
    np.testing.assert_array_equal(idx[2], [120, 0, 1, 2])
    assert len(holder["index"].calls) > 1              # the cut tie group forced a re-search


def test_k_larger_than_gallery_pads() -> None:
    rng = np.random.default_rng(2)
    q, g = _rand(rng, 4, 5), _rand(rng, 3, 5)
    idx, sims = search(q, g, 6)
    assert idx.shape == (4, 6)
    np.testing.assert_array_equal(idx[:, :3], _brute(q, g, 3)[0])
    assert (idx[:, 3:] == -1).all() and np.isneginf(sims[:, 3:]).all()
    assert np.isfinite(sims[:, :3]).all()


def test_empty_query_set() -> None:
    idx, sims = search(np.zeros((0, 4), np.float32), np.ones((3, 4), np.float32), 2)
    assert idx.shape == (0, 2) and sims.shape == (0, 2)


@pytest.mark.parametrize("query, gallery, match", [
    (np.ones((2, 3), np.float64), np.ones((4, 3), np.float32), "query: must be float32"),
    (np.ones(3, np.float32), np.ones((4, 3), np.float32), "query: must be a 2-D"),
    (np.ones((2, 3), np.float32), np.ones((4, 2), np.float32), "query dim 3 != gallery dim 2"),
    (np.ones((2, 3), np.float32), np.zeros((0, 3), np.float32), "gallery: is empty"),
])
def test_bad_input_raises_contract_error(query, gallery, match) -> None:
    with pytest.raises(ContractError, match=match):
        search(query, gallery, 2)


def test_nan_names_row() -> None:
    g = np.ones((5, 3), np.float32)
    g[3, 1] = np.nan
    with pytest.raises(ContractError, match=r"gallery: 1 row\(s\) hold NaN/inf \(first: row 3\)"):
        search(np.ones((2, 3), np.float32), g, 2)


@pytest.mark.parametrize("kw", [{"k": 0}, {"k": 2.0}, {"k": True}, {"k": 2, "chunk_size": 0}])
def test_bad_parameters_raise_config_error(kw) -> None:
    args = {"chunk_size": 10, **kw}
    with pytest.raises(ConfigError):
        search(np.ones((2, 3), np.float32), np.ones((4, 3), np.float32), args.pop("k"), **args)


def test_cpu_fallback_when_faiss_has_no_gpu_function(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(S.faiss, "get_num_gpus", raising=False)
    assert S.gpu_available() is False
    rng = np.random.default_rng(3)
    q, g = _rand(rng, 3, 4), _rand(rng, 10, 4)
    np.testing.assert_array_equal(search(q, g, 3)[0], _brute(q, g, 3)[0])


def _embeddings(rng: np.random.Generator, n_q: int, n_g: int, d: int) -> Embeddings:
    return Embeddings(
        query=_rand(rng, n_q, d), gallery=_rand(rng, n_g, d),
        query_ids=[f"q{i}" for i in range(n_q)], gallery_ids=[f"g{i}" for i in range(n_g)],
        query_labels=[str(i % 3) for i in range(n_q)],
        gallery_labels=[str(i % 4) for i in range(n_g)],
        query_categories=["tops"] * n_q, gallery_categories=["tops"] * n_g,
        model="m", fingerprint="f" * 64)


def test_to_ranking_distances_and_metadata(tmp_path) -> None:
    rng = np.random.default_rng(4)
    emb = _embeddings(rng, 6, 9, 5)
    r = to_ranking(emb, 12)
    ref_idx, ref_sims = _brute(emb.query, emb.gallery, 9)
    np.testing.assert_array_equal(r.indices[:, :9], ref_idx)
    np.testing.assert_allclose(r.distances[:, :9], 1 - ref_sims, atol=1e-5)
    assert (r.indices[:, 9:] == -1).all() and np.isposinf(r.distances[:, 9:]).all()
    assert (np.diff(r.distances[:, :9], axis=1) >= 0).all()
    np.testing.assert_array_equal(r.query_ids, emb.query_ids)
    np.testing.assert_array_equal(r.gallery_labels, emb.gallery_labels)
    assert r.model == "m" and r.fingerprint == "f" * 64
    save_ranking(tmp_path / "r.npz", r)                # the contract accepts it round-trip
    back = load_ranking(tmp_path / "r.npz")
    np.testing.assert_array_equal(back.indices, r.indices)
