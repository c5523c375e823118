"""End to end: `dvc repro` of the tiny profile in a temp copy of the repo, then DVC's bookkeeping.

Checks that the pipeline runs from scratch, writes metrics and self-contained reports, that a
second `dvc repro` is a no-op, and that changing one method's parameters invalidates only that
method's stages (plus the report), as `dvc status` shows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from conftest import project_copy_ignore, ROOT
import tiny_reference

from fashionbench.reporting.render import page_problems, remote_references

pytestmark = pytest.mark.slow
#: the metrics files of the first, from-scratch run (later tests change params and re-run)
FIRST_RUN: dict[str, str] = {}
IGNORE = project_copy_ignore(ROOT)


def _run(args: list[str], cwd: Path, timeout: int = 1500) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "FASHIONBENCH_ROOT": str(cwd), "PYTHONUNBUFFERED": "1"}
    res = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{' '.join(args)} failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    return res


def _status(cwd: Path) -> set[str]:
    out = _run(["dvc", "status", "--json"], cwd).stdout
    return set(json.loads(out or "{}"))


def _edit_params(repo: Path, fn) -> None:
    p = yaml.safe_load((repo / "params.yaml").read_text())
    fn(p)
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))


# One row per kind of model (each paper's training path), not all ~30 rows: every stage notebook costs
# 4-7 s of papermill/kernel start-up on 2 cores, so the full row set takes ~10 min even at tiny sizes
# (README "Profiles"). Each paper report must still render (missing rows -> claims "untested").
CI_METHODS = ["baseline", "shang-clothes-512", "shang-classifier", "park-oc-is", "chen-horizontal",
              "zhan-random-m1", "ji-single-gem-mac", "ji-single-gem-spoc"]


def tiny_ci_rows(p: dict) -> None:
    """The CI smoke configuration: profile tiny, a representative subset of rows."""
    p["profile"] = "tiny"
    p["dataset"]["source_dir"] = str(ROOT.parent / "shared" / "data" / "fashion-mnist")
    missing = set(CI_METHODS) - set(p["methods"])
    assert not missing, f"CI_METHODS names rows params.yaml no longer has: {missing}"
    p["methods"] = {k: p["methods"][k] for k in CI_METHODS}
    # exercise the fuse and rerank stages on the baseline's embeddings, and paper ji's whole chain
    p["fusions"] = {"e2e-fusion": {"group": "baseline", "inputs": ["baseline", "baseline"], "kind": "concat"},
                    "ji-concat": p["fusions"]["ji-concat"]}
    p["reranks"] = {"ji-kreciprocal": p["reranks"]["ji-kreciprocal"], "e2e-kr": {
        "group": "baseline", "input": "e2e-fusion", "steps": [
            {"name": "dba", "top_k": 2}, {"name": "k_reciprocal", "k1": 10, "k2": 3, "lambda_value": 0.3}]},
        "e2e-top1": {"group": "baseline", "input": "baseline", "steps": [{"name": "top1", "depth": 10}]}}
    p["triplet_eval"]["methods"] = [m for m in p["triplet_eval"]["methods"] if m in CI_METHODS]
    p["category_eval"]["methods"] = [m for m in p["category_eval"]["methods"] if m in CI_METHODS]
    p["detectors"] = dict(list(p["detectors"].items())[:2])
    # every row, the category classifier and park's included: after 1 epoch they map some images to an
    # all-zero feature (ReLU6 head), which DBA now keeps as a zero row
    p["postprocess_view"]["methods"] = list(CI_METHODS)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Iterator[Path]:
    repo = tmp_path_factory.mktemp("e2e") / "fashionbench"
    shutil.copytree(ROOT, repo, ignore=IGNORE)
    _run(["git", "init", "-q"], repo)

    _edit_params(repo, tiny_ci_rows)
    t0 = time.perf_counter()
    _run(["dvc", "repro"], repo)
    print(f"tiny dvc repro from scratch: {time.perf_counter() - t0:.1f} s")
    FIRST_RUN.update(tiny_reference.metrics_files(repo / "metrics"))  # before any test edits the repo
    yield repo
    # ~1 GB of models, embeddings and DVC cache: free it as soon as this module is done (CI disk)
    shutil.rmtree(repo.parent, ignore_errors=True)


def test_outputs_written(repo):
    metrics = json.loads((repo / "metrics" / "baseline.json").read_text())
    for key in ("mAP", "mAP@10", "top1", "top5", "top10", "top20", "top30", "top40", "top50", "n_queries",
                "n_without_match"):
        assert key in metrics
    assert metrics["n_queries"] > 0 and 0 <= metrics["mAP"] <= 1
    for html in ("reports/comparison.html", "reports/methods/baseline.html"):
        text = (repo / html).read_text()
        assert not remote_references(text) and "<script" not in text
    comparison = (repo / "reports" / "comparison.html").read_text()
    assert "synthetic" in comparison and "shang-1" in comparison and "untested" in comparison
    fused = json.loads((repo / "metrics" / "e2e-fusion.json").read_text())
    assert fused["mAP"] == pytest.approx(metrics["mAP"], abs=1e-6), "a model fused with itself ranks the same"
    assert json.loads((repo / "metrics" / "e2e-kr.json").read_text())["n_queries"] == metrics["n_queries"]
    assert "e2e-kr" in comparison
    for nb in ("prepare", "train-baseline", "embed-baseline", "evaluate-baseline", "fuse-e2e-fusion",
               "rerank-e2e-kr", "comparison"):
        assert (repo / "reports" / "notebooks" / f"{nb}.ipynb").is_file()
    assert not list((repo / "data").rglob("*.cache")), "no ultralytics label cache inside DVC outputs"


def test_detect_and_crops_stages(repo):
    """Issue 4: the detect stage's metrics and crop boxes, the crops@<mode> rows, the report section."""
    det = json.loads((repo / "metrics" / "detect.json").read_text())
    assert {"ap50_wbf_1", "ap50_wbf_2", "ap50_wbf_2_gain_ci_low", "n_fallback_union", "n_fallback_fused"} <= set(det)
    assert not list((repo / "artifacts" / "detect").rglob("*.cache")), "ultralytics label cache in a DVC output"
    assert (repo / "artifacts" / "detect" / "boxes.csv").is_file() and (repo / "reports" / "detect.html").is_file()
    base = json.loads((repo / "metrics" / "baseline.json").read_text())
    for mode in ("given", "detected", "union", "fused"):
        m = json.loads((repo / "metrics" / f"baseline-crop-{mode}.json").read_text())
        assert m["n_queries"] == base["n_queries"]
        assert (repo / "reports" / "notebooks" / f"crops-{mode}.ipynb").is_file()
    # the same trained model with its own crop on both sides ranks exactly as its evaluation did
    given = json.loads((repo / "metrics" / "baseline-crop-given.json").read_text())
    assert given["mAP"] == pytest.approx(base["mAP"], abs=1e-6)
    comparison = (repo / "reports" / "comparison.html").read_text()
    assert "baseline-crop-union" in comparison and "ORACLE" in comparison and "WBF_2" in comparison
    assert not remote_references((repo / "reports" / "detect.html").read_text())


