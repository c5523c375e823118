"""Run a stage notebook with papermill and render its page, in one process.

A stage that renders a page used to start two Python processes: ``papermill`` (then a kernel), and
``python -m fashionbench.reporting.render``, which imported nbconvert afresh. Here both happen in
one process, saving the second interpreter start and imports (``benchmarks/stage_overhead.py``
measures both ways). The executed notebook is written first, exactly as papermill writes it; the
page is written only when the notebook ran to the end, and atomically.

Usage (dvc.yaml)::

    python -m fashionbench.reporting.run_notebook notebooks/evaluate.ipynb reports/notebooks/evaluate-x.ipynb \
        --html reports/methods/x.html -p method x -p action evaluate

Parameter values are passed as strings (row names such as ``1e3`` stay names).
"""

from __future__ import annotations

import argparse
import sys


def run(notebook: str, executed: str, html: str | None = None, parameters: dict[str, str] | None = None) -> None:
    """Execute ``notebook`` into ``executed`` (papermill, kernel ``python3``, the working directory as
    cwd); then, when ``html`` is given, render the executed notebook there (:mod:`.render`)."""
    import papermill as pm

    pm.execute_notebook(notebook, executed, parameters=parameters or {}, cwd=".", kernel_name="python3",
                        progress_bar=False)
    if html:
        from fashionbench.reporting.render import render

        render(executed, html)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fashionbench.reporting.run_notebook", description=__doc__.split("\n")[0])
    ap.add_argument("notebook")
    ap.add_argument("executed")
    ap.add_argument("--html", help="also render the executed notebook to this page")
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="a parameter")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    run(args.notebook, args.executed, args.html, dict(args.p))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
