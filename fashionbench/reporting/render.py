"""Render an executed notebook to a self-contained HTML file that opens offline.

nbconvert's ``lab`` template inlines its CSS but loads require.js, MathJax and mermaid from a
CDN. Every ``<script>`` element is removed (the reports need no JavaScript: plots are embedded
PNGs, tables are HTML), and the result is checked for any remaining reference that a browser
would load from a remote host.

Usage: ``python -m fashionbench.render [--hide-code] NOTEBOOK.ipynb OUT.html`` (the comparison
and paper reports hide code cells: a reviewer reads results; the executed notebooks under
``reports/notebooks/`` keep the code).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from fashionbench.core.atomic import write_text
from fashionbench.core.errors import ContractError

_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.I | re.S)
_STYLE = re.compile(r"(<style\b[^>]*>)(.*?)(</style\s*>)", re.I | re.S)
_REMOTE_LINK = re.compile(r"<link[^>]*\bhref=[\"']https?://[^>]*>", re.I)
# what would make a browser contact a host when the page is opened (links in <a href> are fine:
# they load nothing until clicked)
_REMOTE_REF = re.compile(r"""<(?:img|script|link|iframe|source|video|audio|embed)\b[^>]*\b(?:src|href)\s*=\s*["']\s*(?:https?:)?//"""
                         r"""|url\(\s*["']?(?:https?:)?//|@import\s+["'](?:https?:)?//""", re.I)


def remote_references(html: str) -> list[str]:
    """Fragments of ``html`` that would load something from a remote host."""
    return [html[max(0, m.start() - 40): m.end() + 60] for m in _REMOTE_REF.finditer(html)]


def _one_line_css(css: str) -> str:
    """``css`` without comments, on one line: the ~6,000 lines of nbconvert's inlined theme are
    identical in every report, and would otherwise dominate diffs of the committed reports."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    return " ".join(line.strip() for line in css.splitlines() if line.strip())


def notebook_to_html(notebook: str | Path, hide_code: bool = False) -> str:
    """The notebook as a self-contained HTML page (``hide_code``: outputs and markdown only)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    exporter = HTMLExporter(template_name="lab")
    exporter.embed_images = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.exclude_input = hide_code
    html, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": Path(notebook).stem}})
    html = _SCRIPT.sub("", html)
    html = _STYLE.sub(lambda m: m.group(1) + _one_line_css(m.group(2)) + m.group(3), html)
    html = _REMOTE_LINK.sub("", html)
    left = remote_references(html)
    if left:
        raise ContractError(f"{notebook}: rendered HTML still references remote hosts: {left[:3]}")
    return html


def render(notebook: str | Path, out: str | Path, hide_code: bool = False) -> None:
    """Render ``notebook`` to ``out`` atomically."""
    write_text(out, notebook_to_html(notebook, hide_code))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    hide = "--hide-code" in args
    args = [a for a in args if a != "--hide-code"]
    if len(args) != 2:
        print("usage: python -m fashionbench.render [--hide-code] NOTEBOOK.ipynb OUT.html", file=sys.stderr)
        return 2
    render(args[0], args[1], hide)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
