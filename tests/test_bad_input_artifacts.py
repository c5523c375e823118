"""Bad artifacts (embeddings, rankings, metrics files): refused on read naming the file, and never
written when their reader would refuse them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fashionbench.core import artifacts as A
from fashionbench.core.errors import ContractError
from tests.bad_input import expect, known_gap


def ids(n: int, prefix: str) -> np.ndarray:
    return np.array([f"{prefix}{i}" for i in range(n)])


def embeddings(**extra) -> A.Embeddings:
    return A.Embeddings(np.eye(3, 4, dtype=np.float32), np.eye(5, 4, dtype=np.float32), ids(3, "q"), ids(5, "g"),
                        ids(3, "i"), ids(5, "i"), np.array(["c"] * 3), np.array(["c"] * 5), "m", "fp", extra=extra)


def ranking(indices, gallery_ids=None) -> A.Ranking:
    indices = np.asarray(indices)
    return A.Ranking(indices, np.zeros(indices.shape, np.float32), ids(3, "q"),
                     ids(5, "g") if gallery_ids is None else np.asarray(gallery_ids), ids(3, "i"), ids(5, "i"),
                     np.array(["c"] * 3), np.array(["c"] * 5), "m", "fp")


@pytest.mark.parametrize("content, names", [
    ('{"mAP": "high"}', ["'mAP'", "not a number"]),
    ('{"mAP": NaN}', ["'mAP'", "not finite"]),
    ("[1, 2]", []),
    ("{not json", []),
])
def test_a_bad_metrics_file_is_named(tmp_path, content, names):
    (tmp_path / "m.json").write_text(content)
    expect(lambda: A.load_metrics(tmp_path / "m.json"), ContractError, "m.json", *names)


def test_a_bad_embeddings_file_is_named(tmp_path):
    (tmp_path / "e.npz").write_bytes(b"garbage")
    expect(lambda: A.load_embeddings(tmp_path / "e.npz"), ContractError, "e.npz", "not a readable .npz")
    A.save_embeddings(tmp_path / "ok.npz", embeddings())
    with np.load(tmp_path / "ok.npz") as z:
        parts = {k: z[k] for k in z.files}
    parts["query"] = parts["query"][:2]                      # 2 rows for 3 query ids
    np.savez(tmp_path / "cut.npz", **parts)
    expect(lambda: A.load_embeddings(tmp_path / "cut.npz"), ContractError, "cut.npz")


def test_a_metrics_dict_with_a_non_number_is_not_written(tmp_path):
    expect(lambda: A.save_metrics(tmp_path / "m.json", {"mAP": "x"}), ContractError, "mAP")
    assert not (tmp_path / "m.json").exists()


@known_gap("save_embeddings writes an object-dtype extra array that load_embeddings then refuses "
           "(pickled data)", raises=(ContractError,))
def test_an_embeddings_file_that_cannot_be_read_back_is_not_written(tmp_path):
    try:
        A.save_embeddings(tmp_path / "e.npz", embeddings(x=np.array([{"a": 1}], dtype=object)))
    except ContractError as exc:
        assert "'x'" in str(exc) or "extra" in str(exc)
        return
    A.load_embeddings(tmp_path / "e.npz")


@known_gap("save_ranking accepts a query row that lists one gallery index twice")
def test_a_ranking_with_a_repeated_gallery_index_is_refused(tmp_path):
    expect(lambda: A.save_ranking(tmp_path / "r.npz", ranking([[0, 0], [1, 2], [2, 3]])), ContractError, "repeat")


@known_gap("save_ranking accepts duplicate gallery ids")
def test_a_ranking_with_duplicate_gallery_ids_is_refused(tmp_path):
    expect(lambda: A.save_ranking(tmp_path / "r.npz", ranking([[0, 1], [1, 2], [2, 3]], ["g0", "g0", "g1", "g2", "g3"])),
           ContractError, "g0")
