"""The committed tiny-profile reference (tests/data/tiny-metrics/): what the CI subset's `dvc repro` from
scratch must reproduce byte for byte, and a readable diff when it does not (issue 18)."""
from __future__ import annotations

import json
from pathlib import Path

REFERENCE = Path(__file__).resolve().parent / "data" / "tiny-metrics"


def metrics_files(folder: Path) -> dict[str, str]:
    """Every ``*.json`` under ``folder`` (a run's ``metrics/``), by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(Path(folder).rglob("*.json"))}


def diff(got: dict[str, str], want: dict[str, str]) -> list[str]:
    """One line per difference: a missing or extra file, or a key whose value differs (exact text)."""
    out = [f"{f}: missing (the reference has it)" for f in sorted(set(want) - set(got))]
    out += [f"{f}: not in the reference" for f in sorted(set(got) - set(want))]
    for f in sorted(set(got) & set(want)):
        if got[f] == want[f]:
            continue
        g, w = json.loads(got[f]), json.loads(want[f])
        keys = sorted(set(g) | set(w))
        changed = [k for k in keys if json.dumps(g.get(k)) != json.dumps(w.get(k))]
        out += [f"{f}: {k}: got {g.get(k, '(absent)')!r}, reference {w.get(k, '(absent)')!r}" for k in changed]
        if not changed:
            out.append(f"{f}: same values, different bytes (formatting)")
    return out


def write(got: dict[str, str], folder: Path = REFERENCE) -> None:
    """Replace the reference with ``got`` (``FASHIONBENCH_WRITE_TINY_REFERENCE=1`` on a trusted run)."""
    for old in folder.rglob("*.json"):
        old.unlink()
    for rel, text in got.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")
