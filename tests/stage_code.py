"""The package code each DVC stage runs, derived from its notebook's imports (transitively, imports
inside functions included): what dvc.yaml must list as the stage's code deps (tests/test_stage_deps.py).

Rule: the notebook, ``fashionbench/__init__.py``, then for the floors ``core``, ``data``, ``models``,
``engine``, ``retrieval``, ``detection`` and ``reporting`` the whole folder when the stage uses any of
its modules; for ``papers`` and ``pipeline`` each module file (or paper unit folder) it uses, so
that editing one stage's module or one paper re-runs only the stages that run it.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDER_FLOORS = ("core", "data", "models", "engine", "retrieval", "detection", "reporting")


def _mod_file(mod: str) -> Path | None:
    p = ROOT / (mod.replace(".", "/") + ".py")
    if p.exists():
        return p
    p = ROOT / mod.replace(".", "/") / "__init__.py"
    return p if p.exists() else None


def _imports(src: str, mod: str = "", is_pkg: bool = False) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = mod.split(".") if is_pkg else mod.split(".")[:-1]
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.startswith("fashionbench"):
                out.add(base)
                out.update(f"{base}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("fashionbench"))
    return {m for m in out if _mod_file(m)}


def modules_run(sources: list[str]) -> set[Path]:
    """Every package file the given code (notebook cells, ``python -m`` modules) imports, transitively."""
    todo = ["fashionbench"] + [m for s in sources for m in _imports(s)]
    seen: set[str] = set()
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        parts = m.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        f = _mod_file(m)
        src = f.read_text(encoding="utf-8")
        found = _imports(src, m, f.name == "__init__.py")
        if 'importlib.import_module(f"fashionbench.papers.{' in src:  # paper units' report sections
            found |= {f"fashionbench.papers.{p.name}.report" for p in (ROOT / "fashionbench/papers").iterdir()
                      if (p / "report.py").exists()}
        todo += sorted(found)
    return {_mod_file(m) for m in seen}


def notebook_code(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def stage_sources(cmd: str) -> list[str]:
    """Code a stage command runs: its notebooks (run by ``papermill`` or ``run_notebook``) and
    ``python -m fashionbench...`` modules."""
    notebooks = re.findall(r"(?:papermill|fashionbench\.reporting\.run_notebook)\s+(\S+\.ipynb)", cmd)
    out = [notebook_code(ROOT / nb) for nb in notebooks]
    out += [f"import {m}" for m in re.findall(r"python -m (fashionbench[\w.]*)", cmd)]
    return out


def code_deps(files: set[Path]) -> list[str]:
    """dvc.yaml dep entries covering ``files`` by the module docstring's rule."""
    deps: set[str] = set()
    for f in files:
        rel = f.relative_to(ROOT).as_posix()
        parts = rel.split("/")
        if len(parts) == 2:
            deps.add(rel)  # fashionbench/__init__.py, fashionbench/cli.py
        elif parts[1] in FOLDER_FLOORS:
            deps.add(f"fashionbench/{parts[1]}")
        elif parts[1] == "papers" and len(parts) > 3:
            deps.add(f"fashionbench/papers/{parts[2]}")
        else:
            deps.add(rel)
    return sorted(deps)


def covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)
