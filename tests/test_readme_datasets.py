"""README documents every dataset, and a real-data command for every paper with valid names."""

from __future__ import annotations

import re

import yaml

from conftest import ROOT, readme_section
from fashionbench.datasets import READERS


def test_real_datasets_section_lists_every_reader():
    section = readme_section((ROOT / "README.md").read_text(), "Real datasets")
    for name in READERS:
        assert f"| `{name}` |" in section, name


def test_every_paper_has_a_real_data_command_with_known_dataset_names():
    readme = (ROOT / "README.md").read_text()
    section = readme_section(readme, "Run paper X on its real data on a GPU")
    papers = yaml.safe_load((ROOT / "params.yaml").read_text())["papers"]
    for paper in papers:
        row = next((line for line in section.splitlines() if line.startswith(f"| `{paper}` |")), None)
        assert row is not None, f"no row for paper {paper}"
        names = re.findall(r"dataset\.name=([\w-]+)", row)
        assert names and set(names) <= set(READERS), (paper, names)
    assert "make install EXTRA=gpu" in section and "dvc exp run -S profile=paper" in section
    assert "dvc push" in readme_section(readme, "Data versioning") and "dvc import-url" in readme_section(readme, "Data versioning")
