"""Stage ``paper_report@<paper>``: the context a paper report reads, and the paper unit's own sections."""

from __future__ import annotations

import importlib
from typing import Any, Mapping

from fashionbench.core import config
from fashionbench.papers.base import ReportContext
from fashionbench.papers.registry import paper as get_paper
from fashionbench.reporting import report


def context(params: Mapping[str, Any], paper_id: str) -> ReportContext:
    """Load every evaluated row's metrics and per-query scores, and the rows that belong to ``paper_id``
    (named ``<paper>-*`` or standing beside a quoted table row)."""
    p = get_paper(paper_id)
    root = config.project_root()
    ev = config.profile_settings(params).get("eval", {})
    names = config.evaluated_names(params)
    metrics = report.load_all_metrics(names, root / "metrics")
    per_query = report.load_per_query(names, root / "artifacts" / "per_query")
    ours = [r.ours for t in p.tables for r in t.rows if r.ours]
    mine = [n for n in names if n.startswith(paper_id + "-") or n in ours]
    return ReportContext(paper=paper_id, params=dict(params), root=root, names=names, metrics=metrics,
                         per_query=per_query, mine=mine, n_boot=int(ev.get("n_boot", 1000)),
                         seed=int(params["seed"]), n_examples=int(ev.get("n_examples", 8)))


def extra_sections(ctx: ReportContext) -> None:
    """The paper unit's own report sections (``fashionbench.papers.<id>.report.extra_sections``)."""
    unit = importlib.import_module(f"fashionbench.papers.{ctx.paper}.report")
    unit.extra_sections(ctx)
