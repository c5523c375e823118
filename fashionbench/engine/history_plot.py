"""The training-curve figure of one trained row, drawn by the train stage's notebook.

It lives in the engine floor, not in :mod:`fashionbench.reporting`, so that the train stages do not
depend on the report code: a change to a report re-runs the reports, not the 28 trainings.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd


def plot_history(history: Sequence[Mapping[str, Any]], title: str = "") -> plt.Figure:
    """Training curves: every loss part per epoch, the validation mAP (with its chance level), the
    learning rate and throughput."""
    df = pd.DataFrame(history)
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.2))
    for c in df.columns:
        if c not in ("epoch", "lr", "seconds", "images_per_s", "val_seconds") and not c.startswith("val_"):
            axes[0].plot(df["epoch"], df[c], marker="o", label=c)
    axes[0].set(xlabel="epoch", ylabel="loss", title="training loss")
    axes[0].legend(fontsize=8)
    if "val_mAP" in df:
        axes[1].plot(df["epoch"], df["val_mAP"], marker="o", label="validation mAP")
        axes[1].axhline(float(df["val_chance_mAP"].iloc[-1]), color="grey", ls=":", label="chance")
        axes[1].legend(fontsize=8)
    axes[1].set(xlabel="epoch", ylabel="mAP", title="held-out items")
    axes[2].plot(df["epoch"], df["lr"], marker="o")
    axes[2].set(xlabel="epoch", ylabel="learning rate", title="schedule")
    axes[3].bar(df["epoch"], df["images_per_s"])
    axes[3].set(xlabel="epoch", ylabel="images / s", title="throughput")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
