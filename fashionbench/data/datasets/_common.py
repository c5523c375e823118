"""Helpers shared by the real-dataset readers (In-Shop, Consumer-to-Shop, DeepFashion2, Street2Shop).

Everything here streams: annotation files are read line by line (or one JSON file at a time),
image files are only ``stat``-ed (or, where a reader needs the image size, opened lazily so
that only the header is parsed; pixels are never decoded).

Error convention: bad input raises :class:`~fashionbench.errors.ContractError` whose message
starts with ``<file>:<line>:`` (or ``<file>[<index>]:`` / ``<file>#<key>:`` for JSON), and a
missing dataset raises :class:`~fashionbench.errors.ConfigError` naming every expected file and
the official page to get it from. Rows the official protocol drops are *counted* in a
:class:`LoadReport`, logged, and attached to the returned DataFrame as ``df.attrs["load_report"]``.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Iterator, Literal, Sequence

import numpy as np
import pandas as pd

from fashionbench.core.errors import ConfigError, ContractError

logger = logging.getLogger("fashionbench.data.datasets")

#: what to do with query rows whose ``item_id`` has no gallery row
OrphanPolicy = Literal["error", "skip", "keep"]
ORPHAN_POLICIES: tuple[str, ...] = ("error", "skip", "keep")

#: manifest columns in the order the readers emit them (extra native columns follow)
COLUMN_ORDER: tuple[str, ...] = (
    "uid", "path", "item_id", "category", "subcategory", "domain", "split",
    "x1", "y1", "x2", "y2", "gt_x1", "gt_y1", "gt_x2", "gt_y2", "width", "height",
    "pair_id", "style", "source")


# ----------------------------------------------------------------------------- reporting

@dataclass
class LoadReport:
    """Counts of rows a reader dropped on purpose (with the first example of each reason)."""

    dataset: str
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)

    def skip(self, reason: str, where: str, n: int = 1) -> None:
        """Count ``n`` rows dropped for ``reason``; remember the first ``where`` for the log."""
        if n <= 0:
            return
        self.skipped[reason] = self.skipped.get(reason, 0) + n
        self.examples.setdefault(reason, where)

    def attach(self, df: pd.DataFrame) -> pd.DataFrame:
        """Log the split sizes and skip counts; store them in ``df.attrs['load_report']``."""
        splits = {str(k): int(v) for k, v in df["split"].value_counts().sort_index().items()} if len(df) else {}
        domains = {str(k): int(v) for k, v in df["domain"].value_counts().sort_index().items()} if len(df) else {}
        logger.info("%s: %d rows; splits %s; domains %s", self.dataset, len(df), splits, domains)
        for reason, n in sorted(self.skipped.items()):
            logger.warning("%s: skipped %d row(s): %s (first: %s)", self.dataset, n, reason, self.examples[reason])
        df.attrs["load_report"] = {"dataset": self.dataset, "rows": int(len(df)), "splits": splits,
                                   "domains": domains, "skipped": dict(sorted(self.skipped.items()))}
        return df


# ----------------------------------------------------------------------------- files

def require_layout(root: str | os.PathLike, dataset: str, files: Sequence[str], dirs: Sequence[str],
                   page: str, note: str = "") -> Path:
    """Check that ``root`` holds every file in ``files`` and folder in ``dirs``; return ``root``.

    Raises :class:`ConfigError` listing the full expected layout, what is missing, and the
    official page (fashionbench never redistributes these datasets).
    """
    rootp = Path(root)
    if not rootp.is_dir():
        missing = ["(the root folder itself)"]
    else:
        missing = [f for f in files if not (rootp / f).is_file()] + [d + "/" for d in dirs if not (rootp / d).is_dir()]
    if missing:
        expected = "\n".join([f"  {rootp / f}" for f in files] + [f"  {rootp / d}/" for d in dirs])
        raise ConfigError(
            f"{dataset}: dataset not found or incomplete under {str(rootp)!r}; missing: {', '.join(missing)}.\n"
            f"Expected:\n{expected}\n{note + chr(10) if note else ''}"
            f"Download it from the official page {page} (fashionbench does not redistribute it) "
            f"and pass the folder that holds the files above as the dataset root.")
    return rootp


def check_rel_path(rel: str, where: str) -> str:
    """Return ``rel`` if it is a clean POSIX path inside the root, else raise :class:`ContractError`."""
    if "\\" in rel:
        raise ContractError(f"{where}: path {rel!r} uses '\\' separators; the official files use '/'")
    parts = rel.split("/")
    if PurePosixPath(rel).is_absolute() or ".." in parts or rel.startswith("~"):
        raise ContractError(f"{where}: path {rel!r} is absolute or escapes the dataset root")
    if "" in parts or "." in parts:
        raise ContractError(f"{where}: path {rel!r} is not a normalised relative path")
    return rel


def check_image(root: Path, rel: str, where: str) -> None:
    """Raise :class:`ContractError` if the image ``root/rel`` does not exist (one ``stat``)."""
    if not os.path.isfile(os.path.join(root, rel)):
        raise ContractError(f"{where}: image {rel!r} is listed but {root / rel} does not exist")


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image read from its header only (no pixel decoding)."""
    from PIL import Image  # local import: only the readers that need sizes pay for PIL

    with Image.open(path) as im:
        return int(im.size[0]), int(im.size[1])


