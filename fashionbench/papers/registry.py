"""The papers this suite reproduces: one unit per paper (``fashionbench/papers/<id>/``).

Adding a paper: copy a unit folder, give its ``PAPER`` a new id, and add the id to ``UNITS`` and to
``papers:`` in params.yaml (docs/adding-a-paper.md).
"""

from __future__ import annotations

from types import ModuleType
from typing import Sequence

from fashionbench.core.errors import ConfigError
from fashionbench.papers import chen, ji, park, shang, zhan
from fashionbench.papers.base import ClaimSpec, Paper

#: the units in report order
UNITS = (shang, park, chen, zhan, ji)


def collect(units: Sequence[ModuleType]) -> tuple[dict[str, Paper], tuple[ClaimSpec, ...]]:
    """The papers of ``units`` (modules with a ``PAPER``) and all their claims, checked: paper ids and
    claim ids are unique, and every claim names its own paper."""
    papers: dict[str, Paper] = {}
    for u in units:
        p = getattr(u, "PAPER", None)
        if not isinstance(p, Paper):
            raise ConfigError(f"{u.__name__}: a paper unit must define PAPER = Paper(...)")
        if p.id in papers:
            raise ConfigError(f"{u.__name__}: paper id {p.id!r} is already used")
        wrong = [c.id for c in p.claims if c.paper != p.id]
        if wrong:
            raise ConfigError(f"{u.__name__}: claims {wrong} name another paper than {p.id!r}")
        papers[p.id] = p
    claims = tuple(c for p in papers.values() for c in p.claims)
    dup = sorted({c.id for c in claims if sum(d.id == c.id for d in claims) > 1})
    if dup:
        raise ConfigError(f"claim ids used twice: {dup}")
    return papers, claims


PAPERS, CLAIMS = collect(UNITS)


def paper(paper_id: str) -> Paper:
    """The :class:`Paper` with id ``paper_id`` (ConfigError naming the known ids otherwise)."""
    if paper_id not in PAPERS:
        raise ConfigError(f"paper: unknown paper {paper_id!r}; known: {sorted(PAPERS)}")
    return PAPERS[paper_id]
