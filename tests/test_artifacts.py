"""Embedding, ranking and metrics file contracts, and atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fashionbench.core.artifacts import Embeddings, Ranking, fingerprint, load_embeddings, load_metrics, load_ranking, save_embeddings, save_metrics, save_ranking
from fashionbench.core.atomic import atomic_path
from fashionbench.core.errors import ContractError


def _emb(q=3, g=4, d=5) -> Embeddings:
    rng = np.random.default_rng(0)
    return Embeddings(
        query=rng.normal(size=(q, d)).astype(np.float32), gallery=rng.normal(size=(g, d)).astype(np.float32),
        query_ids=[f"q{i}" for i in range(q)], gallery_ids=[f"g{i}" for i in range(g)],
        query_labels=["1"] * q, gallery_labels=["1"] * g, query_categories=["c"] * q,
        gallery_categories=["c"] * g, model="m", fingerprint=fingerprint("m", {"a": 1}))


def test_embeddings_round_trip(tmp_path):
    e = _emb()
    save_embeddings(tmp_path / "e.npz", e)
    back = load_embeddings(tmp_path / "e.npz")
    np.testing.assert_array_equal(back.query, e.query)
    assert list(back.gallery_ids) == ["g0", "g1", "g2", "g3"] and back.model == "m"


def test_nan_embedding_rejected_and_nothing_written(tmp_path):
    e = _emb()
    e.query[1, 2] = np.nan
    with pytest.raises(ContractError, match=r"e.npz.*NaN.*row 1"):
        save_embeddings(tmp_path / "e.npz", e)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("field, value, message", [
    ("query", np.zeros((3, 5), np.float64), "float32"),
    ("gallery", np.zeros((4, 6), np.float32), "dim"),
    ("gallery_ids", ["g0", "g1", "g1", "g3"], "duplicate gallery id 'g1'"),
    ("query_labels", ["1", "1"], "has 2 rows"),
])
def test_embedding_contract_breaches(field, value, message):
    e = _emb()
    setattr(e, field, value)
    with pytest.raises(ContractError, match=message):
        e.validate("x.npz")


def test_corrupt_file_named(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ContractError, match="bad.npz: not a readable"):
        load_embeddings(tmp_path / "bad.npz")


def _ranking() -> Ranking:
    return Ranking(indices=np.array([[1, 0, -1], [2, 1, 0]]), distances=np.array([[0.1, 0.2, 0], [0.0, 0.5, 0.5]], np.float32),
                   query_ids=["q0", "q1"], gallery_ids=["g0", "g1", "g2"], query_labels=["1", "2"],
                   gallery_labels=["1", "2", "2"], query_categories=["c", "c"], gallery_categories=["c"] * 3,
                   model="m", fingerprint="f")


def test_ranking_round_trip_and_checks(tmp_path):
    save_ranking(tmp_path / "r.npz", _ranking())
    assert load_ranking(tmp_path / "r.npz").k == 3
    r = _ranking()
    r.distances = np.array([[0.3, 0.2, 0], [0, 0.5, 0.5]], np.float32)
    with pytest.raises(ContractError, match="row 0 are not ascending"):
        r.validate()
    r = _ranking()
    r.indices = np.array([[1, 0, 3], [2, 1, 0]])
    with pytest.raises(ContractError, match="out of range"):
        r.validate()


def test_metrics_flat_numeric(tmp_path):
    save_metrics(tmp_path / "m.json", {"mAP": 0.5, "n_queries": 3})
    assert json.loads((tmp_path / "m.json").read_text()) == {"mAP": 0.5, "n_queries": 3}
    assert load_metrics(tmp_path / "m.json")["n_queries"] == 3
    for bad, msg in (({"a": {"b": 1}}, "not a number"), ({"a": float("nan")}, "not finite"), ({"a": True}, "not a number")):
        with pytest.raises(ContractError, match=msg):
            save_metrics(tmp_path / "x.json", bad)
    assert not (tmp_path / "x.json").exists()


def test_atomic_path_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_fingerprint_ignores_key_order():
    assert fingerprint("m", {"a": 1, "b": 2}) == fingerprint("m", {"b": 2, "a": 1})
    assert fingerprint("m", {"a": 1}) != fingerprint("m", {"a": 2})
