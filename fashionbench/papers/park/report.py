"""Paper ``park``: category prediction accuracy (Table 2) of a model's category head.

The ``category_eval`` stage (``category_eval@<method>``, :func:`evaluate_method`) runs a trained
method row whose model has a category classifier (``category_logits``: arch ``relaxation``, the
OC path) on the query photos and the gallery shop images, and writes the top-k accuracy of the
true category to ``metrics/<method>.extra.json`` (flat numbers; read by the paper report):

- ``category_top{k}`` for every ``k`` in ``category_eval.ks`` (default 1, 3, 5) on the query
  photos (consumer domain: the closest analogue of DeepFashion's Category Prediction images),
  with ``category_top{k}_ci_low`` / ``_ci_high`` (95 % percentile bootstrap over the images,
  ``profiles.<profile>.eval.n_boot`` replicates, the run's seed);
- ``gallery_category_top{k}`` (+ CI) on the gallery shop images when ``gallery`` is in
  ``category_eval.splits``;
- ``category_n_images`` / ``gallery_category_n_images`` (images scored),
  ``category_n_unknown`` / ``gallery_category_n_unknown`` (images whose category the classifier
  never saw in training: left out and counted), ``category_n_classes``.

Categories are read from the manifest column the row trained on (``category_column``, default
``category``; see :func:`fashionbench.pipeline.with_category_column`).

Top-k rule (:func:`true_label_rank`): the true class's rank is 1 + the number of classes
scoring strictly higher + the number of classes with an equal score and a lower class index
(ties go to the lower index, as gallery ties do in :mod:`fashionbench.retrieval.metrics`); a hit at k
means rank <= k.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.papers.base import ReportContext

#: defaults of the ``category_eval:`` block of params.yaml
EVAL_DEFAULTS: dict[str, Any] = {"methods": [], "splits": ["query", "gallery"], "ks": [1, 3, 5]}
#: metric-key prefix of each split
PREFIX: dict[str, str] = {"query": "category", "gallery": "gallery_category"}


def true_label_rank(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """1-based rank of each row's true class among its scores (tie rule: module docstring).

    ``scores`` [N, C] (logits or probabilities: only the order matters), ``labels`` [N] ints in
    ``[0, C)``.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 2:
        raise ContractError(f"scores: expected [N, C], got shape {s.shape}")
    if y.shape != (s.shape[0],):
        raise ContractError(f"labels: expected shape ({s.shape[0]},), got {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= s.shape[1]):
        raise ContractError(f"labels: values must lie in [0, {s.shape[1]}), got {y.min()}..{y.max()}")
    true = s[np.arange(len(y)), y][:, None]
    lower_index = np.arange(s.shape[1])[None, :] < y[:, None]
    return 1 + (s > true).sum(axis=1) + ((s == true) & lower_index).sum(axis=1)


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, ks: Iterable[int] = (1, 3, 5)) -> dict[int, np.ndarray]:
    """Per-row hits (float 0/1 arrays) of the true class within the top ``k``, for each ``k``."""
    ranks = true_label_rank(scores, labels)
    out = {}
    for k in ks:
        if isinstance(k, bool) or int(k) != k or k < 1:
            raise ConfigError(f"category_eval.ks: expected positive integers, got {k!r}")
        out[int(k)] = (ranks <= int(k)).astype(np.float64)
    return out


