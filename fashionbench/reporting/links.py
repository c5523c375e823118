"""Links between the rendered pages: ``reports/comparison.html``, ``reports/<paper>.html``,
``reports/detect.html`` and each row's ``reports/methods/<row>.html``.

Here, not in :mod:`fashionbench.papers.overview`, because the evaluate stage (which renders the
method pages) depends on ``fashionbench/reporting`` but not on the paper units.
"""

from __future__ import annotations

from typing import Any, Mapping

COMPARISON_PAGE = "comparison.html"


def page_of(paper: str) -> str:
    """The rendered report of paper ``paper`` (a sibling of the comparison page)."""
    return f"{paper}.html"


DETECT_PAGE = "detect.html"
METHODS_FOLDER = "methods"


def nav(params: Mapping[str, Any], current: str | None = None, prefix: str = "") -> str:
    """One line of Markdown linking the comparison page, every paper page and the detect page (when
    the run has detectors), ``current`` in bold; ``prefix`` leads every link (``../`` from a method page).
    A stage that shows it declares ``papers`` and ``detectors`` as params (dvc.yaml)."""
    links = [("comparison", COMPARISON_PAGE)] + [(p, page_of(p)) for p in params.get("papers", [])]
    if params.get("detectors"):
        links.append(("detect", DETECT_PAGE))
    parts = [f"**{name}**" if name == current else f"[{name}]({prefix}{href})" for name, href in links]
    return "Reports: " + " · ".join(parts)


def method_page(name: str) -> str:
    """Row ``name``'s own page, relative to the comparison page."""
    return f"{METHODS_FOLDER}/{name}.html"


def method_nav(params: Mapping[str, Any], name: str) -> str:
    """The links of row ``name``'s own page (``reports/methods/<name>.html``): back to the comparison's
    leaderboard, to the paper page the row belongs to (its name starts with ``<paper>-``) and to the
    other paper pages. It reads only ``params["papers"]``, which the stages rendering method pages
    declare (dvc.yaml), so a page's links change with it."""
    papers = [p for p in params.get("papers", []) if str(name).startswith(f"{p}-")]
    own = "".join(f" · its paper: [{p}](../{page_of(p)})" for p in papers)
    return (f"[← leaderboard](../{COMPARISON_PAGE}#Leaderboard){own}  \n"
            + nav({"papers": params.get("papers", [])}, None, prefix="../"))
