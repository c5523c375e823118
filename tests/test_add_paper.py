"""docs/adding-a-paper.md: a copied paper unit with a new id is a complete paper (tables, claims, report sections)."""
from __future__ import annotations

import importlib
import shutil
import sys

import pytest

import fashionbench.papers as papers_pkg
from fashionbench.core.errors import ConfigError
from fashionbench.papers import registry
from fashionbench.pipeline import paper_report



@pytest.fixture
def copied_unit(tmp_path, monkeypatch):
    """papers/ji copied to a new unit ``myji`` (ids replaced), importable as fashionbench.papers.myji."""
    src = next(p for p in papers_pkg.__path__)
    dest = tmp_path / "myji"
    shutil.copytree(f"{src}/ji", dest, ignore=shutil.ignore_patterns("__pycache__"))
    init = (dest / "__init__.py").read_text()
    (dest / "__init__.py").write_text(init.replace('"ji"', '"myji"').replace('"ji-', '"myji-'))
    monkeypatch.setattr(papers_pkg, "__path__", [*papers_pkg.__path__, str(tmp_path)])
    yield importlib.import_module("fashionbench.papers.myji")
    for m in [m for m in sys.modules if m.startswith("fashionbench.papers.myji")]:
        del sys.modules[m]


def test_a_copied_unit_adds_a_paper_with_its_claims_and_sections(copied_unit):
    papers, claims = registry.collect((*registry.UNITS, copied_unit))
    assert list(papers)[-1] == "myji" and len(papers) == len(registry.PAPERS) + 1
    mine = [c.id for c in claims if c.paper == "myji"]
    assert mine == [c.id.replace("ji-", "myji-") for c in registry.paper("ji").claims]
    assert [t.name for t in papers["myji"].tables] == [t.name for t in registry.paper("ji").tables]
    # the report stage finds the unit's own sections by its id
    assert callable(importlib.import_module("fashionbench.papers.myji.report").extra_sections)
    assert paper_report.extra_sections.__module__ == "fashionbench.pipeline.paper_report"


def test_a_unit_that_was_not_renamed_is_refused(copied_unit, monkeypatch):
    with pytest.raises(ConfigError, match="'ji' is already used"):
        registry.collect((*registry.UNITS, importlib.import_module("fashionbench.papers.ji")))
    monkeypatch.setattr(copied_unit, "PAPER", registry.paper("ji").__class__(
        "other", "t", "d", "m", claims=registry.paper("ji").claims))
    with pytest.raises(ConfigError, match="name another paper"):
        registry.collect((*registry.UNITS, copied_unit))


def test_every_paper_in_params_has_a_unit():
    from fashionbench.core import config
    assert set(config.load_params()["papers"]) == set(registry.PAPERS)