# ----------------------------------------------------------------------------- parsing

def parse_number(tok: Any, where: str, what: str) -> float:
    """``float(tok)`` that must be finite; ``ContractError`` naming ``where`` and ``what`` otherwise."""
    if isinstance(tok, bool):
        raise ContractError(f"{where}: {what} must be a number, got {tok!r}")
    try:
        v = float(tok)
    except (TypeError, ValueError):
        raise ContractError(f"{where}: {what} must be a number, got {tok!r}") from None
    if not math.isfinite(v):
        raise ContractError(f"{where}: {what} must be finite, got {tok!r}")
    return v


def parse_int(tok: Any, where: str, what: str) -> int:
    """``int(tok)`` (zero-padded strings allowed); ``ContractError`` naming ``where`` otherwise."""
    if isinstance(tok, bool):
        raise ContractError(f"{where}: {what} must be an integer, got {tok!r}")
    if isinstance(tok, int):
        return tok
    if isinstance(tok, str):
        try:
            return int(tok)
        except ValueError:
            pass
    raise ContractError(f"{where}: {what} must be an integer, got {tok!r}")


def check_box(box: Sequence[float], where: str) -> bool:
    """Validate an (x1, y1, x2, y2) pixel box.

    Raises :class:`ContractError` for negative coordinates or an inverted box (x2 < x1 or
    y2 < y1). Returns ``False`` for a zero-area box (x2 == x1 or y2 == y1), which the manifest
    cannot hold: the caller drops and counts it (the official files contain a few).
    """
    x1, y1, x2, y2 = box
    if x2 < x1 or y2 < y1:
        raise ContractError(f"{where}: inverted box x1,y1,x2,y2={_fmt_box(box)} (x2 < x1 or y2 < y1)")
    if min(x1, y1) < 0:
        raise ContractError(f"{where}: box x1,y1,x2,y2={_fmt_box(box)} has a negative coordinate")
    return x2 > x1 and y2 > y1


def _fmt_box(box: Sequence[float]) -> str:
    return ",".join(f"{v:g}" for v in box)


