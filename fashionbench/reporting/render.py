"""Render an executed notebook to a compact, self-contained HTML page that opens offline.

A rendered page is for a reader of results, so it shows the notebook's markdown and its displayed
outputs only: no code cells, no parameter cells, no printed logs (stdout/stderr streams). The
executed notebook under ``reports/notebooks/`` keeps all of them for those who want the code.

nbconvert's ``basic`` template gives the cells' HTML without any stylesheet; the page wraps it in
one compact stylesheet of its own (:data:`STYLE`, a few KB instead of JupyterLab's ~210 KB theme in
every page). Every ``<script>`` element is removed (plots are embedded images, tables HTML), and
the page is refused (:class:`ContractError`) if anything in it would load from a remote host or if
it names an absolute path of the machine that built it.

Usage: ``python -m fashionbench.reporting.render NOTEBOOK.ipynb OUT.html``.
"""

from __future__ import annotations

import copy
import html as html_lib
import re
import sys
from pathlib import Path
from typing import Any

from fashionbench.core.atomic import write_text
from fashionbench.core.errors import ContractError

_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.I | re.S)
_REMOTE_LINK = re.compile(r"<link[^>]*\bhref=[\"']https?://[^>]*>", re.I)
# what would make a browser contact a host when the page is opened (links in <a href> are fine:
# they load nothing until clicked)
_REMOTE_REF = re.compile(r"""<(?:img|script|link|iframe|source|video|audio|embed)\b[^>]*\b(?:src|href)\s*=\s*["']\s*(?:https?:)?//"""
                         r"""|url\(\s*["']?(?:https?:)?//|@import\s+["'](?:https?:)?//""", re.I)
_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.I | re.S)
_TAGS = re.compile(r"<[^>]+>")

#: the one stylesheet of every rendered page (tables fit a 1,400 px window: wide ones scroll inside
#: their own box, headers wrap)
STYLE = """
body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1a1a1a;margin:0 auto;
max-width:1340px;padding:12px 24px 40px}
h1{font-size:1.7em;margin:.4em 0 .3em}h2{font-size:1.35em;margin:1.4em 0 .4em;border-bottom:1px solid #ddd}
h3{font-size:1.1em;margin:1.2em 0 .3em}a{color:#0b57a3}a.anchor-link{display:none}
code,pre{font:12.5px/1.4 "DejaVu Sans Mono",Menlo,Consolas,monospace;background:#f4f4f4;border-radius:3px}
code{padding:0 3px}pre{padding:6px 8px;overflow-x:auto;white-space:pre-wrap}
.output_area,.text_cell_render{max-width:100%;overflow-x:auto;margin:2px 0}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}
th,td{padding:3px 7px;border-bottom:1px solid #e3e3e3;text-align:right;vertical-align:top}
th{background:#f6f6f6;font-weight:600;white-space:normal;max-width:16em}
tbody tr:nth-child(odd){background:#fbfbfb}tbody tr:hover{background:#eef4fb}
table.claims td,table.claims th{text-align:left}
tbody th{text-align:left}p{margin:.35em 0}
details{margin:8px 0}summary{cursor:pointer;padding:3px 0;color:#0b57a3}
img{max-width:100%;height:auto}
.output_png img,.output_jpeg img{display:block;margin:6px 0}
"""


def remote_references(html: str) -> list[str]:
    """Fragments of ``html`` that would load something from a remote host."""
    return [html[max(0, m.start() - 40): m.end() + 60] for m in _REMOTE_REF.finditer(html)]


_DATA_URI = re.compile(r"data:[^\"')\s]+")


