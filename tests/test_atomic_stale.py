"""A write killed mid-way leaves a .tmp-* sibling; the next write of the same file removes it (issue 14)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from fashionbench.core.atomic import atomic_dir, atomic_path, write_json


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_killed_writers_leftovers_are_removed_by_the_next_write(tmp_path):
    dead = _dead_pid()
    stale = tmp_path / f".tmp-emb.query-{dead}-abcd1234.query.npy"
    stale.write_bytes(b"half")
    live = tmp_path / f".tmp-emb.query-{os.getppid()}-abcd1234.query.npy"  # a writer still running
    live.write_bytes(b"busy")
    other = tmp_path / f".tmp-emb.gallery-{dead}-abcd1234.gallery.npy"  # another file's leftover
    other.write_bytes(b"x")
    with atomic_path(tmp_path / "emb.query.npy") as tmp:
        np.save(tmp, np.zeros(2))
    assert not stale.exists() and live.exists() and other.exists()
    assert np.load(tmp_path / "emb.query.npy").tolist() == [0.0, 0.0]
    # a killed folder write (atomic_dir) and a JSON write
    (tmp_path / f".tmp-prepared-{dead}-zz_00011").mkdir()
    with atomic_dir(tmp_path / "prepared") as d:
        (d / "a").write_text("1")
    assert not (tmp_path / f".tmp-prepared-{dead}-zz_00011").exists()
    (tmp_path / f".tmp-m-{dead}-q1w2e3r4.json").write_text("{")
    write_json(tmp_path / "m.json", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")) == sorted([live.name, other.name])


def test_a_killed_write_really_leaves_a_file_that_the_next_write_removes(tmp_path):
    code = ("import os, sys\nfrom fashionbench.core.atomic import atomic_path\n"
            f"with atomic_path({str(tmp_path / 'big.npz')!r}) as tmp:\n"
            "    tmp.write_bytes(b'partial')\n    os._exit(9)  # killed mid-write\n")
    subprocess.run([sys.executable, "-c", code])
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-big-")]
    assert len(left) == 1 and not (tmp_path / "big.npz").exists()
    with atomic_path(tmp_path / "big.npz") as tmp:
        tmp.write_bytes(b"whole")
    assert [p.name for p in tmp_path.iterdir()] == ["big.npz"]
