"""End to end on every real-dataset fixture: `dvc repro` of the baseline with `dataset.name` switched.

The documented equivalent of ``dvc exp run -S dataset.name=<name> -S dataset.root=<root>``: a
temp copy of the repo (as in test_pipeline.py) whose params.yaml names the fixture, materialised
in the official layout under ``datasets/<name>``; tiny profile, 1 epoch, 32 px, the baseline only
(``dvc repro evaluate@baseline``: prepare -> train -> embed -> evaluate). Then checks each
dataset's protocol in the outputs, and that a change under ``dataset.root`` re-runs prepare.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import project_copy_ignore, ROOT

pytestmark = pytest.mark.slow
_IGNORE = project_copy_ignore(ROOT)


def IGNORE(folder: str, names: list[str]) -> set[str]:
    """test_pipeline.py's patterns, plus the top-level datasets/ (local copies of real data)."""
    return set(_IGNORE(folder, names)) | ({"datasets"} if Path(folder) == ROOT else set())
_spec = importlib.util.spec_from_file_location(
    "fb_dataset_fixtures_e2e", ROOT / "tests" / "fixtures" / "datasets" / "make_images.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)

#: dataset.name -> (root inside datasets/, dataset.options, dataset.protocol, expected n_queries + n_without_match)
CASES: dict[str, tuple[str, dict, dict, int]] = {
    "inshop": ("inshop/In-shop Clothes Retrieval Benchmark", {}, {}, 2),
    "consumer2shop": ("consumer2shop/Consumer-to-shop Clothes Retrieval Benchmark", {}, {}, 2),
    "deepfashion2": ("deepfashion2", {}, {}, 3),
    # the fixture has one usable street training photo: move product 1's shop photos to train
    "street2shop": ("street2shop", {"gallery_exclude_train_products": True}, {}, 3),
    "manifest": ("manifest", {}, {"gallery_scope": "category"}, 3),
}


def _run(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "FASHIONBENCH_ROOT": str(cwd), "PYTHONUNBUFFERED": "1"}
    res = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{' '.join(args)} failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    return res


def copy_repo(dst: Path) -> Path:
    """A copy of the project without outputs, caches or local datasets (but with the
    fmnist-c2s stamp folder), as a fresh git repository."""
    shutil.copytree(ROOT, dst, ignore=IGNORE)
    shutil.copytree(ROOT / "datasets" / "fmnist-c2s", dst / "datasets" / "fmnist-c2s")
    _run(["git", "init", "-q"], dst)
    return dst


def baseline_only(p: dict, name: str, root: str, options: dict, protocol: dict) -> None:
    """params.yaml of the e2e run: tiny profile, the fixture as dataset, the baseline only."""
    p["profile"] = "tiny"
    p["dataset"].update(name=name, root=root, options=options, protocol=protocol)
    p["profiles"]["tiny"]["train"].update(img_size=32, epochs=1)
    p["profiles"]["tiny"]["eval"].update(n_boot=50, n_examples=2)
    p["methods"] = {"baseline": p["methods"]["baseline"]}
    p["fusions"], p["reranks"] = {}, {}
    for block in ("triplet_eval", "category_eval"):  # their rows are gone: a params file must name only its rows
        if p.get(block):
            p[block]["methods"] = []
    if p.get("detectors"):  # the detect stage is upstream of every train (crop boxes): one detector is enough here
        first = next(iter(p["detectors"]))
        p["detectors"] = {first: p["detectors"][first]}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("e2e-datasets") / "template")


@pytest.mark.parametrize("name", list(CASES))
def test_baseline_end_to_end_on_fixture(template: Path, tmp_path: Path, name: str) -> None:
    rel_root, options, protocol, n_test_queries = CASES[name]
    repo = tmp_path / "fashionbench"
    shutil.copytree(template, repo, symlinks=True)
    fixtures.materialise(rel_root.split("/")[0], repo / "datasets")
    root = f"datasets/{rel_root}"
    p = yaml.safe_load((repo / "params.yaml").read_text())
    baseline_only(p, name, root, options, protocol)
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))

    t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    _run(["dvc", "repro", "evaluate@baseline"], repo)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"{name}: dvc repro evaluate@baseline {time.perf_counter() - t0:.1f} s wall, "
          f"{r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime:.1f} s CPU")

    card = json.loads((repo / "data" / "prepared" / "dataset.json").read_text())
    assert card["name"] == name and card["synthetic"] is False and card["protocol"]["dataset"] == name
    assert not Path(card["images_root"]).is_absolute(), "a root inside the project is stored relative"
    metrics = json.loads((repo / "metrics" / "baseline.json").read_text())
    assert metrics["n_queries"] + metrics["n_without_match"] == n_test_queries and 0 <= metrics["mAP"] <= 1
    proto = json.loads((repo / "metrics" / "protocol" / "baseline.json").read_text())
    cats = sorted(k.split("/", 1)[1] for k in proto if k.startswith("n_queries/"))
    assert sum(proto[f"n_queries/{c}"] + proto[f"n_without_match/{c}"] for c in cats) == n_test_queries
    scored = [c for c in cats if proto[f"n_queries/{c}"]]
    weighted = sum(proto[f"top10/{c}"] * proto[f"n_queries/{c}"] for c in scored) / metrics["n_queries"]
    assert weighted == pytest.approx(metrics["top10"])

    ranking = np.load(repo / "artifacts" / "rankings" / "baseline.npz")
    if name in ("street2shop", "manifest"):  # scoped gallery: every listed item is in the query's group
        manifest = __import__("pandas").read_csv(repo / "data" / "prepared" / "manifest.csv")
        col = "subcategory" if name == "street2shop" else "category"
        group = dict(zip(manifest["uid"], manifest[col]))
        for qid, row in zip(ranking["query_ids"], ranking["indices"]):
            listed = [group[ranking["gallery_ids"][i]] for i in row if i >= 0]
            assert listed and set(listed) == {group[qid]}
    if name == "street2shop":
        assert set(cats) == {"dresses", "footwear"}
        assert card["counts"]["skipped: street photos missing (test)"] == 1
    if name == "deepfashion2":
        # official Track-2 rule with ground-truth boxes (crop: given): N counts every style > 0 query item
        assert proto["official/n_queries"] == 3 and proto["official/n_missed"] == 0
        assert proto["official/top20"] == pytest.approx(
            metrics["top20"] * metrics["n_queries"] / proto["official/n_queries"])

    # the raw dataset is a DVC dependency of prepare: a new or changed file under the root re-runs it
    assert "prepare" not in json.loads(_run(["dvc", "status", "--json", "prepare"], repo).stdout or "{}")
    (repo / root / "NOTE.txt").write_text("changed\n")
    assert "prepare" in json.loads(_run(["dvc", "status", "--json", "prepare"], repo).stdout or "{}")