def eval_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``category_eval`` block with defaults, checked (ConfigError naming the key)."""
    block = params.get("category_eval") or {}
    if not isinstance(block, Mapping):
        raise ConfigError(f"category_eval: expected a mapping, got {block!r}")
    unknown = sorted(set(block) - set(EVAL_DEFAULTS))
    if unknown:
        raise ConfigError(f"category_eval: unknown key(s) {unknown}; valid: {sorted(EVAL_DEFAULTS)}")
    out = {**EVAL_DEFAULTS, **block}
    bad = [s for s in out["splits"] if s not in PREFIX]
    if bad or not out["splits"]:
        raise ConfigError(f"category_eval.splits: expected a non-empty subset of {list(PREFIX)}, got {out['splits']!r}")
    topk_accuracy(np.zeros((0, 1)), np.zeros(0, int), out["ks"])  # validates ks
    return out


def split_metrics(scores: np.ndarray, labels: np.ndarray, ks: Sequence[int], prefix: str, *,
                  n_boot: int, seed: int) -> dict[str, float]:
    """``{prefix}_top{k}`` with its bootstrap CI (``_ci_low``, ``_ci_high``) for each k."""
    from fashionbench.core.stats import bootstrap_ci

    out: dict[str, float] = {}
    for k, hits in topk_accuracy(scores, labels, ks).items():
        mean, lo, hi = bootstrap_ci(hits, n_boot=n_boot, seed=seed)
        out.update({f"{prefix}_top{k}": mean, f"{prefix}_top{k}_ci_low": lo, f"{prefix}_top{k}_ci_high": hi})
    return out


def category_table(names: Sequence[str], metrics_dir: Path, ks: Sequence[int] = (1, 3, 5)) -> pd.DataFrame:
    """One row per method with an extra metrics file: category top-k (%) with CIs, per split."""
    from fashionbench.core.artifacts import load_metrics

    rows = {}
    for name in names:
        path = Path(metrics_dir) / f"{name}.extra.json"
        if not path.is_file():
            continue
        m = load_metrics(path)
        if "category_n_classes" not in m:
            continue
        row: dict[str, Any] = {"classes": int(m["category_n_classes"])}
        for split, prefix in PREFIX.items():
            if f"{prefix}_n_images" not in m:
                continue
            row[f"{split} images"] = int(m[f"{prefix}_n_images"])
            for k in ks:
                key = f"{prefix}_top{k}"
                if key in m:
                    row[f"{split} top-{k} (%)"] = (f"{100 * m[key]:.2f} [{100 * m[key + '_ci_low']:.2f}, "
                                                   f"{100 * m[key + '_ci_high']:.2f}]")
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def topk_difference_table(per_query: Mapping[str, pd.DataFrame], pairs: Sequence[tuple[str, str]],
                          ks: Sequence[int] = (1, 5, 10, 20, 30, 40, 50), n_boot: int = 1000,
                          seed: int = 0) -> pd.DataFrame:
    """Paired-bootstrap difference of top-k accuracy (a - b) at every k, for each (a, b) pair.

    The per-k view of claim park-1 (the claim itself is decided on top-20, Table 1's column):
    one row per pair and k with both means, the difference and its 95 % CI over the queries both
    rows scored. Pairs with a row missing from ``per_query`` are skipped.
    """
    from fashionbench.core.stats import paired_bootstrap_diff

    out = []
    for a, b in pairs:
        if a not in per_query or b not in per_query:
            continue
        for k in ks:
            col = f"top{k}"
            m = per_query[a][["query_id", col]].merge(per_query[b][["query_id", col]], on="query_id",
                                                     suffixes=("_a", "_b"))
            va, vb = m[f"{col}_a"].to_numpy(float), m[f"{col}_b"].to_numpy(float)
            diff, lo, hi = paired_bootstrap_diff(va, vb, n_boot=n_boot, seed=seed)
            out.append({"a": a, "b": b, "k": k, "top-k a": va.mean(), "top-k b": vb.mean(), "a - b": diff,
                        "95% CI": f"[{lo:+.4f}, {hi:+.4f}]", "n_queries": len(va)})
    return pd.DataFrame(out)


def extra_sections(ctx: ReportContext) -> None:
    """park's category prediction table (Table 2 analogue) and the claim's comparisons at every k."""
    display(Markdown("### park: category prediction (Table 2 analogue)\n"
                     "Top-k accuracy (%) of each row's category head (the OC path) on the query photos and the "
                     "gallery images, fine categories, 95% bootstrap CIs over images (category_eval stage)."))
    display(category_table([n for n in ctx.mine if n in ctx.params['methods']], ctx.root / 'metrics'))
    display(Markdown("### park: the claim's comparisons at every k (Figures 3-4)\n"
                     "Paired bootstrap over queries of the top-k accuracy difference; claim park-1 is decided on top-20."))
    with pd.option_context('display.max_colwidth', None):
        table = topk_difference_table(ctx.per_query, [("park-oc-is", "park-oc"), ("park-oc", "park-oc-os")],
                                      n_boot=ctx.n_boot, seed=ctx.seed)
        display(table.style.hide(axis="index").format(precision=4) if len(table) else table)