def absolute_paths(html: str, root: str | Path) -> list[str]:
    """Fragments of ``html`` (its embedded images' data left out) naming an absolute path in the
    project ``root`` or beside it (in its parent folder, unless that is ``/``: a dataset beside the
    project is named through it), written with or without symlinks resolved."""
    text = _DATA_URI.sub("data:", html)
    bases = set()
    for form in (Path(root).absolute(), Path(root).resolve()):
        bases.add(str(form))
        if len(form.parent.parts) > 1:
            bases.add(str(form.parent))
    out = []
    for base in sorted(bases):
        needle, start = base.rstrip("/") + "/", 0
        while (i := text.find(needle, start)) >= 0:
            out.append(text[max(0, i - 40): i + len(needle) + 40])
            start = i + len(needle)
    return out


#: the most one rendered page may weigh (bytes): the ~50 method pages stay near 0.15 MB, the largest
#: page (the comparison) near 1.1 MB; all pages of the default run together stay under 12 MB
MAX_PAGE_BYTES = 1_600_000
# a code cell of nbconvert's basic (input_area, hl-<lang>) or lab (jp-InputArea) template; a fenced
# block in markdown is <div class="highlight"> without hl-, and is fine
_CODE = re.compile(r'class="[^"]*\b(?:input_area|hl-[\w-]+|jp-InputArea)\b', re.I)
_LOG = re.compile(r'class="[^"]*\b(?:output_stream|output_stdout|output_stderr|output_error|jp-RenderedText)\b', re.I)


def page_problems(html: str, root: str | Path, max_bytes: int = MAX_PAGE_BYTES) -> list[str]:
    """What a reader should not meet in a rendered page: code cells, printed logs or tracebacks, remote
    resources, absolute paths of the project ``root``, a page heavier than ``max_bytes``. Empty when fine."""
    out = []
    if _CODE.search(html):
        out.append("a code cell is shown")
    if _LOG.search(html):
        out.append("a printed log (stdout/stderr) is shown")
    if remote_references(html) or "<script" in html.lower():
        out.append(f"loads remote resources or scripts: {remote_references(html)[:2]}")
    if absolute_paths(html, root):
        out.append(f"names absolute paths: {absolute_paths(html, root)[:2]}")
    if len(html.encode()) > max_bytes:
        out.append(f"{len(html.encode()):,} bytes > {max_bytes:,}")
    return out


def reader_view(nb: Any) -> Any:
    """A copy of notebook ``nb`` as a reader sees it: code cells keep only their displayed outputs
    (no stdout/stderr streams), and code cells left without output are dropped."""
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "stream"]
            if not cell.outputs:
                continue
        cells.append(cell)
    nb.cells = cells
    return nb


def notebook_to_html(notebook: str | Path, root: str | Path | None = None) -> str:
    """The executed ``notebook`` as one self-contained page (markdown and outputs, no code, no logs).

    Raises ContractError when the page would load a remote resource or names an absolute path of
    the project ``root`` (default: the project root)."""
    import nbformat
    from nbconvert import HTMLExporter

    from fashionbench.core.config import project_root

    nb = reader_view(nbformat.read(str(notebook), as_version=4))
    exporter = HTMLExporter(template_name="basic")
    exporter.embed_images = True
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": Path(notebook).stem}})
    body = _REMOTE_LINK.sub("", _SCRIPT.sub("", body))
    h1 = _H1.search(body)
    title = html_lib.unescape(_TAGS.sub("", h1.group(1))).replace("¶", "").strip() if h1 else Path(notebook).stem
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html_lib.escape(title)}</title><style>{' '.join(STYLE.split())}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")
    left = remote_references(page)
    if left:
        raise ContractError(f"{notebook}: rendered HTML still references remote hosts: {left[:3]}")
    named = absolute_paths(page, root or project_root())
    if named:
        raise ContractError(f"{notebook}: rendered HTML names absolute paths of this machine (show them relative "
                            f"to the project): {named[:3]}")
    return page


def render(notebook: str | Path, out: str | Path, root: str | Path | None = None) -> None:
    """Render ``notebook`` to ``out`` atomically (see :func:`notebook_to_html`)."""
    write_text(out, notebook_to_html(notebook, root))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m fashionbench.reporting.render NOTEBOOK.ipynb OUT.html", file=sys.stderr)
        return 2
    render(args[0], args[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
