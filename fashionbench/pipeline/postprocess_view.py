"""The post-processing view: the same post-processing steps on top of every method's embeddings.

No paper shows this table: paper ``ji`` studies PCA whitening, query expansion, database-side
augmentation and k-reciprocal re-ranking on its own concatenated features only. Here each step
(a named list of steps, ``postprocess_view.steps`` in params.yaml, in the syntax of a
``reranks:`` row) is applied to the embedding file of every ``methods:`` row, and the result is
scored like any evaluated row. Nothing needs a per-method params row.

Outputs (the ``postprocess_view`` DVC stage):

- ``artifacts/postprocess_view.csv`` — one row per (method, step): the metrics (``mAP``,
  ``top1``, ``top10``, ... as in the metrics file) and, for every step but ``none``, the
  difference to ``none`` on each per-query column with its paired-bootstrap 95% CI
  (``d_<col>``, ``d_<col>_lo``, ``d_<col>_hi``; ``<col>`` = ``AP``, ``top1``, ``top10``...).
- ``metrics/postprocess_view.json`` — flat numbers ``"<method>/<step>/<metric>"``.
- ``artifacts/postprocess_view/<method>.csv`` — a per-method cache: the rows of one method with
  the key they were computed under (SHA-256 of the embedding file's bytes, the steps, the eval
  settings and this code's sources). A method whose key is unchanged is not recomputed, so
  adding or retraining one method costs one method's work.

Memory: one method is processed at a time; every step is memory-bounded (PCA: O(D^2); QE/DBA:
chunked faiss searches; k-reciprocal: sparse, no N x N matrix; evaluation: from a top-K ranking),
so the view's peak memory is that of the largest single method, not of the whole table.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from fashionbench.core import config
from fashionbench.core.atomic import atomic_path, write_json
from fashionbench.core.errors import ConfigError

#: the step name of the untouched embeddings (plain exact search); always computed
BASE = "none"
#: per-query columns whose differences to ``none`` get a paired-bootstrap CI by default
DEFAULT_COMPARE = ("AP", "top1", "top10")
#: metrics-file keys copied into metrics/postprocess_view.json by default
DEFAULT_METRICS = ("mAP", "top1", "top10")
_PQ_OF = {"mAP": "AP", "mAP@10": "AP@10"}
_SOURCES = ("pipeline/postprocess_view.py", "retrieval/postprocess.py", "retrieval/rerank.py", "retrieval/compose.py",
            "retrieval/metrics.py", "retrieval/search.py", "core/stats.py")


def view_csv(root: Path | None = None) -> Path:
    """``artifacts/postprocess_view.csv``."""
    return (root or config.project_root()) / "artifacts" / "postprocess_view.csv"


def cache_dir(root: Path | None = None) -> Path:
    """``artifacts/postprocess_view/`` (per-method cache, a persistent DVC output)."""
    return (root or config.project_root()) / "artifacts" / "postprocess_view"


def view_metrics_path(root: Path | None = None) -> Path:
    """``metrics/postprocess_view.json``."""
    return (root or config.project_root()) / "metrics" / "postprocess_view.json"


def view_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The validated ``postprocess_view`` block: ``steps`` {label: [step, ...]}, ``compare``,
    ``metrics``, ``methods`` (null = every ``methods:`` row)."""
    from fashionbench.retrieval.compose import check_steps

    block = params.get("postprocess_view")
    if not isinstance(block, Mapping):
        raise ConfigError("params.yaml: 'postprocess_view' must be a mapping with 'steps' "
                          "(label -> list of steps, as in a reranks row)")
    unknown = sorted(set(block) - {"steps", "compare", "metrics", "methods"})
    if unknown:
        raise ConfigError(f"postprocess_view: unknown key(s) {unknown}; valid: ['compare', 'methods', 'metrics', 'steps']")
    steps = block.get("steps")
    if not isinstance(steps, Mapping) or not steps:
        raise ConfigError("postprocess_view.steps: expected a non-empty mapping label -> list of steps")
    if BASE in steps:
        raise ConfigError(f"postprocess_view.steps: {BASE!r} is reserved for the untouched embeddings")
    out_steps = {str(label): check_steps(s, f"postprocess_view.steps.{label}") for label, s in steps.items()}
    for label, s in out_steps.items():
        if not s:
            raise ConfigError(f"postprocess_view.steps.{label}: list at least one step")
    methods = block.get("methods")
    all_methods = list(params.get("methods") or {})
    if methods is None:
        methods = all_methods
    elif isinstance(methods, str) or not isinstance(methods, Sequence):
        raise ConfigError(f"postprocess_view.methods: expected a list of method names or null, got {methods!r}")
    else:
        missing = [m for m in methods if m not in all_methods]
        if missing:
            raise ConfigError(f"postprocess_view.methods: {missing} are not rows of methods:")
    compare = list(block.get("compare", DEFAULT_COMPARE))
    metrics = list(block.get("metrics", DEFAULT_METRICS))
    return {"steps": out_steps, "methods": list(methods), "compare": compare, "metrics": metrics}


