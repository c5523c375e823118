"""The example-query grids: each cell shows the right image and a frame coloured by correctness."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from PIL import Image

from fashionbench.core.artifacts import Ranking
from fashionbench.reporting.report import plot_examples
from fashionbench.papers.shang.report import plot_before_after


def _setup(tmp_path):
    # five images of distinct solid colours; uid i has colour COLOURS[i]
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]
    rows = []
    for i, c in enumerate(colours):
        Image.new("RGB", (20, 20), c).save(tmp_path / f"{i}.png")
        rows.append({"uid": f"u{i}", "path": f"{i}.png", "x1": 0, "y1": 0, "x2": 20, "y2": 20})
    manifest = pd.DataFrame(rows)
    ranking = Ranking(indices=np.array([[0, 1, 2], [2, 1, -1]]), distances=np.array([[0.1, 0.2, 0.3], [0.1, 0.5, 0]],
                      np.float32), query_ids=np.array(["u3", "u4"]), gallery_ids=np.array(["u0", "u1", "u2"]),
                      query_labels=np.array(["a", "b"]), gallery_labels=np.array(["a", "b", "b"]),
                      query_categories=np.array(["x", "x"]), gallery_categories=np.array(["x", "x", "x"]),
                      model="m", fingerprint="f")
    return manifest, ranking, colours


def _colour(ax):
    return tuple(int(v) for v in ax.get_images()[0].get_array()[10, 10])


def test_plot_examples_cells_and_frames(tmp_path):
    manifest, ranking, colours = _setup(tmp_path)
    fig = plot_examples(ranking, manifest, tmp_path, n_queries=2, depth=3)
    axes = np.array(fig.axes).reshape(2, 4)
    assert _colour(axes[0, 0]) == colours[3] and _colour(axes[1, 0]) == colours[4]
    assert [_colour(a) for a in axes[0, 1:]] == [colours[0], colours[1], colours[2]]
    # query 0 (item a): only gallery 0 is right; query 1 (item b): gallery 2 and 1 are right, 3rd slot empty
    assert [a.spines["top"].get_edgecolor()[:3] for a in axes[0, 1:]] == [(0.19607843137254902, 0.803921568627451,
                                                                           0.19607843137254902), (1, 0, 0), (1, 0, 0)]
    assert axes[1, 3].get_images() == [] and not axes[1, 3].axison


def test_plot_before_after_only_changed_queries(tmp_path):
    manifest, before, colours = _setup(tmp_path)
    after = Ranking(**{**before.__dict__, "indices": np.array([[0, 1, 2], [1, 2, -1]])})
    assert plot_before_after(before, before, manifest, tmp_path) is None, "nothing changed: no figure"
    fig = plot_before_after(before, after, manifest, tmp_path, depth=3)
    axes = np.array(fig.axes).reshape(2, 4)   # only query 1 changed: a before row and an after row
    assert "(before)" in axes[0, 0].get_title() and "(after)" in axes[1, 0].get_title()
    assert _colour(axes[0, 1]) == colours[2] and _colour(axes[1, 1]) == colours[1]


def test_show_jpeg_displays_a_jpeg_and_closes_the_figure(monkeypatch):
    import IPython.display
    import matplotlib.pyplot as plt

    from fashionbench.reporting.report import show

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    fig = plt.figure()
    show(fig, jpeg=True)
    assert shown[0].data[:2] == b"\xff\xd8" and not plt.fignum_exists(fig.number)
    fig = plt.figure()
    show(fig)
    assert shown[1] is fig and not plt.fignum_exists(fig.number)
    show(None)
    assert len(shown) == 2


def test_example_rows_baseline_then_best_by_map():
    from fashionbench.reporting.report import example_rows

    m = pd.DataFrame({"mAP": [0.2, 0.5, 0.1, 0.4, 0.3]}, index=["a", "b", "baseline", "d", "e"])
    assert example_rows(m, n_best=2) == ["baseline", "b", "d"]
    assert example_rows(m.drop(index="baseline"), n_best=1) == ["b"]
