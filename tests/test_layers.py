"""The package's floors import only downwards, and no import circle exists (imports inside functions count)."""
from __future__ import annotations

import subprocess
import sys

from stage_code import ROOT, _imports

#: bottom to top; a module may import its own floor and the floors below it
FLOORS = ("core", "data", "models", "engine", "retrieval", "detection", "reporting", "papers", "pipeline", "cli")


def _graph() -> dict[str, set[str]]:
    graph = {}
    for f in (ROOT / "fashionbench").rglob("*.py"):
        mod = ".".join(f.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found = _imports(f.read_text(encoding="utf-8"), mod, f.name == "__init__.py")
        # "from fashionbench.x import y": keep the most specific module named
        graph[mod] = {m for m in found if m != mod and not any(o.startswith(m + ".") for o in found)}
    return graph


def _floor(mod: str) -> int:
    parts = mod.split(".")
    return -1 if len(parts) == 1 else FLOORS.index(parts[1])


def test_floors_import_only_downwards():
    bad = [f"{a} -> {b}" for a, deps in _graph().items() for b in deps
           if _floor(a) >= 0 and _floor(b) > _floor(a)]
    assert not bad, "upward imports:\n" + "\n".join(sorted(bad))


def test_no_import_circle():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                circles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_the_circle_check_can_fail(monkeypatch):
    import test_layers as me
    monkeypatch.setattr(me, "_graph", lambda: {"fashionbench.core.a": {"fashionbench.core.b"},
                                               "fashionbench.core.b": {"fashionbench.core.a"}})
    try:
        me.test_no_import_circle()
    except AssertionError as e:
        assert "fashionbench.core.a -> fashionbench.core.b -> fashionbench.core.a" in str(e)
    else:
        raise AssertionError("a planted circle was not found")


def test_user_api_loads_without_torch_and_old_paths_point_to_new_ones():
    code = ("import sys, fashionbench as fb\n"
            "for n in ['evaluate', 'search', 'k_reciprocal', 'load_manifest', 'iou', 'union', 'average_precision']:\n"
            "    assert callable(getattr(fb, n)), n\n"
            "assert 'torch' not in sys.modules, 'torch loaded'\n"
            "assert callable(fb.load_pretrained)\n"
            "import fashionbench.config, fashionbench.metrics\n"
            "assert fashionbench.config.__name__ == 'fashionbench.core.config'\n"
            "try:\n    import fashionbench.stages\nexcept ImportError as e:\n    print(e)\n")
    res = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert "fashionbench.pipeline" in res.stdout and "fashionbench.core.paths" in res.stdout
