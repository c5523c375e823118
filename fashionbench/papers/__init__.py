"""The reproduced papers, one self-contained unit each (``papers/<id>/``): quoted tables and claims
(``__init__.py``), report sections (``report.py``), paper-specific code, a README.

``fashionbench.papers.paper(id)``, ``PAPERS`` and ``CLAIMS`` come from :mod:`fashionbench.papers.registry`.
"""
from __future__ import annotations

from fashionbench.papers.registry import CLAIMS, PAPERS, UNITS, paper

__all__ = ["CLAIMS", "PAPERS", "UNITS", "paper"]
