"""The prepare stage on real-dataset fixtures: `dataset.options`, the reader's errors surfaced
unchanged, every bad-input case of issue 8 through the stage, and nothing half-written."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

import fashionbench.data.prepared
import fashionbench.pipeline.prepare
from fashionbench.data.datasets import check_options, load_manifest, reader_options
from fashionbench.data.datasets import inshop as inshop_reader
from fashionbench.core.errors import ConfigError, ContractError

_spec = importlib.util.spec_from_file_location(
    "fb_dataset_fixtures_prepare", Path(__file__).parent / "fixtures" / "datasets" / "make_images.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)

INSHOP = "inshop/In-shop Clothes Retrieval Benchmark"
C2S = "consumer2shop/Consumer-to-shop Clothes Retrieval Benchmark"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder (the stage writes data/prepared under it) with every fixture."""
    monkeypatch.setenv("FASHIONBENCH_ROOT", str(tmp_path))
    (tmp_path / "params.yaml").write_text("{}\n")
    for name in ("inshop", "consumer2shop", "deepfashion2", "street2shop", "manifest"):
        fixtures.materialise(name, tmp_path / "datasets")
    return tmp_path


def _params(name: str, root: str | None, options: dict | None = None, protocol: dict | None = None) -> dict:
    return {"seed": 0, "profile": "tiny", "profiles": {"tiny": {"dataset": {"n_train_items": 3}}},
            "dataset": {"name": name, "root": root, "options": options or {}, "protocol": protocol or {}},
            "methods": {}}


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert text.count(old) >= count, old
    path.write_text(text.replace(old, new, count))


def test_reader_options_and_unknown_option():
    assert reader_options("deepfashion2") == {"splits": ("train", "validation"), "check_files": True,
                                              "read_sizes": False, "orphan_queries": "keep"}
    assert set(reader_options("street2shop")) == {"categories", "gallery_exclude_train_products",
                                                  "skip_incomplete_products", "orphan_queries"}
    assert reader_options("fmnist-c2s") == {}
    assert check_options("street2shop", {"categories": ["footwear"]}) == {"categories": ("footwear",)}
    with pytest.raises(ConfigError, match=r"dataset\.options\.split: dataset 'deepfashion2' has no such option; "
                                          r"its reader accepts \['check_files', 'orphan_queries', 'read_sizes', "
                                          r"'splits'\]"):
        check_options("deepfashion2", {"split": ["validation"]})
    with pytest.raises(ConfigError, match=r"dataset\.options\.splits: must be a list, e\.g\. \[validation\]"):
        check_options("deepfashion2", {"splits": "validation"})
    with pytest.raises(ConfigError, match=r"dataset\.options\.check_files: must be true or false, got 'no'"):
        check_options("inshop", {"check_files": "no"})
    with pytest.raises(ConfigError, match=r"dataset\.options: must be a mapping"):
        check_options("inshop", ["check_files"])


def test_options_reach_the_reader(project):
    card = fashionbench.pipeline.prepare.prepare(_params("street2shop", "datasets/street2shop", {"categories": ["footwear"]}), progress=False)
    manifest, _ = fashionbench.data.prepared.load_dataset()
    assert set(manifest["subcategory"]) == {"footwear"} and card["config"]["options"] == {"categories": ["footwear"]}
    fashionbench.pipeline.prepare.prepare(_params("deepfashion2", "datasets/deepfashion2", {"splits": ["validation"], "read_sizes": True}),
                   progress=False)
    manifest, _ = fashionbench.data.prepared.load_dataset()
    assert "train" not in set(manifest["split"]) and manifest["width"].notna().all()
    assert json.loads((project / "data/prepared/dataset.json").read_text())["config"]["options"]["splits"] == [
        "validation"]
    with pytest.raises(ConfigError, match=r"dataset\.options\.bogus"):
        fashionbench.pipeline.prepare.prepare(_params("inshop", INSHOP.replace("inshop", "datasets/inshop", 1), {"bogus": 1}), progress=False)
    with pytest.raises(ConfigError, match=r"dataset\.options: fmnist-c2s takes no reader options"):
        fashionbench.pipeline.prepare.prepare(_params("fmnist-c2s", "datasets", {"splits": ["x"]}), progress=False)


