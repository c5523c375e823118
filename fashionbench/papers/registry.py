"""The papers this suite reproduces: one unit per paper (``fashionbench/papers/<id>/``).

Adding a paper: copy a unit folder, give its ``PAPER`` a new id, and add the id to ``UNITS`` and to
``papers:`` in params.yaml (docs/adding-a-paper.md).
"""

from __future__ import annotations

from fashionbench.core.errors import ConfigError
from fashionbench.papers import chen, ji, park, shang, zhan
from fashionbench.papers.base import ClaimSpec, Paper

#: the units in report order
UNITS = (shang, park, chen, zhan, ji)

PAPERS: dict[str, Paper] = {u.PAPER.id: u.PAPER for u in UNITS}

#: every paper's claims, in report order
CLAIMS: tuple[ClaimSpec, ...] = tuple(c for p in PAPERS.values() for c in p.claims)


def paper(paper_id: str) -> Paper:
    """The :class:`Paper` with id ``paper_id`` (ConfigError naming the known ids otherwise)."""
    if paper_id not in PAPERS:
        raise ConfigError(f"paper: unknown paper {paper_id!r}; known: {sorted(PAPERS)}")
    return PAPERS[paper_id]
