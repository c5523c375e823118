"""What the rendered pages show: number formats, plot limits, links, the code commit, relative paths."""

from __future__ import annotations

import json
import subprocess

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from fashionbench.papers import overview  # noqa: E402
from fashionbench.reporting import detection, display, links, report  # noqa: E402


@pytest.fixture
def display_defaults():
    with plt.rc_context():
        display.use_display_defaults()
        yield
    pd.reset_option("display.float_format")


@pytest.mark.parametrize("value, text", [(791.0, "791"), (0.0, "0"), (0.572332, "0.5723"), (0.00072, "0.0007"),
                                         (0.00004, "4.00e-05"),
                                         (302.87, "302.9"), (12345.6, "12346"), (float("nan"), "nan"), ("x", "x")])
def test_numbers_print_as_a_reader_expects(value, text):
    assert display._fmt_number(value) == text


def test_tables_print_integers_as_integers(display_defaults):
    html = pd.Series({"mAP": 0.572332, "n_queries": 791}, name="baseline").to_frame().to_html()
    assert ">791<" in html and "791.0" not in html and ">0.5723<" in html
    long = pd.DataFrame({"value": ["ab" * 40]}).to_html()
    assert "ab" * 40 in long and "..." not in long          # hashes are shown whole
    assert plt.rcParams["legend.fontsize"] >= 9 and plt.rcParams["xtick.labelsize"] >= 9


def test_line_styles_are_distinct_pairs():
    pairs = [(s["color"], s["marker"]) for s in map(display.line_style, range(display.MAX_LINES))]
    assert len(set(p[0] for p in pairs)) == display.MAX_LINES and len(set(p[1] for p in pairs)) == display.MAX_LINES


def _metrics(n: int, top: float = 0.3) -> pd.DataFrame:
    ks = (1, 5, 10, 20, 30, 40, 50)
    rows = {}
    for i in range(n):
        m = top * (i + 1) / n
        rows[f"row{i}"] = {"mAP": m, **{f"top{k}": min(1.0, m * (1 + k / 50)) for k in ks},
                           **{f"chance_top{k}": k / 800 for k in ks}}
    return pd.DataFrame.from_dict(rows, orient="index")


def test_topk_plot_draws_at_most_eight_rows_the_best_by_map_and_chance():
    fig = report.plot_topk(_metrics(12))
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:-1] == [f"row{i}" for i in range(11, 3, -1)] and labels[-1].startswith("chance")
    assert "8 best of 12" in ax.get_title()
    # the axis fits the data (top-50 of the best row is 0.6), not 0-1
    assert 0.6 < ax.get_ylim()[1] < 0.75
    plt.close(fig)


def test_histories_are_small_multiples_of_at_most_eight_lines(tmp_path):
    names = [f"m{i}" for i in range(11)]
    for i, m in enumerate(names):
        (tmp_path / m).mkdir()
        (tmp_path / m / "history.json").write_text(json.dumps(
            [{"epoch": e, "loss": 1.0 / e, "val_mAP": 0.1 * e + i / 100, "val_chance_mAP": 0.002} for e in (1, 2, 3)]))
    fig = report.plot_histories(names, tmp_path)
    assert len(fig.axes) == 4                      # two rows of (loss, validation mAP)
    for ax in fig.axes:
        drawn = [ln for ln in ax.get_lines() if not ln.get_label().startswith("chance")]
        assert 1 <= len(drawn) <= display.MAX_LINES
    assert sum(len([ln for ln in ax.get_lines() if not ln.get_label().startswith("chance")])
               for ax in fig.axes[0::2]) == 11
    plt.close(fig)


def test_metric_vs_chance_is_one_short_wide_table():
    t = report.metric_vs_chance({"mAP": 0.5, "chance_mAP": 0.002, "top1": 0.4, "chance_top1": 0.001,
                                 "n_queries": 791}, "baseline")
    assert list(t.index) == ["baseline", "chance (random ranking)", "× chance"]
    assert list(t.columns) == ["mAP", "top1"] and t.loc["× chance", "mAP"] == 250.0
    assert report.metric_vs_chance({"mAP": 0.0123, "chance_mAP": 0.002}, "x").loc["× chance", "mAP"] == 6.2