def test_card_root_relative_inside_the_project_absolute_outside(project, tmp_path_factory):
    card = fashionbench.pipeline.prepare.prepare(_params("inshop", f"datasets/{INSHOP}"), progress=False)
    assert card["images_root"] == f"../../datasets/{INSHOP}"
    manifest, images_root = fashionbench.data.prepared.load_dataset()
    assert images_root == (project / "datasets" / INSHOP).resolve() and (images_root / manifest["path"][0]).is_file()
    assert card["protocol"]["dataset"] == "inshop" and card["counts"]["query_images"] == 2
    outside = fixtures.materialise("inshop", tmp_path_factory.mktemp("elsewhere")) / INSHOP.split("/", 1)[1]
    card = fashionbench.pipeline.prepare.prepare(_params("inshop", str(outside)), progress=False)
    assert card["images_root"] == str(outside)


def test_generic_manifest_protocol_override_is_recorded(project):
    card = fashionbench.pipeline.prepare.prepare(_params("manifest", "datasets/manifest", protocol={"gallery_scope": "category"}),
                          progress=False)
    assert card["protocol"]["gallery_scope"] == "category" and card["protocol"]["category_column"] == "category"
    with pytest.raises(ConfigError, match=r"dataset\.protocol\.gallery_scope: .* has no column 'brand'"):
        fashionbench.pipeline.prepare.prepare(_params("manifest", "datasets/manifest", protocol={"gallery_scope": "brand"}), progress=False)


def test_missing_root_surfaces_the_readers_error_unchanged(project):
    with pytest.raises(ConfigError) as reader_error:
        inshop_reader.load(project / "datasets" / "nowhere")
    with pytest.raises(ConfigError) as stage_error:
        fashionbench.pipeline.prepare.prepare(_params("inshop", "datasets/nowhere"), progress=False)
    assert str(stage_error.value) == str(reader_error.value)
    msg = str(stage_error.value)
    assert "Eval/list_eval_partition.txt" in msg and "Anno/list_bbox_inshop.txt" in msg and inshop_reader.PAGE in msg
    with pytest.raises(ConfigError, match=r"dataset\.root: dataset 'inshop' needs the folder"):
        fashionbench.pipeline.prepare.prepare(_params("inshop", None), progress=False)
    assert not (project / "data" / "prepared").exists()


# Every bad-input case of issue 8, through the stage: (fixture root, file, old, new, error).
BAD = {
    "truncated annotation file": (INSHOP, "Eval/list_eval_partition.txt",
                                  "img/WOMEN/Blouses_Shirts/id_00000001/02_7_additional.jpg", "",
                                  r"list_eval_partition\.txt:\d+: expected 3 whitespace-separated columns"),
    "truncated count": (C2S, "Anno/list_bbox_consumer2shop.txt", "12\n", "13\n",
                        r"list_bbox_consumer2shop\.txt:1: the count line says 13 data rows but the file holds 12"),
    "truncated json": ("deepfashion2", "validation/annos/000003.json", "}", "",
                       r"validation/annos/000003\.json:\d+: malformed JSON"),
    "x2 < x1": (INSHOP, "Anno/list_bbox_inshop.txt", "065  045  233", "065  045  033",
                r"list_bbox_inshop\.txt:4: inverted box x1,y1,x2,y2=65,45,33,252"),
    "x2 < x1 (street2shop width < 0)": ("street2shop", "meta/json/test_pairs_dresses.json",
                                       '"width": 200', '"width": -200',
                                       r"test_pairs_dresses\.json\[\d+\]: inverted box"),
    "image listed but missing": (INSHOP, None, "Img/img/MEN/Denim/id_00000080/01_2_side.jpg", None,
                                 r"list_eval_partition\.txt:6: image 'img/MEN/Denim/id_00000080/01_2_side\.jpg' "
                                 r"is listed but .* does not exist"),
    "query item without gallery match": (INSHOP, "Eval/list_eval_partition.txt", "id_00000080 gallery",
                                         "id_00000080 query",
                                         r"list_eval_partition\.txt:5 \(item 'df_inshop:id_00000080'\): 3 query", 2),
    "query without gallery match (manifest)": ("manifest", "manifest.csv", "jd:g0002-1,images/gallery/0002_1.jpg,jd:0002",
                                               "jd:g0002-1,images/gallery/0002_1.jpg,jd:0099",
                                               r"manifest\.csv:10 \(item 'jd:0002'\): 1 query row\(s\) have no "
                                               r"gallery image"),
    "path escapes the root": (C2S, "Eval/list_eval_partition.txt", "img/TOPS/Blouse/id_00000900/comsumer_01.jpg",
                              "img/../../x/comsumer_01.jpg", r"list_eval_partition\.txt:9: path .* escapes"),
    "path escapes the root (manifest)": ("manifest", "manifest.csv", "images/query/0001.jpg", "../0001.jpg",
                                         r"'path' that is absolute or escapes.*line 9\), uid='jd:q0001'"),
    "mixed separators": (INSHOP, "Eval/list_eval_partition.txt", "img/MEN/Denim/id_00000080/01_1_front.jpg",
                         "img/MEN\\Denim/id_00000080/01_1_front.jpg",
                         r"list_eval_partition\.txt:5: path .* uses '\\' separators"),
}