def _sources_digest() -> str:
    h = hashlib.sha256()
    here = Path(__file__).parents[1]  # the package folder
    for name in _SOURCES:
        h.update(name.encode())
        h.update((here / name).read_bytes())
    return h.hexdigest()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def method_rows(emb: Any, steps: Mapping[str, Sequence[Mapping[str, Any]]], *, top_k: int,
                ks: Sequence[int], compare: Sequence[str], n_boot: int, seed: int) -> pd.DataFrame:
    """The view's rows of one embedding file (:class:`fashionbench.core.artifacts.Embeddings`).

    Row ``none`` is a plain exact search; every other row applies its steps
    (:func:`fashionbench.retrieval.compose.rank_with_steps`). Each row holds the metrics of
    :func:`fashionbench.retrieval.metrics.evaluate_ranking_detailed` and, except ``none``, for each per-query
    column ``c`` of ``compare``: ``d_c`` (mean difference to ``none``) and its paired-bootstrap 95%
    CI ``d_c_lo``, ``d_c_hi`` over the queries.
    """
    from fashionbench.retrieval.search import to_ranking

    from fashionbench.core.stats import paired_bootstrap_diff
    from fashionbench.retrieval.compose import rank_with_steps
    from fashionbench.retrieval.metrics import evaluate_ranking_detailed

    ks = tuple(ks)
    base_metrics, base_pq = evaluate_ranking_detailed(to_ranking(emb, top_k), ks=ks)
    rows = [{"step": BASE, **base_metrics}]
    for label, chain in steps.items():
        ranking = rank_with_steps(emb, chain, top_k, f"{emb.model}+{label}", where=f"postprocess_view.steps.{label}")
        m, pq = evaluate_ranking_detailed(ranking, ks=ks)
        row: dict[str, Any] = {"step": label, **m}
        merged = base_pq.merge(pq, on="query_id", suffixes=("_base", ""))
        for c in compare:
            if c not in pq.columns:
                raise ConfigError(f"postprocess_view.compare: {c!r} is not a per-query column; "
                                  f"valid: {[x for x in pq.columns if x not in ('query', 'query_id')]}")
            diff, lo, hi = paired_bootstrap_diff(merged[c].to_numpy(float), merged[f"{c}_base"].to_numpy(float),
                                                 n_boot=n_boot, seed=seed)
            row.update({f"d_{c}": float(diff), f"d_{c}_lo": float(lo), f"d_{c}_hi": float(hi)})
        rows.append(row)
    return pd.DataFrame(rows)


