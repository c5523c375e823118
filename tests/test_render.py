"""Rendered pages are for readers: self-contained, no code, no logs, no machine paths, one small stylesheet."""

from __future__ import annotations

import re

import nbformat
import pytest

from fashionbench.core.errors import ContractError
from fashionbench.reporting.render import (STYLE, absolute_paths, notebook_to_html, page_problems, remote_references,
                                           render)


def _notebook(tmp_path, *cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    return path


def _code(source, *outputs, tags=()):
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = list(outputs)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def test_detects_remote_references():
    assert remote_references('<script src="https://cdn.x/require.js"></script>')
    assert remote_references('<link rel="stylesheet" href="//fonts.x/css">')
    assert remote_references("<style>body{background:url('https://x/y.png')}</style>")
    assert not remote_references('<a href="https://github.com/x">a link</a>')
    assert not remote_references('<img src="data:image/png;base64,AAAA">')


def test_page_shows_markdown_and_outputs_but_no_code_params_or_logs(tmp_path):
    path = _notebook(
        tmp_path,
        nbformat.v4.new_markdown_cell("# My title\nSome *text*."),
        _code('method = "baseline"', tags=("parameters",)),
        _code('secret_code_marker = 41\nprint("a log line")',
              nbformat.v4.new_output("stream", name="stdout", text="LOG-LINE-MARKER\n"),
              nbformat.v4.new_output("stream", name="stderr", text="WARN-MARKER\n"),
              nbformat.v4.new_output("execute_result", {"text/html": "<table><tr><td>RESULT-42</td></tr></table>",
                                                        "text/plain": "x"}, execution_count=1)),
        _code("import os"))
    render(path, tmp_path / "n.html", root=tmp_path / "proj")
    page = (tmp_path / "n.html").read_text()
    assert "RESULT-42" in page and "<em>text</em>" in page
    assert "<title>My title</title>" in page
    for absent in ("secret_code_marker", "LOG-LINE-MARKER", "WARN-MARKER", "import os", "baseline"):
        assert absent not in page, absent
    assert "<script" not in page.lower() and not remote_references(page)
    # one stylesheet of its own, a few KB (JupyterLab's theme was ~210 KB in every page)
    styles = re.findall(r"<style[^>]*>(.*?)</style>", page, re.S)
    assert len(styles) == 1 and len(styles[0]) < 3_000 and styles[0] == " ".join(STYLE.split())


def test_remote_image_in_output_is_refused(tmp_path):
    path = _notebook(tmp_path, nbformat.v4.new_markdown_cell('<img src="https://example.com/x.png">'))
    with pytest.raises(ContractError, match="remote hosts"):
        render(path, tmp_path / "n.html", root=tmp_path / "proj")
    assert not (tmp_path / "n.html").exists()


def test_absolute_path_of_the_machine_is_refused(tmp_path):
    root = tmp_path / "work" / "fashionbench"
    assert absolute_paths(f"source: {tmp_path}/work/shared/data", root)      # a folder beside the project
    assert absolute_paths(f"{root}/artifacts/x", root)
    assert not absolute_paths("source: ../shared/data, artifacts/x", root)
    # an embedded image's bytes may spell anything: they are not searched
    assert not absolute_paths(f'<img src="data:image/png;base64,AA{tmp_path}/work/fashionbench/BB">', root)
    # a project right under / (parent "/"): only its own paths count
    assert absolute_paths("/app/data/x", "/app") and not absolute_paths("/usr/share/x", "/app")
    path = _notebook(tmp_path, _code("card", nbformat.v4.new_output(
        "execute_result", {"text/plain": f"{root}/data/prepared"}, execution_count=1)))
    with pytest.raises(ContractError, match="absolute paths"):
        render(path, tmp_path / "n.html", root=root)
    assert not (tmp_path / "n.html").exists()
    # a path in a log line is not shown, so it does not block the page
    path = _notebook(tmp_path, _code("x", nbformat.v4.new_output("stream", name="stdout", text=f"{root}/x\n")))
    assert absolute_paths(notebook_to_html(path, root), root) == []


def _param_notebook(path, body):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# Run me"), _code('name = "x"', tags=("parameters",)),
                nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


def test_run_notebook_executes_then_renders_in_one_process(tmp_path, monkeypatch):
    from fashionbench.reporting import run_notebook

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FASHIONBENCH_ROOT", str(tmp_path / "proj"))
    _param_notebook(tmp_path / "in.ipynb", 'print("LOG-" + name)\nfrom IPython.display import Markdown\nMarkdown("**hello " + name + "**")')
    assert run_notebook.main(["in.ipynb", "out.ipynb", "--html", "out.html", "-p", "name", "1e3"]) == 0
    executed = (tmp_path / "out.ipynb").read_text()
    assert "LOG-1e3" in executed                       # a string parameter stays a string, logs kept here
    page = (tmp_path / "out.html").read_text()
    assert "<strong>hello 1e3</strong>" in page and "LOG-1e3" not in page and 'name = "x"' not in page


def test_run_notebook_writes_no_page_when_the_notebook_fails(tmp_path, monkeypatch):
    import papermill

    from fashionbench.reporting import run_notebook

    monkeypatch.chdir(tmp_path)
    _param_notebook(tmp_path / "in.ipynb", 'raise ValueError("bad row " + name)')
    with pytest.raises(papermill.PapermillExecutionError, match="bad row"):
        run_notebook.run("in.ipynb", "out.ipynb", "out.html", {"name": "x"})
    assert (tmp_path / "out.ipynb").is_file() and not (tmp_path / "out.html").exists()


def test_page_problems_flags_what_a_reader_should_not_meet(tmp_path):
    root = tmp_path / "proj"
    good = _notebook(tmp_path, nbformat.v4.new_markdown_cell("# T\n```python\nx = 1\n```"),
                     _code("t", nbformat.v4.new_output("execute_result", {"text/html": "<b>ok</b>"}, execution_count=1)))
    page = notebook_to_html(good, root)
    assert page_problems(page, root) == []          # a fenced block in markdown is not a code cell
    assert page_problems(page, root, max_bytes=100) == [f"{len(page.encode()):,} bytes > 100"]
    # nbconvert's own page with the code shown (what the reports were before)
    import nbformat as nbf
    from nbconvert import HTMLExporter

    with_code, _ = HTMLExporter(template_name="basic").from_notebook_node(nbf.read(str(good), as_version=4))
    assert "a code cell is shown" in page_problems(with_code, root)
    logs = _notebook(tmp_path, _code("print(1)", nbformat.v4.new_output("stream", name="stdout", text="1\n")))
    with_log, _ = HTMLExporter(template_name="basic").from_notebook_node(nbf.read(str(logs), as_version=4))
    assert "a printed log (stdout/stderr) is shown" in page_problems(with_log, root)
    assert any("absolute" in p for p in page_problems(f"<p>{root}/x</p>", root))
    assert any("remote" in p for p in page_problems('<img src="https://x/y.png">', root))