@pytest.mark.parametrize("with_previous", [False, True], ids=["first-run", "over-a-good-run"])
@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_through_prepare_names_file_and_line_and_writes_nothing(project, case, with_previous):
    rel, file, old, new, message, *count = BAD[case]
    name = rel.split("/")[0]  # the fixture folders are named like the datasets
    params = _params(name, f"datasets/{rel}")
    prepared = project / "data" / "prepared"
    before: dict[str, str] = {}
    if with_previous:
        fashionbench.pipeline.prepare.prepare(params, progress=False)
        before = _tree(prepared)
        assert before
    root = project / "datasets" / rel
    if file is None:
        (root / old).unlink()
    else:
        _edit(root / file, old, new, *count)
    with pytest.raises(ContractError, match=message):
        fashionbench.pipeline.prepare.prepare(params, progress=False)
    if with_previous:
        assert _tree(prepared) == before, "the previous prepared dataset is untouched"
    else:
        assert not prepared.exists()
    if prepared.parent.exists():
        assert not list(prepared.parent.glob(".tmp-*")), "no temp folder left behind"


def test_documented_skip_cases_are_counted_in_the_card(project):
    card = fashionbench.pipeline.prepare.prepare(_params("street2shop", "datasets/street2shop"), progress=False)
    assert card["counts"]["skipped: street photos missing (test)"] == 1
    assert card["counts"]["skipped: queries without a gallery match (dropped)"] == 1
    # check_files: false (dry runs) skips the stat of every image, in the reader and in the stage
    (project / "datasets" / INSHOP / "Img/img/MEN/Denim/id_00000080/01_2_side.jpg").unlink()
    card = fashionbench.pipeline.prepare.prepare(_params("inshop", f"datasets/{INSHOP}", {"check_files": False}), progress=False)
    assert card["counts"]["images"] == 8


def test_load_manifest_keeps_the_load_report(project):
    df = load_manifest("consumer2shop", project / "datasets" / C2S)
    assert df.attrs["load_report"]["skipped"]["consumer images of 'val' pairs (not in the query/gallery protocol)"] == 2


def test_optional_numeric_columns_with_gaps_read_back_as_nan(project):
    # Street2Shop street photos have no width/height: the prepared manifest must give NaN, not ""
    fashionbench.pipeline.prepare.prepare(_params("street2shop", "datasets/street2shop", {"gallery_exclude_train_products": True}),
                   progress=False)
    manifest, _ = fashionbench.data.prepared.load_dataset()
    assert manifest["width"].dtype.kind == "f" and manifest["height"].dtype.kind == "f"
    street = manifest["domain"] == "consumer"
    assert manifest.loc[street, "width"].isna().all() and manifest.loc[~street, "width"].notna().all()


def test_fmnist_c2s_root_is_a_stamp_folder_that_may_hold_the_source(project):
    from conftest import ROOT, TINY_BUILD
    from fashionbench.data.datasets.fmnist_source import CONTENT_SHA256, candidate_dirs

    source = next((d for d in candidate_dirs(None, ROOT) if all((d / f).is_file() for f in CONTENT_SHA256)), None)
    if source is None:
        pytest.skip("no Fashion-MNIST copy on this machine")
    stamp = project / "datasets" / "fmnist-c2s"
    stamp.mkdir()
    params = _params("fmnist-c2s", "datasets/fmnist-c2s")
    params["profiles"]["tiny"]["dataset"] = {k: v for k, v in TINY_BUILD.items() if k != "seed"}
    if not any(all((d / f).is_file() for f in CONTENT_SHA256) for d in candidate_dirs(None, project)):
        with pytest.raises(ConfigError, match=r"Or put the four files in .*datasets/fmnist-c2s \(dataset\.root\)"):
            fashionbench.pipeline.prepare.prepare(params, progress=False)  # the temp project has no ../shared copy
    for f in CONTENT_SHA256:
        (stamp / f).write_bytes((source / f).read_bytes())
    card = fashionbench.pipeline.prepare.prepare(params, progress=False)
    assert card["source"]["folder"] == str(stamp) and "protocol" not in card  # no override: the card is as before
    params["dataset"]["protocol"] = {"category_column": "subcategory"}
    fashionbench.pipeline.prepare.prepare(params, progress=False)
    assert json.loads((project / "data/prepared/dataset.json").read_text())["protocol"]["category_column"] == "subcategory"
