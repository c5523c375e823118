"""Rendered reports are self-contained: nothing is loaded from a remote host when opened."""

from __future__ import annotations

import re

import nbformat
import pytest

from fashionbench.core.errors import ContractError
from fashionbench.reporting.render import notebook_to_html, remote_references, render


def test_detects_remote_references():
    assert remote_references('<script src="https://cdn.x/require.js"></script>')
    assert remote_references('<link rel="stylesheet" href="//fonts.x/css">')
    assert remote_references("<style>body{background:url('https://x/y.png')}</style>")
    assert not remote_references('<a href="https://github.com/x">a link</a>')
    assert not remote_references('<img src="data:image/png;base64,AAAA">')


def test_rendered_notebook_has_no_scripts_or_remote_refs(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title $x^2$"), nbformat.v4.new_code_cell("1 + 1")]
    nb.cells[1].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    render(path, tmp_path / "n.html")
    html = (tmp_path / "n.html").read_text()
    assert "<script" not in html.lower() and not remote_references(html)
    assert "Title" in html
    # the inlined theme is kept (the page is styled offline) but on one line per <style> block
    styles = re.findall(r"<style[^>]*>(.*?)</style>", html, re.S)
    assert styles and sum(len(c) for c in styles) > 10_000 and all("\n" not in c for c in styles)
    assert "/*" not in "".join(styles) and ".jp-Cell" in "".join(styles)


def test_remote_image_in_output_is_refused(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell('<img src="https://example.com/x.png">')]
    nbformat.write(nb, tmp_path / "n.ipynb")
    with pytest.raises(ContractError, match="remote hosts"):
        notebook_to_html(tmp_path / "n.ipynb")
    assert not (tmp_path / "n.html").exists()
