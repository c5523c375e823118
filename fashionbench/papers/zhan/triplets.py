"""Offline triplets (paper ``zhan``): the item hold-out split, the triplet sets, triplet accuracy.

The paper builds triplets from its (shop image, consumer photo) pairs — anchor = the shop
image, positive = its consumer photo, 4 negatives per pair taken from *other* pairs' consumer
photos, a negative being **hard** when it shares the anchor's category and **easy** otherwise —
and holds out 20 % of the triplets for validation. Here:

- **Hold-out split** (:func:`holdout_split`): a method row with ``holdout: f`` trains on the
  train split minus a share ``f`` of its *items*, drawn per category at random with the run's
  seed (``round(f * n)`` items of each category with ``n`` items, at most ``n - 1``). Splitting
  items rather than triplets keeps validation photos unseen in training (the paper's random
  triplet split lets one pair's images fall on both sides). The split depends only on the
  seed, the fraction and the set of (item, category) pairs — not on row order.
- **Triplet sets** (:func:`build_triplets`): every (shop, consumer) pair of an item, ``negatives``
  slots per pair, a share ``easy_fraction / (1 + easy_fraction)`` of all slots easy (the
  paper's "easy = 1/4 of hard" is ``easy_fraction = 0.25``), spread over the pairs exactly as
  the training miner does (:func:`fashionbench.models.zhan.easy_per_pair`). A pair's hard
  (easy) slots take distinct candidates in a random order, cycling when there are fewer
  candidates than slots; a slot whose kind has no candidate is dropped and counted. Consumer
  photos of items without a shop image are negatives too. Deterministic for the seed and
  independent of row order.
- **Triplet accuracy** (:func:`score_triplets`): a triplet is right when
  ``d(a, p) < d(a, n)`` (Euclidean distance between the model's embeddings, in the space the
  loss trains: raw GAP features, or L2-normalised ones with ``loss.normalize: true``; ties
  count as wrong), as :func:`fashionbench.models.zhan.triplet_accuracy`.

The ``triplet_eval`` stage (:func:`evaluate_method`) writes, for one method row:

- ``artifacts/per_triplet/<method>.csv`` — one row per validation triplet: ``triplet_id``
  (``anchor|positive|negative#slot``: the same id names the same triplet in every method's
  file), ``anchor``, ``positive``, ``negative`` (uids), ``anchor_item``, ``negative_item``,
  ``category``, ``hard`` (bool), ``d_ap``, ``d_an`` and ``triplet_accuracy`` (1.0 right,
  0.0 wrong: its mean is the triplet accuracy). Claims bootstrap these rows with the anchor
  item as the resampling cluster (``fashionbench.papers.claims``).
- ``metrics/<method>.extra.json`` — flat numbers: ``triplet_accuracy`` (all validation
  triplets), ``triplet_accuracy_hard``, ``triplet_accuracy_easy`` (when the set has easy
  triplets), ``train_triplet_accuracy`` (the same rule applied to the training items: the
  paper's "train accuracy"), ``n_val_triplets``, ``n_val_pairs``, ``n_val_items``,
  ``n_val_dropped``, ``n_train_triplets``.

The validation set is built by the same rule (``triplet_eval.negatives``,
``triplet_eval.easy_fraction`` in params.yaml) for every method, so methods trained with hard
negatives only and with hard & easy negatives are compared on the *same* triplets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.data.splits import _check_columns, item_categories

#: sub-streams of the run's seed (the split and the triplets never share random numbers)
TRIPLET_STREAM, TRAIN_TRIPLET_STREAM = 0x5A02, 0x5A03
TRIPLET_COLUMNS = ("triplet_id", "anchor", "positive", "negative", "anchor_item", "negative_item",
                   "category", "hard")
#: defaults of the ``triplet_eval`` block of params.yaml
EVAL_DEFAULTS: dict[str, Any] = {"negatives": 4, "easy_fraction": 0.25}


@dataclass(frozen=True)
class TripletSet:
    """A table of triplets (columns :data:`TRIPLET_COLUMNS`) and how it was filled."""

    table: pd.DataFrame
    pairs: int  #: (shop, consumer) pairs
    items: int  #: items with at least one pair
    dropped: int  #: slots without a candidate of their kind

    def __len__(self) -> int:
        return len(self.table)


def build_triplets(rows: pd.DataFrame, *, negatives: int = 4, easy_fraction: float = 0.25, seed: int = 0,
                   stream: int = TRIPLET_STREAM, where: str = "rows") -> TripletSet:
    """All (shop, consumer) pairs of ``rows`` with their negatives (module docstring rules)."""
    from fashionbench.data.domains import SHOP, domain_codes
    from fashionbench.models.zhan import easy_per_pair

    if isinstance(negatives, bool) or not isinstance(negatives, int) or negatives < 1:
        raise ConfigError(f"triplet_eval.negatives: expected an integer >= 1, got {negatives!r}")
    if isinstance(easy_fraction, bool) or not isinstance(easy_fraction, (int, float)) \
            or not 0 <= float(easy_fraction) < float("inf"):
        raise ConfigError(f"triplet_eval.easy_fraction: expected a finite number >= 0, got {easy_fraction!r}")
    _check_columns(rows, ("uid", "item_id", "category", "domain"), where)
    item_categories(rows, where)
    df = rows[["uid", "item_id", "category", "domain"]].astype(str).sort_values("uid", kind="stable")
    dom = domain_codes(df["domain"].to_numpy(), len(df))
    shop, cons = df[dom == SHOP], df[dom != SHOP]
    cons_uid, cons_item, cons_cat = (cons[c].to_numpy() for c in ("uid", "item_id", "category"))
    pairs = shop.merge(cons[["uid", "item_id"]], on="item_id", suffixes=("_a", "_p"))
    pairs = pairs.sort_values(["item_id", "uid_a", "uid_p"], kind="stable").reset_index(drop=True)
    rng = np.random.default_rng([int(seed), int(stream)])
    n_pairs = len(pairs)
    n_easy = easy_per_pair(n_pairs, negatives, float(easy_fraction), rng) if n_pairs else np.zeros(0, np.int64)
    out: dict[str, list[Any]] = {c: [] for c in TRIPLET_COLUMNS}
    dropped = 0
    for i, (a, p, item, cat) in enumerate(pairs[["uid_a", "uid_p", "item_id", "category"]].itertuples(index=False)):
        other = cons_item != item
        slots = [(True, negatives - int(n_easy[i])), (False, int(n_easy[i]))]
        for hard, k in slots:
            if k == 0:
                continue
            pool = np.flatnonzero(other & ((cons_cat == cat) if hard else (cons_cat != cat)))
            if len(pool) == 0:
                dropped += k
                continue
            order = pool[rng.permutation(len(pool))]
            for j in range(k):
                n = order[j % len(order)]
                slot = j if hard else negatives - int(n_easy[i]) + j
                out["triplet_id"].append(f"{a}|{p}|{cons_uid[n]}#{slot}")
                out["anchor"].append(a)
                out["positive"].append(p)
                out["negative"].append(cons_uid[n])
                out["anchor_item"].append(item)
                out["negative_item"].append(cons_item[n])
                out["category"].append(cat)
                out["hard"].append(hard)
    table = pd.DataFrame(out, columns=list(TRIPLET_COLUMNS)).astype({"hard": bool})
    return TripletSet(table, n_pairs, int(pairs["item_id"].nunique()) if n_pairs else 0, dropped)


@torch.no_grad()
def embed_rows(model: nn.Module, rows: pd.DataFrame, root: str | Path, crop: str, size: int, *,
               normalize: bool = False, batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """The model's ``embedding`` [N, D] float64 of ``rows`` (raw, or L2-normalised)."""
    from fashionbench.core.progress import progress_bar
    from fashionbench.data.imaging import CropDataset

    model.eval()
    ds = CropDataset(rows.reset_index(drop=True), root, crop, size, cache=False)
    out = []
    for i in progress_bar(range(0, len(ds), batch_size), desc="embed triplet images", disable=not progress):
        f = model(ds.batch(torch.arange(i, min(i + batch_size, len(ds))))[0])["embedding"].double()
        out.append((torch.nn.functional.normalize(f, dim=1) if normalize else f).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def score_triplets(table: pd.DataFrame, uids: np.ndarray | list[str], features: np.ndarray) -> pd.DataFrame:
    """``table`` with ``d_ap``, ``d_an`` (Euclidean) and ``triplet_accuracy`` (1.0 if d_ap < d_an)."""
    feats = np.asarray(features, np.float64)
    uids = np.asarray(uids).astype(str)
    if feats.ndim != 2 or len(feats) != len(uids):
        raise ContractError(f"score_triplets: {len(uids)} uids for features of shape {feats.shape}")
    index = pd.Series(np.arange(len(uids)), index=uids)
    if index.index.duplicated().any():
        raise ContractError("score_triplets: duplicate uids")
    pos = {}
    for col in ("anchor", "positive", "negative"):
        missing = sorted(set(table[col]) - set(index.index))
        if missing:
            raise ContractError(f"score_triplets: no feature for {col} uid(s) {missing[:5]}")
        pos[col] = index.loc[table[col].astype(str)].to_numpy()
    a, p, n = (feats[pos[c]] for c in ("anchor", "positive", "negative"))
    out = table.copy()
    out["d_ap"] = np.linalg.norm(a - p, axis=1)
    out["d_an"] = np.linalg.norm(a - n, axis=1)
    out["triplet_accuracy"] = (out["d_ap"] < out["d_an"]).astype(float)
    return out


def summarize(val: pd.DataFrame, val_set: TripletSet, train: pd.DataFrame | None = None) -> dict[str, float]:
    """The flat ``extra`` metrics of a scored validation set (and optional training set)."""
    if val.empty:
        raise ContractError("triplet_eval: the validation set holds no triplet (too few held-out items?)")
    out: dict[str, float] = {"triplet_accuracy": float(val["triplet_accuracy"].mean()),
                             "n_val_triplets": int(len(val)), "n_val_pairs": int(val_set.pairs),
                             "n_val_items": int(val_set.items), "n_val_dropped": int(val_set.dropped)}
    for name, sel in (("hard", val["hard"]), ("easy", ~val["hard"])):
        if sel.any():
            out[f"triplet_accuracy_{name}"] = float(val.loc[sel, "triplet_accuracy"].mean())
    if train is not None and len(train):
        out["train_triplet_accuracy"] = float(train["triplet_accuracy"].mean())
        out["n_train_triplets"] = int(len(train))
    return out


def eval_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``triplet_eval`` block of params.yaml (``negatives``, ``easy_fraction``; ``methods``)."""
    block = params.get("triplet_eval") or {}
    if not isinstance(block, Mapping):
        raise ConfigError(f"triplet_eval: expected a mapping, got {block!r}")
    unknown = sorted(set(block) - set(EVAL_DEFAULTS) - {"methods"})
    if unknown:
        raise ConfigError(f"triplet_eval: unknown key(s) {unknown}; valid: {sorted(EVAL_DEFAULTS) + ['methods']}")
    return {**EVAL_DEFAULTS, **block}


