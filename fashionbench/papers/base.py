"""The building blocks of a paper unit: quoted tables and claim specifications.

A paper unit (``fashionbench/papers/<id>/``) declares one :class:`Paper`: its quoted tables (every
number copied from the paper in ``shared/papers/``, labelled "quoted" in the reports; ``ours`` names
the evaluated row that stands beside it) and its :class:`ClaimSpec` list. Nothing here is a result
of ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Comparison:
    """``a`` versus ``b`` (method names or globs) under relation ``kind``."""

    a: str
    b: str
    kind: str = "gt"
    margin: float = 0.0  # equivalence margin of "not_gt" / "neutral" (metric units), see papers.claims


@dataclass(frozen=True)
class ClaimSpec:
    """One claim of a paper (ids and texts as in ``shared/papers/README.md``)."""

    id: str
    paper: str
    text: str
    metric: str
    comparisons: tuple[Comparison, ...]
    needs: str = ""  # what else the claim needs (shown when untested)
    scores: str = "per_query"  # table kind: "per_query", or e.g. "per_triplet" (module docstring)
    unit: str = "query_id"  # column pairing the rows of two methods
    cluster: str | None = "item_id"  # column whose groups the bootstrap resamples together (None: rows)
    rests_on: tuple[str, ...] = ()  # other rows (globs) the arms are built from: each must have learned
    note: str = ""  # where our test departs from the paper's (shown beside the verdict)


@dataclass(frozen=True)
class TableRow:
    """One row of a paper table: its label, the quoted values, and our counterpart."""

    label: str
    quoted: dict[str, float]
    ours: str | None = None
    note: str = ""


@dataclass(frozen=True)
class PaperTable:
    """A paper table; ``columns`` maps each quoted column to our metrics-file key."""

    name: str
    caption: str
    columns: dict[str, str]
    rows: tuple[TableRow, ...]
    percent: bool = False  # quoted values in %, ours are shown x100 for the comparison
    metrics_file: str | None = None  # ours read from metrics/<file>.json instead of per-row files


@dataclass(frozen=True)
class Paper:
    """A reproduced paper: id, title, its data and metric, and its tables."""

    id: str
    title: str
    data: str
    metric: str
    tables: tuple[PaperTable, ...] = field(default_factory=tuple)
    notes: str = ""
    claims: tuple[ClaimSpec, ...] = field(default_factory=tuple)


@dataclass
class ReportContext:
    """What a paper unit's report sections read: the run's params and the loaded results."""

    paper: str
    params: dict
    root: Path
    names: list[str]
    metrics: Any
    per_query: dict
    mine: list[str]
    n_boot: int
    seed: int
    n_examples: int = 8