def iter_counted_lines(path: Path, ncols: int, has_header: bool = True,
                       first_token_is_path: bool = True) -> Iterator[tuple[int, list[str]]]:
    """Stream a DeepFashion (v1) annotation file as ``(line_number, columns)``.

    Line 1 is the row count, line 2 (if ``has_header``) the column names; columns are runs of
    whitespace-separated tokens (``str.split()``, so padded columns and CRLF endings work).
    Raises :class:`ContractError` naming the file and line for a bad count line, a missing
    header, a data row with the wrong number of columns, and -- once the stream is exhausted --
    a row count different from the count line (a truncated or over-long file). Blank lines are
    ignored.
    """
    with open(path, encoding="utf-8-sig", newline=None) as f:
        first = f.readline()
        toks = first.split()
        if len(toks) != 1 or not toks[0].isdigit():
            raise ContractError(f"{path}:1: expected the row count (one integer) on line 1, got {first.strip()!r}")
        expected = int(toks[0])
        lineno = 1
        if has_header:
            header = f.readline()
            lineno = 2
            htoks = header.split()
            if not htoks:
                raise ContractError(f"{path}:2: missing header line (file truncated after the count line?)")
            if first_token_is_path and "/" in htoks[0]:
                raise ContractError(f"{path}:2: expected the header line (column names), got a data row "
                                    f"{header.strip()[:80]!r}")
        n = 0
        for lineno, line in enumerate(f, start=lineno + 1):
            cols = line.split()
            if not cols:
                continue
            if len(cols) != ncols:
                raise ContractError(f"{path}:{lineno}: expected {ncols} whitespace-separated columns, "
                                    f"got {len(cols)}: {line.strip()[:120]!r}")
            n += 1
            yield lineno, cols
    if n != expected:
        what = "truncated?" if n < expected else "count line too small?"
        raise ContractError(f"{path}:1: the count line says {expected} data rows but the file holds {n} ({what})")


def read_item_list(path: Path) -> set[str]:
    """Read a ``list_item_*.txt`` file (count line, no header, one item id per line)."""
    return {cols[0] for _, cols in iter_counted_lines(path, ncols=1, has_header=False)}


def load_json(path: Path) -> Any:
    """``json.load`` with a :class:`ContractError` naming the file for malformed JSON."""
    import json

    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise ContractError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg}; truncated file?)") from None
    except UnicodeDecodeError as exc:
        raise ContractError(f"{path}: not UTF-8 text ({exc})") from None


def parse_df1_image_name(name: str, where: str) -> str:
    """Check a DeepFashion v1 ``image_name`` (``img/...``) and return its ``<A>/<B>`` category."""
    check_rel_path(name, where)
    parts = name.split("/")
    if parts[0] != "img" or len(parts) < 4:
        raise ContractError(f"{where}: image name {name!r} should look like img/<GROUP>/<Category>/id_XXXXXXXX/<file>")
    return f"{parts[1]}/{parts[2]}"


def read_df1_boxes(path: Path, source_col: bool = False) -> dict[str, tuple]:
    """Read a DeepFashion v1 ``list_bbox_*.txt`` (7 columns) into ``name -> (line, a, b, box, ok)``.

    ``a``/``b`` are the two integer type columns (In-Shop: clothes_type, pose_type;
    Consumer-to-Shop: clothes_type, source_type), ``box`` the (x_1, y_1, x_2, y_2) floats and
    ``ok`` False for a zero-area box (see :func:`check_box`). Duplicated names, out-of-range
    types and bad boxes raise :class:`ContractError` naming the line.
    """
    boxes: dict[str, tuple] = {}
    type_names = ("clothes_type", "source_type" if source_col else "pose_type")
    allowed = ({1, 2, 3}, {1, 2} if source_col else {1, 2, 3, 4, 5, 6})
    for lineno, cols in iter_counted_lines(path, ncols=7):
        where = f"{path}:{lineno}"
        name = cols[0]
        parse_df1_image_name(name, where)
        a, b = (parse_int(cols[i + 1], where, type_names[i]) for i in range(2))
        for v, n, ok in ((a, type_names[0], allowed[0]), (b, type_names[1], allowed[1])):
            if v not in ok:
                raise ContractError(f"{where}: {n} must be one of {sorted(ok)}, got {v}")
        box = tuple(float(parse_int(c, where, k)) for c, k in zip(cols[3:], ("x_1", "y_1", "x_2", "y_2")))
        if name in boxes:
            raise ContractError(f"{where}: image {name!r} already has a box on line {boxes[name][0]}")
        boxes[name] = (lineno, a, b, box, check_box(box, where))
    return boxes


