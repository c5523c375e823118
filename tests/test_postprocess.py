"""Tests of fashionbench.postprocess against scikit-learn and dense brute-force float64 versions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.preprocessing import normalize

from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.retrieval.postprocess import apply_steps, concat_features, database_augmentation, l2_normalize, pca_whiten_apply, pca_whiten_fit, query_expansion


def unit(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


# ------------------------------------------------------------------------------------------
# concatenation
# ------------------------------------------------------------------------------------------
def test_concat_features_is_mean_of_cosines():
    rng = np.random.default_rng(0)
    feats = [rng.standard_normal((15, d)) * rng.uniform(0.5, 3.0, (15, 1)) for d in (4, 7, 3)]
    out = concat_features([f.astype(np.float32) for f in feats])
    assert out.shape == (15, 14) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    expected = np.mean([cosine_similarity(f) for f in feats], axis=0)
    np.testing.assert_allclose(out @ out.T, expected, atol=1e-5)


def test_concat_features_weighted():
    rng = np.random.default_rng(1)
    feats = [rng.standard_normal((12, d)).astype(np.float32) for d in (5, 6)]
    w = [3.0, 1.0]
    out = concat_features(feats, weights=w)
    expected = (3 * cosine_similarity(feats[0]) + 1 * cosine_similarity(feats[1])) / 4
    np.testing.assert_allclose(out @ out.T, expected, atol=1e-5)
    # a zero weight removes a model's influence
    only_first = concat_features(feats, weights=[1.0, 0.0])
    np.testing.assert_allclose(only_first @ only_first.T, cosine_similarity(feats[0]), atol=1e-5)


def test_concat_features_errors():
    a = np.ones((4, 3), np.float32)
    with pytest.raises(ContractError, match=r"'features\[1\]' has 3 rows"):
        concat_features([a, a[:3]])
    z = a.copy()
    z[2] = 0
    with pytest.raises(ContractError, match=r"'features\[1\]' row 2 has zero norm"):
        concat_features([a, z])
    with pytest.raises(ConfigError, match=r"weights\[0\]"):
        concat_features([a, a], weights=[-1.0, 1.0])
    with pytest.raises(ConfigError, match="2 values for 3 features"):
        concat_features([a, a, a], weights=[1.0, 1.0])
    with pytest.raises(ConfigError, match="all zero"):
        concat_features([a, a], weights=[0.0, 0.0])
    with pytest.raises(ContractError, match="non-empty list"):
        concat_features([])


# ------------------------------------------------------------------------------------------
# PCA whitening
# ------------------------------------------------------------------------------------------
def anisotropic(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scales = np.array([5.0, 3.0, 2.0, 1.5, 1.0, 0.7, 0.5, 0.3, 0.2, 0.1])
    mix = np.linalg.qr(rng.standard_normal((10, 10)))[0]
    return ((rng.standard_normal((n, 10)) * scales) @ mix + 0.3).astype(np.float32)


@pytest.mark.parametrize("dim", [3, 6, 10])
def test_pca_whiten_matches_sklearn(dim):
    fit_x, new_x = anisotropic(200, 0), anisotropic(50, 1)
    params = pca_whiten_fit(fit_x, dim=dim, eps=0.0, chunk_size=37)
    sk = PCA(n_components=dim, whiten=True, svd_solver="full").fit(fit_x.astype(np.float64))
    np.testing.assert_allclose(params.explained_variance, sk.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(params.mean, sk.mean_, atol=1e-6)
    # same sign rule as scikit-learn's svd_flip, so the axes match exactly (not only up to sign)
    np.testing.assert_allclose(params.components, sk.components_, atol=1e-6)
    got = pca_whiten_apply(params, new_x, chunk_size=13)
    expected = normalize(sk.transform(new_x.astype(np.float64)))
    assert got.shape == (50, dim) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_pca_whiten_eps_and_default_dim():
    x = anisotropic(40, 2)[:, :6]   # 40 x 6
    params = pca_whiten_fit(x)
    assert params.dim == 6          # min(N - 1, D)
    p = pca_whiten_fit(x, dim=4, eps=0.5)
    sk = PCA(n_components=4, svd_solver="full").fit(x.astype(np.float64))
    proj = (x - sk.mean_) @ sk.components_.T / np.sqrt(sk.explained_variance_ + 0.5)
    signs = np.sign(np.sum(p.components * sk.components_, axis=1))
    np.testing.assert_allclose(pca_whiten_apply(p, x), normalize(proj) * signs, atol=1e-5)
    # the sign rule: each axis' largest-magnitude loading is positive
    assert (p.components[np.arange(4), np.abs(p.components).argmax(axis=1)] > 0).all()


def test_pca_whiten_errors():
    x = anisotropic(20, 3)
    with pytest.raises(ConfigError, match="'dim' must be <= min"):
        pca_whiten_fit(x, dim=11)
    with pytest.raises(ConfigError, match="'dim'"):
        pca_whiten_fit(x, dim=0)
    with pytest.raises(ConfigError, match="'eps'"):
        pca_whiten_fit(x, eps=-1.0)
    with pytest.raises(ContractError, match="at least 2 rows"):
        pca_whiten_fit(x[:1])
    with pytest.raises(ContractError, match="'x' dim 9 != PCA input dim 10"):
        pca_whiten_apply(pca_whiten_fit(x, dim=3), x[:, :9])
    flat = np.zeros((20, 4), np.float32)
    flat[:, 0] = np.arange(20)      # rank one
    with pytest.raises(ConfigError, match="zero variance"):
        pca_whiten_fit(flat, dim=2, eps=0.0)


# ------------------------------------------------------------------------------------------
# query expansion / DBA against dense brute force
# ------------------------------------------------------------------------------------------
def dense_expand(x: np.ndarray, pool: np.ndarray, k: int, alpha: float, exclude_self: bool):
    s = x.astype(np.float64) @ pool.astype(np.float64).T
    if exclude_self:
        np.fill_diagonal(s, -np.inf)
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    w = np.maximum(np.take_along_axis(s, top, 1), 0) ** alpha
    acc = x + np.einsum("bk,bkd->bd", w, pool[top].astype(np.float64))
    return acc / np.linalg.norm(acc, axis=1, keepdims=True)


@pytest.mark.parametrize("top_k,alpha", [(1, 0.0), (4, 0.0), (4, 3.0), (29, 3.0), (29, 0.5)])
def test_query_expansion_matches_dense(top_k, alpha):
    q, g = unit(23, 8, 1), unit(30, 8, 2)   # top_k = 29 reaches negative similarities
    got = query_expansion(q, g, top_k=top_k, alpha=alpha, chunk_size=5)
    np.testing.assert_allclose(got, dense_expand(q, g, top_k, alpha, False), atol=1e-5)
    assert got.dtype == np.float32


def test_average_query_expansion_is_the_mean():
    q, g = unit(10, 6, 3), unit(25, 6, 4)
    top = np.argsort(-(q @ g.T), axis=1)[:, :3]
    mean = (q + g[top].sum(axis=1)) / 4
    np.testing.assert_allclose(query_expansion(q, g, top_k=3, alpha=0.0), normalize(mean), atol=1e-5)
    np.testing.assert_allclose(query_expansion(q * 2, g, top_k=0), q, atol=1e-6)


@pytest.mark.parametrize("top_k,alpha", [(1, 0.0), (3, 0.0), (5, 3.0), (39, 1.0)])
def test_dba_matches_dense(top_k, alpha):
    g = unit(40, 6, 5)
    got = database_augmentation(g, top_k=top_k, alpha=alpha, chunk_size=7)
    np.testing.assert_allclose(got, dense_expand(g, g, top_k, alpha, True), atol=1e-5)


def test_dba_excludes_itself_but_keeps_a_duplicate():
    g = unit(12, 5, 6)
    g[7] = g[2]                      # exact duplicate pair
    got = database_augmentation(g, top_k=1, alpha=0.0)
    np.testing.assert_allclose(got[2], g[2], atol=1e-6)   # (g + its duplicate) / 2 == g
    np.testing.assert_allclose(got[7], g[7], atol=1e-6)
    np.testing.assert_allclose(got, dense_expand(g, g, 1, 0.0, True), atol=1e-5)


def test_dba_when_an_item_is_not_its_own_nearest():
    # unnormalised gallery: a short vector's inner product with itself is smaller than with
    # longer neighbours, so it is missing from its own top_k + 1 list; the last result is
    # dropped instead and the answer still equals the dense one (self excluded)
    g = unit(15, 4, 14) * np.linspace(0.05, 2.0, 15)[:, None].astype(np.float32)
    s = g @ g.T
    top2 = np.argsort(-s, axis=1, kind="stable")[:, :2]
    assert (top2 != np.arange(15)[:, None]).all(axis=1).any()   # the case really occurs
    got = database_augmentation(g, top_k=1, alpha=1.0)
    np.testing.assert_allclose(got, dense_expand(g, g, 1, 1.0, True), atol=1e-5)


def test_qe_dba_errors():
    q, g = unit(4, 6, 7), unit(5, 6, 8)
    with pytest.raises(ConfigError, match="'top_k' = 6 exceeds the gallery size 5"):
        query_expansion(q, g, top_k=6)
    with pytest.raises(ConfigError, match="'top_k' = 5 exceeds the gallery size - 1"):
        database_augmentation(g, top_k=5)
    with pytest.raises(ConfigError, match="'alpha'"):
        query_expansion(q, g, alpha=-1.0)
    with pytest.raises(ConfigError, match="'top_k'"):
        database_augmentation(g, top_k=-1)
    with pytest.raises(ContractError, match="'query' dim 5 != 'gallery' dim 6"):
        query_expansion(q[:, :5], g)
    bad = g.copy()
    bad[3, 0] = np.inf
    with pytest.raises(ContractError, match="'gallery'.*row 3"):
        database_augmentation(bad, top_k=1)
    with pytest.raises(ContractError, match="row 1 has zero norm"):
        l2_normalize(np.array([[1.0, 0.0], [0.0, 0.0]]))


# ------------------------------------------------------------------------------------------
# step runner
# ------------------------------------------------------------------------------------------
def test_apply_steps_in_order():
    q, g, t = unit(12, 10, 9), unit(40, 10, 10), unit(60, 10, 11)
    steps = [{"name": "pca_whiten", "fit_on": "train", "dim": 6, "eps": 1e-3},
             {"name": "dba", "top_k": 3, "alpha": 1.0},
             {"name": "query_expansion", "top_k": 2}]
    got_q, got_g = apply_steps(q, g, steps, train=t)
    p = pca_whiten_fit(t, dim=6, eps=1e-3)
    mq, mg = pca_whiten_apply(p, q), pca_whiten_apply(p, g)
    mg = database_augmentation(mg, top_k=3, alpha=1.0)
    mq = query_expansion(mq, mg, top_k=2)
    np.testing.assert_allclose(got_q, mq, atol=1e-6)
    np.testing.assert_allclose(got_g, mg, atol=1e-6)
    # order matters: QE before DBA expands against the un-augmented gallery
    q2, _ = apply_steps(q, g, [{"name": "query_expansion", "top_k": 2}, {"name": "dba", "top_k": 3}])
    q3, _ = apply_steps(q, g, [{"name": "dba", "top_k": 3}, {"name": "query_expansion", "top_k": 2}])
    assert not np.allclose(q2, q3)
    # second PCA fits on the train features already whitened by the first
    two = [{"name": "pca_whiten", "fit_on": "train", "dim": 8}, {"name": "pca_whiten", "fit_on": "train", "dim": 4}]
    p1 = pca_whiten_fit(t, dim=8)
    p2 = pca_whiten_fit(pca_whiten_apply(p1, t), dim=4)
    np.testing.assert_allclose(apply_steps(q, g, two, train=t)[0],
                               pca_whiten_apply(p2, pca_whiten_apply(p1, q)), atol=1e-6)
    # no steps: inputs unchanged
    np.testing.assert_array_equal(apply_steps(q, g, [])[1], g)


def test_apply_steps_errors():
    q, g = unit(5, 6, 12), unit(9, 6, 13)
    with pytest.raises(ConfigError, match=r"unknown post-processing step 'whiten' \(step 1\); "
                                          r"valid steps: dba, pca_whiten, query_expansion"):
        apply_steps(q, g, [{"name": "dba", "top_k": 1}, {"name": "whiten"}])
    with pytest.raises(ConfigError, match=r"step 0 \(dba\): unknown parameter\(s\) \['k'\]"):
        apply_steps(q, g, [{"name": "dba", "k": 2}])
    with pytest.raises(ConfigError, match="no train features"):
        apply_steps(q, g, [{"name": "pca_whiten", "fit_on": "train"}])
    with pytest.raises(ConfigError, match="'fit_on' must be 'gallery' or 'train'"):
        apply_steps(q, g, [{"name": "pca_whiten", "fit_on": "query"}])
    with pytest.raises(ConfigError, match=r"step 0 \(query_expansion\): parameter 'top_k'"):
        apply_steps(q, g, [{"name": "query_expansion", "top_k": 50}])
    with pytest.raises(ConfigError, match="must be a mapping with a 'name'"):
        apply_steps(q, g, [{"top_k": 2}])
    with pytest.raises(ConfigError, match="must be a list"):
        apply_steps(q, g, {"name": "dba"})
