"""Where a stage's fixed cost goes: a stage with trivial work, through the machinery a real stage uses.

A stage of this project is ``papermill <notebook> reports/notebooks/<x>.ipynb ...`` run by ``dvc repro``;
a stage that renders a page ran ``... && python -m fashionbench.reporting.render <executed> <html>``
after it, and now runs both in one process (``python -m fashionbench.reporting.run_notebook``). This
script times, with trivial work, each layer of that (median of ``--runs`` separate processes, seconds):

- ``python``: a bare interpreter start (``python -c pass``);
- ``papermill import``: ``python -c "import papermill"``;
- ``papermill, empty notebook``: a one-cell notebook (``x = 1``) executed by papermill: process start,
  papermill import, kernel start, execution, writing the executed notebook;
- ``+ stage imports (evaluate)`` / ``(train)``: the same notebook whose cell imports what the evaluate
  (train) notebook imports: the difference to the empty notebook is the kernel's import cost;
- ``render``: ``python -m fashionbench.reporting.render`` of the executed empty notebook to HTML;
- ``run_notebook``: ``python -m fashionbench.reporting.run_notebook`` of the empty notebook with
  ``--html``: papermill and the render in one process, as the page-rendering stages run them now
  (compare with ``papermill, empty notebook`` + ``render``, the two processes they ran before);
- ``dvc repro, 1 trivial stage``: a temporary DVC project with one stage ``echo > out`` (DVC start,
  hashing, lock write), minus nothing: DVC's own per-invocation cost (it is paid once per ``dvc
  repro``, and its per-stage part is what ``benchmarks/noop_repro.py`` measures).

Run it alone on the machine (another job on the cores inflates every figure):

    .venv/bin/python benchmarks/stage_overhead.py --runs 3 [--json benchmarks/stage_overhead.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
       "MPLBACKEND": "Agg"}

#: what each stage notebook's first code cell imports (kept in step with notebooks/evaluate.ipynb, train.ipynb)
IMPORTS = {
    "evaluate": "from fashionbench.core import config, paths, settings\nfrom fashionbench.data import prepared\n"
                "from fashionbench.pipeline import evaluate as stage\nfrom fashionbench.reporting import report\n"
                "from IPython.display import Markdown, display\nimport pandas as pd\n"
                "import fashionbench.retrieval.metrics, fashionbench.retrieval.protocols.retrieval",
    "train": "from fashionbench.core import config, settings\nfrom fashionbench.pipeline import train as stage\n"
             "from fashionbench.engine.history_plot import plot_history\n"
             "from IPython.display import Markdown, display\nimport pandas as pd\n"
             "import fashionbench.engine.training, fashionbench.models",
}


def _notebook(path: Path, source: str) -> None:
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "c0", "metadata": {}, "outputs": [],
                     "source": source}],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb), encoding="utf-8")


def _time(cmd: list[str], cwd: Path, runs: int) -> float:
    """Median wall seconds of ``cmd`` over ``runs`` separate processes (it must succeed)."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if res.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr[-2000:]}")
    return statistics.median(times)


def measure(runs: int) -> dict[str, float]:
    """The layers of a stage's fixed cost, in seconds (module docstring)."""
    py = str(BIN / "python")
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        out["python"] = _time([py, "-c", "pass"], tmp, runs)
        out["papermill import"] = _time([py, "-c", "import papermill"], tmp, runs)
        _notebook(tmp / "empty.ipynb", "x = 1")
        pm = [str(BIN / "papermill"), "--no-progress-bar", "-k", "python3", "--cwd", str(ROOT)]
        out["papermill, empty notebook"] = _time(pm + [str(tmp / "empty.ipynb"), str(tmp / "empty.out.ipynb")], tmp, runs)
        for name, src in IMPORTS.items():
            _notebook(tmp / f"{name}.ipynb", src)
            out[f"papermill + stage imports ({name})"] = _time(
                pm + [str(tmp / f"{name}.ipynb"), str(tmp / f"{name}.out.ipynb")], tmp, runs)
        out["render to HTML"] = _time([py, "-m", "fashionbench.reporting.render", str(tmp / "empty.out.ipynb"),
                                       str(tmp / "empty.html")], ROOT, runs)
        # what a page-rendering stage runs now: papermill and the render in one process
        out["run_notebook: papermill + render, one process"] = _time(
            [py, "-m", "fashionbench.reporting.run_notebook", str(tmp / "empty.ipynb"), str(tmp / "empty.run.ipynb"),
             "--html", str(tmp / "empty.run.html")], tmp, runs)
        proj = tmp / "dvcproj"
        proj.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=proj, check=True)
        subprocess.run([str(BIN / "dvc"), "init", "-q"], cwd=proj, env=ENV, check=True)
        (proj / "dvc.yaml").write_text("stages:\n  s:\n    cmd: echo x > out\n    outs: [out]\n", encoding="utf-8")
        times = []
        for _ in range(runs):
            (proj / "out").unlink(missing_ok=True)
            shutil.rmtree(proj / ".dvc" / "cache", ignore_errors=True)
            (proj / "dvc.lock").unlink(missing_ok=True)
            t0 = time.perf_counter()
            subprocess.run([str(BIN / "dvc"), "repro", "-q"], cwd=proj, env=ENV, check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        out["dvc repro, 1 trivial stage"] = statistics.median(times)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    res = measure(args.runs)
    width = max(map(len, res))
    for k, v in res.items():
        print(f"{k:<{width}}  {v:6.2f} s")
    base = res["papermill, empty notebook"]
    print(f"{'kernel imports (evaluate)':<{width}}  {res['papermill + stage imports (evaluate)'] - base:6.2f} s")
    print(f"{'kernel imports (train)':<{width}}  {res['papermill + stage imports (train)'] - base:6.2f} s")
    two = base + res["render to HTML"]
    print(f"{'page stage: two processes -> one':<{width}}  {two:6.2f} s -> {res['run_notebook: papermill + render, one process']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps({"runs": args.runs, "seconds": res}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
