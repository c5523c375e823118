"""dvc.yaml's code deps are derived from what each stage runs, so they cannot drift (tests/stage_code.py)."""
from __future__ import annotations

import yaml

from stage_code import ROOT, code_deps, covered, modules_run, stage_sources


def _stages():
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    notebooks = sorted({row["notebook"] for row in params["methods"].values()})
    for name, st in dvc["stages"].items():
        body = st.get("do", st)
        cmds = [body["cmd"].replace("${item.notebook}", nb) for nb in notebooks] if "${item.notebook}" in body["cmd"] \
            else [body["cmd"]]
        deps = [d.replace("${item.notebook}", "") for d in body["deps"]]
        yield name, cmds, [d for d in deps if d.startswith("fashionbench")]


def test_every_module_a_stage_runs_is_a_dep_and_no_dep_is_stale():
    problems = []
    for name, cmds, listed in _stages():
        files = set().union(*(modules_run(stage_sources(c)) for c in cmds))
        rel = sorted(f.relative_to(ROOT).as_posix() for f in files)
        missing = [f for f in rel if not covered(f, listed)]
        want = code_deps(files)
        if missing or sorted(listed) != want:
            problems.append(f"stage {name}: not covered {missing}; dvc.yaml should list exactly:\n"
                            + "\n".join(f"      - {w}" for w in want))
    assert not problems, "\n".join(problems)


def test_the_derivation_sees_imports_inside_functions(tmp_path):
    # pipeline.evaluate imports retrieval.compose only inside a function: it must still be found
    files = {f.relative_to(ROOT).as_posix() for f in modules_run(["from fashionbench.pipeline import evaluate"])}
    assert "fashionbench/retrieval/compose.py" in files
    assert "fashionbench/retrieval/routing.py" in files  # through compose, again inside a function
    assert not covered("fashionbench/retrieval/compose.py", ["fashionbench/core", "fashionbench/retrieval.py"])
