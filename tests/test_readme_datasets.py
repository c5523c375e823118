"""The docs document every dataset, and a real-data command for every paper with valid names."""

from __future__ import annotations

import re

import yaml

from conftest import ROOT, doc_section
from fashionbench.data.datasets import READERS

#: the pages that hold the dataset sections and the real-data runs (README.md links both)
DATASETS_DOC = "docs/datasets.md"
PAPERS_DOC = "docs/papers.md"


def test_real_datasets_section_lists_every_reader():
    section = doc_section(DATASETS_DOC, "Real datasets")
    for name in READERS:
        assert f"| `{name}` |" in section, name


def test_every_paper_has_a_real_data_command_with_known_dataset_names():
    section = doc_section(PAPERS_DOC, "Run paper X on its real data on a GPU")
    papers = yaml.safe_load((ROOT / "params.yaml").read_text())["papers"]
    for paper in papers:
        row = next((line for line in section.splitlines() if line.startswith(f"| `{paper}` |")), None)
        assert row is not None, f"no row for paper {paper}"
        names = re.findall(r"dataset\.name=([\w-]+)", row)
        assert names and set(names) <= set(READERS), (paper, names)
    assert "make install EXTRA=gpu" in section and "dvc exp run -S profile=paper" in section
    versioning = doc_section(DATASETS_DOC, "Data versioning")
    assert "dvc push" in versioning and "dvc import-url" in versioning


def test_every_paper_has_a_page():
    """Each paper in params.yaml has docs/papers/<id>.md, linked from docs/papers.md."""
    papers = yaml.safe_load((ROOT / "params.yaml").read_text())["papers"]
    index = (ROOT / PAPERS_DOC).read_text(encoding="utf-8")
    for paper in papers:
        assert (ROOT / "docs" / "papers" / f"{paper}.md").is_file(), paper
        assert f"](papers/{paper}.md)" in index, paper
        assert doc_section(f"docs/papers/{paper}.md", f"Paper {paper}")
