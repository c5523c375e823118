"""Similarities, rankings and metrics do not depend on the order a CPU sums the products in.

A different BLAS kernel (another CPU) sums the D products of an inner product in another order. Permuting
the feature dimensions does the same on one machine: the exact inner product is unchanged, float32 sums
of it are not. CI once saw a DBA row's mAP move in its fifth digit from one machine to another.
"""
from __future__ import annotations

import numpy as np

from fashionbench.retrieval.metrics import evaluate
from fashionbench.retrieval.postprocess import database_augmentation, query_expansion
from fashionbench.retrieval.search import search
from fashionbench.retrieval.similarity import candidate_products, inner_products


def _data(seed: int = 0, n_q: int = 60, n_g: int = 600, d: int = 1280):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((30, d))
    g = centres[rng.integers(0, 30, n_g)] + 0.3 * rng.standard_normal((n_g, d))
    q = centres[rng.integers(0, 30, n_q)] + 0.3 * rng.standard_normal((n_q, d))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    labels_g = rng.integers(0, 40, n_g)
    labels_q = rng.integers(0, 40, n_q)
    perm = rng.permutation(d)
    return q.astype(np.float32), g.astype(np.float32), labels_q, labels_g, perm


def test_float32_sums_depend_on_the_order_exact_ones_do_not() -> None:
    q, g, _, _, perm = _data()
    plain, plain_perm = q @ g.T, q[:, perm] @ g[:, perm].T
    assert (plain != plain_perm).any()          # the hazard is real on this machine's BLAS
    np.testing.assert_array_equal(inner_products(q, g), inner_products(q[:, perm], g[:, perm]))
    exact = (q.astype(np.float64) @ g.astype(np.float64).T)
    assert np.abs(inner_products(q, g) - exact).max() <= 2.0 ** -24   # correctly rounded (|s| <= 1)


def test_candidate_products_match_the_full_product() -> None:
    q, g, _, _, _ = _data(1, n_q=20, n_g=200, d=64)
    idx = np.random.default_rng(2).integers(-1, 200, (20, 7))
    got = candidate_products(q, g, idx)
    full = inner_products(q, g)
    want = np.where(idx >= 0, np.take_along_axis(full, np.maximum(idx, 0), axis=1), -np.inf)
    np.testing.assert_array_equal(got, want)


def test_search_metrics_and_expansions_are_invariant_to_the_summation_order() -> None:
    q, g, lq, lg, perm = _data(3)
    # near-ties on purpose: gallery rows that differ from another row by one ulp-sized nudge
    g[1::7] = g[0::7][: len(g[1::7])] * np.float32(1 + 2 ** -23)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    qp, gp = q[:, perm], g[:, perm]
    for k in (5, 40, len(g)):
        i1, s1 = search(q, g, k)
        i2, s2 = search(qp, gp, k)
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(s1, s2)
    assert evaluate(q, g, lq, lg) == evaluate(qp, gp, lq, lg)
    np.testing.assert_array_equal(database_augmentation(g, top_k=3)[:, perm], database_augmentation(gp, top_k=3))
    np.testing.assert_array_equal(query_expansion(q, g, top_k=3)[:, perm], query_expansion(qp, gp, top_k=3))


def test_dba_keeps_an_all_zero_row() -> None:
    # rows 0 and 1 are all zero: each is the other's nearest (all ties, lowest index first), so the
    # expansion sums zeros; it stays zero instead of stopping the stage ("zero norm")
    g = np.array([[0, 0], [0, 0], [1, 0], [0.6, 0.8]], np.float32)
    out = database_augmentation(g, top_k=1)
    np.testing.assert_array_equal(out[:2], np.zeros((2, 2), np.float32))
    np.testing.assert_allclose(np.linalg.norm(out[2:], axis=1), 1, rtol=1e-6)
