"""How long a no-op `dvc repro` takes in this project, and where that time goes.

Run it after a complete `dvc repro` (so that nothing is out of date):

    .venv/bin/python benchmarks/noop_repro.py --runs 3 [--project DIR]

It refuses a project whose `dvc status` is not clean (its `dvc repro` would run stages).

It prints, for this project:
- the wall time of `dvc repro` with nothing to do (median of ``--runs`` separate processes);
- one in-process run with DVC's params reading timed: DVC parses ``params.yaml`` once per stage
  (``dvc.dependency.param.read_param_file``) and walks it with ``dpath`` for each declared key;
- the same measurement for a synthetic DVC project with the same number of trivial stages (one
  dependency, one output, one small parameter each): the part of the time that no change to
  ``params.yaml`` or to the stages' dependencies can remove.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

_PROFILED = """
import contextlib, io, json, sys, time
from collections import Counter
import dpath
import dvc.dependency.param as P
import dvc.utils.serialize._yaml as Y
tot, n = Counter(), Counter()
def wrap(mod, name):
    f = getattr(mod, name)
    def g(*a, **k):
        t0 = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            tot[name] += time.perf_counter() - t0
            n[name] += 1
    setattr(mod, name, g)
wrap(P, "read_param_file"); wrap(Y, "parse_yaml"); wrap(dpath, "get")
from dvc.cli import main
t0 = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    rc = main(["repro"])
print(json.dumps({"rc": rc, "total": time.perf_counter() - t0, "seconds": dict(tot), "calls": dict(n)}))
"""


def wall_times(cwd: Path, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = subprocess.run(["dvc", "repro"], cwd=cwd, env=ENV, capture_output=True, text=True)
        out.append(time.perf_counter() - t0)
        if res.returncode != 0:
            raise SystemExit(f"dvc repro failed in {cwd}:\n{res.stderr[-2000:]}")
        if "Running stage" in res.stdout:
            raise SystemExit(f"{cwd}: `dvc repro` ran a stage; run a full `dvc repro` first")
    return out


def profiled(cwd: Path) -> dict:
    res = subprocess.run([sys.executable, "-c", _PROFILED], cwd=cwd, env=ENV, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def synthetic_project(n_stages: int, where: Path) -> Path:
    import yaml

    where.mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=where, check=True)
    subprocess.run(["dvc", "init", "-q"], cwd=where, env=ENV, check=True)
    rows = {f"m{i}": {"lr": 0.001} for i in range(n_stages)}
    (where / "params.yaml").write_text(yaml.safe_dump({"seed": 0, "rows": rows}))
    (where / "dep.txt").write_text("x")
    stage = {"foreach": "${rows}", "do": {"cmd": "mkdir -p out && echo ${key} > out/${key}.txt",
                                          "deps": ["dep.txt"], "params": ["seed", "rows.${key}"],
                                          "outs": ["out/${key}.txt"]}}
    (where / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"s": stage}}))
    subprocess.run(["dvc", "repro", "-q"], cwd=where, env=ENV, check=True, capture_output=True)
    return where


def n_stages(cwd: Path) -> int:
    res = subprocess.run(["dvc", "stage", "list", "--name-only"], cwd=cwd, env=ENV, capture_output=True, text=True,
                         check=True)
    return len(res.stdout.split())


def report(name: str, cwd: Path, runs: int) -> None:
    walls = wall_times(cwd, runs)
    p = profiled(cwd)
    s, c = Counter(p["seconds"]), Counter(p["calls"])
    print(f"{name}: no-op `dvc repro` {statistics.median(walls):.2f} s wall (median of {runs}: "
          f"{', '.join(f'{w:.2f}' for w in walls)})")
    print(f"  in-process: {p['total']:.2f} s, of which reading params {s['read_param_file']:.2f} s "
          f"({c['read_param_file']} reads; YAML parsing {s['parse_yaml']:.2f} s over {c['parse_yaml']} files, "
          f"dpath lookups {s['get']:.2f} s over {c['get']} keys)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--project", type=Path, default=ROOT,
                    help="the DVC project to time (default: the checkout holding this script)")
    args = ap.parse_args()
    root = args.project.resolve()
    # timing `dvc repro` of an out-of-date project would run the pipeline (and delete its outputs)
    status = subprocess.run([str(Path(sys.executable).parent / "dvc"), "status", "--quiet"], cwd=root,
                            env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    if status.returncode != 0:
        raise SystemExit(f"{root}: `dvc status` is not clean, so `dvc repro` would not be a no-op; "
                         "run `dvc repro` there first")
    stages = n_stages(root)
    print(f"{stages} stages; params.yaml {len((root / 'params.yaml').read_text().splitlines())} lines")
    report("this project", root, args.runs)
    tmp = Path(tempfile.mkdtemp(prefix="noop-floor-"))
    try:
        report(f"synthetic, {stages} trivial stages", synthetic_project(stages, tmp / "p"), args.runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
