"""No fashionbench module may switch matplotlib's backend: in a notebook that silently drops
every later inline figure from the rendered reports."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT

SCRIPT = """
import importlib, pkgutil, matplotlib
import fashionbench
before = matplotlib.get_backend()
for m in pkgutil.walk_packages(fashionbench.__path__, 'fashionbench.'):
    if m.name.endswith('__main__'):
        continue
    importlib.import_module(m.name)
    assert matplotlib.get_backend() == before, f'importing {m.name} switched the backend to {matplotlib.get_backend()}'
print('ok', before)
"""


def test_importing_any_module_keeps_the_inline_backend():
    env = {**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    res = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "ok module://matplotlib_inline.backend_inline" in res.stdout
