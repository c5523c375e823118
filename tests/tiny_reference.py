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


#: Float metrics may differ by this much between CPUs without failing the comparison (reported as a
#: warning). Similarities are exact (retrieval.similarity) and training is deterministic, so on one
#: machine the bytes are equal; but a step that still sums in float32 (k-reciprocal's candidate search,
#: PCA's eigen-solver) may order a near-tie differently on another CPU's BLAS kernels, which moves a
#: metric in its fourth or fifth digit (CI once saw a DBA row's mAP at 0.065854 against 0.065933 here).
#: Counts, keys and any larger change still fail.
CROSS_CPU_TOL = 1e-3


def _is_float(v: object) -> bool:
    return isinstance(v, float) and not isinstance(v, bool)


def diff(got: dict[str, str], want: dict[str, str], tol: float = 0.0) -> list[str]:
    """One line per difference: a missing or extra file, or a key whose value differs (exact text;
    with ``tol`` > 0, two floats within ``tol`` of each other are not a difference)."""
    out = [f"{f}: missing (the reference has it)" for f in sorted(set(want) - set(got))]
    out += [f"{f}: not in the reference" for f in sorted(set(got) - set(want))]
    for f in sorted(set(got) & set(want)):
        if got[f] == want[f]:
            continue
        g, w = json.loads(got[f]), json.loads(want[f])
        keys = sorted(set(g) | set(w))
        changed = [k for k in keys if json.dumps(g.get(k)) != json.dumps(w.get(k))]
        if not changed:
            out.append(f"{f}: same values, different bytes (formatting)")
        changed = [k for k in changed if not (tol > 0 and _is_float(g.get(k)) and _is_float(w.get(k))
                                              and abs(g[k] - w[k]) <= tol)]
        out += [f"{f}: {k}: got {g.get(k, '(absent)')!r}, reference {w.get(k, '(absent)')!r}" for k in changed]
    return out


def near(got: dict[str, str], want: dict[str, str], tol: float) -> list[str]:
    """The float values that differ from the reference by at most ``tol`` (not zero): one line each."""
    out = []
    for f in sorted(set(got) & set(want)):
        g, w = json.loads(got[f]), json.loads(want[f])
        for k in sorted(set(g) & set(w)):
            if _is_float(g[k]) and _is_float(w[k]) and g[k] != w[k] and abs(g[k] - w[k]) <= tol:
                out.append(f"{f}: {k}: got {g[k]!r}, reference {w[k]!r}")
    return out


def write(got: dict[str, str], folder: Path = REFERENCE) -> None:
    """Replace the reference with ``got`` (``FASHIONBENCH_WRITE_TINY_REFERENCE=1`` on a trusted run)."""
    for old in folder.rglob("*.json"):
        old.unlink()
    for rel, text in got.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")