def test_rendered_pages_are_for_readers(repo):
    """Issue 17: every rendered page of the tiny run shows no code, logs, remote resources or machine
    paths and stays within its size bound; the comparison opens with the claims, linked to the
    paper pages, then the leaderboard whose rows link to their own pages, which link back."""
    pages = sorted((repo / "reports").glob("*.html")) + sorted((repo / "reports" / "methods").glob("*.html"))
    assert len(pages) > 10
    for page in pages:
        assert page_problems(page.read_text(), repo) == [], page.name
    comparison = (repo / "reports" / "comparison.html").read_text()
    first_table = comparison.index("<table")
    assert comparison.find('<table class="claims"') == first_table, "the claims table comes first"
    assert '<a href="shang.html#shang-1">shang-1</a>' in comparison
    assert comparison.index('id="Leaderboard"') < comparison.index("Every row in detail")
    assert '<a href="methods/baseline.html">baseline</a>' in comparison
    baseline = (repo / "reports" / "methods" / "baseline.html").read_text()
    assert 'href="../comparison.html#Leaderboard"' in baseline and "<title>baseline</title>" in baseline
    assert 'id="shang-1"' in (repo / "reports" / "shang.html").read_text()
    assert 'href="comparison.html"' in (repo / "reports" / "detect.html").read_text()