def test_collapsible_folds_a_table():
    html = report.collapsible("Every <row>", pd.DataFrame({"a": [1]})).data
    assert html.startswith("<details><summary><b>Every &lt;row&gt;</b></summary><table")


def test_method_pages_link_back_and_to_their_paper():
    params = {"papers": ["shang", "ji"], "detectors": {"yolov8n": {}}}
    text = links.method_nav(params, "shang-fusion")
    assert "(../comparison.html#Leaderboard)" in text and "its paper: [shang](../shang.html)" in text
    # it reads only params["papers"] (declared by the stages rendering method pages): no detect link
    assert "[ji](../ji.html)" in text and "detect" not in text
    assert "its paper" not in links.method_nav(params, "baseline")
    assert links.nav(params, "ji") .count("**ji**") == 1 and "(ji.html)" not in links.nav(params, "ji")


def test_leaderboard_names_link_to_their_pages_and_have_no_index_header():
    board = pd.DataFrame({"rank": [1, 2], "mAP": [0.5, 0.4], "status": ["learned", "learned"]},
                         index=pd.Index(["a-row", "b-view"], name="row"))
    html = overview.style_board(board, pages=["a-row"]).to_html()
    assert '<a href="methods/a-row.html">a-row</a>' in html and 'href="methods/b-view.html"' not in html
    assert ">row<" not in html
    # a row without a chance level: the cell reads "—", not nan; counts print as integers
    board = pd.DataFrame({"mAP": [0.5, 0.4], "x chance": [250.0, np.nan]}, index=["a", "b"])
    html = overview.style_board(board).to_html()
    assert ">250<" in html and ">—<" in html and "nan" not in html and "250.000000" not in html


def test_rows_with_pages_are_methods_fusions_and_reranks():
    params = {"methods": {"a": {}}, "fusions": {"f": {}}, "reranks": {"r": {}}, "crop_eval": {"model": "a", "crops": ["given"]}}
    assert report.rows_with_pages(params) == ["a", "f", "r"]


def _git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def test_code_commit_names_the_code_not_the_outputs(tmp_path):
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.com")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "m.json").write_text("{}")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "code")
    code = _git(tmp_path, "rev-parse", "HEAD")
    assert report.code_commit(tmp_path) == f"{code} code (clean)"
    # a commit of the run's outputs only does not change which code made them
    (tmp_path / "metrics" / "m.json").write_text('{"mAP": 1}')
    assert report.code_commit(tmp_path).endswith("(clean)")
    _git(tmp_path, "commit", "-qam", "outputs")
    assert report.code_commit(tmp_path) == f"{code} code (clean)"
    (tmp_path / "code.py").write_text("x = 2\n")
    assert report.code_commit(tmp_path) == f"{code} code (UNCOMMITTED changes to code or params)"
    assert report.code_commit(tmp_path / "no-such-dir").startswith("unknown")


def test_paths_are_shown_relative_to_the_project(tmp_path):
    root = tmp_path / "proj"
    assert report.relative_to_project(str(tmp_path / "shared" / "data"), root) == "../shared/data"
    assert report.relative_to_project("data/prepared", root) == "data/prepared"
    assert report.relative_to_project("/usr/share/datasets/fashion-mnist", root) == "/usr/share/datasets/fashion-mnist"
    assert report.relative_to_project(3, root) == 3
    card = {"name": "x", "content_sha256": "ab" * 32, "source": {"folder": "rel/folder"}}
    t = report.card_table(card)
    assert t.loc["content SHA-256", "value"] == "ab" * 32 and t.loc["source folder", "value"] == "rel/folder"


def test_best_epoch_is_ultralytics_fitness_argmax():
    h = pd.DataFrame({"  epoch": [1, 2, 3], "metrics/mAP50(B)": [0.5, 0.8, 0.6], " metrics/mAP50-95(B)": [0.3, 0.5, 0.5]})
    assert detection.best_epoch(h) == 2           # first of the tied maxima, as best.pt keeps it
    assert detection.best_epoch(pd.DataFrame({"epoch": [1]})) is None and detection.best_epoch(None) is None
    # a NaN epoch is not "the best" (Ultralytics' fitness counts NaN as 0)
    h.iloc[0, 2] = np.nan
    assert detection.best_epoch(h) == 2
    h.iloc[:, 2] = np.nan
    assert detection.best_epoch(h) is None
