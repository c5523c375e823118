"""The first screen of the reports: the claims with their verdicts, a leaderboard, links between pages.

Everything here reads results already computed (claim results, metrics files, per-query tables)
and returns HTML or tables; the notebooks only display them. Pages: ``reports/comparison.html``
and ``reports/<paper>.html`` (one per ``papers:`` entry), linked both ways; each claim's row in a
paper page carries the anchor ``#<claim id>``, so the comparison's claims table links to it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from urllib.parse import quote
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from fashionbench.papers.claims import (HOLDS, METRIC_NAMES, NOT_HOLD, SEED_FACTOR, UNCLEAR, UNTESTED,
                                        VERDICT_COLOURS, ClaimResult)
from fashionbench.reporting.links import COMPARISON_PAGE, method_nav, method_page, nav, page_of  # noqa: F401 (re-exported)


def _effect(d: Mapping[str, Any]) -> str:
    rel = {"gt": "&gt;", "not_gt": "gain &lt;", "neutral": "≈"}[d["kind"]]
    margin = f" {d['margin']:g}" if d["kind"] != "gt" and d.get("margin") else ""
    return (f"{html.escape(str(d['a']))} {rel}{margin} {html.escape(str(d['b']))}: "
            f"<b>{d['diff']:+.3f}</b> [{d['adj_low']:+.3f}, {d['adj_high']:+.3f}] → {d['verdict']}{_seeds(d)}"
            + (f"<br><small>{html.escape(d['selection'])}</small>" if d.get("selection") else ""))


def _seeds(d: Mapping[str, Any]) -> str:
    """Where the seed spread was measured: every seed's difference, their mean and sd, and the rule
    as applied (this run's difference, the one with the CI, against ``SEED_FACTOR`` x sd); '' otherwise."""
    if d.get("seeds", 1) < 3:
        return ""
    per = ", ".join(f"{x:+.3f}" for x in d.get("seed_diffs", []))
    seeds = ", ".join(str(s) for s in d.get("seed_list", []))
    bound = f"{SEED_FACTOR:g} × sd = {SEED_FACTOR * d['seed_sd']:.3f}"
    test = (f"this run's |{d['diff']:+.3f}| ≤ {bound}: unclear" if d.get("seed_rule")
            else f"this run's |{d['diff']:+.3f}| {'>' if abs(d['diff']) > SEED_FACTOR * d['seed_sd'] else '≤'} {bound}")
    return (f"<br><small>training seeds {seeds}: differences {per}; mean {d['seed_mean_diff']:+.3f}, "
            f"sd {d['seed_sd']:.3f}; {test}</small>")


def _inline_code(text: str) -> str:
    """``text`` HTML-escaped, with its markdown `code` spans as <code> (a claim's note is markdown)."""
    parts = html.escape(text).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: leave the text as it is
        return html.escape(text)
    return "".join(f"<code>{s}</code>" if i % 2 else s for i, s in enumerate(parts))


def claims_html(results: Sequence[ClaimResult], *, link: bool = True, anchors: bool = False) -> str:
    """The claims as one compact HTML table: id (linked to its paper page's anchor when ``link``),
    the claim and its metric, the verdict (coloured), per comparison the difference with its adjusted
    95% CI (and the seeds' differences where measured), a caveat naming the rows still improving at
    their last epoch, and where our test departs from the paper. ``anchors`` gives each row ``id=<claim id>``."""
    rows = []
    for r in results:
        cid = html.escape(r.id)
        ident = f'<a href="{page_of(r.paper)}#{cid}">{cid}</a>' if link else cid
        evidence = "<br>".join(_effect(d) for d in r.details) if r.details else html.escape(r.reason or "—")
        if r.details and r.still_improving:
            rows_ = r.still_improving
            shown = ", ".join(rows_[:3]) + (f" and {len(rows_) - 3} more" if len(rows_) > 3 else "")
            evidence += (f'<br><small title="{html.escape(", ".join(rows_))}"><b>caveat:</b> still improving at the '
                         f"last epoch: {html.escape(shown)}</small>")
        metric = METRIC_NAMES.get(r.metric, r.metric)
        colour = VERDICT_COLOURS.get(r.verdict, "")
        rows.append(f'<tr{f" id={cid!r}" if anchors else ""}><td style="white-space:nowrap">{ident}</td>'
                    f"<td>{html.escape(r.text)} <small>({html.escape(metric)})</small></td>"
                    f'<td style="background:{colour};font-weight:bold;white-space:nowrap">{html.escape(r.verdict)}</td>'
                    f"<td>{evidence}</td><td style=\"font-size:85%\">{_inline_code(r.note or '—')}</td></tr>")
    counts = {v: sum(r.verdict == v for r in results) for v in (HOLDS, NOT_HOLD, UNCLEAR, UNTESTED)}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    head = ("<tr><th>claim</th><th>what the paper says</th><th>verdict</th>"
            "<th>effect: difference [95% CI, Holm-adjusted; Bonferroni for 'gain &lt;' and '≈']</th>"
            "<th>where our test departs from the paper</th></tr>")
    # left-aligned, top-aligned cells: the pages' stylesheet (fashionbench.reporting.render.STYLE)
    # the evidence gets the room: the "departs" notes are small print
    cols = "".join(f'<col style="width:{w}">' for w in ("6%", "20%", "8%", "42%", "24%"))
    return (f"<p>{len(results)} claim{'s' if len(results) != 1 else ''}: {summary}.</p>"
            f'<table class="claims" style="border-collapse:collapse"><colgroup>{cols}</colgroup>{head}{"".join(rows)}</table>')


def training_table(names: Sequence[str], models_dir: Path, not_learned: Mapping[str, str | None]) -> pd.DataFrame:
    """The paper pages' training table (:func:`fashionbench.reporting.report.training_table`) with
    the "did not learn" status of the rule the claims use (``not_learned``, from
    :func:`fashionbench.papers.claims.learned_status`: test mAP against the test chance level, a
    per-category model on its own category's test queries) instead of the validation ratio, so this
    table and a verdict agree about a row. A column "val x chance" keeps the
    validation ratio in sight (its gallery, the held-out items, is far smaller than the test one)."""
    from fashionbench.reporting.report import NOT_LEARNED, still_improving
    from fashionbench.reporting.report import training_table as validation_table

    table = validation_table(names, models_dir)
    if table.empty or "status" not in table:
        return table
    ratio, status = [], []
    for row in table.index:
        h = json.loads((Path(models_dir) / row / "history.json").read_text())
        if not h or "val_mAP" not in h[-1]:
            ratio.append(np.nan)
            status.append(NOT_LEARNED if not_learned.get(row) else table.at[row, "status"])
            continue
        chance = float(h[-1]["val_chance_mAP"])
        ratio.append(round(float(h[-1]["val_mAP"]) / chance, 1) if chance > 0 else np.nan)
        status.append(table.at[row, "status"] if row not in not_learned else NOT_LEARNED if not_learned[row]
                      else "STILL IMPROVING" if still_improving(h) else "plateau")
    table.insert(list(table.columns).index("status"), "val x chance", ratio)
    table["status"] = status
    table["train min"] = [f"{v:.1f}" for v in table["train min"]]  # not the pages' 4 decimals
    return table


def component_rows(params: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    """Rows that are parts of a system or diagnostics rather than systems: the models and router of
    ``route`` fusions (shang's per-category models and classifier), a fusion routed by the true
    category (``router: oracle``: an upper bound no real system has) and the crop-comparison views
    (``<model>-crop-<mode>``)."""
    parts: set[str] = set()
    for name, row in (params.get("fusions") or {}).items():
        if row.get("kind") == "route":
            for models in (row.get("routes") or {}).values():
                parts.update(models)
            if row.get("router") == "oracle":
                parts.add(name)
            elif row.get("router") is not None:
                parts.add(row["router"])
    crop = params.get("crop_eval") or {}
    views = {f"{crop.get('model')}-crop-{c}" for c in crop.get("crops", [])} if crop else set()
    return [n for n in names if n in parts or n in views]


def query_crop_note(params: Mapping[str, Any], names: Sequence[str]) -> str:
    """One sentence naming which query crop the rows ``names`` use (``crop``/``query_crop`` of their
    settings; a fusion or re-rank: that of the trained rows it is built from,
    :func:`fashionbench.papers.claims.trained_inputs`). The given box, and a union containing it,
    are oracles a deployed system replaces by a detector's box."""
    from fashionbench.core import config
    from fashionbench.papers.claims import trained_inputs

    behind = trained_inputs(params)
    by_crop: dict[str, list[str]] = {}
    for n in names:
        crops = sorted({config.row_crops(config.method_settings(params, m))[1] for m in behind.get(n, [])})
        if crops:
            by_crop.setdefault(" + ".join(crops), []).append(n)
    if not by_crop:
        return ""
    words = {"given": "the dataset's given box", "gt": "the ground-truth box",
             "union": "the union box (given box and every confident detected box, shang's eq. 1)",
             "detected": "the detector's box", "fused": "the WBF-fused detector box", "full": "the whole image"}
    main = max(by_crop, key=lambda c: len(by_crop[c]))
    rest = "; ".join(f"{words.get(c, c)} for {', '.join(f'`{n}`' for n in rows)}"
                     for c, rows in by_crop.items() if c != main)
    used = {c for key in by_crop for c in key.split(" + ")}
    oracle = (" (the given and ground-truth boxes, and a union containing them, are oracles: a deployed system "
              "crops a consumer photo with a detector alone)") if used & {"given", "gt", "union"} else ""
    return (f"Query crops: {words.get(main, main)} for the rows" + (f", except {rest}" if rest else "") + f"{oracle}.")


def postprocess_view_note(params: Mapping[str, Any]) -> str:
    """How the post-processing view's settings (``postprocess_view.steps``, one setting for every
    method) differ from the re-rank rows that apply the same steps (``reranks``)."""
    steps = (params.get("postprocess_view") or {}).get("steps") or {}

    def fmt(step: Mapping[str, Any]) -> str:
        keys = [k for k in ("k1", "k2", "lambda_value", "top_k", "alpha", "fit_on") if k in step]
        return ", ".join(f"{k} {step[k]}" for k in keys)

    view = {s["name"]: s for chain in steps.values() for s in chain}
    diffs = []
    for name, row in (params.get("reranks") or {}).items():
        for s in row.get("steps") or []:
            v = view.get(s.get("name"))
            if v is not None and fmt(v) != fmt(s):
                diffs.append(f"`{s['name']}` here {fmt(v)}, in `{name}` (on `{row.get('input')}`) {fmt(s)}")
    return ("One setting per step for every method, from `postprocess_view` in params.yaml"
            + ("; it differs from the re-rank rows': " + "; ".join(diffs) + "." if diffs else "."))


#: a row that learned (>= 5x chance mAP) but under this multiple of it is marked "near chance"
NEAR_CHANCE = 10


def leaderboard(metrics: pd.DataFrame, per_query: Mapping[str, pd.DataFrame], params: Mapping[str, Any], *,
                n_boot: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(systems, components): one row per evaluated row, sorted by mAP, with its 95% CI (bootstrap
    over query items), top-1, top-10, the chance mAP, mAP / chance and the learned status (a row
    under :data:`NEAR_CHANCE` x chance is marked near chance)."""
    from fashionbench.core.stats import paired_cluster_bootstrap_diff

    rows = []
    for name, m in metrics.iterrows():
        rec: dict[str, Any] = {"row": name, "mAP": float(m["mAP"])}
        pq = per_query.get(name)
        if pq is not None and "AP" in pq:
            groups = pq["item_id"].astype(str).to_numpy() if "item_id" in pq else np.arange(len(pq))
            ap = pq["AP"].to_numpy(float)
            _, lo, hi = paired_cluster_bootstrap_diff(ap, np.zeros_like(ap), groups, n_boot=n_boot, seed=seed)
            rec["mAP 95% CI"] = f"[{lo:.3f}, {hi:.3f}]"
        for k in ("top1", "top10"):
            if k in m and pd.notna(m[k]):
                rec[k] = float(m[k])
        if "chance_mAP" in m and pd.notna(m["chance_mAP"]):
            rec["chance mAP"] = float(m["chance_mAP"])
            rec["x chance"] = int(round(float(m["mAP"]) / float(m["chance_mAP"])))
        rec["status"] = m.get("status", "")
        ratio = float(m["mAP"]) / float(m["chance_mAP"]) if rec.get("chance mAP") else None
        if rec["status"] == "learned" and ratio is not None and ratio < NEAR_CHANCE:
            rec["status"] = f"learned, near chance (< {NEAR_CHANCE}x)"
        rows.append(rec)
    df = pd.DataFrame(rows)
    if df.empty:
        return df, df
    df = df.sort_values("mAP", ascending=False, kind="stable").set_index("row")
    df.insert(0, "rank", 0)
    # seed replicates are not rows of their own: their row shows the mean +/- std over its seeds
    from fashionbench.papers.claims import replicate_copies, replicates_of

    reps = replicates_of(params)
    copies = [n for n in replicate_copies(params) if n in df.index]
    for origin, by_seed in reps.items():
        if origin in df.index:
            vals = [float(metrics.loc[n, "mAP"]) for n in by_seed.values() if n in metrics.index]
            if len(vals) >= 2:
                df.loc[origin, "mAP over seeds"] = f"{np.mean(vals):.3f} ± {np.std(vals, ddof=1):.3f} ({len(vals)})"
    df = df.drop(index=copies)
    if "mAP over seeds" in df.columns:
        df["mAP over seeds"] = df["mAP over seeds"].fillna("")
    comps = component_rows(params, list(df.index))
    systems, components = df.drop(index=comps), df.loc[comps]
    systems["rank"] = np.arange(1, len(systems) + 1)
    components = components.drop(columns="rank")
    return systems, components


def style_board(df: pd.DataFrame, pages: Sequence[str] = ()) -> "pd.io.formats.style.Styler":
    """A leaderboard with 3-decimal scores, integer counts and rows that did not learn greyed; the
    names of the rows in ``pages`` link to their own page (:func:`method_page`)."""
    fmt = {c: "{:.3f}" for c in ("mAP", "top1", "top10")}
    fmt["chance mAP"] = "{:.4f}"
    fmt["x chance"] = "{:.0f}"
    fmt = {c: f for c, f in fmt.items() if c in df.columns}

    def grey(row: pd.Series) -> list[str]:
        bad = str(row.get("status", "")).upper() == "DID NOT LEARN"
        return ["color:#999" if bad else "" for _ in row]

    linked = set(pages)

    def link(name: Any) -> str:
        text = html.escape(str(name))
        href = html.escape(quote(method_page(str(name))))
        return f'<a href="{href}">{text}</a>' if name in linked else text

    return (df.rename_axis(index=None).style.format(fmt, na_rep="—").format_index(link, axis=0)
            .apply(grey, axis=1))


#: how a verdict is reached (shown under every claims table; docs/claims.md has the detail)
RULE = (
    "**How a verdict is reached** ([docs/claims.md](../docs/claims.md)). Each comparison is a paired bootstrap of "
    "the difference over the test queries that resamples whole query items (a product's consumer photos "
    "together). `a > b`: its p-value is Holm-adjusted over every comparison of all 13 claims, and it holds when "
    "the Holm-adjusted 95% CI is above 0. 'Does not help' (gain < m) and 'about neutral' (within ±m) read the "
    "Bonferroni CI (level 0.05 / number of comparisons): they hold when it stays under +m (within ±m). "
    "'The best single model' is chosen by validation mAP (held-out train items) where its rows have a "
    "validation curve, otherwise on one half of the query items and compared on the other half (the effect cell says which). A claim "
    "whose arm has mAP under 5x its chance level, or whose per-category models score under 5x chance on "
    "their own category's queries, is **untested: did not learn**. Seeds: where both arms were also trained with "
    "at least two more training seeds (the effect cell then names the seeds), the difference is computed per seed and a verdict other than "
    "'unclear' also needs |difference| > 2 × its standard deviation over the seeds; every other verdict rests on "
    "one seed (its spread not measured).")