def test_second_repro_is_noop(repo):
    t0 = time.perf_counter()
    out = _run(["dvc", "repro"], repo).stdout
    print(f"no-op dvc repro: {time.perf_counter() - t0:.1f} s")
    assert "Running stage" not in out
    assert _status(repo) == set()


def test_param_change_invalidates_only_that_method(repo):
    original = (repo / "params.yaml").read_text()
    try:
        _edit_params(repo, lambda p: p["methods"]["baseline"].update(lr=0.0005))
        changed = _status(repo)
        assert "train@baseline" in changed
        assert "prepare" not in changed and "evaluate@baseline" not in changed
        (repo / "params.yaml").write_text(original)

        def add(p):
            p["methods"]["baseline2"] = {**p["methods"]["baseline"], "lr": 0.002}
        _edit_params(repo, add)
        changed = _status(repo)
        assert {"train@baseline2", "embed@baseline2", "evaluate@baseline2"} <= changed
        assert not {"prepare", "train@baseline", "embed@baseline", "evaluate@baseline"} & changed
    finally:
        (repo / "params.yaml").write_text(original)
    assert _status(repo) == set()


def test_paper_reports_render_with_a_subset_of_rows(repo):
    """Each paper report renders offline from the CI subset; rows it lacks make claims untested, not errors."""
    papers = yaml.safe_load((repo / "params.yaml").read_text())["papers"]
    for paper in papers:
        text = (repo / "reports" / f"{paper}.html").read_text()
        assert not remote_references(text) and "<script" not in text
        assert "synthetic" in text and ("holds" in text or "untested" in text or "unclear" in text)
    for row in ("ji-concat", "ji-kreciprocal"):   # paper ji's chain: singles -> concatenation -> re-rank
        assert json.loads((repo / "metrics" / f"{row}.json").read_text())["n_queries"] > 0
    assert "ji-kreciprocal" in (repo / "reports" / "ji.html").read_text()
    top1 = json.loads((repo / "metrics" / "e2e-top1.json").read_text())
    base = json.loads((repo / "metrics" / "baseline.json").read_text())
    assert top1["top1"] == pytest.approx(base["top1"], abs=1e-9), "the top-1 re-rank keeps every query's top-1"


def test_tiny_metrics_match_the_committed_reference(repo):
    """Every metrics file of the CI subset's run from scratch equals one committed reference under
    tests/data/tiny-metrics/<cpu kind>/ (issue 18; one per CPU kind, see tiny_reference). A trusted run
    writes this CPU kind's with FASHIONBENCH_WRITE_TINY_REFERENCE=1 (docs/budgets.md)."""
    got = dict(FIRST_RUN)
    assert got, "no metrics from the first run"
    if os.environ.get("FASHIONBENCH_WRITE_TINY_REFERENCE") == "1":
        folder = tiny_reference.write(got)
        pytest.skip(f"reference rewritten: {len(got)} files in {folder}")
    refs = tiny_reference.references()
    name, problems = tiny_reference.best_match(got, refs, tol=tiny_reference.CROSS_CPU_TOL)
    assert not problems, (f"the tiny run reproduces none of the references {sorted(refs)} (this CPU: "
                          f"{tiny_reference.cpu_kind()}); closest, {name}:\n" + "\n".join(problems))
    print(f"tiny run reproduces reference {name} (this CPU: {tiny_reference.cpu_kind()})")
    drift = tiny_reference.near(got, refs[name], tiny_reference.CROSS_CPU_TOL)
    if drift:  # visible in the test summary: same code, another CPU's rounding (tiny_reference.CROSS_CPU_TOL)
        warnings.warn(f"the tiny run matches reference {name} only within "
                      f"{tiny_reference.CROSS_CPU_TOL}:\n" + "\n".join(drift))