# ----------------------------------------------------------------------------- protocol checks

def append_df1_image(cols: dict[str, list], report: LoadReport, *, img_root: Path, name: str, where: str,
                     entry: tuple, root: Path, bbox: str, check_files: bool, read_sizes: bool,
                     fields: dict[str, Any]) -> bool:
    """Append one DeepFashion (In-Shop / Consumer-to-Shop) image to the column lists ``cols``.

    ``entry`` is the image's :func:`read_df1_boxes` tuple (line, clothes_type, type, box, ok) from
    ``root / bbox``. The
    image is checked on disk when asked; a zero-area box skips it (counted in ``report``, False);
    otherwise ``fields`` (column -> value) and the box are appended (True).
    """
    bline, _, _, box, ok = entry
    if check_files or read_sizes:
        check_image(img_root, name, where)
    if not ok:
        report.skip(f"zero-area box in {bbox}", f"{root / bbox}:{bline}")
        return False
    if read_sizes:
        w, h = image_size(img_root / name)
        cols["width"].append(w)
        cols["height"].append(h)
    for k, v in fields.items():
        cols[k].append(v)
    for k, v in zip(("x1", "y1", "x2", "y2"), box):
        cols[k].append(v)
    return True


def check_orphan_policy(policy: str, param: str = "orphan_queries") -> None:
    """Raise :class:`ConfigError` for an unknown orphan-query policy."""
    if policy not in ORPHAN_POLICIES:
        raise ConfigError(f"{param}: must be one of {list(ORPHAN_POLICIES)}, got {policy!r}")


def apply_orphan_policy(df: pd.DataFrame, policy: OrphanPolicy, report: LoadReport, why: str) -> pd.DataFrame:
    """Handle query rows whose ``item_id`` has no gallery row.

    ``error``: raise :class:`ContractError` naming the first such query (its ``source``);
    ``skip``: drop them and count them in ``report``; ``keep``: keep them (they score as misses)
    and count them under ``queries without a gallery match (kept as misses)``.
    """
    check_orphan_policy(policy)
    if not len(df):
        return df
    is_q = (df["split"] == "query").to_numpy()
    gallery_items = pd.unique(df.loc[df["split"] == "gallery", "item_id"])
    orphan = is_q & ~df["item_id"].isin(gallery_items).to_numpy()
    if not orphan.any():
        return df
    first = df.loc[orphan].iloc[0]
    where = f"{first.get('source', first['uid'])} (item {first['item_id']!r})"
    n = int(orphan.sum())
    if policy == "error":
        raise ContractError(f"{where}: {n} query row(s) have no gallery image of the same item; {why}. "
                            f"Pass orphan_queries='skip' or 'keep' to the reader to override.")
    if policy == "skip":
        report.skip("queries without a gallery match (dropped)", where, n)
        return df.loc[~orphan].reset_index(drop=True)
    report.skip("queries without a gallery match (kept as misses)", where, n)
    return df


def frame(columns: dict[str, Iterable[Any]]) -> pd.DataFrame:
    """Build the manifest DataFrame from column lists, in :data:`COLUMN_ORDER` then the rest."""
    df = pd.DataFrame(columns)
    for c in ("x1", "y1", "x2", "y2", "gt_x1", "gt_y1", "gt_x2", "gt_y2"):
        if c in df.columns:
            df[c] = df[c].astype(np.float64)
    order = [c for c in COLUMN_ORDER if c in df.columns] + [c for c in df.columns if c not in COLUMN_ORDER]
    return df[order]