def run_view(params: Mapping[str, Any], root: Path | None = None, progress: bool = True) -> pd.DataFrame:
    """Compute (or reuse from the per-method cache) the view of every method; write the outputs.

    Returns the long table (one row per method and step) also written to
    ``artifacts/postprocess_view.csv``; see the module docstring for every output.
    """
    from fashionbench.core.artifacts import load_embeddings
    from fashionbench.core.paths import embeddings_path
    from fashionbench.core.progress import progress_bar

    root = root or config.project_root()
    vs = view_settings(params)
    ev = config.profile_settings(params).get("eval", {})
    top_k, n_boot, seed = int(ev.get("top_k", 100)), int(ev.get("n_boot", 1000)), int(params["seed"])
    ks = tuple(ev.get("ks", (1, 5, 10, 20, 30, 40, 50)))
    settings_key = json.dumps({"steps": vs["steps"], "compare": vs["compare"], "top_k": top_k, "ks": ks,
                               "n_boot": n_boot, "seed": seed, "code": _sources_digest()},
                              sort_keys=True, default=str)
    cache = cache_dir(root)
    cache.mkdir(parents=True, exist_ok=True)
    tables = []
    for method in progress_bar(vs["methods"], desc="postprocess view", disable=not progress):
        path = embeddings_path(method, root, params)
        if not path.is_file():
            raise ConfigError(f"postprocess_view: {path} is missing; run the embed stage of method {method!r}")
        key = hashlib.sha256((_file_digest(path) + settings_key).encode()).hexdigest()
        cached = cache / f"{method}.csv"
        table = None
        if cached.is_file():
            old = pd.read_csv(cached)
            if "key" in old.columns and len(old) and (old["key"] == key).all():
                table = old.drop(columns="key")
        if table is None:
            table = method_rows(load_embeddings(path), vs["steps"], top_k=top_k, ks=ks,
                                compare=vs["compare"], n_boot=n_boot, seed=seed)
            with atomic_path(cached) as tmp:
                table.assign(key=key).to_csv(tmp, index=False)
        tables.append(table.assign(method=method))
    for stale in cache.glob("*.csv"):  # methods no longer in params.yaml
        if stale.stem not in vs["methods"]:
            stale.unlink()
    out = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["method", "step"])
    out = out[["method", "step"] + [c for c in out.columns if c not in ("method", "step")]]
    with atomic_path(view_csv(root)) as tmp:
        out.to_csv(tmp, index=False)
    flat = {f"{r['method']}/{r['step']}/{m}": float(r[m]) for _, r in out.iterrows()
            for m in vs["metrics"] if m in out.columns and pd.notna(r[m])}
    write_json(view_metrics_path(root), flat)
    return out


def view_table(view: pd.DataFrame, metric: str = "top10") -> pd.DataFrame:
    """Method x step table of ``metric`` for display: ``none`` shows the value, every other step
    the value with its difference to ``none`` and the 95% CI of that difference."""
    col = _PQ_OF.get(metric, metric)
    cells: dict[str, dict[str, str]] = {}
    steps = list(dict.fromkeys(view["step"]))
    for _, r in view.iterrows():
        v = f"{r[metric]:.4f}"
        if r["step"] != BASE and f"d_{col}" in view.columns and pd.notna(r.get(f"d_{col}")):
            v += f" ({r[f'd_{col}']:+.4f} [{r[f'd_{col}_lo']:+.4f}, {r[f'd_{col}_hi']:+.4f}])"
        cells.setdefault(r["method"], {})[r["step"]] = v
    return pd.DataFrame.from_dict(cells, orient="index")[steps]


def plot_view(view: pd.DataFrame, metric: str = "top10") -> Any:
    """Heat map of the difference to ``none`` (method x step) on ``metric``; cells whose 95% CI
    excludes 0 are marked with ``*``."""
    import matplotlib.pyplot as plt

    col = _PQ_OF.get(metric, metric)
    steps = [s for s in dict.fromkeys(view["step"]) if s != BASE]
    methods = list(dict.fromkeys(view["method"]))
    d = view.pivot(index="method", columns="step", values=f"d_{col}").reindex(index=methods, columns=steps)
    lo = view.pivot(index="method", columns="step", values=f"d_{col}_lo").reindex(index=methods, columns=steps)
    hi = view.pivot(index="method", columns="step", values=f"d_{col}_hi").reindex(index=methods, columns=steps)
    lim = max(1e-3, float(np.nanmax(np.abs(d.to_numpy(float))))) if d.size else 1.0
    fig, ax = plt.subplots(figsize=(1.4 * len(steps) + 3, 0.35 * len(methods) + 1.5))
    im = ax.imshow(d.to_numpy(float), cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(steps)), steps)
    ax.set_yticks(range(len(methods)), methods, fontsize=9)
    for i in range(len(methods)):
        for j in range(len(steps)):
            v = d.iat[i, j]
            if pd.notna(v):
                sig = "*" if lo.iat[i, j] > 0 or hi.iat[i, j] < 0 else ""
                ax.text(j, i, f"{v:+.3f}{sig}", ha="center", va="center", fontsize=9)
    fig.colorbar(im, ax=ax, label=f"{metric} change", shrink=0.6)
    ax.set_title(f"post-processing view: {metric} change per method and step (* = 95% CI excludes 0)", fontsize=9)
    fig.tight_layout()
    return fig
